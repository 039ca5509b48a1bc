"""Campaign usage rules beyond dates (issue 17): the days of the week (``weekdays``, a
JSON list of 0 = Monday .. 6 = Sunday, NULL for every day) and the hours of the day
(``time_from`` / ``time_until``, "HH:MM" in the redeeming store's zone, both NULL for all
day). Existing campaigns keep NULL: usable every day, all day, as before.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T16:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "campaign weekdays and hours"


def _params(**more: object) -> dict[str, object]:
    return {"default": None, "null": True, "primary_key": False, "unique": False,
            "index": False, "index_method": IndexMethod.btree, "choices": None,
            "db_column_name": None, "secret": False, **more}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Campaign", tablename="campaign", column_name="weekdays",
        db_column_name="weekdays", column_class_name="JSON", column_class=JSON,
        params=_params(), schema=None)
    for name in ("time_from", "time_until"):
        manager.add_column(
            table_class_name="Campaign", tablename="campaign", column_name=name,
            db_column_name=name, column_class_name="Varchar", column_class=Varchar,
            params=_params(length=5), schema=None)
    return manager
