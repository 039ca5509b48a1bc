"""The rows the bookings repository returns, one shape each (the columns of
bookings/tables.py, plus what its joined selects add).

Piccolo and ``app.core.db.Sql`` give plain dicts; the repository casts them to these at
its boundary (no copy), so a typo in ``row["field"]`` fails mypy instead of a request.
Both engines give the same Python types: UUIDs and aware datetimes (Piccolo's SQLite
converters), JSON columns parsed by the repository.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, TypedDict

from app.core.hours import Interval

BookingStatus = Literal["confirmed", "checked_in", "completed", "cancelled", "no_show"]


class BookingRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    store: uuid.UUID
    service: uuid.UUID
    resource: uuid.UUID
    member: uuid.UUID
    start_at: datetime
    end_at: datetime
    block_end_at: datetime  # end_at plus the service's buffer: what the resource holds
    party_size: int
    status: BookingStatus
    exclusive: bool
    any_resource: bool
    card: uuid.UUID | None
    voucher: uuid.UUID | None
    redemption: uuid.UUID | None
    note: str
    booked_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    completed_at: datetime | None
    no_show_at: datetime | None


class BookingView(BookingRow):
    """A booking with the names a reader sees, its store's zone and cut-off and its
    redemption (get_booking, lists)."""

    store_name: str
    timezone: str
    cancel_cutoff_minutes: int
    service_name: str
    resource_name: str
    member_name: str
    member_phone: str | None
    # The redemption the booking's completion (or no-show) made, NULLs when none.
    rd_kind: str | None
    rd_action: str | None
    rd_amount_cents: int | None
    rd_charged_cents: int | None
    rd_discount_cents: int | None
    rd_visits_left: int | None
    rd_balance_after_cents: int | None
    rd_points_after: int | None
    rd_reversed_at: datetime | None


class HoldRow(TypedDict):
    """A holding booking as the overlap query reads it."""

    id: uuid.UUID
    resource: uuid.UUID
    start_at: datetime
    block_end_at: datetime
    party_size: int


class BookableRow(TypedDict):
    """An active resource that performs the service."""

    id: uuid.UUID
    name: str
    capacity: int
    hours: list[Interval] | None  # None: the store's opening hours
