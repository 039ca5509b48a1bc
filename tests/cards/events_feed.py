"""The feed's rows as the tests of the emitters read them (tests/cards/test_events_*.py,
tests/bookings/test_events_*.py): every event written, in the order the database took
them (``core_event.position``), numbered or not. Read straight from the table, so a test
sees what a change wrote in its transaction, whatever the sequencer has done since."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.db import Sql, json_column
from tests.hardening import rawdb

_EVENTS = Sql("SELECT id, type, store_id, object_id, data FROM core_event ORDER BY position")


def _uuid(value: Any) -> str | None:
    return None if value is None else str(uuid.UUID(str(value)))


async def written(event_type: str | None = None, object_id: Any = None) -> list[dict[str, Any]]:
    """The events written so far, oldest first, of ``event_type`` and about ``object_id``
    (each when given): ``{"id", "type", "store_id", "object_id", "data"}``, ids as text."""
    out = []
    for row in await _EVENTS.rows():
        event = {"id": _uuid(row["id"]), "type": row["type"], "store_id": _uuid(row["store_id"]),
                 "object_id": _uuid(row["object_id"]), "data": json_column(row["data"])}
        if event_type is not None and event["type"] != event_type:
            continue
        if object_id is not None and event["object_id"] != str(object_id):
            continue
        out.append(event)
    return out


async def one(event_type: str, object_id: Any) -> dict[str, Any]:
    """The one event of ``event_type`` about ``object_id`` (fails on none or several)."""
    found = await written(event_type, object_id)
    assert len(found) == 1, (event_type, object_id, [e["type"] for e in found])
    return found[0]


async def types() -> list[str]:
    """The type of every event written so far, oldest first."""
    return [e["type"] for e in await written()]


REFUSE_EVENTS = {
    "sqlite": ["CREATE TRIGGER refuse_events BEFORE INSERT ON core_event "
               "BEGIN SELECT RAISE(ABORT, 'no feed today'); END"],
    "postgres": ["CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql "
                 "AS $$ BEGIN RAISE EXCEPTION 'no feed today'; END $$",
                 "CREATE TRIGGER refuse_events BEFORE INSERT ON core_event "
                 "FOR EACH ROW EXECUTE FUNCTION refuse_events()"],
}


async def refuse_events(database_url: str, engine_name: str, refuse: bool) -> None:
    """Make every insert into the feed fail (``refuse``), or stop doing so."""
    if refuse:
        for statement in REFUSE_EVENTS[engine_name]:
            await rawdb.fetch(database_url, statement)
    else:
        await rawdb.fetch(database_url, "DROP TRIGGER refuse_events"
                          + (" ON core_event" if engine_name == "postgres" else ""))
