"""A Piccolo SQLite engine that keeps its connections and runs write transactions whole.

Piccolo's own SQLite engine opens a new aiosqlite connection (a new thread and a file
open) for every transaction and for every query outside one, and runs an extra
``PRAGMA foreign_keys`` before every query in a transaction: each a thread round trip.
Behind the per-process write lock that was the cost that mattered, because every await
inside a write transaction handed the loop to other requests while the lock was held:
a redemption held it across about a dozen loop turns (measured: 77 redemptions/s, p50
830 ms, at 64 in flight).

This engine keeps, per process:

- one **writer** connection, used only under the engine's write lock. A write
  transaction's statements run synchronously on the event loop: they take tens of
  microseconds each on a local file, and the transaction never yields while it holds
  the lock, so the next writer does not wait for other requests' work. Only the waits
  go to the connection's own thread: ``BEGIN IMMEDIATE`` when another process holds
  SQLite's write lock (tried first without waiting), and ``COMMIT`` when it fsyncs
  (``synchronous="full"``; the default ``"normal"`` is WAL's usual setting: no fsync
  per commit, a killed process loses nothing, a power cut may lose the last commits).
- a few **reader** connections, each on its own thread, for Piccolo's ``SELECT``s
  outside a transaction (WAL: readers never wait for the writer, and a long read never
  blocks the loop), and one **inline** reader for the hot point reads written as
  ``app.core.db.Sql`` (microseconds: a thread round trip would cost more).

Anything else outside a transaction (a ``PRAGMA``, a stray autocommit write) runs on the
writer's thread under the write lock. Semantics are SQLite's own: ``BEGIN IMMEDIATE``
transactions, WAL, foreign keys on, a 30 s busy timeout for other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import Any, TypeVar

from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

T = TypeVar("T")
log = logging.getLogger("o2o.db")
READERS = 3
# The writer never checkpoints as it commits (SQLite's default every 1000 WAL pages,
# which copies pages into the database file and, synchronous=NORMAL, fsyncs it: a stall
# of the event loop in the middle of a request). A thread of its own checkpoints instead,
# every this many commits (PASSIVE: it waits for nobody and nobody waits for it).
CHECKPOINT_EVERY = 300
SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}


class _Connection:
    """A sqlite3 connection with a thread of its own for the calls that may wait."""

    def __init__(self, connection_kwargs: dict[str, Any], name: str,
                 synchronous: str) -> None:
        self.raw = sqlite3.connect(**connection_kwargs, check_same_thread=False)
        self.raw.row_factory = dict_factory
        self.raw.execute("PRAGMA foreign_keys = 1")
        self.raw.execute(f"PRAGMA synchronous = {SYNCHRONOUS[synchronous]}")
        self.busy_ms = int(float(connection_kwargs.get("timeout", 5.0)) * 1000)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.raw.execute(sql, args)
        try:
            rows: list[dict[str, Any]] = cursor.fetchall()
            return rows
        finally:
            cursor.close()

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` on this connection's thread. Cancelled, it still waits for ``fn`` to
        finish before raising: nobody may touch the connection while the thread does."""
        future = asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    # Piccolo's Savepoint calls ``transaction.connection.execute(sql)``.
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.query(sql, args)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.raw.close()


class FastSQLiteTransaction(SQLiteTransaction):
    """A transaction on the engine's writer connection, holding its write lock."""

    engine: FastSQLiteEngine

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        lock = self.engine.write_lock()
        await lock.acquire()
        try:
            self.connection = self.engine.writer()
            await self.begin()
        except BaseException:
            conn = getattr(self, "connection", None)
            if conn is not None and conn.raw.in_transaction:  # begun, then cancelled
                self.connection.raw.execute("ROLLBACK")
            lock.release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def begin(self) -> None:
        conn: _Connection = self.connection
        statement = f"BEGIN {self.transaction_type.value}"
        conn.raw.execute("PRAGMA busy_timeout = 0")
        try:
            conn.raw.execute(statement)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            # Another process writes: wait for it (busy timeout) off the event loop.
            conn.raw.execute(f"PRAGMA busy_timeout = {conn.busy_ms}")
            await conn.in_thread(conn.raw.execute, statement)
        finally:
            conn.raw.execute(f"PRAGMA busy_timeout = {conn.busy_ms}")

    async def commit(self) -> None:
        conn: _Connection = self.connection
        if self.engine.synchronous == "full":
            await conn.in_thread(conn.raw.execute, "COMMIT")  # its fsync: off the loop
        else:
            conn.raw.execute("COMMIT")  # WAL, synchronous=NORMAL: no fsync, microseconds
        self._committed = True
        self.engine.committed()

    async def rollback(self) -> None:
        self.connection.raw.execute("ROLLBACK")
        self._rolled_back = True

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                try:
                    await self.commit()
                except BaseException:
                    # A failed (or cancelled) COMMIT must not leave the writer inside
                    # the transaction for the next one.
                    if self.connection.raw.in_transaction:
                        self.connection.raw.execute("ROLLBACK")
                    raise
        finally:
            self.engine.current_transaction.reset(self.context)
            self.engine.write_lock().release()
        return exception is None


class FastSQLiteEngine(SQLiteEngine):
    """See the module's docstring."""

    def __init__(self, path: str, synchronous: str = "normal",
                 **connection_kwargs: Any) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
        super().__init__(path=path, **connection_kwargs)
        self.synchronous = synchronous
        self._writer: _Connection | None = None
        self._checkpointer: _Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._commits = 0
        self._inline: _Connection | None = None
        self._readers: list[_Connection] = []
        self._next_reader = count()
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    # --- connections --------------------------------------------------------------------

    def write_lock(self) -> asyncio.Lock:
        # One lock per event loop: tests run several loops in one process.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def writer(self) -> _Connection:
        if self._writer is None:
            self._writer = _Connection(self.connection_kwargs, "o2o-sqlite-writer",
                                       self.synchronous)
            self._writer.raw.execute("PRAGMA wal_autocheckpoint = 0")
        return self._writer

    def committed(self) -> None:
        """Count a commit; every CHECKPOINT_EVERY, checkpoint the WAL on another thread."""
        self._commits += 1
        if self._commits < CHECKPOINT_EVERY or self._checkpointing is not None:
            return
        self._commits = 0
        if self._checkpointer is None:
            self._checkpointer = _Connection(self.connection_kwargs, "o2o-sqlite-checkpoint",
                                             self.synchronous)
        self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            assert self._checkpointer is not None
            await self._checkpointer.in_thread(self._checkpointer.query,
                                               "PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # the next one will try again
            log.exception("SQLite WAL checkpoint failed")
        finally:
            self._checkpointing = None

    def inline_reader(self) -> _Connection:
        """A connection used only synchronously from the event loop, for short reads."""
        if self._inline is None:
            self._inline = _Connection(self.connection_kwargs, "o2o-sqlite-inline",
                                       self.synchronous)
        return self._inline

    def reader(self) -> _Connection:
        if len(self._readers) < READERS:
            self._readers.append(_Connection(self.connection_kwargs, "o2o-sqlite-reader",
                                             self.synchronous))
            return self._readers[-1]
        return self._readers[next(self._next_reader) % READERS]

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        async with self.write_lock():
            connections = [c for c in (self._writer, self._inline, self._checkpointer,
                                       *self._readers) if c is not None]
            self._writer, self._inline, self._checkpointer, self._readers = (
                None, None, None, [])
        if connections:  # leave the WAL small for the next start or another process
            with contextlib.suppress(sqlite3.Error):
                await connections[0].in_thread(connections[0].query,
                                               "PRAGMA wal_checkpoint(PASSIVE)")
        for conn in connections:
            await asyncio.to_thread(conn.close)

    # --- Piccolo's hooks ----------------------------------------------------------------

    def transaction(self, transaction_type: TransactionType = TransactionType.deferred,
                    allow_nested: bool = True) -> FastSQLiteTransaction:
        return FastSQLiteTransaction(engine=self, transaction_type=transaction_type,
                                     allow_nested=allow_nested)

    async def _run_in_existing_connection(self, connection: Any, query: str,
                                          args: list[Any] | None = None,
                                          query_type: str = "generic",
                                          table: Any = None) -> Any:
        return connection.query(query, args or ())

    async def _run_in_new_connection(self, query: str, args: list[Any] | None = None,
                                     query_type: str = "generic", table: Any = None) -> Any:
        if query.lstrip()[:6].upper() == "SELECT":
            reader = self.reader()
            return await reader.in_thread(reader.query, query, args or ())
        async with self.write_lock():
            writer = self.writer()
            return await writer.in_thread(writer.query, query, args or ())

    async def fetch(self, query: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        """A hot statement (``app.core.db.Sql``): in the current transaction; a short
        ``SELECT`` outside one runs inline (no thread round trip); anything else as
        :meth:`_run_in_new_connection` does."""
        transaction = self.current_transaction.get()
        if transaction is not None:
            rows: list[dict[str, Any]] = transaction.connection.query(query, args)
            return rows
        if query.lstrip()[:6].upper() == "SELECT":
            return self.inline_reader().query(query, args)
        result: list[dict[str, Any]] = await self._run_in_new_connection(query, list(args))
        return result

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False) -> Any:
        query, args = querystring.compile_string(engine_type=self.engine_type)
        transaction = self.current_transaction.get()
        if transaction is not None:
            return transaction.connection.query(query, args)
        return await self._run_in_new_connection(query, args)
