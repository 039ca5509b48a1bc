"""Card short codes (issue 17, decision 038): the 12 digits beside a card's dynamic QR,
one row per dynamic code, naming the code they stand for."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T16:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "card short codes"

_COMMON = {"unique": False, "index_method": IndexMethod.btree, "choices": None,
           "db_column_name": None, "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_table(class_name="CardShortCode", tablename="card_short_code", schema=None,
                      columns=None)
    columns = (
        ("short_code", "Varchar", Varchar,
         {"length": 12, "default": "", "null": False, "primary_key": True, "index": False}),
        ("chain", "UUID", UUID,
         {"default": UUID4(), "null": False, "primary_key": False, "index": False}),
        ("card", "UUID", UUID,
         {"default": UUID4(), "null": False, "primary_key": False, "index": False}),
        ("code", "Varchar", Varchar,
         {"length": 512, "default": "", "null": False, "primary_key": False, "index": False}),
        ("expires_at", "Timestamptz", Timestamptz,
         {"default": TimestamptzNow(), "null": False, "primary_key": False, "index": True}),
    )
    for name, class_name, column_class, params in columns:
        manager.add_column(
            table_class_name="CardShortCode", tablename="card_short_code", column_name=name,
            db_column_name=name, column_class_name=class_name, column_class=column_class,
            params={**params, **_COMMON}, schema=None)
    return manager
