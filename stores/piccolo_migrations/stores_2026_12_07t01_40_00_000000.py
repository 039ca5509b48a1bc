"""The chain's time zone (issue 20): members' dates (birthdays, joining, last visits) are
local dates in it, so a birthday automation fires on the member's day where the chain
is. Asia/Shanghai for every chain until an operator changes it (PATCH /chain)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T01:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "chain timezone"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Chain",
        tablename="chain",
        column_name="timezone",
        db_column_name="timezone",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "Asia/Shanghai",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
