"""Review fixes of issue 19 on the orders' side: each order remembers its merchant (a
superseded config is kept sealed and still serves its orders: F9), a payment to another
merchant or by another payer (F4), and the operators' list of anomalies (F7)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.core.settings import Settings
from payments import repository as repo
from payments import service
from payments.tables import PayConfigPrevious, TopUpOrder
from stores import service as stores_service
from tests.conftest import make_settings
from tests.payments.helpers import API, anomalies, card, place, stored_value_card
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import SignedNotice, WechatPayStandIn, merchant_config
from tests.world import World

wechat_pay_server = stand_ins.wechat_pay_server
OPENID = "o-alpha-member-1"


@pytest.fixture
def settings(database_url: str, wechat_pay_server: WechatPayStandIn) -> Settings:
    return make_settings(database_url, wechat_mode="live",
                         wechat_pay_api_base=wechat_pay_server.url,
                         public_url="http://testserver.local", wechat_pay_timeout_s=2.0,
                         notify_dispatcher=False, pay_poller=False)


async def _notify(client: httpx.AsyncClient, notice: SignedNotice) -> int:
    return (await client.post(notice.path, content=notice.body,
                              headers=notice.headers)).status_code


async def _row(order_id: str) -> dict[str, object]:
    row = await TopUpOrder.select().where(TopUpOrder.id == uuid.UUID(order_id)).first().run()
    assert row is not None
    return dict(row)


async def test_an_order_keeps_its_merchant_after_the_config_changes(
        client: httpx.AsyncClient, world: World, wechat_pay_server: WechatPayStandIn) -> None:
    op = world.headers(world.a.operator)
    old = wechat_pay_server.new_merchant()
    assert (await client.put(f"{API}/wechat-pay-config", json=merchant_config(old),
                             headers=op)).status_code == 200
    # The same config again supersedes nothing.
    assert (await client.put(f"{API}/wechat-pay-config", json=merchant_config(old),
                             headers=op)).status_code == 200
    assert await PayConfigPrevious.count().run() == 0
    await stores_service.set_openid(world.a.members[0].id, OPENID)
    card_id = await stored_value_card(client, world)
    first = (await place(client, world, card_id, 10_000)).json()
    row = await _row(first["id"])
    assert (row["mchid"], row["appid"], row["payer_openid"]) == (old.mchid, old.appid, OPENID)
    assert row["platform_public_key_id"] == old.platform_key_id

    new = wechat_pay_server.new_merchant()
    assert (await client.put(f"{API}/wechat-pay-config", json=merchant_config(new),
                             headers=op)).status_code == 200
    (kept,) = await PayConfigPrevious.select().run()
    assert kept["mchid"] == old.mchid and "PRIVATE KEY" not in kept[
        "merchant_private_key_sealed"]
    second = (await place(client, world, card_id, 10_000)).json()
    box = world.app.state.pay.box
    for order, merchant in ((first, old), (second, new)):
        stored = await repo.get_order(uuid.UUID(order["id"]), world.a.id)
        assert stored is not None
        found = await service.merchant_for_order(box, stored)
        assert found is not None and (found.mchid, found.appid) == (
            merchant.mchid, merchant.appid)
        assert found.apiv3_key == merchant.apiv3_key

    # Each order's notice verifies with its own merchant's keys and credits.
    for order in (first, second):
        notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
        assert await _notify(client, notice) == 204
        assert (await _row(order["id"]))["status"] == "paid"
    assert (await card(client, world, card_id))["balance_cents"] == 20_000
    assert await anomalies() == []


async def test_another_payer_is_credited_and_recorded_and_anomalies_are_listed(
        client: httpx.AsyncClient, world: World, wechat_pay_server: WechatPayStandIn) -> None:
    op = world.headers(world.a.operator)
    merchant = wechat_pay_server.new_merchant()
    assert (await client.put(f"{API}/wechat-pay-config", json=merchant_config(merchant),
                             headers=op)).status_code == 200
    await stores_service.set_openid(world.a.members[0].id, OPENID)
    card_id = await stored_value_card(client, world)

    payer = (await place(client, world, card_id, 10_000)).json()
    wechat_pay_server.order(payer["out_trade_no"]).openid = "o-someone-else"
    assert await _notify(client, wechat_pay_server.pay(payer["out_trade_no"],
                                                       notify=False)) == 204
    assert (await _row(payer["id"]))["status"] == "paid"  # the money is paid: credited

    other = (await place(client, world, card_id, 10_000)).json()
    wechat_pay_server.order(other["out_trade_no"]).appid = "wx" + "0" * 16
    assert await _notify(client, wechat_pay_server.pay(other["out_trade_no"],
                                                       notify=False)) == 204
    assert (await _row(other["id"]))["status"] == "pending"

    short = (await place(client, world, card_id, 50_000)).json()
    wechat_pay_server.order(short["out_trade_no"]).total = 100
    assert await _notify(client, wechat_pay_server.pay(short["out_trade_no"],
                                                       notify=False)) == 204
    ended = await client.get(f"{API}/top-up-orders/{short['id']}", headers=op)
    assert (ended.json()["status"], ended.json()["anomaly"]) == ("closed", "amount_mismatch")

    first = await client.get(f"{API}/pay-anomalies", headers=op, params={"limit": 2})
    assert first.status_code == 200, first.text
    rest = await client.get(f"{API}/pay-anomalies", headers=op,
                            params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert rest.json()["next_cursor"] is None
    items = first.json()["items"] + rest.json()["items"]
    assert [(a["kind"], a["order_id"]) for a in items] == [
        ("amount_mismatch", short["id"]), ("merchant_mismatch", other["id"]),
        ("payer_mismatch", payer["id"])]
    assert items[0]["amount_cents"] == 100
    assert items[0]["detail"]["order_amount_cents"] == 50_000
    assert items[2]["detail"]["payer_openid"] == "o-someone-else"
    for who in (world.a.staff["alpha-manager"], world.a.staff["alpha-clerk1"],
                world.a.members[0]):
        refused = await client.get(f"{API}/pay-anomalies", headers=world.headers(who))
        assert refused.status_code == 403
    beta = await client.get(f"{API}/pay-anomalies", headers=world.headers(world.b.operator))
    assert beta.json() == {"items": [], "next_cursor": None}
