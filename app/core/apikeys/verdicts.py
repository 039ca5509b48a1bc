"""A presented API key, turned into a principal from this process's memory.

A key is looked up by its keyed hash (one indexed query) on its first request, then
remembered per process: a known key costs no query. What ends a remembered verdict:

- in the process that revokes the key, at once after the revocation commits
  (:meth:`ApiKeys.forget`);
- on PostgreSQL, in every other process a few milliseconds later: the revocation's
  transaction NOTIFYs on app.core.revocation's channel (``k:<key id>``), and the
  LISTEN connection that ends tokens hands it here. While that connection is up a
  verdict is trusted for ``LISTENING_TRUST_S`` (a safety net, not the bound); when it
  is down (or before it is first up), every verdict is dropped and ``CHECK_TTL_S`` is
  the bound again;
- without notifications (SQLite shared by several processes), ``CHECK_TTL_S``
  (5 s): the documented bound of a revocation on another process there.

``last_used_at`` is kept here too, per key, and written for every key used in one
statement every ``FLUSH_S`` and when the process stops: never a write per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
import uuid
from datetime import UTC, datetime

from app.core.apikeys import repository as repo
from app.core.apikeys.schemas import KEY_PREFIX
from app.core.crypto import derive_key
from app.core.db import write_transaction
from app.core.principal import Principal
from app.core.revocation import CHECK_TTL_S, Revocations

log = logging.getLogger("o2o.apikeys")

LISTENING_TRUST_S = 300.0
"""How long a verdict is trusted while revocations are heard from every process."""
FLUSH_S = 30.0
"""How often the last use of keys is written."""
MAX_KEY_LENGTH = 128
_MAX_VERDICTS = 20_000
_MAX_REFUSALS = 2_000  # refused (unknown, revoked) keys remembered, apart from the real ones


def key_hash(secret_key: str, key: str) -> str:
    """The keyed hash stored for ``key`` (hex HMAC-SHA256)."""
    return hmac.new(derive_key(secret_key, "o2o/api-key"), key.encode(),
                    hashlib.sha256).hexdigest()


def principal_of_key(key_id: uuid.UUID, chain_id: uuid.UUID, scopes: list[str],
                     store_ids: list[str] | None) -> Principal:
    """A chain-wide key acts as an operator, a store-limited one as its stores' manager,
    each only where its scopes open the route (app.core.auth.allow)."""
    return Principal(kind="key", id=key_id, chain_id=chain_id,
                     role="operator" if store_ids is None else "manager",
                     store_ids=frozenset(uuid.UUID(s) for s in store_ids or ()),
                     scopes=frozenset(scopes))


class ApiKeys:
    """This process's verdicts on presented keys, and the last use of each key."""

    def __init__(self, secret_key: str, revocations: Revocations,
                 ttl_s: float = CHECK_TTL_S, flush_s: float = FLUSH_S) -> None:
        self._secret_key = secret_key
        self._revocations = revocations
        self.ttl_s = ttl_s
        self.flush_s = flush_s
        # key hash -> (trusted until (monotonic), principal or None for a refusal).
        # Refusals are kept apart and fewer: a flood of guessed keys must not push the
        # tills' real keys out of memory (each would cost a query again).
        self._verdicts: dict[str, tuple[float, Principal | None]] = {}
        self._refusals: dict[str, tuple[float, Principal | None]] = {}
        self._generation = 0
        self._used: dict[uuid.UUID, float] = {}  # key id -> unix time of its last use
        self._task: asyncio.Task[None] | None = None
        revocations.subscribers.append(self._heard)

    def hash(self, key: str) -> str:
        return key_hash(self._secret_key, key)

    async def principal(self, key: str) -> Principal | None:
        """The key's principal, or None (malformed, unknown or revoked)."""
        if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_LENGTH:
            return None
        digest = self.hash(key)
        now = time.monotonic()
        kept = self._verdicts.get(digest) or self._refusals.get(digest)
        if kept is not None and kept[0] > now:
            principal = kept[1]
        else:
            principal = await self._look_up(digest, now)
        if principal is not None:
            self._used[principal.id] = time.time()
        return principal

    async def _look_up(self, digest: str, now: float) -> Principal | None:
        generation = self._generation
        row = await repo.by_hash(digest)
        principal = None
        if row is not None and row["revoked_at"] is None:
            principal = principal_of_key(row["id"], row["chain_id"], row["scopes"],
                                         row["store_ids"])
        # A revocation heard while we read may not be in what we read: use the answer
        # once, remember it only when nothing changed meanwhile.
        if generation == self._generation:
            kept = self._verdicts if principal is not None else self._refusals
            if len(kept) >= (_MAX_VERDICTS if principal is not None else _MAX_REFUSALS):
                del kept[next(iter(kept))]  # the oldest
            trust = LISTENING_TRUST_S if self._revocations.listening else self.ttl_s
            kept[digest] = (now + trust, principal)
        return principal

    def forget(self, key_id: uuid.UUID) -> None:
        """Drop what this process remembers of a key (after its revocation commits)."""
        self._generation += 1
        for digest in [d for d, v in self._verdicts.items()
                       if v[1] is not None and v[1].id == key_id]:
            del self._verdicts[digest]

    def forget_all(self) -> None:
        self._generation += 1
        self._verdicts.clear()
        self._refusals.clear()

    def _heard(self, key_id: str | None) -> None:
        if key_id is None:
            self.forget_all()
            return
        try:
            self.forget(uuid.UUID(key_id))
        except ValueError:
            self.forget_all()

    # --- last use ----------------------------------------------------------------------

    def last_used(self, key_id: uuid.UUID) -> datetime | None:
        """This process's last use of the key not yet written (None when none)."""
        at = self._used.get(key_id)
        return None if at is None else datetime.fromtimestamp(at, UTC)

    async def flush(self) -> None:
        """Write the last use of every key used since the last flush, in one statement."""
        if not self._used:
            return
        used, self._used = self._used, {}
        try:
            async with write_transaction():
                await repo.touch([(key_id, datetime.fromtimestamp(at, UTC))
                                  for key_id, at in used.items()])
        except Exception:
            for key_id, at in used.items():  # keep them for the next flush
                self._used[key_id] = max(at, self._used.get(key_id, 0.0))
            raise

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._flush_loop(), name="o2o-api-key-last-use")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("writing the last use of API keys at shutdown failed")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except Exception:
                log.exception("writing the last use of API keys failed")
