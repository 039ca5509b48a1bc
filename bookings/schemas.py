"""Request and response bodies of the bookings domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

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


ChangeRefusal = Literal["status", "cutoff_passed"]


class BookingRedemption(Struct):
    """What the booking's completion (or a no-show penalty) took from the attached card or
    voucher: the clerk's feedback ("1 visit used, 9 left")."""

    id: uuid.UUID
    kind: str  # card | voucher
    action: str | None
    amount_cents: int | None
    charged_cents: int
    discount_cents: int
    visits_left: int | None
    balance_after_cents: int | None
    points_after: int | None
    reversed_at: datetime | None


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
    # Issue 17: the cut-off told before, not after; what the caller may still change.
    cancellable_until: datetime
    can_cancel: bool
    can_reschedule: bool
    cannot_change_reason: ChangeRefusal | None
    any_resource: bool
    member_name: str | None
    member_phone_tail: str | None
    redemption: BookingRedemption | None


class SlotResource(Struct):
    id: uuid.UUID
    name: str


class SlotOut(Struct):
    start: datetime
    end: datetime
    resource_ids: list[uuid.UUID]
    resources: list[SlotResource]
    # start minus the store's cut-off; inside_cutoff: booked now, a member could no
    # longer cancel or move it.
    cancellable_until: datetime
    inside_cutoff: bool


class AvailabilityOut(Struct):
    store_id: uuid.UUID
    service_id: uuid.UUID
    date: str
    timezone: str
    party_size: int
    cancel_cutoff_minutes: int
    slots: list[SlotOut]
