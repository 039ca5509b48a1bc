"""Every query of gifting. Each change of a gift's status is one conditional update from
``pending`` (RETURNING the row): of an accept, a cancel and an expiry racing on one gift,
on any number of processes and either engine, exactly one finds the row still pending."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from marketing.gifts.rows import GiftRow
from marketing.gifts.tables import Gift

PENDING = "pending"


async def insert_gift(values: Mapping[str, Any]) -> None:
    await Gift.insert(Gift(**values)).run()


async def by_token_hash(token_hash: str) -> GiftRow | None:
    return cast("GiftRow | None", await Gift.select().where(
        Gift.token_hash == token_hash).first().run())


async def get_gift(gift_id: uuid.UUID, chain_id: uuid.UUID) -> GiftRow | None:
    return cast("GiftRow | None", await Gift.select().where(
        (Gift.id == gift_id) & (Gift.chain == chain_id)).first().run())


async def gifts_of_giver(giver_id: uuid.UUID, *, pending_only: bool,
                         limit: int) -> list[GiftRow]:
    query = Gift.select().where(Gift.giver == giver_id)
    if pending_only:
        query = query.where(Gift.status == PENDING)
    return cast("list[GiftRow]", await query.order_by(
        Gift.created_at, ascending=False).order_by(Gift.id).limit(limit).run())


async def accept(gift_id: uuid.UUID, acceptor_id: uuid.UUID, now: datetime) -> GiftRow | None:
    """pending and not past its end → accepted by ``acceptor_id``; the row, or None."""
    rows = await Gift.update({Gift.status: "accepted", Gift.accepted_by: acceptor_id,
                              Gift.ended_at: now}).where(
        (Gift.id == gift_id) & (Gift.status == PENDING) & (Gift.expires_at > now)
    ).returning(*Gift.all_columns()).run()
    return cast("GiftRow | None", rows[0] if rows else None)


async def cancel(gift_id: uuid.UUID, giver_id: uuid.UUID, now: datetime) -> GiftRow | None:
    """pending (an expired one too: the voucher goes back either way) → cancelled."""
    rows = await Gift.update({Gift.status: "cancelled", Gift.ended_at: now}).where(
        (Gift.id == gift_id) & (Gift.giver == giver_id) & (Gift.status == PENDING)
    ).returning(*Gift.all_columns()).run()
    return cast("GiftRow | None", rows[0] if rows else None)


async def expire(gift_id: uuid.UUID, now: datetime) -> GiftRow | None:
    """pending and past its end → expired; the row, or None."""
    rows = await Gift.update({Gift.status: "expired", Gift.ended_at: now}).where(
        (Gift.id == gift_id) & (Gift.status == PENDING) & (Gift.expires_at <= now)
    ).returning(*Gift.all_columns()).run()
    return cast("GiftRow | None", rows[0] if rows else None)


async def due(now: datetime, limit: int) -> list[uuid.UUID]:
    """Ids of pending gifts past their end, oldest end first (gift_pending_expiry)."""
    rows = await Gift.select(Gift.id).where(
        (Gift.status == PENDING) & (Gift.expires_at <= now)).order_by(
        Gift.expires_at).limit(limit).run()
    return [row["id"] for row in rows]
