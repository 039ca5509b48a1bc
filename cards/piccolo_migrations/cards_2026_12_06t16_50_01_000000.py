"""A member's last visit (issue 17: the operator's member search and its ``last_visit_at``)
is their latest redemption not reversed: an index per member, newest last."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T16:50:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "redemptions by member"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl("CREATE INDEX redemption_member_created ON redemption "
                            "(member_id, created_at) WHERE reversed_at IS NULL"))
    manager.add_raw_backwards(raw_ddl("DROP INDEX redemption_member_created"))
    return manager
