"""The card bag's WeChat calls (``app.core.wechat``) against the stand-in, and the stand-in's
card endpoints themselves (review, activation, updates, errcodes, faults)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.core.db import bind_tables, close_engine, make_engine, prepare_engine
from app.core.notify import repository as repo
from app.core.notify.tokens import TicketStore, TokenStore, ticket_key
from app.core.wechat import WechatClient, WechatError
from app.core.wechat_crypto import card_sign, jsapi_sign
from app.tables import all_tables
from tests.stand_ins.wechat import (
    CARD_CREATE,
    GET_TICKET,
    MEMBERCARD_ACTIVATE,
    MEMBERCARD_UPDATEUSER,
    WechatStandIn,
)

APP_ID, SECRET = "wxCardBag00001", "card-bag-secret-0001"


def member_card(*, balance: bool = True) -> dict[str, Any]:
    """A ``card`` object as the card bag's operator endpoint builds it."""
    return {"card_type": "MEMBER_CARD", "member_card": {
        "base_info": {
            "logo_url": "https://mmbiz.qpic.cn/logo.png", "brand_name": "静安咖啡",
            "code_type": "CODE_TYPE_NONE", "title": "会员卡", "color": "Color010",
            "notice": "出示会员页二维码", "description": "积分与储值",
            "sku": {"quantity": 100000000}, "date_info": {"type": "DATE_TYPE_PERMANENT"},
            "use_custom_code": True,
        },
        "prerogative": "会员价", "supply_bonus": True, "supply_balance": balance,
        "custom_field1": {"name": "等级", "url": "https://o2o.example/m/cards"},
        "custom_cell1": {"name": "会员码", "tips": "出示二维码",
                         "url": "https://o2o.example/m/cards"},
    }}


@pytest.fixture
def server() -> Iterator[WechatStandIn]:
    with WechatStandIn() as stand_in:
        stand_in.add_app(APP_ID, SECRET)
        yield stand_in


@pytest.fixture
async def client(server: WechatStandIn) -> AsyncIterator[WechatClient]:
    wechat = WechatClient(server.url, timeout=1.0)
    yield wechat
    await wechat.close()


async def token(client: WechatClient) -> str:
    return (await client.stable_token(APP_ID, SECRET)).token


async def approved_card(client: WechatClient, server: WechatStandIn, access: str,
                        *, balance: bool = True) -> str:
    card_id = await client.card_create(access, member_card(balance=balance))
    server.approve(card_id)
    return card_id


def activation(card_id: str, code: str = "880000000001", **extra: Any) -> dict[str, Any]:
    return {"membership_number": code, "code": code, "card_id": card_id,
            "init_bonus": 120, "init_balance": 8800, "init_custom_field_value1": "金卡",
            **extra}


async def test_tickets_sign_what_wechat_checks(client: WechatClient,
                                               server: WechatStandIn) -> None:
    access = await token(client)
    card_ticket = await client.get_ticket(access, "wx_card")
    js_ticket = await client.get_ticket(access, "jsapi")
    assert card_ticket.expires_in == 7200 and card_ticket.ticket != js_ticket.ticket
    card_id = await approved_card(client, server, access)
    ext = {"code": "880000000001", "openid": "o-member", "timestamp": "1700000000",
           "nonce_str": "n0nce"}
    ext["signature"] = card_sign(card_ticket.ticket, card_id, *ext.values())
    assert server.check_card_ext(card_id, json.dumps(ext))
    assert not server.check_card_ext(card_id, {**ext, "code": "880000000002"})
    url = "https://o2o.example/m/cards?x=1"
    assert server.check_jsapi(jsapi_sign(js_ticket.ticket, "n", "1", url + "#top"), "n", "1",
                              url)
    server.invalidate_tickets()
    assert not server.check_card_ext(card_id, json.dumps(ext))
    with pytest.raises(WechatError) as bad_type:
        await client.get_ticket(access, "wx_cards")
    assert bad_type.value.errcode == 40097
    server.invalidate_tokens()
    with pytest.raises(WechatError) as refused:
        await client.get_ticket(access, "wx_card")
    assert refused.value.errcode == 40001
    assert server.requests_to(GET_TICKET)[0].query["type"] == "wx_card"


async def test_create_review_activate_update(client: WechatClient,
                                             server: WechatStandIn) -> None:
    access = await token(client)
    card_id = await client.card_create(access, member_card())
    assert server.card(card_id).status == "CARD_STATUS_NOT_VERIFY"
    sent = server.requests_to(CARD_CREATE)[0]
    assert sent.json["card"]["member_card"]["base_info"]["brand_name"] == "静安咖啡"
    assert "静安".encode() in sent.body  # UTF-8 on the wire, not \u escapes
    with pytest.raises(WechatError) as in_review:
        await client.membercard_activate(access, activation(card_id))
    assert in_review.value.errcode == 40078
    server.approve(card_id)
    server.take_card(card_id, "880000000001", "o-member")
    await client.membercard_activate(access, activation(card_id))
    answer = await client.membercard_updateuser(access, {
        "code": "880000000001", "card_id": card_id, "bonus": 100, "balance": 0,
        "record_bonus": "消费 ¥88.00 静安店", "record_balance": "消费 ¥88.00 静安店",
        "custom_field_value1": "金卡",
        "notify_optional": {"is_notify_bonus": True, "is_notify_balance": True}})
    assert answer == {"result_bonus": 100, "result_balance": 0, "openid": "o-member"}
    await client.membercard_updateuser(access, {"code": "880000000001", "card_id": card_id,
                                                "add_bonus": 5, "add_balance": 1000})
    figures = server.member_card(card_id, "880000000001")
    assert figures is not None
    assert (figures["bonus"], figures["balance"], figures["custom_field_value1"]) == (
        105, 1000, "金卡")
    assert [u.get("record_bonus") for u in figures["updates"]] == ["消费 ¥88.00 静安店", None]
    assert [(c, code) for c, code, _ in server.card_updates] == [(card_id, "880000000001")] * 2


@pytest.mark.parametrize(("change", "errcode"), [
    ({"card_type": "GROUPON"}, 40071),
    ({"member_card": {"base_info": {}}}, 41011),
    ({"member_card": {**member_card()["member_card"], "supply_bonus": None}}, 41011),
    ({"member_card": {**member_card()["member_card"], "custom_cell1": {"name": "x"}}}, 47001),
    ({"member_card": {**member_card()["member_card"], "custom_field1": {"url": "u"}}}, 47001),
])
async def test_create_refusals(client: WechatClient, change: dict[str, Any],
                               errcode: int) -> None:
    with pytest.raises(WechatError) as refused:
        await client.card_create(await token(client), {**member_card(), **change})
    assert refused.value.errcode == errcode


async def test_activate_and_update_refusals(client: WechatClient,
                                            server: WechatStandIn) -> None:
    access = await token(client)
    card_id = await approved_card(client, server, access)
    no_balance = await approved_card(client, server, access, balance=False)
    cases: list[tuple[Any, dict[str, Any], int]] = [
        (client.membercard_activate, {**activation(card_id), "membership_number": ""}, 41011),
        (client.membercard_activate, activation("pUnknownCard"), 40073),
        (client.membercard_activate, activation(card_id, init_bonus="12"), 47001),
        (client.membercard_activate, activation(no_balance), 43010),
        (client.membercard_updateuser, {"code": "880000000009", "card_id": card_id,
                                        "bonus": 1}, 40056),
    ]
    for call, body, errcode in cases:
        with pytest.raises(WechatError) as refused:
            await call(access, body)
        assert refused.value.errcode == errcode, body
    await client.membercard_activate(access, activation(card_id))
    with pytest.raises(WechatError) as below_zero:
        await client.membercard_updateuser(access, {"code": "880000000001",
                                                    "card_id": card_id, "add_balance": -9000})
    assert below_zero.value.errcode == 47001
    server.remove_card(card_id, "880000000001")
    with pytest.raises(WechatError) as deleted:
        await client.membercard_updateuser(access, {"code": "880000000001",
                                                    "card_id": card_id, "bonus": 1})
    assert deleted.value.errcode == 40127
    server.require_taken = True
    with pytest.raises(WechatError) as not_taken:
        await client.membercard_activate(access, activation(card_id, code="880000000002"))
    assert not_taken.value.errcode == 40056


async def test_faults_reach_the_caller_as_wechat_errors(client: WechatClient,
                                                        server: WechatStandIn) -> None:
    access = await token(client)
    card_id = await approved_card(client, server, access)
    await client.membercard_activate(access, activation(card_id))
    body = {"code": "880000000001", "card_id": card_id, "bonus": 7}
    server.fail(MEMBERCARD_UPDATEUSER, 45009)
    server.fail(MEMBERCARD_UPDATEUSER, -1)
    server.hang(MEMBERCARD_UPDATEUSER, 3.0)
    server.drop(MEMBERCARD_ACTIVATE)
    outcomes = []
    for _ in range(3):
        with pytest.raises(WechatError) as failed:
            await client.membercard_updateuser(access, body)
        outcomes.append(failed.value.errcode)
    assert outcomes == [45009, -1, None]  # the hang is a timeout: errcode None
    with pytest.raises(WechatError):
        await client.membercard_activate(access, activation(card_id))
    assert (await client.membercard_updateuser(access, body))["result_bonus"] == 7
    # Only the update carried out is recorded on the card.
    figures = server.member_card(card_id, "880000000001")
    assert figures is not None and len(figures["updates"]) == 1


# --- api_tickets shared by every process (TicketStore) -----------------------------------


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[None]:
    engine = make_engine(database_url)
    bind_tables(engine, all_tables())
    await prepare_engine(engine)
    yield
    await close_engine(engine)


def process(client: WechatClient) -> tuple[TokenStore, TicketStore]:
    """One process's stores: their own memory, the database shared."""
    tokens = TokenStore(client, wait_s=5.0)
    return tokens, TicketStore(client, tokens, wait_s=5.0)


async def test_two_processes_share_one_ticket_fetch(db: None, client: WechatClient,
                                                    server: WechatStandIn) -> None:
    (_, first), (_, second) = process(client), process(client)
    server.slow(GET_TICKET, 0.3)  # the fetch is in flight while the others ask
    got = await asyncio.gather(*(store.get(APP_ID, SECRET, "wx_card")
                                 for store in [first, second] * 5))
    assert len(set(got)) == 1
    assert len(server.requests_to(GET_TICKET)) == 1
    assert len(server.token_fetches()) == 1
    row = await repo.get_token(ticket_key("wx_card", APP_ID))
    assert row is not None and row["access_token"] == got[0]
    # jsapi is another row, another fetch; the access token is reused.
    assert await second.get(APP_ID, SECRET, "jsapi") != got[0]
    assert len(server.requests_to(GET_TICKET)) == 2 and len(server.token_fetches()) == 1


async def test_a_refused_ticket_is_refetched_once_unless_it_is_young(
        db: None, client: WechatClient, server: WechatStandIn) -> None:
    (_, first), (_, second) = process(client), process(client)
    old = await first.get(APP_ID, SECRET, "wx_card")
    # Fetched a moment ago: the page's retry gets the same ticket, WeChat is not asked.
    assert await first.refresh(APP_ID, SECRET, "wx_card", refused=old) == old
    assert len(server.requests_to(GET_TICKET)) == 1
    server.invalidate_tickets()
    both = await asyncio.gather(
        first.refresh(APP_ID, SECRET, "wx_card", refused=old, min_age_s=0),
        second.refresh(APP_ID, SECRET, "wx_card", refused=old, min_age_s=0))
    assert both[0] == both[1] != old
    assert len(server.requests_to(GET_TICKET)) == 2  # one refetch for both processes
    assert await second.get(APP_ID, SECRET, "wx_card") == both[0]


async def test_a_refused_access_token_is_refreshed_for_the_ticket(
        db: None, client: WechatClient, server: WechatStandIn) -> None:
    _, first = process(client)
    await first.get(APP_ID, SECRET, "jsapi")
    server.invalidate_tokens()  # the stored token stops working (another app's refresh)
    _, later = process(client)  # reads the stored token, WeChat refuses it
    ticket = await later.get(APP_ID, SECRET, "wx_card")
    assert ticket
    assert [r.query.get("type") for r in server.requests_to(GET_TICKET)] == [
        "jsapi", "wx_card", "wx_card"]
    assert len(server.token_fetches(forced=True)) == 1


async def test_a_failed_fetch_hands_the_lease_back(db: None, client: WechatClient,
                                                   server: WechatStandIn) -> None:
    _, first = process(client)
    server.fail(GET_TICKET, -1)
    with pytest.raises(WechatError) as busy:
        await first.get(APP_ID, SECRET, "wx_card")
    assert busy.value.errcode == -1
    started = time.monotonic()
    assert await process(client)[1].get(APP_ID, SECRET, "wx_card")
    assert time.monotonic() - started < 2  # no wait for a lease nobody holds


async def test_a_ticket_is_replaced_before_it_expires(db: None, client: WechatClient,
                                                      server: WechatStandIn) -> None:
    server.ticket_ttl = 2  # usable for one second (half its life when that is short)
    _, first = process(client)
    old = await first.get(APP_ID, SECRET, "wx_card")
    assert await first.get(APP_ID, SECRET, "wx_card") == old
    await asyncio.sleep(1.1)
    assert await first.get(APP_ID, SECRET, "wx_card") != old


async def test_call_with_token_refreshes_once(db: None, client: WechatClient,
                                              server: WechatStandIn) -> None:
    tokens, _ = process(client)
    seen: list[str] = []

    async def call(token: str) -> str:
        seen.append(token)
        if len(seen) == 1:
            raise WechatError(42001, "access_token expired")
        if len(seen) in (3, 4):
            raise WechatError(40001, "refused, and again after the refresh")
        return "done"

    assert await tokens.call_with_token(APP_ID, SECRET, call) == "done"
    assert seen[0] != seen[1]
    with pytest.raises(WechatError) as twice:  # refused again after the refresh: given up
        await tokens.call_with_token(APP_ID, SECRET, call)
    assert twice.value.errcode == 40001
    with pytest.raises(WechatError) as other:
        await tokens.call_with_token(APP_ID, SECRET, _raise_45009)
    assert other.value.errcode == 45009 and len(server.token_fetches()) == 3
    assert len(seen) == 4


async def _raise_45009(token: str) -> None:
    raise WechatError(45009, "reach max api daily quota limit")
