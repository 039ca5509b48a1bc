"""The poller's due queries served by partial indexes (review i19, F12).

Every poller round (each server process and the worker, every few seconds) asks for the
pending orders and open refunds that are due. Ended rows are nearly all of each table and
never due, so the indexes hold only the rows the poller can want: ``top_up_order`` where
``status = 'pending'`` (by ``next_query_at``, and by ``expires_at`` for the stale ones),
``top_up_refund`` where the refund is open (``pending``, ``processing``, ``abnormal``).
A pending order always has ``next_query_at`` from now on (the queries no longer say
``IS NULL OR``): the pending rows that have none (sandbox orders placed before) get their
expiry. Partial indexes are the same SQL on PostgreSQL and SQLite (3.8+).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T23:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "poller partial indexes"

_UP = (
    "UPDATE top_up_order SET next_query_at = expires_at "
    "WHERE status = 'pending' AND next_query_at IS NULL",
    "UPDATE top_up_refund SET next_query_at = created_at "
    "WHERE status IN ('pending', 'processing') AND next_query_at IS NULL",
    "CREATE INDEX top_up_order_pending_next ON top_up_order (next_query_at) "
    "WHERE status = 'pending'",
    "CREATE INDEX top_up_order_pending_expiry ON top_up_order (expires_at) "
    "WHERE status = 'pending'",
    "CREATE INDEX top_up_refund_open_next ON top_up_refund (next_query_at) "
    "WHERE status IN ('pending', 'processing', 'abnormal')",
)
_DOWN = (
    "DROP INDEX top_up_refund_open_next",
    "DROP INDEX top_up_order_pending_expiry",
    "DROP INDEX top_up_order_pending_next",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
