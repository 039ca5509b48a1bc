"""Every query on signing keys. No rules here: :mod:`app.core.codes.keys` decides."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from app.core.codes.rows import PublishedKeyRow, SigningKeyRow
from app.core.tables import SigningKey

ACTIVE = "active"
RETIRED = "retired"


async def active_key(chain_id: uuid.UUID) -> SigningKeyRow | None:
    return cast("SigningKeyRow | None", await SigningKey.select().where(
        (SigningKey.chain_id == chain_id) & (SigningKey.status == ACTIVE)).first().run())


async def key_by_kid(kid: str) -> SigningKeyRow | None:
    return cast("SigningKeyRow | None",
                await SigningKey.select().where(SigningKey.kid == kid).first().run())


async def insert_key_unless_taken(values: Mapping[str, Any]) -> bool:
    """Insert a key; False (and nothing written) when the chain already has an active key
    or the kid is taken. ``ON CONFLICT DO NOTHING`` rather than catching the violation, so
    that a caller's surrounding transaction is never aborted by it (PostgreSQL)."""
    rows = await SigningKey.insert(SigningKey(**values)).on_conflict(
        action="DO NOTHING").returning(SigningKey.id).run()
    return bool(rows)


async def retire_active(chain_id: uuid.UUID, retired_at: datetime,
                        publish_until: datetime | None) -> None:
    await SigningKey.update(status=RETIRED, retired_at=retired_at,
                            publish_until=publish_until).where(
        (SigningKey.chain_id == chain_id) & (SigningKey.status == ACTIVE)).run()


async def published_keys(chain_id: uuid.UUID | None,
                         now: datetime) -> list[PublishedKeyRow]:
    """Active keys, and retired ones whose publication has not ended, oldest first."""
    query = SigningKey.select(SigningKey.kid, SigningKey.chain_id, SigningKey.public_key,
                              SigningKey.status, SigningKey.created_at).where(
        (SigningKey.status == ACTIVE)
        | SigningKey.publish_until.is_null()
        | (SigningKey.publish_until > now))
    if chain_id is not None:
        query = query.where(SigningKey.chain_id == chain_id)
    return cast("list[PublishedKeyRow]",
                await query.order_by(SigningKey.created_at).order_by(SigningKey.kid).run())
