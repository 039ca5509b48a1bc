"""Rollups of the stats, maintained on PostgreSQL by triggers in the same transaction as
the events (see the raw migration), rebuildable with `o2o stats rebuild`. SQLite has the
tables too but leaves them empty: there the stats read the event tables directly.

Unique indexes (raw migration): stats_store_day (store_id, day, shard), stats_activity
(scope_id, member_id, day), stats_chain_day (chain_id, day, shard), stats_voucher_day
(campaign_id, zone, day, shard), stats_cohort (scope_id, cohort, month, shard).
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Date, Integer, Varchar
from piccolo.table import Table


class StoreDay(Table, tablename="stats_store_day"):
    """Additive figures of one store on one of its local days. Each writing transaction
    adds to one of 8 shard rows (by transaction id), so concurrent redemptions at a store
    do not queue on one row; readers sum the shards."""

    id = UUID(primary_key=True)
    store_id = UUID(null=False)
    day = Date(null=False)
    shard = Integer(null=False, default=0)
    members_new = Integer(null=False, default=0)
    cards_issued = Integer(null=False, default=0)
    redemptions = Integer(null=False, default=0)
    redemption_value_cents = BigInt(null=False, default=0)
    card_redemptions = Integer(null=False, default=0)
    voucher_redemptions = Integer(null=False, default=0)
    booking_redemptions = Integer(null=False, default=0)
    top_ups = Integer(null=False, default=0)
    top_up_cents = BigInt(null=False, default=0)
    bookings = Integer(null=False, default=0)
    bookings_checked_in = Integer(null=False, default=0)
    bookings_completed = Integer(null=False, default=0)
    bookings_cancelled = Integer(null=False, default=0)
    bookings_no_show = Integer(null=False, default=0)
    active_members = Integer(null=False, default=0)


class Activity(Table, tablename="stats_activity"):
    """A member's activity (non-reversed redemptions and bookings) on one local day, once
    per store (``scope_id`` = the store) and once for the chain (``scope_id`` = the chain).

    ``prev_day``/``next_day`` link each member's days within a scope (sentinels 0001-01-01
    and 9999-12-31 at the ends), so "distinct members active in [a, b]" is a plain count of
    the rows in [a, b] whose ``prev_day`` is before a (each member's first day in the
    range), and "members with two or more days" adds ``next_day <= b``.
    """

    id = UUID(primary_key=True)
    scope_id = UUID(null=False)
    member_id = UUID(null=False)
    day = Date(null=False)
    events = Integer(null=False, default=0)
    prev_day = Date(null=False)
    next_day = Date(null=False)


class ChainDay(Table, tablename="stats_chain_day"):
    """Distinct active members of a chain on a local day (each store's own days), sharded
    like :class:`StoreDay`."""

    id = UUID(primary_key=True)
    chain_id = UUID(null=False)
    day = Date(null=False)
    shard = Integer(null=False, default=0)
    active_members = Integer(null=False, default=0)


class VoucherDay(Table, tablename="stats_voucher_day"):
    """Vouchers issued per campaign and local day, counted in each time zone the chain's
    stores use (a voucher belongs to no store: each view reads its own zone's days)."""

    id = UUID(primary_key=True)
    campaign_id = UUID(null=False)
    chain_id = UUID(null=False)
    zone = Varchar(length=64, null=False)
    day = Date(null=False)
    shard = Integer(null=False, default=0)
    issued = Integer(null=False, default=0)


class CohortMonth(Table, tablename="stats_cohort"):
    """Members of a cohort (the local month they joined) active in a month: per chain
    (``scope_id`` = the chain, every member) and per store (the store, members who joined
    there, active there). Sharded like :class:`StoreDay`."""

    id = UUID(primary_key=True)
    scope_id = UUID(null=False)
    cohort = Date(null=False)
    month = Date(null=False)
    shard = Integer(null=False, default=0)
    active = Integer(null=False, default=0)
