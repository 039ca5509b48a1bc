"""Token revocation (app.core.revocation): a version per subject that ends all its tokens
at once, and the ids of single tokens ended by a logout until they expire."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, BigInt, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T11:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "token revocation"


def _params(**given: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"null": False, "primary_key": False, "unique": False,
                              "index": False, "index_method": IndexMethod.btree,
                              "choices": None, "db_column_name": None, "secret": False}
    params.update(given)
    return params


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="TokenVersion", tablename="core_token_version")
    manager.add_table(class_name="RevokedToken", tablename="core_revoked_token")
    columns = (
        ("TokenVersion", "core_token_version", "subject", UUID,
         _params(default=UUID4(), primary_key=True)),
        ("TokenVersion", "core_token_version", "version", Integer, _params(default=0)),
        ("TokenVersion", "core_token_version", "kept_jti", Varchar,
         _params(default=None, null=True, length=64)),
        ("TokenVersion", "core_token_version", "updated_at", Timestamptz,
         _params(default=TimestamptzNow())),
        ("RevokedToken", "core_revoked_token", "jti", Varchar,
         _params(default="", primary_key=True, length=64)),
        ("RevokedToken", "core_revoked_token", "subject", UUID, _params(default=UUID4())),
        ("RevokedToken", "core_revoked_token", "expires_at", BigInt, _params(default=0)),
    )
    for class_name, tablename, name, column_class, params in columns:
        manager.add_column(table_class_name=class_name, tablename=tablename,
                           column_name=name, db_column_name=name,
                           column_class_name=column_class.__name__, column_class=column_class,
                           params=params, schema=None)
    return manager
