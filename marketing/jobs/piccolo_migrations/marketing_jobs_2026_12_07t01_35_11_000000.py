"""A member is an item of a job once, at one position: unique (job, member) and
(job, position), the latter also the index of the worker's next batch."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T01:35:11:000000"
VERSION = "1.38.0"
DESCRIPTION = "job item unique indexes"

_UP = (
    "CREATE UNIQUE INDEX marketing_job_item_job_member ON marketing_job_item (job, member)",
    "CREATE UNIQUE INDEX marketing_job_item_job_position "
    "ON marketing_job_item (job, position)",
    "CREATE INDEX marketing_job_chain_created ON marketing_job (chain, created_at)",
)
_DOWN = (
    "DROP INDEX marketing_job_chain_created",
    "DROP INDEX marketing_job_item_job_position",
    "DROP INDEX marketing_job_item_job_member",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="marketing_jobs",
                               description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
