"""Campaigns whose vouchers members may give to another member (issue 20, gifting):
``giftable``, false for every existing campaign."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T01:40:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "giftable campaigns"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Campaign", tablename="campaign", column_name="giftable",
        db_column_name="giftable", column_class_name="Boolean", column_class=Boolean,
        params={"default": False, "null": False, "primary_key": False, "unique": False,
                "index": False, "index_method": IndexMethod.btree, "choices": None,
                "db_column_name": None, "secret": False}, schema=None)
    return manager
