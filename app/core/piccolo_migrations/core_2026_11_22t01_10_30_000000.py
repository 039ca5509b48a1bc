"""At most one active signing key per chain (raw: a partial unique index, which both
SQLite and PostgreSQL accept; Piccolo runs raw steps before table steps, hence its own
migration after the one creating the table)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T01:10:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "one active signing key"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE UNIQUE INDEX core_signing_key_one_active ON core_signing_key (chain_id) "
        "WHERE status = 'active'",
    ))
    manager.add_raw_backwards(raw_ddl(
        "DROP INDEX core_signing_key_one_active",
    ))
    return manager
