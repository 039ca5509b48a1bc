"""PostgreSQL index for the operator stats' top services (app/stats): bookings of a store
by start, covering service and status, so the count per service never reads the table."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T03:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats index"

_UP_PG = ("CREATE INDEX booking_store_start_cover ON booking (store, start_at) "
          "INCLUDE (service, status, member)",)
_DOWN_PG = ("DROP INDEX booking_store_start_cover",)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="bookings", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP_PG, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN_PG, engine_type="postgres"))
    return manager
