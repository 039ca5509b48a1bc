"""WeChat access tokens, shared by every process through the database.

A token comes from ``POST /cgi-bin/stable_token`` and is stored per app id with its
expiry (a little before WeChat's ``expires_in``). Each process also keeps it in memory,
so a process reads the database only when its copy runs out. Fetching is done by one
process at a time: it takes a short lease on the row with a conditional update; the
others wait for the row to change and use the new token. When WeChat refuses a token
(40001/42001/40014), :meth:`TokenStore.refresh` fetches with ``force_refresh`` only if
the stored token is still the refused one, so many processes seeing the same refusal
cause one forced refresh.

The card bag's api_tickets (``wx_card`` signs ``cardExt``, ``jsapi`` signs ``wx.config``)
live the same way in the same table, in rows keyed ``ticket:{kind}:{app_id}``:
:class:`TicketStore` uses the same lease loop (:class:`_SharedValues`), fetching with
the app's access token (refreshed once if WeChat refuses it). A ticket the page reports
as refused is refetched only if it is at least ``min_age_s`` old: WeChat's getticket is
rate limited, and a member retrying addCard must not drain it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from app.core.clock import utcnow
from app.core.db import atomic_statement
from app.core.notify import repository as repo
from app.core.notify.rows import WechatTokenRow
from app.core.wechat import WechatClient, WechatError

log = logging.getLogger("o2o.notify")

REFRESH_LEASE = timedelta(seconds=15)
EARLY_S = 300  # stop using a token this long before WeChat says it expires
WAIT_POLL_S = 0.05
# WeChat refused the access token: fetch another (once) and call again.
TOKEN_REFUSED = frozenset({40001, 42001, 40014})
TICKET_KINDS = frozenset({"wx_card", "jsapi"})

T = TypeVar("T")
# Fetches a fresh value: (value, expires_in seconds); the flag says a refused value is
# being replaced (stable_token's force_refresh).
Fetch = Callable[[bool], Awaitable[tuple[str, int]]]


def usable_until(now: datetime, expires_in: int) -> datetime:
    """Shortly before the token's end (half its life when that is short)."""
    return now + timedelta(seconds=max(expires_in - EARLY_S, expires_in // 2))


class _SharedValues:
    """Values WeChat hands out with a lifetime (access tokens, api_tickets), one row of
    ``core_wechat_token`` each, fetched by one process at a time under a lease and kept in
    this process's memory until shortly before they end."""

    def __init__(self, wait_s: float) -> None:
        self._wait_s = wait_s  # longest wait for another process's fetch
        self._cache: dict[str, tuple[str, datetime]] = {}

    def _cached(self, key: str) -> str | None:
        cached = self._cache.get(key)
        return cached[0] if cached is not None and cached[1] > utcnow() else None

    async def _obtain(self, key: str, fetch: Fetch, stale: str = "",
                      min_age_s: float = 0.0) -> str:
        """The stored value if usable and not ``stale``; else fetch one (this process,
        under the lease) or wait for the process that holds it. A ``stale`` value fetched
        under ``min_age_s`` ago is kept: nobody refetches in a loop."""
        if stale:
            self._cache.pop(key, None)
        owner = uuid.uuid4().hex
        async with atomic_statement():
            await repo.ensure_token_row(key, utcnow())
        deadline = time.monotonic() + self._wait_s
        while True:
            now = utcnow()
            row = await repo.get_token(key)
            value = _usable(row, now, stale, min_age_s)
            if value is not None:
                assert row is not None and row["expires_at"] is not None
                self._cache[key] = (value, row["expires_at"])
                return value
            async with atomic_statement():
                leased = await repo.take_refresh_lease(
                    key, now=now, until=now + REFRESH_LEASE, owner=owner, stale=stale)
            if leased:
                return await self._fetch(key, owner, fetch, replacing=bool(stale))
            if time.monotonic() > deadline:
                raise WechatError(None, "timed out waiting for another process's fetch")
            await asyncio.sleep(WAIT_POLL_S)

    async def _fetch(self, key: str, owner: str, fetch: Fetch, *, replacing: bool) -> str:
        try:
            value, expires_in = await fetch(replacing)
        except BaseException:
            await asyncio.shield(_release_lease(key, owner))
            raise
        now = utcnow()
        expires_at = usable_until(now, expires_in)
        async with atomic_statement():
            await repo.store_token(key, owner, value, expires_at, now)
        self._cache[key] = (value, expires_at)
        return value


def _usable(row: WechatTokenRow | None, now: datetime, stale: str,
            min_age_s: float) -> str | None:
    if row is None or not row["access_token"] or row["expires_at"] is None \
            or row["expires_at"] <= now:
        return None
    if row["access_token"] != stale:
        return row["access_token"]
    # The refused value itself: kept only while it is younger than min_age_s.
    if min_age_s > 0 and row["updated_at"] > now - timedelta(seconds=min_age_s):
        return row["access_token"]
    return None


class TokenStore(_SharedValues):
    """Access tokens (``POST /cgi-bin/stable_token``), rows keyed by app id."""

    def __init__(self, client: WechatClient, wait_s: float = 20.0) -> None:
        super().__init__(wait_s)
        self._client = client

    async def get(self, app_id: str, secret: str) -> str:
        return self._cached(app_id) or await self._obtain(app_id, self._fetcher(app_id, secret))

    async def refresh(self, app_id: str, secret: str, refused: str) -> str:
        """A token other than ``refused``: another process's newer one, or a forced one."""
        return await self._obtain(app_id, self._fetcher(app_id, secret), stale=refused)

    def _fetcher(self, app_id: str, secret: str) -> Fetch:
        async def fetch(replacing: bool) -> tuple[str, int]:
            fresh = await self._client.stable_token(app_id, secret, force_refresh=replacing)
            return fresh.token, fresh.expires_in
        return fetch

    async def call_with_token(self, app_id: str, secret: str,
                              fn: Callable[[str], Awaitable[T]]) -> T:
        """``fn(access_token)``; if WeChat refuses the token (40001/42001/40014), once
        more with a fresh one. Other errors reach the caller as they are."""
        token = await self.get(app_id, secret)
        try:
            return await fn(token)
        except WechatError as exc:
            if exc.errcode not in TOKEN_REFUSED:
                raise
            log.info("wechat refused the access token of %s (%s): refreshing", app_id,
                     exc.errcode)
            token = await self.refresh(app_id, secret, refused=token)
            return await fn(token)


class TicketStore(_SharedValues):
    """api_tickets (``GET /cgi-bin/ticket/getticket``), rows keyed
    ``ticket:{kind}:{app_id}``; fetched with :class:`TokenStore`'s access token."""

    def __init__(self, client: WechatClient, tokens: TokenStore, wait_s: float = 20.0) -> None:
        super().__init__(wait_s)
        self._client = client
        self._tokens = tokens

    async def get(self, app_id: str, secret: str, kind: str) -> str:
        key = ticket_key(kind, app_id)
        return self._cached(key) or await self._obtain(key, self._fetcher(app_id, secret, kind))

    async def refresh(self, app_id: str, secret: str, kind: str, refused: str,
                      min_age_s: float = 60) -> str:
        """A ticket other than ``refused`` (the page said its signature failed), unless
        ``refused`` was fetched under ``min_age_s`` ago: then that one again."""
        return await self._obtain(ticket_key(kind, app_id),
                                  self._fetcher(app_id, secret, kind), stale=refused,
                                  min_age_s=min_age_s)

    def _fetcher(self, app_id: str, secret: str, kind: str) -> Fetch:
        async def fetch(replacing: bool) -> tuple[str, int]:
            # getticket mints a new ticket on every call: no force flag is needed.
            fresh = await self._tokens.call_with_token(
                app_id, secret, lambda token: self._client.get_ticket(token, kind))
            return fresh.ticket, fresh.expires_in
        return fetch


def ticket_key(kind: str, app_id: str) -> str:
    if kind not in TICKET_KINDS:
        raise ValueError(f"unknown ticket kind: {kind}")
    return f"ticket:{kind}:{app_id}"


async def _release_lease(key: str, owner: str) -> None:
    async with atomic_statement():
        await repo.release_refresh_lease(key, owner)
