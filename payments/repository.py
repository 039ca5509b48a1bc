"""Every query of the payments domain. No rules here: callers decide what a row means.

The followup modules (poller, refunds, reconcile) append their own queries in their
section at the end of this file.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.db import Sql, current_engine, for_update, is_sqlite
from payments.rows import (
    PayAnomalyRow,
    PayConfigPreviousRow,
    PayConfigRow,
    TopUpOrderRow,
    TopUpRefundRow,
)
from payments.tables import PayAnomaly, PayConfig, PayConfigPrevious, TopUpOrder, TopUpRefund

Values = Mapping[str, Any]
# Statuses from which an order may become paid (a closed order only once WeChat Pay
# confirmed the payment: the caller's rule).
CREDITABLE = ("pending", "closed")


# --- pay_config ---------------------------------------------------------------------------

async def get_pay_config(chain_id: uuid.UUID) -> PayConfigRow | None:
    row = await PayConfig.select().where(PayConfig.chain == chain_id).first().run()
    return cast(PayConfigRow | None, row)


async def upsert_pay_config(values: Values) -> None:
    """Insert or replace the chain's config (the caller's write transaction)."""
    existing = await for_update(PayConfig.select(PayConfig.id).where(
        PayConfig.chain == values["chain"])).first().run()
    if existing is None:
        await PayConfig.insert(PayConfig(id=uuid.uuid4(), **values)).run()
    else:
        await PayConfig.update({getattr(PayConfig, k): v for k, v in values.items()
                                if k != "chain"}).where(
            PayConfig.id == existing["id"]).run()


async def keep_previous_pay_config(row: PayConfigRow, now: datetime) -> None:
    """Keep a config being replaced, sealed as it is (the caller's write transaction)."""
    values: dict[str, Any] = {k: v for k, v in row.items() if k != "id"}
    await PayConfigPrevious.insert(PayConfigPrevious(
        id=uuid.uuid4(), superseded_at=now, **values)).run()


async def previous_pay_configs(chain_id: uuid.UUID, *, mchid: str | None = None,
                               platform_public_key_id: str | None = None,
                               limit: int = 20) -> list[PayConfigPreviousRow]:
    """The chain's superseded configs, the most recently superseded first."""
    where: Combinable = PayConfigPrevious.chain == chain_id
    if mchid is not None:
        where &= PayConfigPrevious.mchid == mchid
    if platform_public_key_id is not None:
        where &= PayConfigPrevious.platform_public_key_id == platform_public_key_id
    rows = await PayConfigPrevious.select().where(where).order_by(
        PayConfigPrevious.superseded_at, ascending=False).limit(limit).run()
    return cast(list[PayConfigPreviousRow], rows)


# --- top_up_order -------------------------------------------------------------------------

async def insert_order(values: Values) -> None:
    await TopUpOrder.insert(TopUpOrder(**values)).run()


async def get_order(order_id: uuid.UUID, chain_id: uuid.UUID) -> TopUpOrderRow | None:
    row = await TopUpOrder.select().where(
        (TopUpOrder.id == order_id) & (TopUpOrder.chain == chain_id)).first().run()
    return cast(TopUpOrderRow | None, row)


async def order_by_out_trade_no(chain_id: uuid.UUID,
                                out_trade_no: str) -> TopUpOrderRow | None:
    row = await TopUpOrder.select().where(
        (TopUpOrder.out_trade_no == out_trade_no) & (TopUpOrder.chain == chain_id)
    ).first().run()
    return cast(TopUpOrderRow | None, row)


async def set_prepay_id(order_id: uuid.UUID, prepay_id: str) -> None:
    await TopUpOrder.update({TopUpOrder.prepay_id: prepay_id}).where(
        TopUpOrder.id == order_id).run()


async def close_pending(order_id: uuid.UUID, now: datetime) -> bool:
    """pending → closed; False when the order was not pending any more."""
    rows = await TopUpOrder.update({
        TopUpOrder.status: "closed", TopUpOrder.closed_at: now,
        TopUpOrder.next_query_at: None,
    }).where((TopUpOrder.id == order_id) & (TopUpOrder.status == "pending")).returning(
        TopUpOrder.id).run()
    return bool(rows)


async def close_with_anomaly(order_id: uuid.UUID, anomaly: str, now: datetime) -> bool:
    """pending → closed, saying why (WeChat Pay took money the order cannot take: a person
    settles it); False when the order was not pending any more."""
    rows = await TopUpOrder.update({
        TopUpOrder.status: "closed", TopUpOrder.closed_at: now,
        TopUpOrder.next_query_at: None, TopUpOrder.anomaly: anomaly,
    }).where((TopUpOrder.id == order_id) & (TopUpOrder.status == "pending")).returning(
        TopUpOrder.id).run()
    return bool(rows)


async def mark_paid(order_id: uuid.UUID, transaction_id: str,
                    paid_at: datetime) -> TopUpOrderRow | None:
    """The one way to paid: a conditional update that reports whether it won (the order
    as it is now), or None when the order was paid (or refunded) already."""
    rows = await TopUpOrder.update({
        TopUpOrder.status: "paid", TopUpOrder.transaction_id: transaction_id,
        TopUpOrder.paid_at: paid_at, TopUpOrder.next_query_at: None,
        TopUpOrder.anomaly: None,
    }).where((TopUpOrder.id == order_id) & TopUpOrder.status.is_in(list(CREDITABLE))
             ).returning(*TopUpOrder.all_columns()).run()
    return cast(TopUpOrderRow, rows[0]) if rows else None


async def list_orders(chain_id: uuid.UUID, *, member_id: uuid.UUID | None = None,
                      card_id: uuid.UUID | None = None, status: str | None = None,
                      before: tuple[datetime, uuid.UUID] | None = None,
                      limit: int = 50) -> list[TopUpOrderRow]:
    """Newest first; ``before``: the (created_at, id) of the last row of the page before."""
    where: Combinable = TopUpOrder.chain == chain_id
    if member_id is not None:
        where &= TopUpOrder.member == member_id
    if card_id is not None:
        where &= TopUpOrder.card == card_id
    if status is not None:
        where &= TopUpOrder.status == status
    if before is not None:
        at, last = before
        where &= (TopUpOrder.created_at < at) | (
            (TopUpOrder.created_at == at) & (TopUpOrder.id < last))
    rows = await TopUpOrder.select().where(where).order_by(
        TopUpOrder.created_at, TopUpOrder.id, ascending=False).limit(limit).run()
    return cast(list[TopUpOrderRow], rows)


# --- pay_anomaly --------------------------------------------------------------------------

async def record_anomaly(values: Values) -> bool:
    """Insert once per (kind, out_trade_no, transaction_id); False when it was known."""
    rows = await PayAnomaly.insert(PayAnomaly(id=uuid.uuid4(), **values)).on_conflict(
        target=(PayAnomaly.kind, PayAnomaly.out_trade_no, PayAnomaly.transaction_id),
        action="DO NOTHING").returning(PayAnomaly.id).run()
    return bool(rows)


async def anomalies(chain_id: uuid.UUID) -> list[PayAnomalyRow]:
    rows = await PayAnomaly.select().where(PayAnomaly.chain == chain_id).order_by(
        PayAnomaly.created_at).run()
    return cast(list[PayAnomalyRow], rows)


async def list_anomalies(chain_id: uuid.UUID, *,
                         before: tuple[datetime, uuid.UUID] | None = None,
                         limit: int = 50) -> list[PayAnomalyRow]:
    """Newest first; ``before``: the (created_at, id) of the last row of the page before."""
    where: Combinable = PayAnomaly.chain == chain_id
    if before is not None:
        at, last = before
        where &= (PayAnomaly.created_at < at) | (
            (PayAnomaly.created_at == at) & (PayAnomaly.id < last))
    rows = await PayAnomaly.select().where(where).order_by(
        PayAnomaly.created_at, PayAnomaly.id, ascending=False).limit(limit).output(
        load_json=True).run()
    return cast(list[PayAnomalyRow], rows)


async def order_ids_by_out_trade_no(chain_id: uuid.UUID,
                                    out_trade_nos: list[str]) -> dict[str, uuid.UUID]:
    if not out_trade_nos:
        return {}
    rows = await TopUpOrder.select(TopUpOrder.id, TopUpOrder.out_trade_no).where(
        (TopUpOrder.chain == chain_id) & TopUpOrder.out_trade_no.is_in(out_trade_nos)).run()
    return {r["out_trade_no"]: r["id"] for r in rows}


# --- followup: poller, refunds, reconcile (append below) ----------------------------------


# --- refunds, follow-up and reconciliation ------------------------------------------------
# (helper followup: payments/refunds.py, poller.py, reconcile.py)

# A refund not yet ended. ``abnormal``: WeChat Pay said ABNORMAL (the payer's bank card
# refused it); not an end, the merchant re-routes it and it becomes SUCCESS or CLOSED.
UNFINISHED = ("pending", "processing", "abnormal")

async def lock_order(order_id: uuid.UUID, chain_id: uuid.UUID) -> TopUpOrderRow | None:
    """The chain's order, row-locked for the open write transaction (SQLite: the write
    transaction is the lock)."""
    row = await for_update(TopUpOrder.select().where(
        (TopUpOrder.id == order_id) & (TopUpOrder.chain == chain_id))).first().run()
    return cast(TopUpOrderRow | None, row)


async def _claim(table: type[TopUpOrder] | type[TopUpRefund], where: Combinable,
                 lease_until: datetime, limit: int) -> list[dict[str, Any]]:
    """Lease up to ``limit`` rows of ``table`` matching ``where``: their next look moves
    to ``lease_until`` and their count of looks grows. PostgreSQL: ``FOR UPDATE SKIP
    LOCKED``, so processes claiming at once take different rows; SQLite: the IMMEDIATE
    write transaction serialises the claims. The update re-checks ``where`` (a row that
    ended or was claimed meanwhile is not taken)."""
    query = table.select(table.id).where(where).order_by(table.created_at).limit(limit)
    if not is_sqlite(current_engine()):
        query = query.lock_rows(skip_locked=True)
    ids = [r["id"] for r in await query.run()]
    if not ids:
        return []
    rows = await table.update({
        table.next_query_at: lease_until,
        table.query_attempts: table.query_attempts + 1,
    }).where(table.id.is_in(ids) & where).returning(*table.all_columns()).run()
    return cast(list[dict[str, Any]], rows)


def _due_orders(now: datetime, first_look: datetime) -> Combinable:
    """Live pending orders, not yet 2 h old, whose next look is due: never looked at,
    ``first_look`` after it was placed whatever next_query_at says (the poller's own first
    delay, scaled in tests); after a look, next_query_at."""
    due = (TopUpOrder.next_query_at <= now) | (
        (TopUpOrder.query_attempts == 0) & (TopUpOrder.created_at <= first_look))
    return ((TopUpOrder.status == "pending")
            & (TopUpOrder.sandbox == False)  # noqa: E712 - a SQL comparison
            & (TopUpOrder.expires_at > now) & due)


def _stale_orders(now: datetime) -> Combinable:
    """Pending orders (live or sandbox) past their 2 h and not leased. A pending order
    always has ``next_query_at`` (placed: its first look, sandbox: its expiry), so this
    and :func:`_due_orders` are served by the partial indexes ``WHERE status =
    'pending'`` (migration 2026-12-06T23:40): no scan of the ended orders."""
    return ((TopUpOrder.status == "pending") & (TopUpOrder.expires_at <= now)
            & (TopUpOrder.next_query_at <= now))


def _due_refunds(now: datetime) -> Combinable:
    """Refunds not yet ended whose next look is due (every open refund has
    ``next_query_at``; partial index ``WHERE status IN (open)``)."""
    return TopUpRefund.status.is_in(list(UNFINISHED)) & (TopUpRefund.next_query_at <= now)


async def anything_due(now: datetime, first_look: datetime) -> bool:
    """Whether a claim would find anything (two reads, no write: an idle poller never
    takes SQLite's write lock)."""
    if await TopUpOrder.exists().where(_due_orders(now, first_look) | _stale_orders(now)).run():
        return True
    return bool(await TopUpRefund.exists().where(_due_refunds(now)).run())


async def claim_due_orders(now: datetime, first_look: datetime, lease_until: datetime,
                           limit: int) -> list[TopUpOrderRow]:
    """Orders due for an active query; leased."""
    rows = await _claim(TopUpOrder, _due_orders(now, first_look), lease_until, limit)
    return cast(list[TopUpOrderRow], rows)


async def claim_stale_orders(now: datetime, lease_until: datetime,
                             limit: int) -> list[TopUpOrderRow]:
    """Orders to close (past their 2 h); leased."""
    rows = await _claim(TopUpOrder, _stale_orders(now), lease_until, limit)
    return cast(list[TopUpOrderRow], rows)


async def claim_due_refunds(now: datetime, lease_until: datetime,
                            limit: int) -> list[TopUpRefundRow]:
    """Refunds due for a send or a query; leased."""
    rows = await _claim(TopUpRefund, _due_refunds(now), lease_until, limit)
    return cast(list[TopUpRefundRow], rows)


async def order_next_look(order_id: uuid.UUID, at: datetime) -> None:
    await TopUpOrder.update({TopUpOrder.next_query_at: at}).where(
        (TopUpOrder.id == order_id) & (TopUpOrder.status == "pending")).run()


async def insert_refund(values: Values) -> None:
    await TopUpRefund.insert(TopUpRefund(**values)).run()


async def get_refund(refund_id: uuid.UUID) -> TopUpRefundRow | None:
    row = await TopUpRefund.select().where(TopUpRefund.id == refund_id).first().run()
    return cast(TopUpRefundRow | None, row)


async def refund_by_out_no(chain_id: uuid.UUID, out_refund_no: str) -> TopUpRefundRow | None:
    row = await TopUpRefund.select().where(
        (TopUpRefund.chain == chain_id) & (TopUpRefund.out_refund_no == out_refund_no)
    ).first().run()
    return cast(TopUpRefundRow | None, row)


async def add_refunding(order_id: uuid.UUID, amount: int, bonus: int) -> None:
    """A refund asked: its paid money is on its way back, its bonus taken."""
    await TopUpOrder.update({
        TopUpOrder.refunding_cents: TopUpOrder.refunding_cents + amount,
        TopUpOrder.bonus_refunded_cents: TopUpOrder.bonus_refunded_cents + bonus,
    }).where(TopUpOrder.id == order_id).run()


async def end_refund(refund_id: uuid.UUID, outcome: str, wechat_refund_id: str | None,
                     now: datetime) -> TopUpRefundRow | None:
    """pending/processing → ``outcome``: the refund when this call ended it, None when it
    had ended already (the conditional update that makes finishing exactly once)."""
    values: dict[Any, Any] = {TopUpRefund.status: outcome, TopUpRefund.finished_at: now,
                              TopUpRefund.next_query_at: None}
    if wechat_refund_id:
        values[TopUpRefund.refund_id] = wechat_refund_id
    rows = await TopUpRefund.update(values).where(
        (TopUpRefund.id == refund_id) & TopUpRefund.status.is_in(list(UNFINISHED))
    ).returning(*TopUpRefund.all_columns()).run()
    return cast(TopUpRefundRow, rows[0]) if rows else None


async def refund_processing(refund_id: uuid.UUID, wechat_refund_id: str | None) -> None:
    values: dict[Any, Any] = {TopUpRefund.status: "processing"}
    if wechat_refund_id:
        values[TopUpRefund.refund_id] = wechat_refund_id
    await TopUpRefund.update(values).where(
        (TopUpRefund.id == refund_id) & TopUpRefund.status.is_in(list(UNFINISHED))).run()


async def refund_abnormal(refund_id: uuid.UUID, wechat_refund_id: str | None,
                          next_look: datetime) -> bool:
    """pending/processing → abnormal (still open); False when it was abnormal or ended
    already."""
    values: dict[Any, Any] = {TopUpRefund.status: "abnormal",
                              TopUpRefund.next_query_at: next_look}
    if wechat_refund_id:
        values[TopUpRefund.refund_id] = wechat_refund_id
    rows = await TopUpRefund.update(values).where(
        (TopUpRefund.id == refund_id) & TopUpRefund.status.is_in(["pending", "processing"])
    ).returning(TopUpRefund.id).run()
    return bool(rows)


async def revive_refund(refund_id: uuid.UUID, bonus: int, wechat_refund_id: str | None,
                        now: datetime) -> TopUpRefundRow | None:
    """failed → success (WeChat Pay paid out a refund we had reverted), with the bonus
    taken back now; None when it was not failed any more."""
    values: dict[Any, Any] = {TopUpRefund.status: "success", TopUpRefund.finished_at: now,
                              TopUpRefund.bonus_cents: bonus,
                              TopUpRefund.next_query_at: None}
    if wechat_refund_id:
        values[TopUpRefund.refund_id] = wechat_refund_id
    rows = await TopUpRefund.update(values).where(
        (TopUpRefund.id == refund_id) & (TopUpRefund.status == "failed")
    ).returning(*TopUpRefund.all_columns()).run()
    return cast(TopUpRefundRow, rows[0]) if rows else None


_REFUND_SUCCEEDED_AFTER_REVERT = Sql(
    "UPDATE top_up_order SET refunded_cents = refunded_cents + {}, "
    "bonus_refunded_cents = bonus_refunded_cents + {}, "
    "status = CASE WHEN refunded_cents + {} >= amount_cents THEN 'refunded' "
    "ELSE 'partially_refunded' END WHERE id = {} RETURNING id")


async def refund_succeeded_after_revert(order_id: uuid.UUID, chain_id: uuid.UUID,
                                        amount: int, bonus: int) -> TopUpOrderRow:
    """A reverted refund was paid out after all: refunded (it was no longer counted on
    its way back), its bonus taken again."""
    await _REFUND_SUCCEEDED_AFTER_REVERT.rows(amount, bonus, amount, order_id)
    row = await get_order(order_id, chain_id)
    assert row is not None
    return row


async def credited_between(chain_id: uuid.UUID, mchid: str, start: datetime,
                           end: datetime) -> list[TopUpOrderRow]:
    """Live orders of merchant ``mchid`` (or placed before orders remembered theirs)
    credited here whose payment time is in [start, end)."""
    rows = await TopUpOrder.select().where(
        (TopUpOrder.chain == chain_id) & (TopUpOrder.sandbox == False)  # noqa: E712
        & ((TopUpOrder.mchid == mchid) | (TopUpOrder.mchid == ""))
        & TopUpOrder.status.is_in(["paid", "partially_refunded", "refunded"])
        & (TopUpOrder.paid_at >= start) & (TopUpOrder.paid_at < end)).run()
    return cast(list[TopUpOrderRow], rows)


async def refunds_succeeded_between(chain_id: uuid.UUID, mchid: str, start: datetime,
                                    end: datetime) -> list[TopUpRefundRow]:
    """Live refunds of orders of merchant ``mchid`` (or of none recorded) finished
    ``success`` here in [start, end)."""
    rows = await TopUpRefund.select(*TopUpRefund.all_columns()).where(
        (TopUpRefund.chain == chain_id) & (TopUpRefund.status == "success")
        & (TopUpRefund.order.sandbox == False)  # noqa: E712
        & ((TopUpRefund.order.mchid == mchid) | (TopUpRefund.order.mchid == ""))
        & (TopUpRefund.finished_at >= start) & (TopUpRefund.finished_at < end)).run()
    return cast(list[TopUpRefundRow], rows)


async def refund_next_look(refund_id: uuid.UUID, at: datetime) -> None:
    await TopUpRefund.update({TopUpRefund.next_query_at: at}).where(
        (TopUpRefund.id == refund_id) & TopUpRefund.status.is_in(list(UNFINISHED))).run()


_REFUND_SUCCEEDED = Sql(
    "UPDATE top_up_order SET refunded_cents = refunded_cents + {}, "
    "refunding_cents = refunding_cents - {}, "
    "status = CASE WHEN refunded_cents + {} >= amount_cents THEN 'refunded' "
    "ELSE 'partially_refunded' END WHERE id = {} RETURNING id")


async def refund_succeeded(order_id: uuid.UUID, chain_id: uuid.UUID,
                           amount: int) -> TopUpOrderRow:
    """A refund's paid money reached the payer: refunded, and the order's status."""
    await _REFUND_SUCCEEDED.rows(amount, amount, amount, order_id)
    row = await get_order(order_id, chain_id)
    assert row is not None
    return row


async def refund_reverted(order_id: uuid.UUID, chain_id: uuid.UUID, amount: int,
                          bonus: int) -> TopUpOrderRow:
    """A refund failed: its money is no longer on its way back."""
    await TopUpOrder.update({
        TopUpOrder.refunding_cents: TopUpOrder.refunding_cents - amount,
        TopUpOrder.bonus_refunded_cents: TopUpOrder.bonus_refunded_cents - bonus,
    }).where(TopUpOrder.id == order_id).run()
    row = await get_order(order_id, chain_id)
    assert row is not None
    return row
