"""The event feed: every change a chain's other systems care about, in order.

A domain calls :func:`emit` inside its write transaction (it joins it, like
``app.core.notify.outbox.emit``): the row is inserted with no sequence, so a change that
rolls back leaves nothing, and the write path touches no shared row. The sequencer
(:mod:`app.core.events.sequencer`) numbers committed rows per chain afterwards; the feed
(``GET /events``) and the webhook fan-out read numbered rows in sequence order.

    from app.core import events
    await events.emit(events.types.CARD_TOPPED_UP, chain_id=..., object_id=card_id,
                      store_id=..., data=msgspec.to_builtins(out))

``data`` is the object as the API answers it (never a secret).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.events import repository as _repo
from app.core.events import types
from app.core.events.rows import EventRow, NewEvent

__all__ = ["EventRow", "NewEvent", "emit", "event", "off_emitted", "on_emitted", "types"]

_emitted: list[Callable[[UUID], None]] = []


def on_emitted(callback: Callable[[UUID], None]) -> None:
    """Call ``callback(chain_id)`` whenever this process builds an event: a hint for its
    sequencer to look soon (the row may not be committed yet, or ever)."""
    if callback not in _emitted:
        _emitted.append(callback)


def off_emitted(callback: Callable[[UUID], None]) -> None:
    if callback in _emitted:
        _emitted.remove(callback)


def event(event_type: str, *, chain_id: UUID, object_id: UUID,
          data: Mapping[str, Any], store_id: UUID | None = None) -> NewEvent:
    """The row of an event, checked: :func:`emit` writes it, or a repository as one step
    of a single statement (``app.core.events.repository.insert_after``/``insert_args``)."""
    if event_type not in types.KNOWN:
        raise ValueError(f"unknown event type {event_type!r}")
    for callback in list(_emitted):
        callback(chain_id)
    return {"id": uuid.uuid4(), "chain_id": chain_id, "type": event_type,
            "store_id": store_id, "object_id": object_id, "data": dict(data),
            "created_at": utcnow()}


async def emit(event_type: str, *, chain_id: UUID, object_id: UUID,
               data: Mapping[str, Any], store_id: UUID | None = None) -> NewEvent:
    """Write ``event_type`` about ``object_id`` in the caller's write transaction (or in
    its own); numbered once that commits. Returns the row written."""
    row = event(event_type, chain_id=chain_id, object_id=object_id, data=data,
                store_id=store_id)
    async with write_transaction():
        await _repo.insert(row)
    return row
