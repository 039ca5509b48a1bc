"""Composite unique indexes of the stores domain (raw: portable to SQLite)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T00:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique indexes"

_UP = (
    "CREATE UNIQUE INDEX staff_store_staff_store ON staff_store (staff, store)",
    "CREATE UNIQUE INDEX resource_service_pair ON resource_service (resource, service)",
    # NULLs are distinct on both engines: members without openid or phone never collide.
    "CREATE UNIQUE INDEX member_chain_openid ON member (chain, openid)",
    "CREATE UNIQUE INDEX member_chain_phone ON member (chain, phone)",
)
_DOWN = tuple(
    f"DROP INDEX {name}" for name in (
        "staff_store_staff_store", "resource_service_pair", "member_chain_openid",
        "member_chain_phone",
    )
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
