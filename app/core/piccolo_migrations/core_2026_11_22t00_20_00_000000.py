"""Composite unique index of idempotency records (raw: portable to SQLite)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T00:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency unique index"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE UNIQUE INDEX core_idempotency_caller_key ON core_idempotency (caller, key)",
        "CREATE INDEX core_idempotency_created_at ON core_idempotency (created_at)",
        "CREATE INDEX core_throttle_expires_at ON core_throttle (expires_at)",
    ))
    manager.add_raw_backwards(raw_ddl(
        "DROP INDEX core_idempotency_caller_key",
        "DROP INDEX core_idempotency_created_at",
        "DROP INDEX core_throttle_expires_at",
    ))
    return manager
