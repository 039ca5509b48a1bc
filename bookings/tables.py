"""The bookings table.

A booking holds its resource over ``[start_at, block_end_at)``: the service's duration
plus its buffer (clean-up, turnover). ``end_at`` is when the service itself ends. Only
bookings in a holding status count against the resource's capacity.

Raw SQL in the migrations adds (both engines) the index the overlap query uses, and on
PostgreSQL an exclusion constraint (btree_gist) so that no two holding bookings of an
``exclusive`` (capacity 1) resource overlap, whatever a bug in the code might try.
"""

from __future__ import annotations

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from cards.tables import Card, Redemption, Voucher
from stores.tables import Chain, Member, Resource, Service, Staff, Store


class Booking(Table, tablename="booking"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    store = ForeignKey(Store, null=False, on_delete=OnDelete.restrict)
    service = ForeignKey(Service, null=False, on_delete=OnDelete.restrict)
    resource = ForeignKey(Resource, null=False, on_delete=OnDelete.restrict)
    member = ForeignKey(Member, null=False, on_delete=OnDelete.restrict, index=True)
    start_at = Timestamptz(null=False)
    end_at = Timestamptz(null=False)
    block_end_at = Timestamptz(null=False)
    party_size = Integer(null=False, default=1)
    # confirmed | checked_in | completed | cancelled | no_show
    status = Varchar(length=16, null=False, default="confirmed")
    # The resource had capacity 1 when booked: the PostgreSQL exclusion constraint applies.
    exclusive = Boolean(null=False, default=False)
    # Booked for "any" resource: a reschedule may move it to another one.
    any_resource = Boolean(null=False, default=False)
    card = ForeignKey(Card, null=True, default=None, on_delete=OnDelete.restrict)
    voucher = ForeignKey(Voucher, null=True, default=None, on_delete=OnDelete.restrict)
    redemption = ForeignKey(Redemption, null=True, default=None, on_delete=OnDelete.set_null)
    note = Varchar(length=500, null=False, default="")
    booked_by = ForeignKey(Staff, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    cancelled_at = Timestamptz(null=True, default=None)
    checked_in_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    no_show_at = Timestamptz(null=True, default=None)
