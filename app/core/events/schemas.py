"""Responses of the event feed (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from msgspec import Struct


class EventOut(Struct):
    """An event as the feed answers it (and as a webhook's body carries it)."""

    id: uuid.UUID
    sequence: int
    type: str
    created_at: datetime  # RFC 3339, UTC
    store_id: uuid.UUID | None
    data: dict[str, Any]  # the changed object as the API answers it


class EventPage(Struct):
    items: list[EventOut]
    next_after: int  # the last item's sequence; ``after`` when there is none
