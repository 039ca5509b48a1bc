"""At most one run per (automation, member, occurrence): the unique index is what keeps
two processes sweeping at once from issuing twice (``INSERT … ON CONFLICT DO NOTHING``).
The run log reads an automation's runs newest first; the welcome sweep reads a chain's
cards by creation time."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T01:37:12:000000"
VERSION = "1.38.0"
DESCRIPTION = "automation run indexes"

_UP = (
    "CREATE UNIQUE INDEX automation_run_once ON automation_run "
    "(automation, member, occurrence)",
    "CREATE INDEX automation_run_log ON automation_run (automation, created_at)",
    "CREATE INDEX marketing_card_chain_created ON card (chain, created_at)",
)
_DOWN = (
    "DROP INDEX marketing_card_chain_created",
    "DROP INDEX automation_run_log",
    "DROP INDEX automation_run_once",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="marketing_automations",
                               description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
