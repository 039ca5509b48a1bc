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

from app.core.db import for_update
from payments.rows import PayAnomalyRow, PayConfigRow, TopUpOrderRow
from payments.tables import PayAnomaly, PayConfig, TopUpOrder

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


async def mark_paid(order_id: uuid.UUID, transaction_id: str,
                    paid_at: datetime) -> TopUpOrderRow | None:
    """The one way to paid: a conditional update that reports whether it won (the order
    as it is now), or None when the order was paid (or refunded) already."""
    rows = await TopUpOrder.update({
        TopUpOrder.status: "paid", TopUpOrder.transaction_id: transaction_id,
        TopUpOrder.paid_at: paid_at, TopUpOrder.next_query_at: None,
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


# --- followup: poller, refunds, reconcile (append below) ----------------------------------
