"""The rows the stats repository returns, one shape each (a few columns of the domains'
tables, and the grouped counts of its raw SQL).

The repository casts Piccolo's plain dicts to these at its boundary (no copy), so a typo
in ``row["field"]`` fails mypy instead of a request.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypedDict


class StoreZone(TypedDict):
    """A store as the stats read it: its zone decides its local days."""

    id: uuid.UUID
    name: str
    timezone: str
    created_at: datetime


class CampaignStores(TypedDict):
    id: uuid.UUID
    store_ids: list[str] | None  # None: every store of the chain


class ServiceName(TypedDict):
    id: uuid.UUID
    name: str
    store: uuid.UUID


class ServiceCount(TypedDict):
    """Bookings of one service in one status."""

    service_id: uuid.UUID
    status: str
    n: int


class RedemptionBucket(TypedDict):
    """SQLite's grouping of redemptions: per store, kind and local-day bucket."""

    store: uuid.UUID | str  # read through _uuid()
    kind: str
    bucket: int
    n: int
    value: int


class BookingBucket(TypedDict):
    """SQLite's grouping of bookings: per store, status and bucket of the start."""

    store: uuid.UUID | str  # read through _uuid()
    status: str
    bucket: int
    n: int
