"""`o2o pay reconcile --chain ID --date D` against the stand-in's trade bill: a paid order
whose notice and queries were all missed is credited late, lines for orders nobody
placed and amounts that differ are recorded, and a second run changes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from app.core.settings import Settings
from tests.conftest import TEST_SECRET
from tests.payments.followup_world import LivePay, anomalies, ledger_verifies, live_settings
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import WechatPayStandIn
from tests.world import World

wechat_pay_server = stand_ins.wechat_pay_server
ROOT = Path(__file__).resolve().parents[2]
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


def o2o_pay(database_url: str, api_base: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET,
           "O2O_WECHAT_PAY_API_BASE": api_base}
    return subprocess.run([sys.executable, "-m", "app.cli", "pay", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_reconcile_credits_the_missed_and_reports_the_rest(
        pay: LivePay, database_url: str, wechat_pay_server: WechatPayStandIn) -> None:
    assert pay.merchant is not None
    card = await pay.card()
    day = datetime.now(CHINA).replace(hour=12, minute=0, second=0, microsecond=0)
    # Credited by its notice.
    noticed = await pay.place(card, 10000)
    assert await pay.notice(wechat_pay_server.pay(noticed["out_trade_no"], at=day,
                                                  notify=False)) == 204
    # Paid, every notice lost, never queried: only the bill knows.
    missed = await pay.place(card, 50000)
    wechat_pay_server.pay(missed["out_trade_no"], at=day, notify=False)
    # Credited, but the bill shows another amount.
    misstated = await pay.place(card, 30000)
    assert await pay.notice(wechat_pay_server.pay(misstated["out_trade_no"], at=day,
                                                  notify=False)) == 204
    wechat_pay_server.misstate_bill(misstated["out_trade_no"], 29900)
    # Paid at WeChat Pay for an order this server never placed.
    wechat_pay_server.place(pay.merchant.mchid, "TSOMEONEELSE0001", 2000,
                            "http://testserver.local/elsewhere")
    wechat_pay_server.pay("TSOMEONEELSE0001", at=day, notify=False)
    assert await pay.money(card) == (40000, 1000)

    chain = str(pay.world.a.id)
    args = ("reconcile", "--chain", chain, "--date", day.date().isoformat())
    first = await asyncio.to_thread(o2o_pay, database_url, wechat_pay_server.url, *args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"matched": 2, "credited_late": 1, "unknown": 1,
                                        "amount_mismatch": 1, "state_mismatch": 0,
                                        "missing": 0}
    assert await pay.money(card) == (90000, 6000)
    assert (await pay.order(missed["id"]))["status"] == "paid"
    assert [a["out_trade_no"] for a in await anomalies("bill_unknown")] == ["TSOMEONEELSE0001"]
    assert [a["out_trade_no"] for a in await anomalies("bill_mismatch")] == [
        misstated["out_trade_no"]]

    again = await asyncio.to_thread(o2o_pay, database_url, wechat_pay_server.url, *args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"matched": 2, "credited_late": 0, "unknown": 1,
                                        "amount_mismatch": 1, "state_mismatch": 0,
                                        "missing": 0}
    assert await pay.money(card) == (90000, 6000)
    assert len(await anomalies()) == 2
    await ledger_verifies()


async def test_reconcile_of_a_day_without_a_bill_and_an_unconfigured_chain(
        pay: LivePay, database_url: str, wechat_pay_server: WechatPayStandIn) -> None:
    quiet = await asyncio.to_thread(o2o_pay, database_url, wechat_pay_server.url,
                                    "reconcile", "--chain", str(pay.world.a.id),
                                    "--date", "2020-01-01")
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout) == {"matched": 0, "credited_late": 0, "unknown": 0,
                                        "amount_mismatch": 0, "state_mismatch": 0,
                                        "missing": 0}
    other = await asyncio.to_thread(o2o_pay, database_url, wechat_pay_server.url,
                                    "reconcile", "--chain", str(pay.world.b.id),
                                    "--date", "2020-01-01")
    assert other.returncode == 1 and "no WeChat Pay configuration" in other.stderr
    bad = await asyncio.to_thread(o2o_pay, database_url, wechat_pay_server.url,
                                  "reconcile", "--chain", str(pay.world.a.id),
                                  "--date", "yesterday")
    assert bad.returncode == 2


async def test_a_refund_the_bill_shows_done_is_finished(
        pay: LivePay, settings: Settings, wechat_pay_server: WechatPayStandIn) -> None:
    from app.core.wechatpay import WechatPayClient
    from payments.reconcile import reconcile

    assert pay.merchant is not None
    card = await pay.card()
    order = await pay.place(card, 50000)
    assert await pay.notice(wechat_pay_server.pay(order["out_trade_no"], notify=False)) == 204
    refund = (await pay.refund(order["id"], 20000)).json()
    assert refund["status"] == "processing"
    wechat_pay_server.finish_refund(refund["out_refund_no"], "SUCCESS", notify=False)
    today = datetime.now(CHINA).date()
    client = WechatPayClient(wechat_pay_server.url)
    try:
        outcome = await reconcile(client, pay.merchant, pay.world.a.id, today)
    finally:
        await client.close()
    # The payment and its refund, both known and of the right amounts.
    assert outcome.as_dict() == {"matched": 2, "credited_late": 0, "unknown": 0,
                                 "amount_mismatch": 0, "state_mismatch": 0, "missing": 0}
    state = await pay.order(order["id"])
    assert state["status"] == "partially_refunded" and state["refunded_cents"] == 20000
    assert await pay.money(card) == (30000, 3000)
    await ledger_verifies()


async def test_reconcile_goes_both_ways(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    """A payment credited here and a refund finished here on the bill's day that the bill
    does not have are reported (``missing``, ``bill_missing``), once; a refund the bill
    shows paid out that we had reverted is a ``state_mismatch`` (its money taken off the
    card again)."""
    from app.core.wechatpay import WechatPayClient
    from payments.reconcile import reconcile

    assert pay.merchant is not None
    card = await pay.card()
    ghost = await pay.place(card, 10000)
    assert await pay.notice(wechat_pay_server.pay(ghost["out_trade_no"], notify=False)) == 204
    order = await pay.place(card, 50000)
    assert await pay.notice(wechat_pay_server.pay(order["out_trade_no"], notify=False)) == 204
    kept = (await pay.refund(order["id"], 10000)).json()
    reverted = (await pay.refund(order["id"], 20000)).json()
    done = wechat_pay_server.finish_refund(kept["out_refund_no"], "SUCCESS", notify=False)
    assert done is not None and await pay.notice(done) == 204
    closed = wechat_pay_server.finish_refund(reverted["out_refund_no"], "CLOSED", notify=False)
    assert closed is not None and await pay.notice(closed) == 204
    assert await pay.money(card) == (50000, 4000)
    # WeChat Pay has neither the first payment nor the first refund today; it paid the
    # second refund out after all (its notice lost).
    long_ago = datetime(2001, 1, 1, tzinfo=CHINA)
    wechat_pay_server.order(ghost["out_trade_no"]).success_time = long_ago
    for (_, no), refund in wechat_pay_server.refunds.items():
        if no == kept["out_refund_no"]:
            refund.success_time = long_ago
    wechat_pay_server.finish_refund(reverted["out_refund_no"], "SUCCESS", notify=False)
    today = datetime.now(CHINA).date()
    client = WechatPayClient(wechat_pay_server.url)
    try:
        first = await reconcile(client, pay.merchant, pay.world.a.id, today)
        again = await reconcile(client, pay.merchant, pay.world.a.id, today)
    finally:
        await client.close()
    assert first.as_dict() == {"matched": 1, "credited_late": 0, "unknown": 0,
                               "amount_mismatch": 0, "state_mismatch": 1, "missing": 2}
    assert again.as_dict() == {"matched": 2, "credited_late": 0, "unknown": 0,
                               "amount_mismatch": 0, "state_mismatch": 0, "missing": 2}
    missing = await anomalies("bill_missing")
    assert sorted(a["out_trade_no"] for a in missing) == sorted(
        [ghost["out_trade_no"], order["out_trade_no"]])
    assert len(await anomalies("refund_after_revert")) == 1
    assert await pay.money(card) == (30000, 2000)
    state = await pay.order(order["id"])
    assert state["refunded_cents"] == 30000
    await ledger_verifies()


async def test_a_payment_refunded_since_is_not_credited_late(
        pay: LivePay, wechat_pay_server: WechatPayStandIn) -> None:
    """The bill shows the payment; WeChat Pay says it was refunded since (outside the
    app): asked before crediting late, not credited, recorded, the order closed."""
    from app.core.wechatpay import WechatPayClient
    from payments.reconcile import reconcile

    assert pay.merchant is not None
    card = await pay.card()
    order = await pay.place(card, 30000)
    wechat_pay_server.pay(order["out_trade_no"], notify=False)
    wechat_pay_server.order(order["out_trade_no"]).state = "REFUND"
    client = WechatPayClient(wechat_pay_server.url)
    try:
        outcome = await reconcile(client, pay.merchant, pay.world.a.id,
                                  datetime.now(CHINA).date())
    finally:
        await client.close()
    assert outcome.credited_late == 0 and outcome.matched == 1
    assert await pay.money(card) == (0, 0)
    assert len(await anomalies("refunded_elsewhere")) == 1
    state = await pay.order(order["id"])
    assert state["status"] == "closed" and state["anomaly"] == "refunded_elsewhere"
