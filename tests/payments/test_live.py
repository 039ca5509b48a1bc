"""Online top-up in live mode against the WeChat Pay stand-in (tests/stand_ins/
wechatpay.py): the JSAPI prepay signed and its pay_params verifiable, a notice credits
once whatever arrives (duplicates, tampered, mismatched, unknown, for a closed order), and
a failed prepay leaves nothing to pay and places no second order on a replay."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.core.settings import Settings
from app.core.wechatpay import Merchant, signing
from payments.tables import TopUpOrder
from stores import service as stores_service
from tests.conftest import make_settings
from tests.payments.helpers import (
    API,
    anomalies,
    assert_ledger_verifies,
    balance_notifications,
    card,
    orders,
    paid_events,
    place,
    stored_value_card,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import (
    PREPAY,
    QUERY,
    NoticeFault,
    SignedNotice,
    WechatPayStandIn,
    merchant_config,
)
from tests.world import World

wechat_pay_server = stand_ins.wechat_pay_server
PUBLIC_URL = "http://testserver.local"
OPENID = "o-alpha-member-1"


@pytest.fixture
def settings(database_url: str, wechat_pay_server: WechatPayStandIn) -> Settings:
    return make_settings(database_url, wechat_mode="live",
                         wechat_pay_api_base=wechat_pay_server.url, public_url=PUBLIC_URL,
                         wechat_pay_timeout_s=2.0, notify_dispatcher=False,
                         pay_poller=False)


async def _configured(client: httpx.AsyncClient, world: World,
                      server: WechatPayStandIn) -> tuple[Merchant, str]:
    merchant = server.new_merchant()
    put = await client.put(f"{API}/wechat-pay-config", json=merchant_config(merchant),
                           headers=world.headers(world.a.operator))
    assert put.status_code == 200, put.text
    await stores_service.set_openid(world.a.members[0].id, OPENID)
    return merchant, await stored_value_card(client, world)


async def _notify(client: httpx.AsyncClient, notice: SignedNotice) -> httpx.Response:
    return await client.post(notice.path, content=notice.body, headers=notice.headers)


async def _order(order_id: str) -> dict[str, Any]:
    row = await TopUpOrder.select().where(TopUpOrder.id == uuid.UUID(order_id)).first().run()
    assert row is not None
    return dict(row)


async def test_prepay_signed_and_notice_credits_once(
        client: httpx.AsyncClient, world: World, wechat_pay_server: WechatPayStandIn) -> None:
    merchant, card_id = await _configured(client, world, wechat_pay_server)
    placed = await place(client, world, card_id, 50_000, key="live-1")
    assert placed.status_code == 201, placed.text
    order = placed.json()
    params = order["pay_params"]
    assert params["signType"] == "RSA" and params["appId"] == merchant.appid
    assert params["package"].startswith("prepay_id=")
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n" \
              f"{params['package']}\n"
    assert signing.verify(merchant.private_key.public_key(), message, params["paySign"])

    (prepay,) = wechat_pay_server.requests_of(PREPAY)
    assert prepay.mchid == merchant.mchid  # the stand-in verified our signature
    assert prepay.json["payer"]["openid"] == OPENID
    assert prepay.json["amount"]["total"] == 50_000
    assert prepay.json["out_trade_no"] == order["out_trade_no"]
    assert prepay.json["notify_url"] == \
        f"{PUBLIC_URL}/api/v1/pay/wechat/notify/{world.a.id}"
    assert (await _order(order["id"]))["prepay_id"] == params["package"].split("=", 1)[1]

    # The replay places no second WeChat Pay order.
    again = await place(client, world, card_id, 50_000, key="live-1")
    assert again.json()["id"] == order["id"]
    assert len(wechat_pay_server.requests_of(PREPAY)) == 1

    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    # WeChat Pay's retries and duplicates, some at the same moment.
    copies = [notice, *(wechat_pay_server.resign(notice) for _ in range(3))]
    answers = await asyncio.gather(*(_notify(client, n) for n in copies))
    assert [a.status_code for a in answers] == [204] * 4, [a.text for a in answers]
    assert (await _notify(client, notice)).status_code == 204

    row = await _order(order["id"])
    assert row["status"] == "paid" and row["transaction_id"]
    after = await card(client, world, card_id)
    assert (after["balance_cents"], after["paid_balance_cents"],
            after["bonus_balance_cents"]) == (55_000, 50_000, 5_000)
    assert len(await paid_events(order["id"])) == 1
    assert len(await balance_notifications(world.a.members[0].id)) == 1
    read = await client.get(f"{API}/top-up-orders/{order['id']}",
                            headers=world.headers(world.a.members[0]))
    assert read.json()["status"] == "paid"
    assert read.json()["transaction_id"] == row["transaction_id"]
    assert await anomalies() == []
    await assert_ledger_verifies()


async def test_bad_notices_change_nothing(client: httpx.AsyncClient, world: World,
                                          wechat_pay_server: WechatPayStandIn) -> None:
    _, card_id = await _configured(client, world, wechat_pay_server)
    order = (await place(client, world, card_id, 10_000)).json()
    faults: tuple[NoticeFault, ...] = ("bad_signature", "wrong_serial", "stale",
                                       "undecryptable", "no_signature")
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False, fault="tampered")
    bad = [notice] + [wechat_pay_server.notice_for(order["out_trade_no"], fault=f)
                      for f in faults]
    for forged in bad:
        answer = await _notify(client, forged)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert set(answer.json()) == {"code", "message"}
        assert answer.json()["code"] == "SIGN_ERROR"
    assert (await _order(order["id"]))["status"] == "pending"
    assert (await card(client, world, card_id))["balance_cents"] == 0
    # A chain without a config takes no notices: the same 401 as a bad signature (no
    # oracle of which chains take WeChat Pay).
    elsewhere = await client.post(f"{API}/pay/wechat/notify/{world.b.id}",
                                  content=notice.body, headers=notice.headers)
    assert elsewhere.status_code == 401 and elsewhere.json()["code"] == "SIGN_ERROR"
    # The genuine notice still credits.
    good = wechat_pay_server.notice_for(order["out_trade_no"])
    assert (await _notify(client, good)).status_code == 204
    assert (await card(client, world, card_id))["balance_cents"] == 10_000


async def test_mismatched_and_unknown_are_recorded_not_credited(
        client: httpx.AsyncClient, world: World, wechat_pay_server: WechatPayStandIn) -> None:
    merchant, card_id = await _configured(client, world, wechat_pay_server)
    order = (await place(client, world, card_id, 50_000)).json()
    # WeChat Pay's own record says another amount than the order's: ended (never polled
    # again), saying why; a person settles it.
    wechat_pay_server.order(order["out_trade_no"]).total = 40_000
    mismatch = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    for _ in range(2):
        assert (await _notify(client, wechat_pay_server.resign(mismatch))).status_code == 204
    ended = await _order(order["id"])
    assert (ended["status"], ended["anomaly"]) == ("closed", "amount_mismatch")
    assert (await card(client, world, card_id))["balance_cents"] == 0
    (recorded,) = await anomalies()
    assert recorded["kind"] == "amount_mismatch" and recorded["amount_cents"] == 40_000
    assert recorded["out_trade_no"] == order["out_trade_no"]

    # Only the notice says another amount; WeChat Pay's record (asked at once) says the
    # order's: credited by the record, the lying notice kept for a person.
    honest = (await place(client, world, card_id, 50_000)).json()
    lying = wechat_pay_server.pay(honest["out_trade_no"], notify=False, notice_total=1)
    for _ in range(2):
        assert (await _notify(client, wechat_pay_server.resign(lying))).status_code == 204
    assert (await _order(honest["id"]))["status"] == "paid"
    assert (await card(client, world, card_id))["balance_cents"] == 50_000 + honest[
        "bonus_cents"]
    told = [a for a in await anomalies() if a["out_trade_no"] == honest["out_trade_no"]]
    assert [(a["kind"], a["amount_cents"]) for a in told] == [("amount_mismatch", 1)]

    url = f"{PUBLIC_URL}/api/v1/pay/wechat/notify/{world.a.id}"
    wechat_pay_server.place(merchant.mchid, "TNEVERPLACED000000000000000001", 777, url)
    unknown = wechat_pay_server.pay("TNEVERPLACED000000000000000001", notify=False)
    for _ in range(2):
        assert (await _notify(client, wechat_pay_server.resign(unknown))).status_code == 204
    kinds = sorted(a["kind"] for a in await anomalies())
    assert kinds == ["amount_mismatch", "amount_mismatch", "unknown_order"]
    assert await paid_events(order["id"]) == []



async def test_notice_for_a_closed_order_is_confirmed_first(
        client: httpx.AsyncClient, world: World, wechat_pay_server: WechatPayStandIn) -> None:
    _, card_id = await _configured(client, world, wechat_pay_server)
    order = (await place(client, world, card_id, 10_000)).json()
    await TopUpOrder.update({TopUpOrder.status: "closed"}).where(
        TopUpOrder.id == uuid.UUID(order["id"])).run()
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    wechat_pay_server.fail(QUERY, "SYSTEM_ERROR")
    failed = await _notify(client, notice)
    assert failed.status_code == 503 and failed.json()["code"] == "FAIL"
    assert (await _order(order["id"]))["status"] == "closed"
    # WeChat Pay sends it again; the active query confirms the payment.
    assert (await _notify(client, wechat_pay_server.resign(notice))).status_code == 204
    assert len(wechat_pay_server.requests_of(QUERY)) == 2
    assert (await _order(order["id"]))["status"] == "paid"
    assert (await card(client, world, card_id))["balance_cents"] == 10_000


async def test_failed_prepay_leaves_nothing_to_pay(
        client: httpx.AsyncClient, world: World, wechat_pay_server: WechatPayStandIn) -> None:
    _, card_id = await _configured(client, world, wechat_pay_server)
    wechat_pay_server.fail(PREPAY, "SYSTEM_ERROR")
    failed = await place(client, world, card_id, 10_000, key="flaky")
    assert failed.status_code == 503, failed.text
    assert failed.json()["code"] == "payment_unavailable"
    assert failed.json()["wechat_code"] == "SYSTEM_ERROR"
    (row,) = await orders()
    assert row["status"] == "closed" and row["prepay_id"] is None
    # The replay answers the same and asks WeChat Pay nothing.
    replay = await place(client, world, card_id, 10_000, key="flaky")
    assert replay.status_code == 503 and replay.headers.get("Idempotent-Replayed") == "true"
    assert len(wechat_pay_server.requests_of(PREPAY)) == 1

    wechat_pay_server.fail(PREPAY, "PARAM_ERROR", status=400)
    refused = await place(client, world, card_id, 10_000, key="refused")
    assert refused.status_code == 502 and refused.json()["code"] == "payment_refused"

    wechat_pay_server.hang(PREPAY, seconds=5)
    timed_out = await place(client, world, card_id, 10_000, key="slow")
    assert timed_out.status_code == 503, timed_out.text
    assert {r["status"] for r in await orders()} == {"closed"}

    fresh = await place(client, world, card_id, 10_000, key="fresh")
    assert fresh.status_code == 201
    assert (await card(client, world, card_id))["balance_cents"] == 0


async def test_live_refusals(client: httpx.AsyncClient, world: World, app: Litestar,
                             wechat_pay_server: WechatPayStandIn) -> None:
    card_id = await stored_value_card(client, world)
    unconfigured = await place(client, world, card_id, 10_000)
    assert unconfigured.status_code == 409
    assert unconfigured.json()["code"] == "payment_not_configured"
    merchant = wechat_pay_server.new_merchant()
    await client.put(f"{API}/wechat-pay-config", json=merchant_config(merchant),
                     headers=world.headers(world.a.operator))
    no_openid = await place(client, world, card_id, 10_000)
    assert no_openid.status_code == 409 and no_openid.json()["code"] == "member_not_linked"
    await stores_service.set_openid(world.a.members[0].id, OPENID)
    pay = app.state.pay
    app.state.pay = dataclasses.replace(
        pay, settings=dataclasses.replace(pay.settings, public_url=None))
    try:
        no_url = await place(client, world, card_id, 10_000)
        assert no_url.status_code == 409 and "O2O_PUBLIC_URL" in no_url.json()["detail"]
    finally:
        app.state.pay = pay
    assert await orders() == []
    assert wechat_pay_server.requests_of(PREPAY) == []
    order = (await place(client, world, card_id, 10_000)).json()
    sandbox = await client.post(f"{API}/top-up-orders/{order['id']}/sandbox-pay",
                                headers=world.headers(world.a.members[0]))
    assert sandbox.status_code == 409 and sandbox.json()["code"] == "sandbox_only"
