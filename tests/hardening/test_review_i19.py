"""Review of issue 19 (online top-up through WeChat Pay): each test here fails on the
merged code and names a finding in /work/wt/api/review.md. Live mode against the WeChat
Pay stand-in, both engines (the ``database_url`` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from app.core.wechatpay import WechatPayClient
from payments.poller import PayPoller
from tests.payments.followup_world import (
    LivePay,
    anomalies,
    ledger_verifies,
    live_settings,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import CLOSE, QUERY, REFUND, WechatPayStandIn
from tests.world import World

wechat_pay_server = stand_ins.wechat_pay_server
CHINA = timezone(timedelta(hours=8))


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
    """An order paid at the stand-in, its notice delivered (credited)."""
    assert pay.stand_in is not None
    order = await pay.place(card, amount)
    notice = pay.stand_in.pay(order["out_trade_no"], notify=False)
    assert await pay.notice(notice) == 204
    assert (await pay.order(order["id"]))["status"] == "paid"
    return order


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- F1: REFUND.ABNORMAL is treated as final; a later SUCCESS is ignored ------------------

async def test_abnormal_then_success_refund_pays_the_money_out_once(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    """ABNORMAL (the payer's bank card was closed) is not an end at WeChat Pay: the
    merchant re-routes it (商户平台 / 发起异常退款) and it becomes SUCCESS. The app puts the
    money back on the card at ABNORMAL and then ignores the SUCCESS: the member has the
    money in WeChat *and* on the card."""
    card = await pay.card()
    order = await paid(pay, card, 50000)
    refund = (await pay.refund(order["id"])).json()
    assert await pay.money(card) == (0, 0)
    abnormal = wechat_pay_server.finish_refund(refund["out_refund_no"], "ABNORMAL",
                                               notify=False)
    assert abnormal is not None and await pay.notice(abnormal) == 204
    success = wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS",
                                              notify=False)
    assert success is not None and await pay.notice(success) == 204
    # WeChat Pay paid 500.00 back: the card must not hold it too (or, at the very least,
    # the contradiction must be recorded for a person).
    money = await pay.money(card)
    recorded = await anomalies()
    assert money == (0, 0) or recorded, (
        f"the refund reached the payer and the card holds {money} again; nothing recorded")
    await ledger_verifies()


# --- F2: reconcile is silent about a bill refund SUCCESS the app marked failed -------------

async def test_reconcile_reports_bill_refund_success_of_a_refund_marked_failed(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    from payments.reconcile import reconcile
    assert pay.merchant is not None
    card = await pay.card()
    order = await paid(pay, card, 30000)
    refund = (await pay.refund(order["id"])).json()
    # mend-refunds: CLOSED, not ABNORMAL, makes the refund "failed" here. Since F1's fix
    # ABNORMAL keeps the refund open with the money off the card (it is not an end at
    # WeChat Pay); the finding (a bill SUCCESS for a refund we reverted) needs a revert,
    # which only CLOSED (or a refusal WeChat Pay confirms) makes now.
    closed = wechat_pay_server.finish_refund(refund["out_refund_no"], "CLOSED",
                                             notify=False)
    assert closed is not None and await pay.notice(closed) == 204
    assert await pay.money(card) == (30000, 1000)  # reverted: back on the card
    # Re-routed by the merchant later; its notice lost. The bill shows it SUCCESS.
    wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    client = WechatPayClient(wechat_pay_server.url, timeout_s=5)
    try:
        outcome = await reconcile(client, pay.merchant, pay.world.a.id,
                                  datetime.now(CHINA).date())
    finally:
        await client.close()
    # The bill says 300.00 went back to the payer; the card still holds it. Reconciliation
    # is the last line of defence: it must not count this line as "matched" silently.
    assert outcome.amount_mismatch + outcome.unknown >= 1 or await anomalies(), (
        f"reconcile said {outcome.as_dict()} and recorded nothing")


# --- F3: a refusal of a *re*-send reverts a refund WeChat Pay already has ---------------

async def test_refund_resend_refused_does_not_revert_a_refund_wechat_pay_holds(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    """The first send is carried out but its answer is lost (pending, the poller's). The
    poller's resend meets a 4xx (a gateway's page, or a signed refusal): ``submit`` calls
    it final and puts the money back without asking WeChat Pay (``query_refund``) whether
    it already holds the refund. It does, and pays it out."""
    card = await pay.card()
    order = await paid(pay, card, 10000)
    wechat_pay_server.lose_answer(REFUND)
    refund = (await pay.refund(order["id"])).json()
    assert refund["status"] == "pending"
    assert len(wechat_pay_server.requests_of(REFUND)) == 1
    wechat_pay_server.http_error(REFUND, 404)
    await poller.run_once(_at(refund["created_at"]) + timedelta(seconds=61))
    wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    money = await pay.money(card)
    assert money == (0, 0), (
        f"WeChat Pay refunded 100.00 and the card holds {money} again")
    await ledger_verifies()


# --- F4: crediting does not check the transaction's appid / mchid against the merchant ----

async def test_transaction_of_another_appid_is_not_credited(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 10000)
    wechat_pay_server.order(order["out_trade_no"]).appid = "wx" + "0" * 16
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    await pay.notice(notice)
    state = await pay.order(order["id"])
    assert state["status"] == "pending", (
        "a transaction paid to another appid than the chain's was credited")


async def test_transaction_of_another_payer_is_not_credited(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    card = await pay.card()
    order = await pay.place(card, 10000)
    wechat_pay_server.order(order["out_trade_no"]).openid = "o-someone-else"
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    await pay.notice(notice)
    state = await pay.order(order["id"])
    assert state["status"] == "pending" or await anomalies(), (
        "a transaction paid by another openid than the member's was credited silently")


# --- F5: bonus taken back by partial refunds exceeds the order's bonus after a failed one --

async def test_partial_refunds_around_a_failed_one_take_back_at_most_the_order_bonus(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    """``bonus_back`` uses ``refunded + refunding`` as R0 and the floor of the cumulative
    share; a refund that fails after a later one was asked shifts R0 under it, and the
    order's bonus taken back can exceed B (here 5001 of 5000 fen: the extra fen is another
    order's bonus, gone). ``bonus_refunded_cents`` is kept but not used."""
    card = await pay.card()
    order = await paid(pay, card, 50000)  # 500.00 + bonus 50.00
    await paid(pay, card, 30000)  # another order: bonus 10.00 on the card too
    first = (await pay.refund(order["id"], 1)).json()  # share floor(5000*1/50000) = 0
    assert first["status"] == "processing" and first["bonus_cents"] == 0
    second = (await pay.refund(order["id"], 49999)).json()  # takes 5000 - 0
    assert second["bonus_cents"] == 5000
    closed = wechat_pay_server.finish_refund(first["out_refund_no"], "CLOSED", notify=False)
    assert closed is not None and await pay.notice(closed) == 204
    done = wechat_pay_server.finish_refund(second["out_refund_no"], "SUCCESS", notify=False)
    assert done is not None and await pay.notice(done) == 204
    third = (await pay.refund(order["id"], 1)).json()
    row = await pay.row(order["id"])
    taken = second["bonus_cents"] + third["bonus_cents"]
    assert taken <= 5000 and row["bonus_refunded_cents"] <= row["bonus_cents"], (
        f"the order brought 5000 fen of bonus; its refunds took back {taken}")
    await ledger_verifies()


# --- F6 (low): the notify endpoint tells which chains take WeChat Pay -------------------

async def test_notify_endpoint_answers_alike_for_chains_with_and_without_wechat_pay(
        pay: LivePay, client: httpx.AsyncClient) -> None:
    junk = {"Wechatpay-Serial": "PUB_KEY_ID_0000", "Wechatpay-Timestamp": "1",
            "Wechatpay-Nonce": "n", "Wechatpay-Signature": "AAAA"}
    configured = await client.post(f"/api/v1/pay/wechat/notify/{pay.world.a.id}",
                                   content=b"{}", headers=junk)
    unconfigured = await client.post(f"/api/v1/pay/wechat/notify/{pay.world.b.id}",
                                     content=b"{}", headers=junk)
    nobody = await client.post(f"/api/v1/pay/wechat/notify/{uuid.uuid4()}",
                               content=b"{}", headers=junk)
    assert configured.status_code == 401
    # An unsigned request learns nothing: the same answer whoever the chain is.
    assert {unconfigured.status_code, nobody.status_code} == {401}, (
        f"configured 401, unconfigured {unconfigured.status_code}, unknown "
        f"{nobody.status_code}: an oracle of which chains take WeChat Pay")


# --- F7: a paid order whose amount differs is neither credited, closed nor told to anyone --

async def test_amount_mismatch_is_told_to_the_operator_and_not_polled_forever(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn,
        client: httpx.AsyncClient) -> None:
    """The member paid (WeChat Pay says SUCCESS) but for another amount than the order's:
    ``credit`` records a ``pay_anomaly`` and leaves the order pending. Nothing shows the
    anomaly to anyone (no endpoint, no CLI listing, no event, no notification), and the
    poller asks WeChat Pay about it every 15 min, then after 2 h closes it (ORDERPAID),
    queries, refuses, and starts again: forever, two WeChat Pay calls per 15 min."""
    card = await pay.card()
    order = await pay.place(card, 10000)
    wechat_pay_server.order(order["out_trade_no"]).total = 9000
    wechat_pay_server.pay(order["out_trade_no"], notify=False)
    start = _at(order["created_at"])
    outcomes = [await poller.run_once(start + timedelta(seconds=16))]
    expiry = _at(order["expires_at"])
    for n in range(1, 5):
        outcomes.append(await poller.run_once(expiry + timedelta(minutes=16 * n)))
    assert await anomalies("amount_mismatch")
    closes = len(wechat_pay_server.requests_of(CLOSE))
    queries = len(wechat_pay_server.requests_of(QUERY))
    assert closes <= 1 and queries <= 3, (
        f"after its 2 h the order is still polled: {closes} closes, {queries} queries "
        f"({outcomes})")
    listed = await client.get("/api/v1/pay-anomalies", headers=pay.operator)
    assert listed.status_code == 200, "the operator has no way to see the anomaly"


# --- F8: any clerk of any store lists the chain's whole online payments ------------------

async def test_store_clerk_does_not_list_the_chains_online_payments(
        pay: LivePay, client: httpx.AsyncClient) -> None:
    """Stats keep online top-ups (no store) to the chain's figures and the liability to
    operators; ``GET /top-up-orders`` (guard STAFF) hands a clerk of one store every
    order of the chain: members, amounts, WeChat transaction ids, refunds."""
    card = await pay.card()
    await paid(pay, card, 50000)
    clerk = pay.world.a.staff["alpha-clerk2"]  # store 2 only; the card was issued at store 1
    listed = await client.get("/api/v1/top-up-orders", headers=pay.world.headers(clerk))
    assert listed.status_code == 403 or listed.json()["items"] == [], (
        f"a clerk of another store lists {len(listed.json()['items'])} online payments")


# --- F9: a new merchant config orphans the orders placed under the old one --------------

async def test_orders_paid_under_the_previous_merchant_are_still_credited(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn,
        client: httpx.AsyncClient) -> None:
    """The order does not record which merchant (mchid, APIv3 key) it was placed with. The
    operator PUTs a new config (another mchid, e.g. moving to a new merchant account)
    while an order is out: its notice no longer decrypts (401 for ever), the poller asks
    the new merchant (ORDER_NOT_EXIST) and closes it at 2 h. The member paid; nothing is
    credited, nothing recorded."""
    from tests.stand_ins.wechatpay import merchant_config
    card = await pay.card()
    order = await pay.place(card, 10000)
    notice = wechat_pay_server.pay(order["out_trade_no"], notify=False)
    fresh = wechat_pay_server.new_merchant()
    moved = await client.put("/api/v1/wechat-pay-config", json=merchant_config(fresh),
                             headers=pay.operator)
    assert moved.status_code == 200, moved.text
    status = await pay.notice(wechat_pay_server.resign(notice))
    await poller.run_once(_at(order["created_at"]) + timedelta(seconds=16))
    await poller.run_once(_at(order["expires_at"]) + timedelta(minutes=1))
    state = await pay.order(order["id"])
    assert state["status"] == "paid" or await anomalies(), (
        f"paid under the previous merchant: notice answered {status}, order "
        f"{state['status']}, nothing recorded")


# --- F10: reconciliation only walks the bill: money credited that WeChat Pay never had ----

async def test_reconcile_reports_orders_credited_here_but_absent_from_the_bill(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    """Reconciliation must go both ways: every order credited (and refund finished) on
    the bill's date must be on the bill. Here the order was credited today but WeChat
    Pay's bill of today does not have it (a forged or misapplied credit, a bug in one of
    the four crediting paths): ``reconcile`` says all is matched and records nothing."""
    from payments.reconcile import reconcile
    assert pay.merchant is not None
    card = await pay.card()
    order = await paid(pay, card, 10000)
    # WeChat Pay has no such payment today (its bill is the truth).
    wechat_pay_server.order(order["out_trade_no"]).success_time = datetime(
        2001, 1, 1, tzinfo=CHINA)
    client = WechatPayClient(wechat_pay_server.url, timeout_s=5)
    try:
        outcome = await reconcile(client, pay.merchant, pay.world.a.id,
                                  datetime.now(CHINA).date())
    finally:
        await client.close()
    assert sum(outcome.as_dict().values()) > 0 or await anomalies(), (
        f"an order credited today is not on today's bill; reconcile said "
        f"{outcome.as_dict()} and recorded nothing")


# --- F11: the poller credits a payment WeChat Pay says was refunded (trade_state REFUND) --

async def test_poller_does_not_silently_credit_a_payment_already_refunded_at_wechat_pay(
        pay: LivePay, poller: PayPoller, wechat_pay_server: WechatPayStandIn) -> None:
    """``PAID_STATES = ("SUCCESS", "REFUND")``: an order whose notice was lost and that
    was refunded outside the app (the merchant platform, a WeChat Pay complaint) answers
    the query ``REFUND``; the poller credits its whole amount and bonus to the card as if
    the money were still with the merchant, and records nothing. The payer has the money
    back and the card has it too."""
    card = await pay.card()
    order = await pay.place(card, 30000)
    wechat_pay_server.pay(order["out_trade_no"], notify=False)
    wechat_pay_server.order(order["out_trade_no"]).state = "REFUND"
    outcome = await poller.run_once(_at(order["created_at"]) + timedelta(seconds=16))
    money = await pay.money(card)
    assert money == (0, 0) or await anomalies(), (
        f"a payment WeChat Pay refunded was credited ({outcome}); the card holds {money}, "
        "nothing recorded")


# --- F12: every idle poller round scans the whole order history (PostgreSQL) ----------

async def test_poller_round_does_not_scan_the_order_history(
        pay: LivePay, database_url: str) -> None:
    """Each process's poller asks ``anything_due`` every 5 s: ``status = 'pending' AND
    expires_at <= now AND (next_query_at IS NULL OR next_query_at <= now)`` OR'ed with the
    due-order conditions. ``status`` has no index and ``IS NULL OR`` defeats the one on
    ``next_query_at`` (every ended order has it NULL): a sequential scan of every order
    ever placed, per process, every round."""
    if not database_url.startswith("postgres"):
        pytest.skip("the plan is PostgreSQL's")
    from app.core.clock import utcnow
    from app.core.db import Sql
    from payments import repository as repo
    from payments.tables import TopUpOrder
    card = await pay.card()
    await pay.place(card, 10000)
    await Sql(
        "INSERT INTO top_up_order (id, chain, card, member, out_trade_no, amount_cents, "
        "bonus_cents, status, sandbox, refunded_cents, refunding_cents, "
        "bonus_refunded_cents, paid_at, expires_at, query_attempts, created_at) "
        "SELECT gen_random_uuid(), chain, card, member, 'H' || g, amount_cents, 0, 'paid', "
        "false, 0, 0, 0, created_at, created_at, 1, created_at - (g || ' minutes')::interval "
        "FROM top_up_order, generate_series(1, 60000) g").rows()
    await Sql("ANALYZE top_up_order").rows()
    now = utcnow()
    query = TopUpOrder.exists().where(
        repo._due_orders(now, now - timedelta(seconds=15)) | repo._stale_orders(now))
    plan = await Sql("EXPLAIN " + str(query)).rows()
    text = "\n".join(str(next(iter(r.values()))) for r in plan)
    assert "Seq Scan on top_up_order" not in text, text
