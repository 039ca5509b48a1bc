"""Ending tokens before their ``exp``: a version per subject, and a denylist of token ids.

What ends what:
- ``end_tokens_of(subject)`` raises the subject's version: every token issued before it
  (claim ``ver`` below the new version) is refused, except at most one kept token (the
  caller's own, when staff change their own password). Deactivation, a role or store
  change and a password reset use it.
- ``end_token(jti)`` puts one token's id on the denylist until the token's ``exp``
  (logout); the housekeeping task purges the rows of tokens that expired anyway.

A request must not pay a query for this: each process remembers its verdict per token
(``jti``) for ``CHECK_TTL_S`` seconds. Every change is announced so that the remembered
verdicts go at once:
- in the process that made the change, synchronously after its commit (``forget_*``);
- on PostgreSQL, in every other process too: the change's transaction sends a NOTIFY on
  ``CHANNEL`` (delivered at commit, never for a rolled-back change), and each process
  LISTENs on a connection of its own. That connection is checked every ``CHECK_TTL_S``;
  when it is lost (or before it is first up), the whole memory is dropped and
  ``CHECK_TTL_S`` is the bound again until it is back.

So the bound is: the next request in the process that made the change; a few
milliseconds in the others on PostgreSQL; ``CHECK_TTL_S`` where no notification can
arrive (SQLite shared by several processes, or a LISTEN connection down or behind a
pooler in transaction mode). A refusal is final (versions only grow, a denylisted id
stays there) and is remembered until the token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypedDict, cast

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from app.core.clock import utcnow
from app.core.db import AnyEngine, Sql, current_engine, write_transaction
from app.core.tables import RevokedToken

log = logging.getLogger("o2o.revocation")

CHANNEL = "o2o_token_revocation"
CHECK_TTL_S = 5.0
"""How long a process trusts its verdict on a token without hearing of a change."""
_MAX_VERDICTS = 20_000
_RECONNECT_MAX_S = 30.0

class TokenState(TypedDict):
    """A subject's version row (NULLs when it has none) and whether the jti is denied."""

    version: int | None
    kept_jti: str | None
    revoked: int | None  # 1 when the token's id is on the denylist


# One statement per verdict: the subject's version row (if any) and the denylist entry.
_STATE = Sql(
    "SELECT v.version AS version, v.kept_jti AS kept_jti, "
    "(SELECT 1 FROM core_revoked_token r WHERE r.jti = {}) AS revoked "
    "FROM (SELECT 1 AS one) AS o LEFT JOIN core_token_version v ON v.subject = {}")
_BUMP = Sql(
    "INSERT INTO core_token_version (subject, version, kept_jti, updated_at) "
    "VALUES ({}, 1, {}, {}) ON CONFLICT (subject) DO UPDATE SET "
    "version = core_token_version.version + 1, kept_jti = excluded.kept_jti, "
    "updated_at = excluded.updated_at RETURNING version")
_DENY = Sql("INSERT INTO core_revoked_token (jti, subject, expires_at) VALUES ({}, {}, {}) "
            "ON CONFLICT (jti) DO NOTHING")
_NOTIFY = Sql("SELECT pg_notify({}, {})")


# --- writes (inside the caller's write transaction) -----------------------------------

async def end_tokens_of(subject: uuid.UUID, keep_jti: str | None = None) -> int:
    """End every token of ``subject`` (but ``keep_jti``, if given); returns the new
    version. Call inside the write transaction of the change, then ``forget_subject``
    after its commit."""
    rows = await _BUMP.rows(subject, keep_jti, utcnow())
    await _announce(f"s:{subject}")
    return int(rows[0]["version"])


async def end_token(jti: str, subject: uuid.UUID, expires_at: int) -> None:
    """End one token (by its id) until its ``exp``. Inside a write transaction; then
    ``forget_token`` after its commit."""
    await _DENY.rows(jti, subject, expires_at)
    await _announce(f"t:{jti}")


async def announce_key(key_id: uuid.UUID) -> None:
    """Tell every process that an API key changed (app.core.apikeys: revoked). Inside the
    change's write transaction; heard by :class:`Revocations`' subscribers."""
    await _announce(f"k:{key_id}")


async def _announce(payload: str) -> None:
    # NOTIFY inside the transaction: PostgreSQL delivers it at commit, and never for a
    # transaction rolled back.
    if isinstance(current_engine(), PostgresEngine):
        await _NOTIFY.rows(CHANNEL, payload)


async def purge_expired() -> None:
    """Forget denylisted ids of tokens that expired anyway (run by housekeeping)."""
    async with write_transaction():
        await RevokedToken.delete().where(RevokedToken.expires_at < int(time.time())).run()


# --- the check on every request ---------------------------------------------------------

class Revocations:
    """This process's memory of verdicts on tokens, and its LISTEN connection."""

    def __init__(self, ttl_s: float = CHECK_TTL_S) -> None:
        self.ttl_s = ttl_s
        # jti -> (trusted until (monotonic), subject, allowed)
        self._verdicts: dict[str, tuple[float, uuid.UUID, bool]] = {}
        # Bumped by every forget: a verdict read from the database while a change was
        # announced may be stale, and is then used once but not remembered.
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        self.listener_pid: int | None = None  # the LISTEN connection's server process
        # Others remembering verdicts on the same channel (app.core.apikeys): called with
        # a key id on "k:" announcements, and with None whenever every verdict must go.
        self.subscribers: list[Callable[[str | None], None]] = []

    @property
    def generation(self) -> int:
        """Grows with every change heard of (here, or on PostgreSQL from any process):
        while :attr:`listening` and it has not moved, an allowed token still is."""
        return self._generation

    async def allows(self, jti: str, subject: uuid.UUID, version: int,
                     expires_at: float) -> bool:
        """False when the token was ended; costs a query at most once per ``ttl_s``."""
        now = time.monotonic()
        kept = self._verdicts.get(jti)
        if kept is not None and kept[0] > now:
            return kept[2]
        generation = self._generation
        row = cast("TokenState | None", await _STATE.first(jti, subject))
        allowed = row is not None and _judge(row, jti, version)
        if generation == self._generation:
            if len(self._verdicts) >= _MAX_VERDICTS:
                del self._verdicts[next(iter(self._verdicts))]  # the oldest
            # A refusal is final: remember it until the token expires anyway.
            until = now + (self.ttl_s if allowed else max(0.0, expires_at - time.time()))
            self._verdicts[jti] = (until, subject, allowed)
        return allowed

    def forget_subject(self, subject: uuid.UUID) -> None:
        self._generation += 1
        for jti in [j for j, v in self._verdicts.items() if v[1] == subject]:
            del self._verdicts[jti]

    def forget_token(self, jti: str) -> None:
        self._generation += 1
        self._verdicts.pop(jti, None)

    def forget_all(self) -> None:
        self._generation += 1
        self._verdicts.clear()
        for subscriber in self.subscribers:
            subscriber(None)

    # --- PostgreSQL: hear every other process's changes at once --------------------------

    def start(self, engine: AnyEngine) -> None:
        if isinstance(engine, PostgresEngine) and self._task is None:
            self._task = asyncio.create_task(self._listen(str(engine.config["dsn"])),
                                             name="o2o-token-revocation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        kind, _, value = payload.partition(":")
        if kind == "k":
            for subscriber in self.subscribers:
                subscriber(value)
            return
        if kind == "t":
            self.forget_token(value)
            return
        try:
            self.forget_subject(uuid.UUID(value))
        except ValueError:
            self.forget_all()

    async def _listen(self, dsn: str) -> None:
        backoff = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(dsn, timeout=self.ttl_s)
                await conn.add_listener(CHANNEL, self._heard)
                # Whatever changed before we listened: judge every token afresh.
                self.forget_all()
                self.listening, backoff = True, 0.5
                self.listener_pid = conn.get_server_pid()
                while True:  # a dead connection hears nothing: find out within the TTL
                    await asyncio.sleep(self.ttl_s / 2)
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=self.ttl_s / 2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: drop, wait, reconnect
                log.warning("token revocation listener lost (%s); reconnecting",
                            type(exc).__name__)
            finally:
                self.listening, self.listener_pid = False, None
                self.forget_all()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), timeout=2)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RECONNECT_MAX_S)


def _judge(row: TokenState, jti: str, version: int) -> bool:
    if row["revoked"] is not None:
        return False
    current = row["version"] or 0
    return version >= current or (row["kept_jti"] is not None and row["kept_jti"] == jti)
