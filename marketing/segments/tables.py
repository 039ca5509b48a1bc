"""A saved segment: a name and its filters, evaluated whenever it is used.

The per-member visit rollup PostgreSQL keeps for the filters (``segment_visits``) is raw
SQL of the migrations (arrays, a trigger on ``redemption``): no Piccolo table, like the
stats queue. SQLite has none and reads the redemptions.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from stores.tables import Chain


class Segment(Table, tablename="segment"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    filters = JSON(null=False, default="{}")
    created_by = UUID(null=True, default=None)  # the staff member (None: an API key)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
