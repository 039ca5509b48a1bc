"""One receipt per offline item (raw DDL: composite unique index)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T01:24:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sync receipt index"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE UNIQUE INDEX sync_receipt_chain_ref ON sync_receipt (chain, client_ref)"))
    manager.add_raw_backwards(raw_ddl("DROP INDEX sync_receipt_chain_ref"))
    return manager
