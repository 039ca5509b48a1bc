"""The card bag's indexes: bag cards due for a sync (the sender's claim), a chain's bag
cards by template (health counts), the sync log newest first by chain and by template,
taken pushes by receipt time (the purge)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T05:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "card bag indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cardbag", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE INDEX cardbag_card_due ON cardbag_card (due_at) WHERE dirty",
        "CREATE INDEX cardbag_card_template ON cardbag_card (template_id, state)",
        "CREATE INDEX cardbag_card_chain ON cardbag_card (chain_id, state)",
        "CREATE INDEX cardbag_sync_log_chain ON cardbag_sync_log (chain_id, at)",
        "CREATE INDEX cardbag_sync_log_template ON cardbag_sync_log (template_id, at)",
        "CREATE INDEX cardbag_push_received ON cardbag_push (received_at)"))
    manager.add_raw_backwards(raw_ddl(
        "DROP INDEX cardbag_push_received", "DROP INDEX cardbag_sync_log_template",
        "DROP INDEX cardbag_sync_log_chain", "DROP INDEX cardbag_card_chain",
        "DROP INDEX cardbag_card_template", "DROP INDEX cardbag_card_due"))
    return manager
