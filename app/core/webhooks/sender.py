"""One attempt of one delivery: a signed ``POST`` over the process's one aiohttp session.

The session resolves every host through :class:`~app.core.webhooks.urls.GuardedResolver`
(no DNS cache: each new connection is checked again), follows no redirect (a 3xx is a
failure), gives up after 15 s in all, reads at most 64 KB of the answer, and does not
decompress it (a small gzip answer can be a large one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp

from app.core.webhooks import urls

TIMEOUT_S = 15.0
MAX_ANSWER_BYTES = 64 * 1024
NOTE_CHARS = 500


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    status_code: int | None
    error: str | None


class Sender:
    def __init__(self, *, allow_http: bool, allow_private: bool,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.allow_http = allow_http
        self.allow_private = allow_private
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=urls.GuardedResolver(allow_private=self.allow_private),
                use_dns_cache=False, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, auto_decompress=False,
                trust_env=False,  # never through a proxy from the environment
                headers={"User-Agent": f"o2o-webhooks (pid {os.getpid()})"})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        try:
            parts = urls.parse_url(url, allow_http=self.allow_http)
            if not self.allow_private:
                assert parts.hostname is not None
                urls.check_literal(parts.hostname)  # aiohttp asks no resolver for these
        except (ValueError, OSError) as exc:
            return Attempt(False, None, f"refused: {exc}")
        try:
            async with self._http().post(
                    url, data=body, headers={"Content-Type": "application/json", **headers},
                    allow_redirects=False) as response:
                answer = await response.content.read(MAX_ANSWER_BYTES)
                status = response.status
                location = response.headers.get("Location")
        except TimeoutError:
            return Attempt(False, None, f"no answer within {self.timeout.total:g} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, urls.NonPublicAddress):
                return Attempt(False, None, f"refused: {exc.os_error}"[:NOTE_CHARS])
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:NOTE_CHARS])
        except aiohttp.ClientError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:NOTE_CHARS])
        if 200 <= status < 300:
            return Attempt(True, status, None)
        if 300 <= status < 400:
            return Attempt(False, status, f"redirect not followed (Location: {location})"
                           [:NOTE_CHARS])
        text = answer.decode("utf-8", "replace").strip()
        return Attempt(False, status, (f"HTTP {status}: {text}" if text
                                       else f"HTTP {status}")[:NOTE_CHARS])
