"""A round-robin reverse proxy for WeChat Pay's notices: ``O2O_PUBLIC_URL`` points here,
so the stand-in's notices reach every server process in turn (as a load balancer in front
of several `o2o serve` would spread them).

A backend that cannot be reached (a killed process) answers 502, as a real balancer does,
so WeChat Pay sees the notice unacknowledged and sends it again later. Each forwarded
request is recorded (backend, path, status) for the test to read.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
from aiohttp import web

# Hop-by-hop and recomputed headers; everything else (Wechatpay-*) goes through untouched.
_DROP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True, slots=True)
class Forwarded:
    backend: str
    path: str
    status: int
    body: bytes  # the answer (errors only: a 2xx keeps b"")


@dataclass(slots=True)
class NoticeProxy:
    backends: list[str]
    host: str = "127.0.0.1"
    timeout_s: float = 10.0
    log: list[Forwarded] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)  # backend -> requests now
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _port: int | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the proxy is not running")
        return f"http://{self.host}:{self._port}"

    def set_backends(self, backends: list[str]) -> None:
        with self._lock:
            self.backends = list(backends)

    def busy(self, backend: str) -> bool:
        """Whether a notice is being forwarded to ``backend`` right now."""
        with self._lock:
            return self.in_flight.get(backend, 0) > 0

    def answers(self) -> list[Forwarded]:
        with self._lock:
            return list(self.log)

    def start(self) -> NoticeProxy:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="notice-proxy", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> NoticeProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _serve(self) -> None:
        # A fresh connection per notice: a kept-alive one the server closes just as it is
        # reused would fail a POST that never reached it (WeChat Pay opens its own).
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(force_close=True))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            backend = self.backends[self._next % len(self.backends)]
            self._next += 1
            self.in_flight[backend] = self.in_flight.get(backend, 0) + 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        assert self._session is not None
        try:
            async with self._session.request(request.method, backend + request.path_qs,
                                             data=body, headers=headers) as answer:
                content = await answer.read()
                status = answer.status
                out_headers = {k: v for k, v in answer.headers.items()
                               if k.lower() not in _DROP}
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, content, out_headers = 502, f"bad gateway: {exc!r}".encode(), {}
        with self._lock:
            self.in_flight[backend] -= 1
            self.log.append(Forwarded(backend=backend, path=request.path, status=status,
                                      body=b"" if 200 <= status < 300 else content[:500]))
        return web.Response(status=status, body=content, headers=out_headers)
