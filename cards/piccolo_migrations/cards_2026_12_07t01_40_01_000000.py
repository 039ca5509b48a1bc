"""Vouchers by what issued them (a job's, an automation's, a referral's results): only the
rows that name one, so claims cost the index nothing."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T01:40:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "vouchers by source id"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl("CREATE INDEX voucher_source_id ON voucher (source_id) "
                            "WHERE source_id IS NOT NULL"))
    manager.add_raw_backwards(raw_ddl("DROP INDEX voucher_source_id"))
    return manager
