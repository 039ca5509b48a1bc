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
  still think on its way is finished through ``payments.refunds``.

Running it again changes nothing more: crediting and finishing are conditional, and each
anomaly is recorded once (unique kind, ``out_trade_no``, ``transaction_id``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.core.clock import utcnow
from app.core.wechatpay import BillLine, Merchant, RefundResult, Transaction, WechatPayClient
from payments import refunds
from payments import repository as repo
from payments import service as orders


@dataclass
class Reconciliation:
    matched: int = 0
    credited_late: int = 0
    unknown: int = 0
    amount_mismatch: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"matched": self.matched, "credited_late": self.credited_late,
                "unknown": self.unknown, "amount_mismatch": self.amount_mismatch}


class NotConfigured(Exception):
    """The chain has no WeChat Pay configuration (nothing to reconcile against)."""


def _transaction(line: BillLine, merchant: Merchant) -> Transaction:
    return Transaction(out_trade_no=line.out_trade_no, transaction_id=line.transaction_id,
                       trade_state="SUCCESS", total_cents=line.total_cents,
                       payer_total_cents=line.total_cents, success_time=line.trade_time,
                       mchid=line.mchid or merchant.mchid, appid=line.appid or merchant.appid)


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
    for line in lines:
        if line.trade_state == "REFUND":
            await _refund_line(chain_id, line, outcome, now, bill_date)
        else:
            await _payment_line(chain_id, merchant, line, outcome, now, bill_date)
    return outcome


async def _payment_line(chain_id: uuid.UUID, merchant: Merchant, line: BillLine,
                        outcome: Reconciliation, now: datetime, bill_date: date) -> None:
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
    outcome.matched += 1
    if order["status"] in ("pending", "closed") and await orders.credit(
            order, _transaction(line, merchant), now):
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
    outcome.matched += 1
    if refund["status"] in ("pending", "processing") and line.refund_status == "SUCCESS":
        await refunds.apply_refund_result(chain_id, RefundResult(
            out_refund_no=refund["out_refund_no"], refund_id=line.refund_id,
            status="SUCCESS", refund_cents=refund["amount_cents"],
            out_trade_no=line.out_trade_no), now)


async def reconcile_chain(client: WechatPayClient, box: Any, chain_id: uuid.UUID,
                          bill_date: date, now: datetime | None = None) -> Reconciliation:
    merchant = await orders.merchant_for(box, chain_id)
    if merchant is None:
        raise NotConfigured(f"chain {chain_id} has no WeChat Pay configuration")
    return await reconcile(client, merchant, chain_id, bill_date, now)
