"""Engines, table binding, write transactions and integrity-error mapping.

Every write path runs inside :func:`write_transaction`, opened by the service (or the
idempotent write path, ``app.core.idempotency.once``), never by a repository. On SQLite
that is ``BEGIN IMMEDIATE`` behind one asyncio lock per process (writers queue in the
event loop instead of spinning in SQLite's busy handler), in WAL mode with a busy timeout
for other processes. On PostgreSQL it is an ordinary transaction; races are won by
conditional updates and row locks in the repositories. A write its repository makes one
statement on PostgreSQL runs in :func:`atomic_statement` instead: no transaction there.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

from app.core.sqlite_engine import FastSQLiteEngine

AnyEngine = Engine[Any]
SQLITE_BUSY_TIMEOUT_S = 30.0

_sqlite_write_lock: asyncio.Lock | None = None
_sqlite_lock_loop: asyncio.AbstractEventLoop | None = None
_in_write_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "o2o_in_write_transaction", default=False
)
_current_engine: AnyEngine | None = None


def make_engine(database_url: str, *, kept_connections: bool = True,
                sqlite_synchronous: str = "normal") -> AnyEngine:
    """Build the Piccolo engine for a URL from the settings. On SQLite, the engine that
    keeps its connections (app.core.sqlite_engine); ``kept_connections=False`` gives
    Piccolo's own, which its migration commands get."""
    if database_url.startswith("sqlite:///"):
        path = database_url[len("sqlite:///") :]
        # isolation_level=None: Piccolo issues BEGIN itself; timeout is SQLite's busy wait.
        if kept_connections:
            return FastSQLiteEngine(path=path, synchronous=sqlite_synchronous,
                                    timeout=SQLITE_BUSY_TIMEOUT_S)
        return SQLiteEngine(path=path, timeout=SQLITE_BUSY_TIMEOUT_S)
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")
    return PostgresEngine(config={"dsn": database_url})


def is_sqlite(engine: AnyEngine) -> bool:
    return isinstance(engine, SQLiteEngine)


def bind_tables(engine: AnyEngine, tables: Iterable[type[Table]]) -> None:
    """Point every table at one engine (tests switch engines between apps)."""
    global _current_engine
    _current_engine = engine
    for table in tables:
        table._meta.db = engine


def current_engine() -> AnyEngine:
    if _current_engine is None:
        raise RuntimeError("no engine bound: call bind_tables() first")
    return _current_engine


async def prepare_engine(engine: AnyEngine) -> None:
    """Per-process start-up: WAL for SQLite, a connection pool for PostgreSQL."""
    if isinstance(engine, SQLiteEngine):
        # WAL is a property of the file: readers never block the single writer.
        await engine._run_in_new_connection("PRAGMA journal_mode=WAL")
    elif isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=20, reset=_keep_session)


async def _keep_session(_: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL): a round trip on every release, for session state we never create (no
    SET, LISTEN, cursors or advisory locks; PgBouncer's transaction mode forbids them
    anyway). asyncpg still rolls back a transaction left open."""


async def close_engine(engine: AnyEngine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, FastSQLiteEngine):
        await engine.close()


def _sqlite_lock() -> asyncio.Lock:
    # One lock per event loop: tests run several loops in one process.
    global _sqlite_write_lock, _sqlite_lock_loop
    loop = asyncio.get_running_loop()
    if _sqlite_write_lock is None or _sqlite_lock_loop is not loop:
        _sqlite_write_lock = asyncio.Lock()
        _sqlite_lock_loop = loop
    return _sqlite_write_lock


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """Open the write transaction of a service call; a nested call joins the outer one."""
    if _in_write_transaction.get():
        yield
        return
    engine = current_engine()
    token = _in_write_transaction.set(True)
    try:
        if isinstance(engine, FastSQLiteEngine):  # it holds its own write lock
            async with engine.transaction(transaction_type=TransactionType.immediate):
                yield
        elif isinstance(engine, SQLiteEngine):
            async with _sqlite_lock(), engine.transaction(
                transaction_type=TransactionType.immediate
            ):
                yield
        else:
            async with engine.transaction():
                yield
    finally:
        _in_write_transaction.reset(token)


def in_write_transaction() -> bool:
    return _in_write_transaction.get()


@asynccontextmanager
async def atomic_statement() -> AsyncIterator[None]:
    """The fast path of a write its repository makes one statement on PostgreSQL (a
    voucher's spend, a card's move, a claimed second): one statement is atomic alone, so
    it runs with no transaction, saving the BEGIN and COMMIT round trips. On SQLite,
    where the repository writes it as several statements, the write transaction (whose
    lock also queues this process's writers). An open write transaction is joined."""
    if is_sqlite(current_engine()):
        async with write_transaction():
            yield
    else:
        yield


def is_unique_violation(exc: BaseException) -> bool:
    """True for a unique-constraint failure on either engine."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


async def ping(engine: AnyEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        await asyncio.wait_for(engine._run_in_new_connection("SELECT 1")
                               if isinstance(engine, SQLiteEngine)
                               else _pg_ping(engine), timeout=3)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    return True


async def _pg_ping(engine: AnyEngine) -> Any:
    assert isinstance(engine, PostgresEngine)
    if engine.pool is not None:
        async with engine.pool.acquire() as conn:
            return await conn.fetchval("SELECT 1")
    conn = await engine.get_new_connection()
    try:
        return await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def for_update(query: Any) -> Any:
    """``SELECT … FOR UPDATE`` on PostgreSQL. SQLite needs none: its IMMEDIATE write
    transaction (behind the process lock) already serialises every writer."""
    if is_sqlite(current_engine()):
        return query
    return query.lock_rows()


@asynccontextmanager
async def savepoint() -> AsyncIterator[None]:
    """A step that may fail alone: inside a write transaction, a savepoint rolled back on
    error (the rest of the transaction stands); outside one, its own write transaction."""
    if not in_write_transaction():
        async with write_transaction():
            yield
        return
    transaction = current_engine().current_transaction.get()
    assert transaction is not None
    point = await transaction.savepoint()
    try:
        yield
    except BaseException:
        await point.rollback_to()
        raise
    await point.release()


def is_exclusion_violation(exc: BaseException) -> bool:
    """True when a PostgreSQL exclusion constraint refused a row (SQLite has none)."""
    return isinstance(exc, asyncpg.ExclusionViolationError)


class Sql:
    """A hot statement in plain SQL, for the few queries where Piccolo's query building
    costs more than the query itself (measured: building the voucher lookup with its
    join took longer than running it). Repositories only, like every query.

    Written once with ``{}`` placeholders (as Piccolo's ``raw()``), turned into ``$n`` or
    ``?`` once per engine kind. Runs on the current write transaction's connection, else
    on a pooled connection (PostgreSQL) or inline (SQLite, a short ``SELECT``). Rows are
    dicts; values are typed as Piccolo types them (UUIDs, aware datetimes), except JSON
    columns, which come back as text.
    """

    __slots__ = ("_pg", "_sqlite", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts = self.text.split("{}")
        self._pg = "".join(p + (f"${n}" if n < len(parts) else "")
                           for n, p in enumerate(parts, start=1))
        self._sqlite = "?".join(parts)

    async def rows(self, *args: Any) -> list[dict[str, Any]]:
        engine = current_engine()
        if isinstance(engine, FastSQLiteEngine):
            return await engine.fetch(self._sqlite, args)
        if isinstance(engine, PostgresEngine):
            transaction = engine.current_transaction.get()
            if transaction is not None:
                records = await transaction.connection.fetch(self._pg, *args)
            else:
                assert engine.pool is not None, "prepare_engine() starts the pool"
                async with engine.pool.acquire() as conn:
                    records = await conn.fetch(self._pg, *args)
            return [dict(r) for r in records]
        # Piccolo's own SQLite engine (one-shot commands): its usual path.
        transaction = engine.current_transaction.get()
        if transaction is not None:
            result = await engine._run_in_existing_connection(  # type: ignore[attr-defined]
                transaction.connection, self._sqlite, list(args))
        else:
            result = await engine._run_in_new_connection(  # type: ignore[attr-defined]
                self._sqlite, list(args))
        return list(result)

    async def first(self, *args: Any) -> dict[str, Any] | None:
        rows = await self.rows(*args)
        return rows[0] if rows else None


def json_column(value: Any) -> Any:
    """A JSON column read through :class:`Sql`, as Piccolo's ``load_json`` gives it (asyncpg
    hands PostgreSQL's json as text; SQLite's converter may have parsed it already)."""
    return json.loads(value) if isinstance(value, str) else value


def select_list(table: type[Table], alias: str, prefix: str = "") -> str:
    """Every column of ``table`` as ``alias."col" AS "prefix+col"``: a hot ``Sql``
    statement's select list, kept in step with the table class."""
    return ", ".join(f'{alias}."{c._meta.db_column_name}" AS "{prefix}{c._meta.name}"'
                     for c in table._meta.columns)


class InsertRow:
    """``INSERT`` of one row into ``table`` as a hot ``Sql`` statement: every column is
    written; a column left out of the values must be nullable with no default (NULL)."""

    __slots__ = ("_into", "_marks", "_names", "_optional", "_sql")

    def __init__(self, table: type[Table]) -> None:
        columns = table._meta.columns
        self._names = tuple(c._meta.db_column_name for c in columns)
        self._optional = frozenset(c._meta.db_column_name for c in columns
                                   if c._meta.null and c.default is None)
        quoted = ", ".join(f'"{n}"' for n in self._names)
        self._marks = ", ".join("{}" for _ in self._names)
        # Names come from the table class, never from input.
        self._into = f'INSERT INTO "{table._meta.tablename}" ({quoted}) '
        self._sql = Sql(f"{self._into}VALUES ({self._marks})")

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        missing = [n for n in self._names if n not in values and n not in self._optional]
        if missing:
            raise KeyError(f"no value for {missing}")
        return tuple(values.get(n) for n in self._names)

    def after(self, source: str) -> str:
        """The insert as a step of a larger statement: only if the CTE ``source`` returned
        a row. Its ``{}`` take :meth:`args`; PostgreSQL types them by the columns."""
        return f"{self._into}SELECT {self._marks} FROM {source}"  # noqa: S608 - a CTE name

    async def run(self, values: Mapping[str, Any]) -> None:
        await self._sql.rows(*self.args(values))
