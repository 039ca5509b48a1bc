"""WeChat access tokens, shared by every process through the database.

A token comes from ``POST /cgi-bin/stable_token`` and is stored per app id with its
expiry (a little before WeChat's ``expires_in``). Each process also keeps it in memory,
so a process reads the database only when its copy runs out. Fetching is done by one
process at a time: it takes a short lease on the row with a conditional update; the
others wait for the row to change and use the new token. When WeChat refuses a token
(40001/42001/40014), :meth:`TokenStore.refresh` fetches with ``force_refresh`` only if
the stored token is still the refused one, so many processes seeing the same refusal
cause one forced refresh.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta

from app.core.clock import utcnow
from app.core.db import atomic_statement
from app.core.notify import repository as repo
from app.core.wechat import WechatClient, WechatError

REFRESH_LEASE = timedelta(seconds=15)
EARLY_S = 300  # stop using a token this long before WeChat says it expires
WAIT_POLL_S = 0.05


def usable_until(now: datetime, expires_in: int) -> datetime:
    """Shortly before the token's end (half its life when that is short)."""
    return now + timedelta(seconds=max(expires_in - EARLY_S, expires_in // 2))


class TokenStore:
    def __init__(self, client: WechatClient, wait_s: float = 20.0) -> None:
        self._client = client
        self._wait_s = wait_s  # longest wait for another process's fetch
        self._cache: dict[str, tuple[str, datetime]] = {}

    async def get(self, app_id: str, secret: str) -> str:
        cached = self._cache.get(app_id)
        if cached is not None and cached[1] > utcnow():
            return cached[0]
        return await self._obtain(app_id, secret, stale="")

    async def refresh(self, app_id: str, secret: str, refused: str) -> str:
        """A token other than ``refused``: another process's newer one, or a forced one."""
        self._cache.pop(app_id, None)
        return await self._obtain(app_id, secret, stale=refused)

    async def _obtain(self, app_id: str, secret: str, stale: str) -> str:
        owner = uuid.uuid4().hex
        async with atomic_statement():
            await repo.ensure_token_row(app_id, utcnow())
        deadline = time.monotonic() + self._wait_s
        while True:
            now = utcnow()
            row = await repo.get_token(app_id)
            if row is not None and row["access_token"] and row["expires_at"] is not None \
                    and row["expires_at"] > now and row["access_token"] != stale:
                self._cache[app_id] = (row["access_token"], row["expires_at"])
                return str(row["access_token"])
            async with atomic_statement():
                leased = await repo.take_refresh_lease(
                    app_id, now=now, until=now + REFRESH_LEASE, owner=owner, stale=stale)
            if leased:
                return await self._fetch(app_id, secret, owner, force=bool(stale))
            if time.monotonic() > deadline:
                raise WechatError(None, "timed out waiting for another process's token fetch")
            await asyncio.sleep(WAIT_POLL_S)

    async def _fetch(self, app_id: str, secret: str, owner: str, *, force: bool) -> str:
        try:
            fresh = await self._client.stable_token(app_id, secret, force_refresh=force)
        except BaseException:
            await asyncio.shield(_release_lease(app_id, owner))
            raise
        now = utcnow()
        expires_at = usable_until(now, fresh.expires_in)
        async with atomic_statement():
            await repo.store_token(app_id, owner, fresh.token, expires_at, now)
        self._cache[app_id] = (fresh.token, expires_at)
        return fresh.token


async def _release_lease(app_id: str, owner: str) -> None:
    async with atomic_statement():
        await repo.release_refresh_lease(app_id, owner)
