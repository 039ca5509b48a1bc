"""The rows of the event feed (``core_event`` and ``core_event_counter`` in
app/core/tables.py), as the repository returns them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypedDict


class NewEvent(TypedDict):
    """An event as a change writes it (``sequence`` NULL until the sequencer numbers it)."""

    id: uuid.UUID
    chain_id: uuid.UUID
    type: str
    store_id: uuid.UUID | None
    object_id: uuid.UUID
    data: dict[str, Any]
    created_at: datetime


class EventRow(NewEvent):
    """A numbered event (``data`` parsed)."""

    sequence: int
