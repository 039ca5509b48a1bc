"""An anomaly is recorded once per (kind, out_trade_no, transaction_id): a repeated notice
or a bill read twice adds nothing (``INSERT … ON CONFLICT DO NOTHING``). A member's and a
card's orders are listed newest first."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T22:32:20:000000"
VERSION = "1.38.0"
DESCRIPTION = "pay anomaly unique"

_UP = (
    "CREATE UNIQUE INDEX pay_anomaly_once ON pay_anomaly (kind, out_trade_no, transaction_id)",
    "CREATE INDEX top_up_order_chain_created ON top_up_order (chain, created_at)",
)
_DOWN = (
    "DROP INDEX top_up_order_chain_created",
    "DROP INDEX pay_anomaly_once",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
