"""Request and response bodies of the bookings domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from bookings.rows import BookingStatus as BookingStatus
from cards.schemas import MAX_BILL_CENTS, CardAction

# An aware instant (RFC 3339 with an offset): a naive time is ambiguous across zones.
Instant = Annotated[datetime, Meta(tz=True)]
MAX_PARTY = 100


class BookingCreate(Struct, forbid_unknown_fields=True):
    store_id: uuid.UUID
    service_id: uuid.UUID
    start: Instant
    resource_id: uuid.UUID | None = None
    party_size: Annotated[int, Meta(ge=1, le=MAX_PARTY)] = 1
    member_id: uuid.UUID | None = None
    card_id: uuid.UUID | None = None
    voucher_id: uuid.UUID | None = None
    note: Annotated[str, Meta(max_length=500)] | None = None


class Reschedule(Struct, forbid_unknown_fields=True):
    start: Instant
    resource_id: uuid.UUID | None = None


class Complete(Struct, forbid_unknown_fields=True):
    action: CardAction | None = None
    amount_cents: Annotated[int, Meta(ge=0, le=MAX_BILL_CENTS)] | None = None


class BookingOut(Struct):
    id: uuid.UUID
    status: BookingStatus
    store_id: uuid.UUID
    service_id: uuid.UUID
    resource_id: uuid.UUID
    start: datetime
    end: datetime
    party_size: int
    member_id: uuid.UUID
    code: str | None
    store_name: str
    service_name: str
    resource_name: str
    card_id: uuid.UUID | None
    voucher_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    note: str
    created_at: datetime
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    completed_at: datetime | None
    no_show_at: datetime | None


class SlotOut(Struct):
    start: datetime
    end: datetime
    resource_ids: list[uuid.UUID]


class AvailabilityOut(Struct):
    store_id: uuid.UUID
    service_id: uuid.UUID
    date: str
    timezone: str
    party_size: int
    slots: list[SlotOut]
