"""External ids (issue 18): the id a chain's own POS/ERP/CRM knows a member, a store or a
service by. A service gains its chain too (it had only its store), so that its external
id can be unique per chain like the other two. The data and the unique indexes follow in
the next migration: Piccolo runs a migration's raw steps before its column steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, ForeignKey, Varchar
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-06T19:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "external ids"


class Chain(Table, tablename="chain", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True, unique=False, index=False,
              index_method=IndexMethod.btree, choices=None, db_column_name=None,
              secret=False)


def _external_id(manager: MigrationManager, class_name: str, tablename: str) -> None:
    manager.add_column(
        table_class_name=class_name,
        tablename=tablename,
        column_name="external_id",
        db_column_name="external_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": True,
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


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    for class_name, tablename in (("Member", "member"), ("Store", "store"),
                                  ("Service", "service")):
        _external_id(manager, class_name, tablename)
    # Nullable in the schema (SQLite cannot add a NOT NULL reference to filled rows); the
    # next migration fills it and the one insert path (stores.repository) always sets it.
    manager.add_column(
        table_class_name="Service",
        tablename="service",
        column_name="chain",
        db_column_name="chain",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Chain,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
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
