"""Every query of the event feed: the change's insert, the sequencer's numbering, the
feed's reads and the retention purge."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

import msgspec

from app.core.db import Sql, current_engine, is_sqlite, json_column
from app.core.events.rows import EventRow
from app.core.tables import Event, EventCounter

# --- the write path: one insert, nothing shared --------------------------------------

_INSERT_INTO = ("INSERT INTO core_event (id, chain_id, type, store_id, object_id, data, "
                "created_at) ")
_INSERT_VALUES = "{}, {}, {}, {}, {}, {}, {}"
# In every change's transaction (a redemption's among them): no query building.
_INSERT = Sql(_INSERT_INTO + f"VALUES ({_INSERT_VALUES})")


def insert_after(source: str) -> str:
    """The event insert as a step of a larger statement: it inserts only if the CTE
    ``source`` returned a row (a spend that won). Its ``{}`` take :func:`insert_args`."""
    # ``source`` is a CTE name written in code, never input.
    return _INSERT_INTO + f"SELECT {_INSERT_VALUES} FROM {source}"  # noqa: S608


def insert_args(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The arguments of the insert (either form) for a row of ``events.event``."""
    return (values["id"], values["chain_id"], values["type"], values["store_id"],
            values["object_id"], msgspec.json.encode(values["data"]).decode(),
            values["created_at"])


async def insert(values: Mapping[str, Any]) -> None:
    await _INSERT.rows(*insert_args(values))


_MANY_AT_ONCE = 500  # 7 values a row: well inside both engines' variable limits


@cache
def _insert_many(count: int) -> Sql:
    return Sql(_INSERT_INTO + "VALUES " + ", ".join(f"({_INSERT_VALUES})" for _ in range(count)))


async def insert_many(rows: Sequence[Mapping[str, Any]]) -> None:
    """Many events in as few statements as possible (an import, a batch of vouchers), in
    the caller's transaction, in the order given (their insert order)."""
    for first in range(0, len(rows), _MANY_AT_ONCE):
        chunk = rows[first:first + _MANY_AT_ONCE]
        await _insert_many(len(chunk)).rows(*(a for row in chunk for a in insert_args(row)))


# --- the sequencer ----------------------------------------------------------------------

# From the partial index core_event_pending: empty when all is numbered.
_PENDING_CHAINS = Sql("SELECT DISTINCT chain_id FROM core_event WHERE sequence IS NULL "
                      "LIMIT {}")
_CHAIN_PENDING = Sql("SELECT 1 AS pending FROM core_event WHERE chain_id = {} "
                     "AND sequence IS NULL LIMIT 1")
_PG_LOCK = Sql("SELECT last_sequence FROM core_event_counter WHERE chain_id = {} FOR UPDATE")
_PG_TRY_LOCK = Sql("SELECT last_sequence FROM core_event_counter WHERE chain_id = {} "
                   "FOR UPDATE SKIP LOCKED")
_SQLITE_LOCK = Sql("SELECT last_sequence FROM core_event_counter WHERE chain_id = {}")
_NEW_COUNTER = Sql("INSERT INTO core_event_counter (chain_id, last_sequence, updated_at) "
                   "VALUES ({}, 0, {}) ON CONFLICT (chain_id) DO NOTHING")
# The next ``limit`` unnumbered rows of a chain in insert order, numbered last+1, last+2...
# Its own statement, after the counter's lock is held: on PostgreSQL (READ COMMITTED) it
# sees every numbering committed before the lock was granted, so no row is numbered twice
# (and ``sequence IS NULL`` re-checks it; the unique index would refuse a second number).
_NUMBER = Sql(
    "UPDATE core_event SET sequence = {} + b.n "
    "FROM (SELECT p.id, row_number() OVER (ORDER BY p.position) AS n "
    "FROM (SELECT id, position FROM core_event WHERE chain_id = {} AND sequence IS NULL "
    "ORDER BY position LIMIT {}) p) b "
    "WHERE core_event.id = b.id AND core_event.sequence IS NULL RETURNING sequence")
_SET_COUNTER = Sql("UPDATE core_event_counter SET last_sequence = {}, updated_at = {} "
                   "WHERE chain_id = {}")


async def pending_chains(limit: int) -> list[Any]:
    """Chains with committed events not numbered yet (a cheap read of the partial index)."""
    return [r["chain_id"] for r in await _PENDING_CHAINS.rows(limit)]


async def chain_pending(chain_id: Any) -> bool:
    """Has the chain a committed event not numbered yet? (None seen: everything committed
    so far is numbered, and those numbers are committed: a row being numbered by a
    sequencer still in flight reads as unnumbered.)"""
    return await _CHAIN_PENDING.first(chain_id) is not None


async def lock_counter(chain_id: Any, now: Any, *, wait: bool) -> int | None:
    """The chain's last sequence, its counter row locked until the caller's transaction
    ends (PostgreSQL ``FOR UPDATE``; SQLite's IMMEDIATE transaction already excludes every
    other writer). ``wait=False``: None when another sequencer holds it (skip the turn)."""
    lock = _PG_LOCK if wait else _PG_TRY_LOCK
    if is_sqlite(current_engine()):
        lock = _SQLITE_LOCK
    row = await lock.first(chain_id)
    if row is None:
        # First numbering of the chain (or, without waiting, locked by someone else):
        # make sure the row exists, then take it. DO NOTHING does not wait for a lock
        # on a committed row.
        await _NEW_COUNTER.rows(chain_id, now)
        row = await lock.first(chain_id)
        if row is None:
            return None
    return int(row["last_sequence"])


async def number(chain_id: Any, last: int, limit: int) -> int:
    """Number up to ``limit`` pending rows after ``last``; returns how many (the caller
    then sets the counter to ``last`` plus that many)."""
    numbered = sorted(int(r["sequence"]) for r in await _NUMBER.rows(last, chain_id, limit))
    if numbered != list(range(last + 1, last + 1 + len(numbered))):
        # Cannot happen under the counter's lock; refuse to leave a gap if it ever did.
        raise RuntimeError(f"event numbering of chain {chain_id} is not contiguous")
    return len(numbered)


async def set_counter(chain_id: Any, last: int, now: Any) -> None:
    await _SET_COUNTER.rows(last, now, chain_id)


# --- reads ------------------------------------------------------------------------------

def _parsed(rows: list[dict[str, Any]]) -> list[EventRow]:
    for row in rows:
        row["data"] = json_column(row["data"])
        row["sequence"] = int(row["sequence"])
    return cast("list[EventRow]", rows)


async def numbered(chain_id: uuid.UUID, after: int, limit: int,
                   types: Sequence[str] | None = None,
                   store_ids: Collection[uuid.UUID] | None = None) -> list[EventRow]:
    """Numbered events of a chain after ``after``, ascending ``sequence``: of ``types``
    only (None: all), and of ``store_ids`` only (None: all; a store-less event, such as a
    member joining through WeChat or a card frozen by an operator, is not a store's)."""
    where = (Event.chain_id == chain_id) & (Event.sequence > after)
    if types is not None:
        where &= Event.type.is_in(list(types))
    if store_ids is not None:
        if not store_ids:
            return []
        where &= Event.store_id.is_in(list(store_ids))
    rows = await Event.select(
        Event.id, Event.chain_id, Event.sequence, Event.type, Event.store_id,
        Event.object_id, Event.data, Event.created_at,
    ).where(where).order_by(Event.sequence).limit(limit).run()
    return _parsed(rows)


async def heads() -> dict[uuid.UUID, int]:
    """Every chain's last sequence handed out."""
    return {r["chain_id"]: int(r["last_sequence"]) for r in await EventCounter.select(
        EventCounter.chain_id, EventCounter.last_sequence).run()}


# --- retention --------------------------------------------------------------------------

PURGE_BATCH = 1000
# A chain's oldest numbered rows (from the unique index, oldest first); those written
# before the cutoff go. Numbers follow commits, so created_at grows with sequence but
# for the few rows in flight together: a young row among the first stops nothing, it is
# only kept (longer than needed is fine; shorter never happens).
_PURGE = Sql(
    "DELETE FROM core_event WHERE id IN (SELECT o.id FROM (SELECT id, created_at "
    "FROM core_event WHERE chain_id = {} AND sequence IS NOT NULL ORDER BY sequence "
    "LIMIT {}) o WHERE o.created_at < {}) RETURNING sequence")


async def purge_chain(chain_id: uuid.UUID, before: datetime) -> int:
    """Delete one batch of the chain's numbered events written before ``before``;
    returns how many (the caller repeats while a whole batch went)."""
    return len(await _PURGE.rows(chain_id, PURGE_BATCH, before))
