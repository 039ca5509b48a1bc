"""A redemption records the API key that made it (decision 041): a till's POS acting with
a key leaves ``staff`` NULL, and this says which key it was."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T19:40:41:000000"
VERSION = "1.38.0"
DESCRIPTION = "redemption api key"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Redemption", tablename="redemption", column_name="api_key_id",
        db_column_name="api_key_id", column_class_name="UUID", column_class=UUID,
        params={"default": None, "null": True, "primary_key": False, "unique": False,
                "index": False, "index_method": IndexMethod.btree, "choices": None,
                "db_column_name": None, "secret": False},
        schema=None)
    return manager
