"""API keys (app.core.apikeys): machine credentials of a chain, stored as a keyed hash
(unique: the lookup of every key's first request), with scopes and an optional store
list."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, UUID, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T19:18:41:000000"
VERSION = "1.38.0"
DESCRIPTION = "api keys"


def _params(**given: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"null": False, "primary_key": False, "unique": False,
                              "index": False, "index_method": IndexMethod.btree,
                              "choices": None, "db_column_name": None, "secret": False}
    params.update(given)
    return params


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="ApiKey", tablename="core_api_key")
    columns = (
        ("id", UUID, _params(default=UUID4(), primary_key=True)),
        ("chain_id", UUID, _params(default=UUID4(), index=True)),
        ("name", Varchar, _params(default="", length=100)),
        ("prefix", Varchar, _params(default="", length=12)),
        ("key_hash", Varchar, _params(default="", length=64, unique=True)),
        ("scopes", JSON, _params(default="[]")),
        ("store_ids", JSON, _params(default=None, null=True)),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("created_by", UUID, _params(default=None, null=True)),
        ("revoked_at", Timestamptz, _params(default=None, null=True)),
        ("last_used_at", Timestamptz, _params(default=None, null=True)),
    )
    for name, column_class, params in columns:
        manager.add_column(table_class_name="ApiKey", tablename="core_api_key",
                           column_name=name, db_column_name=name,
                           column_class_name=column_class.__name__, column_class=column_class,
                           params=params, schema=None)
    return manager
