"""The event feed (issue 18): ``core_event`` and ``core_event_counter``.

Raw DDL on each engine, because of the insert-order column ``position`` that the table
class does not declare (a change never writes it; the database gives it): PostgreSQL an
identity column, SQLite the rowid (INTEGER PRIMARY KEY AUTOINCREMENT, so a number is
never reused after the retention purge). ``id`` is the event's key on both engines (the
primary key on PostgreSQL, unique on SQLite, where the rowid is the table's key).

Indexes: unique (chain_id, sequence): the feed reads in sequence order and no number
is ever given twice; (chain_id, position) WHERE sequence IS NULL: what the sequencer has
left to number, empty most of the time, so "anything pending?" costs nothing.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T19:21:42:042000"
VERSION = "1.38.0"
DESCRIPTION = "event feed"

_PG = (
    "CREATE TABLE core_event (id uuid PRIMARY KEY, chain_id uuid NOT NULL, "
    "sequence bigint, type varchar(40) NOT NULL, store_id uuid, object_id uuid NOT NULL, "
    "data json NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now(), "
    "position bigint GENERATED ALWAYS AS IDENTITY)",
    "CREATE TABLE core_event_counter (chain_id uuid PRIMARY KEY, "
    "last_sequence bigint NOT NULL DEFAULT 0, "
    "updated_at timestamptz NOT NULL DEFAULT now())",
)
_SQLITE = (
    # Declared types as Piccolo writes them (UUID, JSON, TIMESTAMPTZ), so its converters
    # read the columns back as the other tables'.
    'CREATE TABLE "core_event" ("position" INTEGER PRIMARY KEY AUTOINCREMENT, '
    '"id" UUID UNIQUE NOT NULL, "chain_id" UUID NOT NULL, "sequence" INTEGER DEFAULT null, '
    '"type" VARCHAR(40) NOT NULL, "store_id" UUID DEFAULT null, "object_id" UUID NOT NULL, '
    "\"data\" JSON NOT NULL DEFAULT '{}', "
    '"created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)',
    'CREATE TABLE "core_event_counter" ("chain_id" UUID PRIMARY KEY NOT NULL, '
    '"last_sequence" INTEGER NOT NULL DEFAULT 0, '
    '"updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)',
)
_INDEXES = (
    "CREATE UNIQUE INDEX core_event_sequence ON core_event (chain_id, sequence)",
    "CREATE INDEX core_event_pending ON core_event (chain_id, position) "
    "WHERE sequence IS NULL",
)
_DOWN = ("DROP TABLE core_event_counter", "DROP TABLE core_event")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_PG, *_INDEXES, engine_type="postgres"))
    manager.add_raw(raw_ddl(*_SQLITE, *_INDEXES, engine_type="sqlite"))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
