"""Refunds through WeChat Pay (the stand-in): sent after the commit, finished once by the
notice, the query or both racing; ABNORMAL, CLOSED and a final refusal put the money
back; a failed send is sent again by the poller."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.db import Sql
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
from tests.stand_ins.wechatpay import QUERY_REFUND, REFUND, WechatPayStandIn
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


async def paid(pay: LivePay, card: str, amount: int) -> dict[str, Any]:
    """An order paid, its notice delivered (credited)."""
    assert pay.stand_in is not None
    order = await pay.place(card, amount)
    notice = pay.stand_in.pay(order["out_trade_no"], notify=False)
    assert await pay.notice(notice) == 204
    assert (await pay.order(order["id"]))["status"] == "paid"
    return order


async def test_refund_success_notice_finishes_it_once(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await paid(pay, card, 50000)
    response = await pay.refund(order["id"], 20000)
    assert response.status_code == 202, response.text
    refund = response.json()
    assert refund["status"] == "processing" and refund["refund_id"]
    assert (refund["amount_cents"], refund["bonus_cents"]) == (20000, 2000)
    assert await pay.money(card) == (30000, 3000)  # off the card while WeChat Pay works
    sent = wechat_pay_server.requests_of(REFUND)
    assert len(sent) == 1
    assert sent[0].json["amount"] == {"refund": 20000, "total": 50000, "currency": "CNY"}
    assert sent[0].json["notify_url"].endswith(f"/api/v1/pay/wechat/notify/{pay.world.a.id}")

    notice = wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    assert notice is not None
    # The notice, again and again (WeChat Pay's retries, re-signed): applied once.
    statuses = [await pay.notice(notice)]
    statuses += [await pay.notice(wechat_pay_server.resign(notice)) for _ in range(2)]
    assert statuses == [204, 204, 204]
    state = await pay.order(order["id"])
    assert state["status"] == "partially_refunded" and state["refunded_cents"] == 20000
    assert len(await events_of(order["id"], "top_up_order.refunded")) == 1
    assert await pay.money(card) == (30000, 3000)
    assert [e["kind"] for e in await pay.ledger(card)].count("refund") == 1
    await ledger_verifies()


async def refund_status(refund: dict[str, Any]) -> str:
    row = await Sql("SELECT status FROM top_up_refund WHERE id = {}").first(
        uuid.UUID(refund["id"]))
    assert row is not None
    return str(row["status"])


async def test_abnormal_keeps_the_refund_open_until_it_ends(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    """REFUND.ABNORMAL (the payer's bank card refused it) is not an end: the money stays
    off the card, the operator is told, the poller keeps asking (slowly); only CLOSED
    puts the money back."""
    card = await pay.card()
    order = await paid(pay, card, 50000)
    refund = (await pay.refund(order["id"])).json()
    assert await pay.money(card) == (0, 0)
    notice = wechat_pay_server.finish_refund(refund["out_refund_no"], "ABNORMAL",
                                             notify=False)
    assert notice is not None
    assert await pay.notice(notice) == 204
    assert await pay.notice(wechat_pay_server.resign(notice)) == 204
    assert await pay.money(card) == (0, 0)
    assert await refund_status(refund) == "abnormal"
    assert len(await anomalies("refund_abnormal")) == 1
    assert "refund_reverted" not in [e["kind"] for e in await pay.ledger(card)]
    # The order's money is still on its way back: nothing more can be refunded.
    assert (await pay.refund(order["id"], 100)).status_code == 409
    # The poller asks about it at least an hour later, not at the fast backoff.
    start = refund_created(refund)
    asked = len(wechat_pay_server.requests_of(QUERY_REFUND))
    assert sum((await poller.run_once(start + timedelta(minutes=20))).values()) == 0
    assert (await poller.run_once(start + timedelta(hours=2)))["refund_abnormal"] == 1
    assert len(wechat_pay_server.requests_of(QUERY_REFUND)) == asked + 1
    # The merchant gave up on it: CLOSED is final, the money goes back.
    closed = wechat_pay_server.finish_refund(refund["out_refund_no"], "CLOSED", notify=False)
    assert closed is not None and await pay.notice(closed) == 204
    assert await pay.money(card) == (50000, 5000)
    kinds = [e["kind"] for e in await pay.ledger(card)]
    assert kinds.count("refund") == 1 and kinds.count("refund_reverted") == 1
    reverted = (await pay.ledger(card))[-1]
    assert (reverted["delta_paid_cents"], reverted["delta_bonus_cents"]) == (50000, 5000)
    state = await pay.order(order["id"])
    assert state["status"] == "paid" and state["refunded_cents"] == 0
    assert not await events_of(order["id"], "top_up_order.refunded")
    again = await pay.refund(order["id"], 10000)
    assert again.status_code == 202, again.text
    await ledger_verifies()


async def test_abnormal_then_success_pays_out_once(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await paid(pay, card, 30000)
    refund = (await pay.refund(order["id"])).json()
    for status in ("ABNORMAL", "SUCCESS"):
        notice = wechat_pay_server.finish_refund(refund["out_refund_no"], status,
                                                 notify=False)
        assert notice is not None and await pay.notice(notice) == 204
    assert await pay.money(card) == (0, 0)
    assert await refund_status(refund) == "success"
    state = await pay.order(order["id"])
    assert state["status"] == "refunded" and state["refunded_cents"] == 30000
    assert len(await events_of(order["id"], "top_up_order.refunded")) == 1
    await ledger_verifies()


async def test_success_after_a_revert_takes_the_money_off_again(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    """WeChat Pay said CLOSED, then paid it out after all (defensive: it must never be
    dropped): the money is taken off the card again, as far as it is still there, and
    the contradiction recorded."""
    card = await pay.card()
    order = await paid(pay, card, 30000)
    refund = (await pay.refund(order["id"], 20000)).json()
    assert (refund["amount_cents"], refund["bonus_cents"]) == (20000, 666)
    closed = wechat_pay_server.finish_refund(refund["out_refund_no"], "CLOSED", notify=False)
    assert closed is not None and await pay.notice(closed) == 204
    assert await pay.money(card) == (30000, 1000)
    await pay.charge(card, 15500)  # spent since: proportional, 15000 paid + 500 bonus
    assert await pay.money(card) == (15000, 500)
    success = wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS",
                                              notify=False)
    assert success is not None and await pay.notice(success) == 204
    assert await pay.notice(wechat_pay_server.resign(success)) == 204
    # 200.00 reached the payer; 150.00 was still on the card: taken. The rest is the
    # chain's loss, told to a person; the order's bonus share (666) as far as it is there.
    assert await pay.money(card) == (0, 0)
    assert await refund_status(refund) == "success"
    state = await pay.order(order["id"])
    assert state["status"] == "partially_refunded" and state["refunded_cents"] == 20000
    [anomaly] = await anomalies("refund_after_revert")
    detail = anomaly["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert (detail["paid_taken_cents"], detail["bonus_taken_cents"],
            detail["shortfall_cents"]) == (15000, 500, 5000)
    row = await pay.row(order["id"])
    assert row["bonus_refunded_cents"] <= row["bonus_cents"]
    await ledger_verifies()


async def test_notice_and_query_racing_finish_once(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await paid(pay, card, 30000)
    refund = (await pay.refund(order["id"])).json()
    notice = wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    assert notice is not None
    created = (await pay.row(order["id"]))["created_at"]
    later = max(created, refund_created(refund)) + timedelta(minutes=2)
    outcome, status = await asyncio.gather(poller.run_once(later), pay.notice(notice))
    assert status == 204
    state = await pay.order(order["id"])
    assert state["status"] == "refunded" and state["refunded_cents"] == 30000
    assert len(await events_of(order["id"], "top_up_order.refunded")) == 1
    assert outcome["refund_success"] + outcome.get("refund_waiting", 0) <= 1
    await ledger_verifies()


def refund_created(refund: dict[str, Any]) -> Any:
    from datetime import datetime
    return datetime.fromisoformat(refund["created_at"].replace("Z", "+00:00"))


async def test_failed_send_is_sent_again_then_followed_to_the_end(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await paid(pay, card, 10000)
    wechat_pay_server.fail(REFUND, "SYSTEM_ERROR", status=500)
    refund = (await pay.refund(order["id"])).json()
    assert refund["status"] == "pending"  # not sent: the poller's
    start = refund_created(refund)
    assert sum((await poller.run_once(start + timedelta(seconds=30))).values()) == 0
    assert (await poller.run_once(start + timedelta(seconds=61)))["refund_waiting"] == 1
    assert len(wechat_pay_server.requests_of(REFUND)) == 2
    wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    # Its notice lost: the query (after the backoff) finishes it.
    assert (await poller.run_once(start + timedelta(seconds=200)))["refund_success"] == 1
    state = await pay.order(order["id"])
    assert state["status"] == "refunded"
    assert await pay.money(card) == (0, 0)
    await ledger_verifies()


async def test_final_refusal_puts_the_money_back(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await paid(pay, card, 10000)
    wechat_pay_server.fail(REFUND, "NOT_ENOUGH", status=403)
    response = await pay.refund(order["id"])
    assert response.status_code == 202
    assert response.json()["status"] == "failed"
    # Asked first: WeChat Pay holds no such refund (RESOURCE_NOT_EXISTS), so it is final.
    assert len(wechat_pay_server.requests_of(QUERY_REFUND)) == 1
    assert await pay.money(card) == (10000, 0)
    assert (await pay.order(order["id"]))["status"] == "paid"
    await ledger_verifies()


async def test_a_refusal_of_a_resend_applies_what_wechat_pay_holds(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    """The first send was carried out, its answer lost; the resend meets a signed
    refusal. WeChat Pay is asked before anything goes back: it holds the refund, which
    is followed to its end."""
    card = await pay.card()
    order = await paid(pay, card, 10000)
    wechat_pay_server.lose_answer(REFUND)
    refund = (await pay.refund(order["id"])).json()
    assert refund["status"] == "pending"
    wechat_pay_server.fail(REFUND, "INVALID_REQUEST", status=400)
    start = refund_created(refund)
    assert (await poller.run_once(start + timedelta(seconds=61)))["refund_waiting"] == 1
    assert await refund_status(refund) == "processing"
    assert await pay.money(card) == (0, 0)
    wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    assert (await poller.run_once(start + timedelta(seconds=200)))["refund_success"] == 1
    assert await pay.money(card) == (0, 0)
    await ledger_verifies()


async def test_an_unsigned_error_page_is_never_final(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await paid(pay, card, 10000)
    wechat_pay_server.http_error(REFUND, 404)
    refund = (await pay.refund(order["id"])).json()
    assert refund["status"] == "pending"  # the poller sends it again
    assert await pay.money(card) == (0, 0)


async def test_notice_for_a_refund_never_asked_is_recorded(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    from app.core.wechatpay import RefundResult
    from payments.refunds import apply_refund_result
    await apply_refund_result(pay.world.a.id, RefundResult(
        out_refund_no="Rnobody", refund_id="50300000", status="SUCCESS",
        refund_cents=100, out_trade_no="Tnobody"))
    await apply_refund_result(pay.world.a.id, RefundResult(
        out_refund_no="Rnobody", refund_id="50300000", status="SUCCESS",
        refund_cents=100, out_trade_no="Tnobody"))
    assert len(await anomalies("unknown_refund")) == 1
