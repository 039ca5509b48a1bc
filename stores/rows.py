"""The rows the stores repository returns, one shape each (the columns of stores/tables.py).

Piccolo gives plain dicts; the repository casts them to these at its boundary, so a typo
in ``row["field"]`` fails mypy instead of a request. Both engines give the same Python
types: UUIDs and aware datetimes (Piccolo's SQLite converters), JSON columns parsed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal, TypedDict

from app.core.hours import Interval

StaffRole = Literal["operator", "manager", "clerk"]


class ChainRow(TypedDict):
    id: uuid.UUID
    name: str
    created_at: datetime
    offline_window_minutes: int
    locale: str  # zh-CN | en: the language of the members' notifications
    timezone: str  # IANA: the zone of members' dates (birthdays, last visits)


class StoreRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    name: str
    address: str
    timezone: str
    opening_hours: list[Interval]
    phone: str | None
    booking_lead_minutes: int
    booking_horizon_days: int
    cancel_cutoff_minutes: int
    reminder_minutes: int
    no_show_consumes_visit: bool
    created_at: datetime
    external_id: str | None  # the chain's own id for it (unique per chain)


class StaffListRow(TypedDict):
    """A staff member as lists show it: every column but the password hash."""

    id: uuid.UUID
    chain: uuid.UUID
    username: str
    role: StaffRole
    name: str
    active: bool
    created_at: datetime


class StaffRow(StaffListRow):
    password_hash: str


class StaffLoginRow(StaffRow):
    token_version: int


class MemberRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    openid: str | None
    unionid: str | None
    name: str
    phone: str | None
    birthday: date | None
    registered_by: uuid.UUID | None
    registered_store: uuid.UUID | None
    created_at: datetime
    phone_verified: bool
    external_id: str | None  # the chain's own id for the member (unique per chain)


class ServiceRow(TypedDict):
    id: uuid.UUID
    store: uuid.UUID
    chain: uuid.UUID | None  # the store's chain (None only on rows the schema let in)
    name: str
    duration_minutes: int
    price_cents: int
    buffer_minutes: int
    active: bool
    created_at: datetime
    external_id: str | None  # the chain's own id for it (unique per chain)


class ResourceRow(TypedDict):
    id: uuid.UUID
    store: uuid.UUID
    name: str
    kind: str  # staff | table | room
    capacity: int
    hours: list[Interval] | None  # None: the store's opening hours
    active: bool
    created_at: datetime


class WechatConfigRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    app_id: str
    app_secret_sealed: str
    templates: dict[str, str]  # event name -> WeChat template id
    updated_at: datetime
    server_token_sealed: str | None
    encoding_aes_key_sealed: str | None
    card_bag: bool


class MemberFacts(TypedDict):
    """What later domains know of a member, for the members list (cards: visits, cards)."""

    last_visit_at: datetime | None
    cards_count: int
