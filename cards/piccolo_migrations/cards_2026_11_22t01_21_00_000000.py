"""Indexes of campaigns, claims, vouchers and offline redemptions (raw DDL)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T01:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "voucher indexes"

_UP = (
    "CREATE UNIQUE INDEX campaign_claims_pair ON campaign_claims (campaign, member)",
    # An offline item is accepted once, however often its batch is replayed.
    "CREATE UNIQUE INDEX redemption_chain_client_ref ON redemption (chain, client_ref)",
    "CREATE INDEX voucher_campaign_member ON voucher (campaign, member)",
)
_DOWN = tuple(f"DROP INDEX {name}" for name in (
    "campaign_claims_pair", "redemption_chain_client_ref", "voucher_campaign_member"))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
