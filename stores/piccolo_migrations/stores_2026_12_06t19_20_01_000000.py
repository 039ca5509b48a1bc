"""External ids are unique per chain and kind. NULLs never collide (on both engines), so
members, stores and services without one are unaffected. Every existing service takes its
store's chain first."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T19:20:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "external id indexes"

_UP = (
    "UPDATE service SET chain = (SELECT store.chain FROM store WHERE store.id = service.store)",
    "CREATE UNIQUE INDEX member_chain_external_id ON member (chain, external_id)",
    "CREATE UNIQUE INDEX store_chain_external_id ON store (chain, external_id)",
    "CREATE UNIQUE INDEX service_chain_external_id ON service (chain, external_id)",
)
_DOWN = (
    "DROP INDEX service_chain_external_id",
    "DROP INDEX store_chain_external_id",
    "DROP INDEX member_chain_external_id",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
