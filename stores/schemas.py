"""Request and response bodies of the stores domain."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from stores.rows import StaffRole as StaffRole

Name = Annotated[str, Meta(min_length=1, max_length=120)]
PHONE_PATTERN = r"^\+?[0-9][0-9 -]{4,24}$"  # as a person types it; normalize_phone after
Phone = Annotated[str, Meta(pattern=PHONE_PATTERN, max_length=32)]
Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
Password = Annotated[str, Meta(min_length=10, max_length=256)]
# The id a chain's own system (POS, ERP, CRM) knows the object by: an opaque key compared
# exactly, never trimmed or case-folded. The service also refuses control characters and
# leading or trailing whitespace (stores.service.checked_external_id).
EXTERNAL_ID_MAX = 64  # the columns' Varchar(64)
ExternalId = Annotated[str, Meta(
    min_length=1, max_length=EXTERNAL_ID_MAX,
    description="The chain's own id for it (1-64 printable characters, unique per chain "
                "and kind; no leading or trailing whitespace)")]
HHMM = Annotated[str, Meta(pattern=r"^\d{2}:\d{2}$")]
Weekday = Annotated[int, Meta(ge=0, le=6)]


class OpeningHours(Struct, forbid_unknown_fields=True):
    weekday: Weekday
    open: HHMM
    close: HHMM


HoursList = Annotated[list[OpeningHours], Meta(max_length=100)]


# --- auth -------------------------------------------------------------------------------

class StaffLogin(Struct, forbid_unknown_fields=True):
    username: Annotated[str, Meta(min_length=1, max_length=64)]
    password: Annotated[str, Meta(min_length=1, max_length=256)]


class StaffBrief(Struct):
    id: uuid.UUID
    role: StaffRole
    chain_id: uuid.UUID
    store_ids: list[uuid.UUID]
    username: str
    name: str


class StaffLoginOut(Struct):
    token: str
    staff: StaffBrief


class MemberWechatLogin(Struct, forbid_unknown_fields=True):
    chain_id: uuid.UUID
    code: Annotated[str, Meta(min_length=1, max_length=256)]
    # A friend's referral code (the link the member came through): handed to the join
    # hooks when this login creates the member; never a reason to refuse the login.
    referral_code: Annotated[str, Meta(max_length=64)] | None = None


class MemberOut(Struct):
    id: uuid.UUID
    chain_id: uuid.UUID
    openid: str | None
    name: str
    phone: str | None
    birthday: date | None
    created_at: datetime
    # False for a phone the member typed (PATCH /me): it proves nothing, so it never
    # keeps a registration at the counter from taking the number.
    phone_verified: bool
    external_id: str | None = None  # the chain's own id for the member (CRM/POS)


class MemberListOut(MemberOut):
    """A member as GET /members lists them (issue 17): with what later domains know."""

    # The latest redemption, not reversed, at any store (null: never).
    last_visit_at: datetime | None = None
    # Cards held: active (not past their validity) or frozen.
    cards_count: int = 0


class MemberLoginOut(Struct):
    token: str
    member: MemberOut


class MemberUpdate(Struct, forbid_unknown_fields=True):
    name: Name | None = None
    phone: Phone | None = None
    birthday: date | None = None


class MemberStaffUpdate(Struct, forbid_unknown_fields=True):
    """``PATCH /members/{id}`` (staff): a field left out stays; ``null`` clears the name
    (to ""), the birthday or the external id. A phone set here is verified, as at the
    counter; it cannot be cleared (a member found by phone keeps being found)."""

    name: Name | UnsetType | None = UNSET
    phone: Phone | UnsetType = UNSET
    birthday: date | UnsetType | None = UNSET
    external_id: ExternalId | UnsetType | None = UNSET


class MemberPhoneWechat(Struct, forbid_unknown_fields=True):
    """The code the mini program's ``getPhoneNumber`` button hands the page."""

    code: Annotated[str, Meta(min_length=1, max_length=256)]


# --- chain ------------------------------------------------------------------------------

class WechatConfigIn(Struct, forbid_unknown_fields=True):
    app_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
    app_secret: Annotated[str, Meta(min_length=8, max_length=128)]
    templates: Annotated[
        dict[Annotated[str, Meta(pattern=r"^[a-z_]{1,40}$")],
             Annotated[str, Meta(min_length=1, max_length=128)]],
        Meta(max_length=32),
    ] = msgspec.field(default_factory=dict)
    # The official account's message server (WeChat's "服务器配置"): its Token (3-32
    # letters and digits) and EncodingAESKey (43), for the callback's server check and
    # safe-mode pushes; ``card_bag``: the chain's cards go to WeChat's card bag. A PUT
    # replaces the config: one without them clears them.
    server_token: Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{3,32}$")] | None = None
    encoding_aes_key: Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{43}$")] | None = None
    card_bag: bool = False


class WechatConfigOut(Struct):
    chain_id: uuid.UUID
    app_id: str
    templates: dict[str, str]
    app_secret_set: bool
    updated_at: datetime
    server_token_set: bool = False
    encoding_aes_key_set: bool = False
    card_bag: bool = False


# --- the chain's own settings -----------------------------------------------------------

# An offline scanner's upload window: at least 5 minutes (a shorter one would reject a
# till's ordinary network hiccup), at most 7 days (beyond that an offline scan is a claim
# nobody can check any more).
OFFLINE_WINDOW_MIN_MINUTES = 5
OFFLINE_WINDOW_MAX_MINUTES = 7 * 24 * 60


# The languages a chain's notifications are written in (app/core/notify/render.py).
ChainLocale = Literal["zh-CN", "en"]
DEFAULT_LOCALE: ChainLocale = "zh-CN"
DEFAULT_CHAIN_TIMEZONE = "Asia/Shanghai"


class ChainUpdate(Struct, forbid_unknown_fields=True):
    offline_window_minutes: Annotated[int, Meta(ge=OFFLINE_WINDOW_MIN_MINUTES,
                                                le=OFFLINE_WINDOW_MAX_MINUTES)] | None = None
    locale: ChainLocale | None = None
    # IANA name (e.g. Asia/Shanghai): the zone of members' dates (birthdays, last visits).
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class ChainOut(Struct):
    id: uuid.UUID
    name: str
    offline_window_minutes: int
    created_at: datetime
    locale: ChainLocale = DEFAULT_LOCALE  # the language of the members' notifications
    timezone: str = DEFAULT_CHAIN_TIMEZONE  # the zone of members' dates


# --- stores -----------------------------------------------------------------------------

class StoreCreate(Struct, forbid_unknown_fields=True):
    name: Name
    timezone: Annotated[str, Meta(min_length=1, max_length=64)]
    opening_hours: HoursList
    address: Annotated[str, Meta(max_length=300)] = ""
    phone: Phone | None = None
    booking_lead_minutes: Annotated[int, Meta(ge=0, le=10080)] = 0
    booking_horizon_days: Annotated[int, Meta(ge=1, le=366)] = 60
    cancel_cutoff_minutes: Annotated[int, Meta(ge=0, le=10080)] = 120
    reminder_minutes: Annotated[int, Meta(ge=0, le=10080)] = 120
    no_show_consumes_visit: bool = False
    external_id: ExternalId | None = None


class StoreUpdate(Struct, forbid_unknown_fields=True):
    name: Name | None = None
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    opening_hours: HoursList | None = None
    address: Annotated[str, Meta(max_length=300)] | None = None
    phone: Phone | None = None
    booking_lead_minutes: Annotated[int, Meta(ge=0, le=10080)] | None = None
    booking_horizon_days: Annotated[int, Meta(ge=1, le=366)] | None = None
    cancel_cutoff_minutes: Annotated[int, Meta(ge=0, le=10080)] | None = None
    reminder_minutes: Annotated[int, Meta(ge=0, le=10080)] | None = None
    no_show_consumes_visit: bool | None = None
    # Left out: unchanged; null: cleared (the other fields cannot be cleared).
    external_id: ExternalId | UnsetType | None = UNSET


class StoreOut(Struct):
    id: uuid.UUID
    chain_id: uuid.UUID
    name: str
    address: str
    timezone: str
    opening_hours: list[OpeningHours]
    phone: str | None
    booking_lead_minutes: int
    booking_horizon_days: int
    cancel_cutoff_minutes: int
    reminder_minutes: int
    no_show_consumes_visit: bool
    created_at: datetime
    external_id: str | None = None


# --- staff ------------------------------------------------------------------------------

class StaffCreate(Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    role: StaffRole
    store_ids: Annotated[list[uuid.UUID], Meta(max_length=500)] = msgspec.field(
        default_factory=list)
    name: Annotated[str, Meta(max_length=120)] = ""


class StaffUpdate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=120)] | None = None
    role: StaffRole | None = None
    store_ids: Annotated[list[uuid.UUID], Meta(max_length=500)] | None = None


class PasswordReset(Struct, forbid_unknown_fields=True):
    password: Password


class PasswordChange(Struct, forbid_unknown_fields=True):
    old_password: Annotated[str, Meta(min_length=1, max_length=256)]
    new_password: Password


class StaffOut(Struct):
    id: uuid.UUID
    chain_id: uuid.UUID
    username: str
    role: StaffRole
    store_ids: list[uuid.UUID]
    name: str
    active: bool
    created_at: datetime


# --- members ----------------------------------------------------------------------------

class MemberCreate(Struct, forbid_unknown_fields=True):
    name: Name
    phone: Phone
    birthday: date | None = None
    store_id: uuid.UUID | None = None
    external_id: ExternalId | None = None


# --- services and resources -------------------------------------------------------------

class ServiceCreate(Struct, forbid_unknown_fields=True):
    name: Name
    duration_minutes: Annotated[int, Meta(ge=5, le=1440)]
    price_cents: Annotated[int, Meta(ge=0, le=100_000_000)]
    buffer_minutes: Annotated[int, Meta(ge=0, le=240)] = 0
    external_id: ExternalId | None = None


class ServiceUpdate(Struct, forbid_unknown_fields=True):
    """``PATCH /stores/{store_id}/services/{id}``: the name and the external id (null
    clears it). Duration, buffer and price stay as created: bookings already made were
    planned and priced with them."""

    name: Name | UnsetType = UNSET
    external_id: ExternalId | UnsetType | None = UNSET


class ServiceOut(Struct):
    id: uuid.UUID
    store_id: uuid.UUID
    name: str
    duration_minutes: int
    price_cents: int
    buffer_minutes: int
    active: bool
    created_at: datetime
    external_id: str | None = None


class ResourceCreate(Struct, forbid_unknown_fields=True):
    name: Name
    kind: Literal["staff", "table", "room"]
    capacity: Annotated[int, Meta(ge=1, le=1000)] = 1
    service_ids: Annotated[list[uuid.UUID], Meta(max_length=200)] = msgspec.field(
        default_factory=list)
    hours: HoursList | None = None


class ResourceOut(Struct):
    id: uuid.UUID
    store_id: uuid.UUID
    name: str
    kind: str
    capacity: int
    service_ids: list[uuid.UUID]
    hours: list[OpeningHours] | None
    active: bool
    created_at: datetime
