"""Indexes of the cards domain that Piccolo cannot express portably (raw DDL)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T01:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "card indexes"

_UP = (
    # One active card per member per template; frozen, expired or cancelled ones may repeat.
    "CREATE UNIQUE INDEX card_one_active_per_template ON card (template, member) "
    "WHERE status = 'active'",
    "CREATE UNIQUE INDEX card_ledger_card_seq ON card_ledger (card, seq)",
    "CREATE INDEX card_ledger_redemption ON card_ledger (redemption_id)",
    "CREATE INDEX redemption_store_created ON redemption (store, created_at)",
)
_DOWN = tuple(f"DROP INDEX {name}" for name in (
    "card_one_active_per_template", "card_ledger_card_seq", "card_ledger_redemption",
    "redemption_store_created"))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
