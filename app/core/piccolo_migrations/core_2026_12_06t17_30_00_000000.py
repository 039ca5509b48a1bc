"""The live streams' outbox tail reads ``core_notification`` by time (app/live.py: rows
written since its last look, oldest first, every member at once): an index on
(created_at, id), the order it pages in, carrying member_id so that the look picks its
members' rows from the index alone (raw: both engines; its own migration)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T17:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification created_at index"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE INDEX core_notification_created_at ON core_notification "
        "(created_at, id, member_id)",
    ))
    manager.add_raw_backwards(raw_ddl(
        "DROP INDEX core_notification_created_at",
    ))
    return manager
