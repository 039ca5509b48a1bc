"""Gifts' indexes: at most one pending gift per voucher (whatever the concurrency of two
gift requests), pending gifts by expiry (the tick's sweep), a member's gifts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T01:50:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "gift indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="gifts", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE UNIQUE INDEX gift_voucher_pending ON gift (voucher) WHERE status = 'pending'",
        "CREATE INDEX gift_pending_expiry ON gift (expires_at) WHERE status = 'pending'",
        "CREATE INDEX gift_giver_created ON gift (giver, created_at)"))
    manager.add_raw_backwards(raw_ddl("DROP INDEX gift_giver_created",
                                      "DROP INDEX gift_pending_expiry",
                                      "DROP INDEX gift_voucher_pending"))
    return manager
