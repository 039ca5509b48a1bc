"""Fixed-window counters in the database, shared by every server process.

Used where a limit must hold across processes and must count only some requests (failed
logins per username and client, per client, per username). Plain request-rate limits use
Litestar's ``RateLimitConfig`` instead. ``Memory`` keeps a fact for a while in the same
table (a client where a user logged in), so the housekeeping purge forgets it too.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from app.core.db import write_transaction
from app.core.errors import RateLimited
from app.core.tables import ThrottleCounter

_UPSERT = (
    "INSERT INTO core_throttle (key, hits, expires_at) VALUES ({}, 1, {}) "
    "ON CONFLICT (key) DO UPDATE SET hits = core_throttle.hits + 1 RETURNING hits"
)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_s: int

    def _key(self, subject: str, now: float) -> tuple[str, int]:
        window = int(now // self.window_s)
        return f"{self.name}:{subject}:{window}", (window + 1) * self.window_s

    async def check(self, subject: str) -> None:
        """Raise 429 when ``subject`` already used up this window."""
        now = time.time()
        key, ends = self._key(subject, now)
        rows = await ThrottleCounter.select(ThrottleCounter.hits).where(
            ThrottleCounter.key == key).run()
        if rows and rows[0]["hits"] >= self.max_hits:
            raise RateLimited(f"too many attempts; try again in {int(ends - now) + 1} s",
                              retry_after=int(ends - now) + 1)

    async def hit(self, subject: str) -> int:
        """Count one event for ``subject``; returns the count in this window."""
        key, ends = self._key(subject, time.time())
        async with write_transaction():
            rows = await ThrottleCounter.raw(_UPSERT, key, ends).run()
        return int(rows[0]["hits"])


_REMEMBER = (
    "INSERT INTO core_throttle (key, hits, expires_at) VALUES ({}, 1, {}) "
    "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at"
)


def pair(*parts: str) -> str:
    """One subject for several values (a username and a client): a digest, so that any
    characters and lengths fit the key and no two pairs share one."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(4, "big") + encoded)
    return digest.hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Memory:
    """A fact about ``subject`` remembered for ``ttl_s`` from its last mention."""

    name: str
    ttl_s: int

    async def remember(self, subject: str) -> None:
        async with write_transaction():
            await ThrottleCounter.raw(_REMEMBER, f"{self.name}:{subject}",
                                      int(time.time()) + self.ttl_s).run()

    async def recalls(self, subject: str) -> bool:
        rows = await ThrottleCounter.select(ThrottleCounter.key).where(
            (ThrottleCounter.key == f"{self.name}:{subject}")
            & (ThrottleCounter.expires_at > int(time.time()))).run()
        return bool(rows)


async def purge_expired() -> None:
    """Drop counters of finished windows (run by the housekeeping task)."""
    async with write_transaction():
        await ThrottleCounter.delete().where(ThrottleCounter.expires_at < int(time.time())).run()
