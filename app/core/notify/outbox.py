"""The interface every domain calls: write a notification in the change's transaction.

``emit`` inserts an outbox row inside the caller's current ``write_transaction`` (it
joins it; outside one it commits on its own), so a change that rolls back sends nothing
and a committed change is delivered by a dispatcher, at least once, after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from uuid import UUID

from app.core.clock import utcnow
from app.core.db import Sql, write_transaction
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


_MANY_AT_ONCE = 500  # rows per statement (9 parameters each: under both engines' limits)


@cache
def _emit_many_sql(rows: int) -> Sql:
    # The repository's own single-row statement, with many VALUES rows (same columns, same
    # ON CONFLICT rule for a key emitted again).
    values = ", ".join([f"({repo._EMIT_VALUES})"] * rows)
    return Sql(repo._EMIT_INTO + "VALUES " + values + repo._EMIT_ON_CONFLICT)


async def emit_many(rows: Sequence[NewNotification]) -> None:
    """Queue many notifications (each built by :func:`notification`; their dedupe keys
    distinct) in the caller's write transaction, or in its own: a multi-row insert per
    500, the same rows :func:`emit` would write one by one (a batch of vouchers)."""
    if not rows:
        return
    async with write_transaction():
        for start in range(0, len(rows), _MANY_AT_ONCE):
            chunk = rows[start:start + _MANY_AT_ONCE]
            await _emit_many_sql(len(chunk)).rows(
                *(a for row in chunk for a in repo.emit_args(row)))


async def cancel(dedupe_key: str) -> None:
    """Cancel the row of ``dedupe_key`` if it is still pending (a booking's reminder when
    the booking is cancelled); a sent, failed or unknown key is left as it is."""
    async with write_transaction():
        await repo.cancel(dedupe_key)
