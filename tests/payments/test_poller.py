"""The payment poller against the WeChat Pay stand-in: a missed notice credited by the
active query on its backoff, stale orders closed after 2 h (a last-moment payment
credited instead), sandbox orders never queried, two pollers never asking twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest

from app.core.settings import Settings
from payments.poller import PayPoller
from tests.payments.followup_world import (
    LivePay,
    anomalies,
    events_of,
    ledger_verifies,
    live_settings,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import CLOSE, QUERY, WechatPayStandIn
from tests.world import World

wechat_pay_server = stand_ins.wechat_pay_server


@pytest.fixture
def settings(database_url: str, wechat_pay_server: WechatPayStandIn) -> Settings:
    return live_settings(database_url, wechat_pay_server)


@pytest.fixture
async def pay(client: httpx.AsyncClient, world: World,
              wechat_pay_server: WechatPayStandIn) -> LivePay:
    live = LivePay(client, world, stand_in=wechat_pay_server)
    await live.configure()
    return live


@pytest.fixture
async def poller(pay: LivePay, settings: Settings) -> AsyncIterator[PayPoller]:
    poller = pay.poller(settings)
    yield poller
    assert poller.client is not None
    await poller.client.close()


def queries(stand_in: WechatPayStandIn, out_trade_no: str) -> int:
    return sum(1 for r in stand_in.requests_of(QUERY) if out_trade_no in r.path)


async def test_missed_notice_is_credited_by_the_query_on_its_backoff(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 50000)
    no = order["out_trade_no"]
    placed: datetime = (await pay.row(order["id"]))["created_at"]

    assert sum((await poller.run_once(placed + timedelta(seconds=10))).values()) == 0
    assert queries(wechat_pay_server, no) == 0  # not before 15 s

    # Unpaid: asked at 15 s, then 30 s after that look, then 1 min after the next.
    assert (await poller.run_once(placed + timedelta(seconds=16)))["waiting"] == 1
    row = await pay.row(order["id"])
    assert row["query_attempts"] == 1
    assert row["next_query_at"] == placed + timedelta(seconds=46)
    assert sum((await poller.run_once(placed + timedelta(seconds=40))).values()) == 0
    assert (await poller.run_once(placed + timedelta(seconds=47)))["waiting"] == 1
    assert (await pay.row(order["id"]))["next_query_at"] == placed + timedelta(seconds=107)
    assert queries(wechat_pay_server, no) == 2

    # Paid, and the notice lost: the next look credits it, once.
    wechat_pay_server.pay(no, notify=False)
    assert (await poller.run_once(placed + timedelta(seconds=108)))["credited"] == 1
    assert await pay.money(card) == (50000, 5000)
    state = await pay.order(order["id"])
    assert state["status"] == "paid" and state["transaction_id"]
    assert sum((await poller.run_once(placed + timedelta(minutes=30))).values()) == 0
    assert len(await events_of(order["id"], "top_up_order.paid")) == 1
    await ledger_verifies()


async def test_query_and_notice_at_once_credit_once(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 10000)
    placed = (await pay.row(order["id"]))["created_at"]
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    outcome, status = await asyncio.gather(
        poller.run_once(placed + timedelta(seconds=16)), pay.notice(notice))
    assert status == 204
    # The poller credited it, found it credited, or never claimed it (credited first).
    assert outcome["credited"] <= 1 and outcome["error"] == 0
    assert await pay.money(card) == (10000, 0)
    assert len(await pay.ledger(card)) == 2  # issue + one top_up (no bonus)
    await ledger_verifies()


async def test_stale_order_is_closed_after_two_hours(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 10000)
    placed = (await pay.row(order["id"]))["created_at"]
    assert sum((await poller.run_once(placed + timedelta(hours=1, minutes=59))).values()) == 1
    assert not wechat_pay_server.requests_of(CLOSE)

    outcome = await poller.run_once(placed + timedelta(hours=2, seconds=1))
    assert outcome["closed"] == 1
    assert len(wechat_pay_server.requests_of(CLOSE)) == 1
    assert wechat_pay_server.order(order["out_trade_no"]).state == "CLOSED"
    state = await pay.order(order["id"])
    assert state["status"] == "closed"
    assert sum((await poller.run_once(placed + timedelta(hours=3))).values()) == 0
    assert await pay.money(card) == (0, 0)


async def test_order_paid_at_the_last_moment_is_credited_instead_of_closed(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 30000)
    placed = (await pay.row(order["id"]))["created_at"]
    wechat_pay_server.pay(order["out_trade_no"], notify=False)  # its notice never arrives
    outcome = await poller.run_once(placed + timedelta(hours=2, seconds=1))
    assert outcome["credited"] == 1
    assert len(wechat_pay_server.requests_of(CLOSE)) == 1  # refused: ORDERPAID
    assert (await pay.order(order["id"]))["status"] == "paid"
    assert await pay.money(card) == (30000, 1000)
    await ledger_verifies()


async def test_query_failures_wait_for_the_next_look(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 10000)
    placed = (await pay.row(order["id"]))["created_at"]
    wechat_pay_server.pay(order["out_trade_no"], notify=False)
    wechat_pay_server.fail(QUERY, "SYSTEM_ERROR", status=500)
    assert (await poller.run_once(placed + timedelta(seconds=16)))["waiting"] == 1
    assert (await pay.order(order["id"]))["status"] == "pending"
    assert (await poller.run_once(placed + timedelta(seconds=47)))["credited"] == 1
    assert await pay.money(card) == (10000, 0)


async def test_two_pollers_never_ask_about_one_order_twice(
        pay: LivePay, settings: Settings, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    orders = [await pay.place(card, 10000) for _ in range(6)]
    latest = max([(await pay.row(o["id"]))["created_at"] for o in orders])
    wechat_pay_server.slow(QUERY, 0.05, times=None)
    first, second = pay.poller(settings), pay.poller(settings)
    try:
        a, b = await asyncio.gather(first.run_once(latest + timedelta(seconds=16)),
                                    second.run_once(latest + timedelta(seconds=16)))
    finally:
        for p in (first, second):
            assert p.client is not None
            await p.client.close()
    assert a["waiting"] + b["waiting"] == 6
    assert len(wechat_pay_server.requests_of(QUERY)) == 6


async def test_the_poller_task_of_the_server_credits_a_missed_notice(
        database_url: str, wechat_pay_server: WechatPayStandIn) -> None:
    """create_app runs the poller (O2O_PAY_POLLER) on its own: nobody calls run_once."""
    from dataclasses import replace

    from app.asgi import create_app
    from tests.conftest import serving
    from tests.world import build_world

    settings = replace(live_settings(database_url, wechat_pay_server), pay_poller=True,
                       pay_poll_s=0.05, pay_query_scale=0.01)
    app = create_app(settings)
    async with serving(app) as client:
        live = LivePay(client, await build_world(app), stand_in=wechat_pay_server)
        await live.configure()
        card = await live.card()
        order = await live.place(card, 10000)
        wechat_pay_server.pay(order["out_trade_no"], notify=False)
        for _ in range(100):
            if (await live.order(order["id"]))["status"] == "paid":
                break
            await asyncio.sleep(0.05)
        assert (await live.order(order["id"]))["status"] == "paid"
        assert await live.money(card) == (10000, 0)


async def test_a_payment_refunded_at_wechat_pay_is_not_credited_and_not_polled(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    """trade_state REFUND (paid, then refunded outside the app) before any credit: not
    credited (how much went back is not in the answer), the order closed, an anomaly for
    a person; a late notice of the payment does not credit it either."""
    card = await pay.card()
    order = await pay.place(card, 30000)
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    wechat_pay_server.order(order["out_trade_no"]).state = "REFUND"
    placed: datetime = (await pay.row(order["id"]))["created_at"]
    assert (await poller.run_once(placed + timedelta(seconds=16)))["refunded_elsewhere"] == 1
    assert await pay.money(card) == (0, 0)
    assert (await pay.order(order["id"]))["status"] == "closed"
    assert len(await anomalies("refunded_elsewhere")) == 1
    asked = len(wechat_pay_server.requests_of(QUERY))
    for minutes in (30, 150, 300):
        assert sum((await poller.run_once(placed + timedelta(minutes=minutes))).values()) == 0
    assert len(wechat_pay_server.requests_of(QUERY)) == asked
    assert not wechat_pay_server.requests_of(CLOSE)
    assert await pay.notice(wechat_pay_server.resign(notice)) == 204
    assert await pay.money(card) == (0, 0)
    await ledger_verifies()
