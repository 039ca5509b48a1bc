"""Reconciliation against WeChat Pay's daily trade bill (``o2o pay reconcile``).

The bill of ``bill_date`` (``GET /v3/bill/tradebill?bill_date=&bill_type=ALL``, then its
``download_url``; the client checks its SHA1) lists every payment and refund of the
merchant that day. **The date is a China Standard Time calendar day** (Asia/Shanghai,
UTC+8, no DST): WeChat Pay cuts its bills at midnight Beijing time, and a chain that takes
WeChat Pay is a mainland chain whose stores keep that zone, so the chain's local date and
the bill's date are one; the command passes the date through unchanged.

Each line is matched with this chain's orders by ``out_trade_no``:

- a payment (``SUCCESS``) of an order we know, for the order's amount: **matched**; if the
  order was never credited (the notice and every query missed it, or it was closed
  meanwhile), it is credited now through ``payments.service.credit``, the one crediting
  path (**credited_late**, counted among the matched too);
- a payment of an order we do not know: **unknown**, recorded in ``pay_anomaly``
  (``bill_unknown``); of another amount than the order's: **amount_mismatch**
  (``bill_mismatch``), recorded, never credited;
- a refund line (``REFUND``) is matched by ``out_refund_no`` with our refunds the same way
  (unknown or another amount: recorded); a refund the bill shows ``SUCCESS`` that we
  still think on its way is finished through ``payments.refunds``; one we reverted is a
  **state_mismatch** (its money taken off again, ``refund_after_revert`` recorded), as is
  a payment line whose transaction id is not the one we credited;
- the other way round, an order credited here (or a refund finished here) within the
  bill's day that the bill does not have is **missing** (``bill_missing``).

An order never credited is asked about before it is credited late (``REFUND`` now: not
credited, ``refunded_elsewhere``). Decision 048.

Running it again changes nothing more: crediting and finishing are conditional, and each
anomaly is recorded once (unique kind, ``out_trade_no``, ``transaction_id``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.wechatpay import BillLine, Merchant, RefundResult, WechatPayClient
from payments import refunds
from payments import repository as repo
from payments import service as orders

CHINA = timezone(timedelta(hours=8))  # the bill's day (Asia/Shanghai: no DST)


@dataclass
class Reconciliation:
    matched: int = 0
    credited_late: int = 0
    unknown: int = 0
    amount_mismatch: int = 0
    # Ours and the bill's disagree on a line's state: a refund we reverted that the bill
    # shows paid out, a payment whose transaction id is not the one we credited.
    state_mismatch: int = 0
    # Credited (or refunded) here within the bill's day, absent from the bill.
    missing: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"matched": self.matched, "credited_late": self.credited_late,
                "unknown": self.unknown, "amount_mismatch": self.amount_mismatch,
                "state_mismatch": self.state_mismatch, "missing": self.missing}


class NotConfigured(Exception):
    """The chain has no WeChat Pay configuration (nothing to reconcile against)."""


def china_day(bill_date: date) -> tuple[datetime, datetime]:
    """The bill's day, [00:00, 24:00) Beijing time, as aware datetimes."""
    start = datetime.combine(bill_date, time(0), CHINA)
    return start, start + timedelta(days=1)


async def _anomaly(chain_id: uuid.UUID, kind: str, line: BillLine, amount: int,
                   detail: dict[str, Any], key: str) -> None:
    await orders.record_anomaly(chain_id, kind, out_trade_no=line.out_trade_no,
                                transaction_id=key, amount_cents=amount,
                                detail={"source": "trade_bill", **detail})


async def reconcile(client: WechatPayClient, merchant: Merchant, chain_id: uuid.UUID,
                    bill_date: date, now: datetime | None = None) -> Reconciliation:
    now = now or utcnow()
    lines = await client.trade_bill(merchant, bill_date)
    outcome = Reconciliation()
    paid_on_bill: set[str] = set()
    refunded_on_bill: set[str] = set()
    for line in lines:
        if line.trade_state == "REFUND":
            if line.out_refund_no:
                refunded_on_bill.add(line.out_refund_no)
            await _refund_line(chain_id, line, outcome, now, bill_date)
        else:
            if line.trade_state == "SUCCESS":
                paid_on_bill.add(line.out_trade_no)
            await _payment_line(client, chain_id, merchant, line, outcome, now, bill_date)
    await _missing(chain_id, merchant.mchid, bill_date, paid_on_bill, refunded_on_bill,
                   outcome)
    return outcome


async def _payment_line(client: WechatPayClient, chain_id: uuid.UUID, merchant: Merchant,
                        line: BillLine, outcome: Reconciliation, now: datetime,
                        bill_date: date) -> None:
    if line.trade_state != "SUCCESS":
        return  # the bill's other states (a revoked or unpaid order) move no money
    order = await repo.order_by_out_trade_no(chain_id, line.out_trade_no)
    detail = {"bill_date": bill_date.isoformat(), "trade_time": line.trade_time.isoformat()
              if line.trade_time else None}
    if order is None:
        outcome.unknown += 1
        await _anomaly(chain_id, "bill_unknown", line, line.total_cents, detail,
                       line.transaction_id or "")
        return
    if line.total_cents != order["amount_cents"]:
        outcome.amount_mismatch += 1
        await _anomaly(chain_id, "bill_mismatch", line, line.total_cents,
                       {**detail, "order_amount_cents": order["amount_cents"]},
                       line.transaction_id or "")
        return
    if order["status"] not in ("pending", "closed"):
        if (order["transaction_id"] and line.transaction_id
                and order["transaction_id"] != line.transaction_id):
            outcome.state_mismatch += 1
            await _anomaly(chain_id, "bill_mismatch", line, line.total_cents,
                           {**detail, "order_transaction_id": order["transaction_id"]},
                           line.transaction_id)
            return
        outcome.matched += 1
        return
    outcome.matched += 1
    # Never credited here. The bill is a day old: WeChat Pay says what the payment is now
    # (refunded since? then not credited), and credit checks its real answer.
    transaction = await client.query_order(merchant, order["out_trade_no"])
    if transaction.trade_state == "REFUND":
        # Paid, then refunded outside the app: not credited (decision 048, as the poller).
        async with write_transaction():
            await repo.close_with_anomaly(order["id"], "refunded_elsewhere", now)
        await orders.record_anomaly(
            chain_id, "refunded_elsewhere", out_trade_no=order["out_trade_no"],
            transaction_id=transaction.transaction_id, amount_cents=transaction.total_cents,
            detail={"source": "trade_bill", **detail, "order_id": str(order["id"]),
                    "trade_state": "REFUND"})
        return
    if await orders.credit(order, transaction, now):
        outcome.credited_late += 1


async def _refund_line(chain_id: uuid.UUID, line: BillLine, outcome: Reconciliation,
                       now: datetime, bill_date: date) -> None:
    refund = (await repo.refund_by_out_no(chain_id, line.out_refund_no)
              if line.out_refund_no else None)
    detail = {"bill_date": bill_date.isoformat(), "out_refund_no": line.out_refund_no,
              "refund_status": line.refund_status}
    key = line.refund_id or line.out_refund_no or ""
    if refund is None:
        outcome.unknown += 1
        await _anomaly(chain_id, "bill_unknown", line, line.refund_cents, detail, key)
        return
    if (line.refund_cents) != refund["amount_cents"]:
        outcome.amount_mismatch += 1
        await _anomaly(chain_id, "bill_mismatch", line, line.refund_cents,
                       {**detail, "refund_amount_cents": refund["amount_cents"]}, key)
        return
    paid_out = line.refund_status == "SUCCESS"
    if paid_out and refund["status"] == "failed":
        # We reverted it (its money back on the card); WeChat Pay paid it out. The F1
        # path: the money is taken off the card again as far as it is there, and the
        # contradiction is recorded (refund_after_revert) for a person.
        outcome.state_mismatch += 1
    else:
        outcome.matched += 1
    if paid_out and refund["status"] != "success":
        await refunds.apply_refund_result(chain_id, RefundResult(
            out_refund_no=refund["out_refund_no"], refund_id=line.refund_id,
            status="SUCCESS", refund_cents=refund["amount_cents"],
            out_trade_no=line.out_trade_no), now)


async def _missing(chain_id: uuid.UUID, mchid: str, bill_date: date, paid_on_bill: set[str],
                   refunded_on_bill: set[str], outcome: Reconciliation) -> None:
    """The other way round: every live order credited here with its payment time in the
    bill's day, and every refund finished ``success`` here that day, must be on the bill.
    One that is not (a credit WeChat Pay never had; a refund we think paid out that it
    did not) is recorded ``bill_missing`` for a person. A refund's time is ours (when we
    learnt its end), so one that ended within minutes of midnight may be on the next
    day's bill: the anomaly says so."""
    start, end = china_day(bill_date)
    for order in await repo.credited_between(chain_id, mchid, start, end):
        if order["out_trade_no"] in paid_on_bill:
            continue
        outcome.missing += 1
        await orders.record_anomaly(
            chain_id, "bill_missing", out_trade_no=order["out_trade_no"],
            transaction_id=order["transaction_id"] or "", amount_cents=order["amount_cents"],
            detail={"source": "trade_bill", "bill_date": bill_date.isoformat(),
                    "what": "payment", "order_id": str(order["id"]),
                    "paid_at": order["paid_at"].isoformat() if order["paid_at"] else None})
    for refund in await repo.refunds_succeeded_between(chain_id, mchid, start, end):
        if refund["out_refund_no"] in refunded_on_bill:
            continue
        refunded = await repo.get_order(refund["order"], chain_id)
        outcome.missing += 1
        await orders.record_anomaly(
            chain_id, "bill_missing",
            out_trade_no=refunded["out_trade_no"] if refunded else "",
            transaction_id=refund["refund_id"] or refund["out_refund_no"],
            amount_cents=refund["amount_cents"],
            detail={"source": "trade_bill", "bill_date": bill_date.isoformat(),
                    "what": "refund", "out_refund_no": refund["out_refund_no"],
                    "finished_at": refund["finished_at"].isoformat()
                    if refund["finished_at"] else None,
                    "note": "finished_at is ours; near midnight it may be on the "
                            "next day's bill"})


async def reconcile_chain(client: WechatPayClient, box: Any, chain_id: uuid.UUID,
                          bill_date: date, now: datetime | None = None) -> Reconciliation:
    merchant = await orders.merchant_for(box, chain_id)
    if merchant is None:
        raise NotConfigured(f"chain {chain_id} has no WeChat Pay configuration")
    return await reconcile(client, merchant, chain_id, bill_date, now)
