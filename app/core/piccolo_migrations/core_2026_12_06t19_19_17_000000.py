"""Webhook deliveries' indexes (raw: both engines; after the migration making the table).

- unique (endpoint_id, event_id): the fan-out inserts with ON CONFLICT DO NOTHING, so a
  fan-out repeated by another process adds nothing;
- the claim: pending rows by due time;
- per-object order: the pending rows of one endpoint and object, by sequence (the claim's
  NOT EXISTS looks for an earlier one);
- the operator's log: one endpoint's rows, newest first.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T19:19:17:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook delivery indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(raw_ddl(
        "CREATE UNIQUE INDEX core_webhook_delivery_event ON core_webhook_delivery "
        "(endpoint_id, event_id)",
        "CREATE INDEX core_webhook_delivery_due ON core_webhook_delivery "
        "(next_attempt_at) WHERE status = 'pending'",
        "CREATE INDEX core_webhook_delivery_object ON core_webhook_delivery "
        "(endpoint_id, object_key, sequence) WHERE status = 'pending'",
        "CREATE INDEX core_webhook_delivery_log ON core_webhook_delivery "
        "(endpoint_id, created_at, sequence)",
    ))
    manager.add_raw_backwards(raw_ddl(
        "DROP INDEX core_webhook_delivery_log",
        "DROP INDEX core_webhook_delivery_object",
        "DROP INDEX core_webhook_delivery_due",
        "DROP INDEX core_webhook_delivery_event",
    ))
    return manager
