"""The interface every domain calls: write a notification in the change's transaction.

``emit`` inserts an outbox row inside the caller's current ``write_transaction`` (it
joins it; outside one it commits on its own), so a change that rolls back sends nothing
and a committed change is delivered by a dispatcher, at least once, after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from uuid import UUID

from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.notify import render
from app.core.notify import repository as repo
from app.core.notify.rows import NewNotification

_written: list[Callable[[UUID], None]] = []


def on_written(callback: Callable[[UUID], None]) -> None:
    """Call ``callback(member_id)`` whenever a notification is built for a member (a hint
    for this process's live streams to look at the outbox now: the row may not be
    committed yet, or ever)."""
    if callback not in _written:
        _written.append(callback)


def off_written(callback: Callable[[UUID], None]) -> None:
    if callback in _written:
        _written.remove(callback)


def notification(event: str, *, chain_id: UUID, member_id: UUID,
                 data: Mapping[str, str | int | None], store_id: UUID | None = None,
                 due_at: datetime | None = None,
                 dedupe_key: str | None = None) -> NewNotification:
    """The outbox row of ``event`` for ``member_id``, due at ``due_at`` (None: now),
    checked; :func:`emit` writes it, or a repository as one step of a single statement.

    ``dedupe_key`` (default: a fresh one) is unique: emitting a key again replaces the
    row while it is still pending or cancelled (a reminder moved with its booking) and
    does nothing once it was sent or failed.
    """
    render.check(event, data)
    if due_at is not None and due_at.tzinfo is None:
        raise ValueError("due_at needs a timezone")
    if dedupe_key is not None and not 1 <= len(dedupe_key) <= 255:
        raise ValueError("dedupe_key must be 1 to 255 characters")
    now = utcnow()
    for callback in list(_written):
        callback(member_id)
    return {
        "id": uuid.uuid4(), "chain_id": chain_id, "member_id": member_id,
        "store_id": store_id, "event": event, "data": dict(data),
        "dedupe_key": dedupe_key or f"auto:{uuid.uuid4()}", "due_at": due_at or now,
        "created_at": now,
    }


async def emit(event: str, *, chain_id: UUID, member_id: UUID,
               data: Mapping[str, str | int | None], store_id: UUID | None = None,
               due_at: datetime | None = None, dedupe_key: str | None = None) -> None:
    """Queue ``event`` for ``member_id`` (see :func:`notification`) in the caller's write
    transaction, or in its own."""
    row = notification(event, chain_id=chain_id, member_id=member_id, data=data,
                       store_id=store_id, due_at=due_at, dedupe_key=dedupe_key)
    async with write_transaction():
        await repo.emit(row)


async def cancel(dedupe_key: str) -> None:
    """Cancel the row of ``dedupe_key`` if it is still pending (a booking's reminder when
    the booking is cancelled); a sent, failed or unknown key is left as it is."""
    async with write_transaction():
        await repo.cancel(dedupe_key)
