"""The birthday sweep reads a chain's members born on one month and day (once a local
day per automation): an index on (chain, birth month, birth day) answers it without
reading the chain's 100,000 members. PostgreSQL only (SQLite's chains are small; its
query spells the month and day with strftime)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T02:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "member birthday index for the birthday sweep"

# The expressions are the sweep's own (marketing/automations/repository.py _BIRTHDAYS):
# PostgreSQL uses an expression index only for the very same expression.
_UP = ("CREATE INDEX member_chain_birthday ON member (chain, "
       "(CAST(EXTRACT(MONTH FROM birthday) AS INTEGER)), "
       "(CAST(EXTRACT(DAY FROM birthday) AS INTEGER))) WHERE birthday IS NOT NULL",)
_DOWN = ("DROP INDEX member_chain_birthday",)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="marketing_automations",
                               description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN, engine_type="postgres"))
    return manager
