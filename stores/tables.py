"""Tables of chains, stores, staff, members, services and resources.

Composite unique indexes are created by raw SQL in the migrations (Piccolo's table
constraints are not portable to SQLite); they are named in the comments below.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Chain(Table, tablename="chain"):
    id = UUID(primary_key=True)
    name = Varchar(length=120, null=False)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # How long after a scan an offline scanner may still upload it (POST /redemptions/sync).
    offline_window_minutes = Integer(null=False, default=1440)
    # The language of the messages the chain's members read (notifications): zh-CN | en.
    locale = Varchar(length=16, null=False, default="zh-CN")
    # The zone of members' dates (birthdays, joining, last visits): an IANA name.
    timezone = Varchar(length=64, null=False, default="Asia/Shanghai")


class Store(Table, tablename="store"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    address = Varchar(length=300, null=False, default="")
    timezone = Varchar(length=64, null=False)
    opening_hours = JSON(null=False, default="[]")
    phone = Varchar(length=32, null=True, default=None)
    # Booking policy (minutes/days); read by the bookings domain.
    booking_lead_minutes = Integer(null=False, default=0)
    booking_horizon_days = Integer(null=False, default=60)
    cancel_cutoff_minutes = Integer(null=False, default=120)
    reminder_minutes = Integer(null=False, default=120)
    no_show_consumes_visit = Boolean(null=False, default=False)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # The chain's own id for it (POS/ERP); unique index store_chain_external_id.
    external_id = Varchar(length=64, null=True, default=None)


class Staff(Table, tablename="staff"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    username = Varchar(length=64, null=False, unique=True)
    password_hash = Varchar(length=200, null=False)
    role = Varchar(length=16, null=False)  # operator | manager | clerk
    name = Varchar(length=120, null=False, default="")
    active = Boolean(null=False, default=True)
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class StaffStore(Table, tablename="staff_store"):
    """The stores a manager or clerk works at. Unique index: (staff, store)."""

    id = UUID(primary_key=True)
    staff = ForeignKey(Staff, null=False, on_delete=OnDelete.cascade, index=True)
    store = ForeignKey(Store, null=False, on_delete=OnDelete.restrict, index=True)


class Member(Table, tablename="member"):
    """A chain's customer. Unique indexes: (chain, openid), (chain, external_id), and
    (chain, phone) over verified phones only (``member_chain_verified_phone``): a phone
    the member typed themselves is unverified and never keeps its owner from being
    registered."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    openid = Varchar(length=128, null=True, default=None)
    unionid = Varchar(length=128, null=True, default=None)
    name = Varchar(length=120, null=False, default="")
    phone = Varchar(length=32, null=True, default=None)
    birthday = Date(null=True, default=None)
    registered_by = ForeignKey(Staff, null=True, default=None, on_delete=OnDelete.set_null)
    registered_store = ForeignKey(Store, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(null=False, default=TimestamptzNow(), index=True)
    # True when a clerk typed the phone at the counter or WeChat vouched for it.
    phone_verified = Boolean(null=False, default=False)
    # The chain's own id for the member (CRM/POS); unique index member_chain_external_id.
    external_id = Varchar(length=64, null=True, default=None)


class Service(Table, tablename="service"):
    id = UUID(primary_key=True)
    store = ForeignKey(Store, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    duration_minutes = Integer(null=False)
    price_cents = Integer(null=False, default=0)
    buffer_minutes = Integer(null=False, default=0)
    active = Boolean(null=False, default=True)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # The store's chain, so that external ids are unique per chain (unique index
    # service_chain_external_id). Nullable only because SQLite cannot add a NOT NULL
    # reference to filled rows; stores.repository.insert_service always sets it.
    chain = ForeignKey(Chain, null=True, default=None, on_delete=OnDelete.restrict)
    external_id = Varchar(length=64, null=True, default=None)


class Resource(Table, tablename="resource"):
    """A stylist, a table or a room. ``hours`` null means the store's opening hours."""

    id = UUID(primary_key=True)
    store = ForeignKey(Store, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    kind = Varchar(length=16, null=False)  # staff | table | room
    capacity = Integer(null=False, default=1)
    hours = JSON(null=True, default=None)
    active = Boolean(null=False, default=True)
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class ResourceService(Table, tablename="resource_service"):
    """Which services a resource performs. Unique index: (resource, service)."""

    id = UUID(primary_key=True)
    resource = ForeignKey(Resource, null=False, on_delete=OnDelete.cascade, index=True)
    service = ForeignKey(Service, null=False, on_delete=OnDelete.cascade, index=True)


class WechatConfig(Table, tablename="wechat_config"):
    """A chain's WeChat app. ``app_secret_sealed`` (and the message server's token and
    AES key) are AES-GCM under a derived key, the chain id as associated data."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.cascade, unique=True)
    app_id = Varchar(length=64, null=False)
    app_secret_sealed = Varchar(length=512, null=False)
    templates = JSON(null=False, default="{}")
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    # The official account's message server (issue 21): its Token and EncodingAESKey,
    # sealed like the app secret; ``card_bag``: the chain's cards go to WeChat's card bag.
    server_token_sealed = Varchar(length=512, null=True, default=None)
    encoding_aes_key_sealed = Varchar(length=512, null=True, default=None)
    card_bag = Boolean(null=False, default=False)
