"""Gifts of vouchers (issue 20)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T01:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "gifts"

_COMMON = {"index": False, "index_method": IndexMethod.btree, "choices": None,
           "db_column_name": None, "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="gifts", description=DESCRIPTION)
    manager.add_table(class_name="Gift", tablename="gift", schema=None, columns=None)
    uuid_ = {"default": UUID4(), "null": False, "primary_key": False, "unique": False}
    nullable_uuid = {"default": None, "null": True, "primary_key": False, "unique": False}
    columns = (
        ("id", "UUID", UUID, {**uuid_, "primary_key": True}),
        ("chain", "UUID", UUID, uuid_),
        ("voucher", "UUID", UUID, uuid_),
        ("giver", "UUID", UUID, uuid_),
        ("token_hash", "Varchar", Varchar,
         {"length": 64, "default": "", "null": False, "primary_key": False, "unique": True}),
        ("status", "Varchar", Varchar,
         {"length": 16, "default": "pending", "null": False, "primary_key": False,
          "unique": False}),
        ("expires_at", "Timestamptz", Timestamptz,
         {"default": TimestamptzNow(), "null": False, "primary_key": False, "unique": False}),
        ("accepted_by", "UUID", UUID, nullable_uuid),
        ("ended_at", "Timestamptz", Timestamptz,
         {"default": None, "null": True, "primary_key": False, "unique": False}),
        ("created_at", "Timestamptz", Timestamptz,
         {"default": TimestamptzNow(), "null": False, "primary_key": False, "unique": False}),
    )
    for name, class_name, column_class, params in columns:
        manager.add_column(
            table_class_name="Gift", tablename="gift", column_name=name, db_column_name=name,
            column_class_name=class_name, column_class=column_class,
            params={**params, **_COMMON}, schema=None)
    return manager
