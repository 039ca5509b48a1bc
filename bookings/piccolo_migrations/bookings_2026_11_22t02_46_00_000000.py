"""Indexes of the bookings domain, and PostgreSQL's backstop against double booking.

Raw SQL in its own migration because Piccolo runs raw steps before table steps.
The exclusion constraint covers capacity-1 resources (``exclusive``) in a holding status:
two such bookings of one resource can never overlap, even if the application's locking
were wrong. Capacity > 1 is enforced by the service under the resource's row lock.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T02:46:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "booking indexes and exclusion constraint"

_UP = (
    "CREATE INDEX booking_resource_start ON booking (resource, start_at)",
    "CREATE INDEX booking_store_start ON booking (store, start_at)",
)
_DOWN = ("DROP INDEX booking_resource_start", "DROP INDEX booking_store_start")
_UP_PG = (
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    "ALTER TABLE booking ADD CONSTRAINT booking_no_overlap EXCLUDE USING gist "
    "(resource WITH =, tstzrange(start_at, block_end_at) WITH &&) "
    "WHERE (exclusive AND status IN ('confirmed', 'checked_in', 'completed'))",
)
_DOWN_PG = ("ALTER TABLE booking DROP CONSTRAINT booking_no_overlap",)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="bookings", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw(raw_ddl(*_UP_PG, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN_PG, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
