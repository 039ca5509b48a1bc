"""Indexes of the notification outbox and inbox (raw: a partial index, which both SQLite
and PostgreSQL accept; in its own migration because Piccolo runs raw steps first)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T02:46:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        # The dispatcher's poll: due pending rows, oldest first.
        "CREATE INDEX core_notification_pending_due ON core_notification (due_at) "
        "WHERE status = 'pending'",
        # The operator's delivery log, newest first.
        "CREATE INDEX core_notification_chain_log ON core_notification "
        "(chain_id, created_at)",
        # A member's inbox, newest first.
        "CREATE INDEX core_inbox_message_member_at ON core_inbox_message (member_id, at)",
    ))
    manager.add_raw_backwards(raw_ddl(
        "DROP INDEX core_notification_pending_due",
        "DROP INDEX core_notification_chain_log",
        "DROP INDEX core_inbox_message_member_at",
    ))
    return manager
