"""Request and response bodies of segments (the contract's "Marketing" section)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 730


class SegmentFilters(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Every filter optional (None: not applied), all of them AND-ed. Dates are local
    dates in the chain's zone: ``_after`` on or after that day, ``_before`` before it.
    Visits, spend and ``store_ids`` count the last ``window_days`` local days (today
    included). Checked by :func:`marketing.segments.service.parse_filters`."""

    last_visit_before: date | None = None
    last_visit_after: date | None = None
    joined_after: date | None = None
    joined_before: date | None = None
    visits_min: int | None = None
    visits_max: int | None = None
    spend_min_cents: int | None = None
    spend_max_cents: int | None = None
    window_days: int | None = None
    tiers: list[str] | None = None
    card_template_ids: list[uuid.UUID] | None = None
    store_ids: list[uuid.UUID] | None = None
    birthday_month: int | None = None
    has_phone: bool | None = None

    @property
    def window(self) -> int:
        return DEFAULT_WINDOW_DAYS if self.window_days is None else self.window_days


FILTER_NAMES = frozenset(SegmentFilters.__struct_fields__)

Name = Annotated[str, Meta(min_length=1, max_length=120)]


class PreviewIn(Struct, forbid_unknown_fields=True):
    # Raw: unknown names are refused one by one by the service (400 naming the filter).
    filters: dict[str, Any] = {}


class SegmentIn(Struct, forbid_unknown_fields=True):
    name: Name
    filters: dict[str, Any] = {}


class SegmentPatch(Struct, forbid_unknown_fields=True):
    name: Name | None = None
    filters: dict[str, Any] | None = None


class SegmentOut(Struct):
    id: uuid.UUID
    name: str
    filters: dict[str, Any]
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class SegmentMember(Struct):
    """A member of a segment, with what the filters looked at: ``visits`` and
    ``spend_cents`` within the window, ``last_visit_at`` (null: never)."""

    id: uuid.UUID
    name: str
    phone: str | None
    birthday: date | None
    joined_at: datetime
    registered_store_id: uuid.UUID | None
    last_visit_at: datetime | None
    visits: int
    spend_cents: int


class MembersOut(Struct):
    count: int
    members: list[SegmentMember]
