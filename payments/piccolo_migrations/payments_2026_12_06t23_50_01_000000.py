"""Orders placed before orders remembered their merchant were placed with the chain's
config of the time, which is its current one (configs were replaced in place): live
orders take its mchid, appid and platform key id. Anomalies are listed newest first per
chain (``GET /pay-anomalies``)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T23:50:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "order merchant backfill"

_UP = (
    "UPDATE top_up_order SET "
    "mchid = (SELECT c.mchid FROM pay_config c WHERE c.chain = top_up_order.chain), "
    "appid = (SELECT c.appid FROM pay_config c WHERE c.chain = top_up_order.chain), "
    "platform_public_key_id = (SELECT c.platform_public_key_id FROM pay_config c "
    "WHERE c.chain = top_up_order.chain) "
    "WHERE sandbox = false AND EXISTS "
    "(SELECT 1 FROM pay_config c WHERE c.chain = top_up_order.chain)",
    "CREATE INDEX pay_anomaly_chain_created ON pay_anomaly (chain, created_at)",
)
_DOWN = (
    "DROP INDEX pay_anomaly_chain_created",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
