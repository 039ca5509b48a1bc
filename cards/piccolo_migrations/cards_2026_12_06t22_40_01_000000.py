"""Every ledger entry written before paid and bonus money were told apart moved paid
money only: its ``delta_paid_cents`` is its ``delta_cents``. Cards and entries have no
bonus money yet (the column defaults, 0, are right). An entry without bonus money keeps
its hash: the canonical entry covers the new fields only when it carries any of them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T22:40:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "paid money backfill"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "UPDATE card_ledger SET delta_paid_cents = delta_cents WHERE delta_cents <> 0"))
    return manager
