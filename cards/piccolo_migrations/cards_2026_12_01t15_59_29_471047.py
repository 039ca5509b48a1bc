"""Redemptions had two indexes led by store: (store) and (store, created_at). The longer
one serves every lookup of the shorter, so the shorter only cost each insert a write.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-12-01T15:59:29:471047"
VERSION = "1.38.0"
DESCRIPTION = "drop duplicate redemption store index"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="cards", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Redemption",
        tablename="redemption",
        column_name="store",
        db_column_name="store",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
