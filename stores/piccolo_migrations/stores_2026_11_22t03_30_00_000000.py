"""Indexes for the operator stats (app/stats): members by the store they joined at, and
members who joined on their own (WeChat, no store) by chain, both in order of joining."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T03:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats indexes"

_UP = (
    "CREATE INDEX member_registered_store_created ON member (registered_store, created_at)",
    "CREATE INDEX member_chain_created_unattributed ON member (chain, created_at) "
    "WHERE registered_store IS NULL",
)
_DOWN = ("DROP INDEX member_registered_store_created",
         "DROP INDEX member_chain_created_unattributed")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
