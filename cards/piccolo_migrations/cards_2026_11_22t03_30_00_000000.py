"""Indexes for the operator stats (app/stats), portable to SQLite: cards by the store
that issued them and (claimed by members, no store) by chain; active cards; top-ups by
store and time; vouchers by chain and time. Redemptions already have (store, created_at).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T03:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats indexes"

_UP = (
    "CREATE INDEX card_issued_store_created ON card (issued_store, created_at)",
    "CREATE INDEX card_chain_created_unattributed ON card (chain, created_at) "
    "WHERE issued_store IS NULL",
    "CREATE INDEX card_active_chain ON card (chain, expires_at) WHERE status = 'active'",
    "CREATE INDEX card_active_store ON card (issued_store, expires_at) "
    "WHERE status = 'active'",
    "CREATE INDEX card_ledger_top_ups ON card_ledger (store_id, created_at) "
    "WHERE kind = 'top_up'",
    "CREATE INDEX voucher_chain_created ON voucher (chain, created_at, campaign)",
)
_DOWN = tuple(f"DROP INDEX {name}" for name in (
    "card_issued_store_created", "card_chain_created_unattributed", "card_active_chain",
    "card_active_store", "card_ledger_top_ups", "voucher_chain_created"))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
