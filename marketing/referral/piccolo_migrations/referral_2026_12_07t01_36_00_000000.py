"""A code is unique within its chain, and the runner's sweep reads the pending invites
oldest first from an index of them alone (partial: both engines have them)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T01:36:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "referral indexes"

_UP = (
    "CREATE UNIQUE INDEX referral_code_chain_code ON referral_code (chain, code)",
    "CREATE INDEX referral_pending ON referral (created_at) WHERE status = 'pending'",
    "CREATE INDEX referral_chain_created ON referral (chain, created_at)",
    "CREATE INDEX referral_chain_decided ON referral (chain, decided_at)",
)
_DOWN = (
    "DROP INDEX referral_chain_decided",
    "DROP INDEX referral_chain_created",
    "DROP INDEX referral_pending",
    "DROP INDEX referral_code_chain_code",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="referral", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
