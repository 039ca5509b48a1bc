"""A real webhook receiver for the tests: an aiohttp server on 127.0.0.1 that records
every request and answers as each path is told to (ok, fail, slow, hang, redirect, an
endless body, fail the first n attempts of each message)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.conftest import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # path -> behaviour: "ok" (default), "fail", "slow:<s>", "hang", "redirect",
    # "endless", "flaky:<n>" (the first n attempts of each webhook-id fail).
    modes: dict[str, str] = field(default_factory=dict)
    tries: dict[tuple[str, str], int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == "/" + path.lstrip("/")]

    def delivered(self, path: str) -> list[Received]:
        """The requests of ``path`` answered 2xx (what the sender saw delivered)."""
        return [r for r in self.at(path) if r.headers.get("x-answered") == "2xx"]

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        async def until() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), timeout)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        mode = self.modes.get(request.path, "ok")
        record = Received(request.path, headers, body)
        self.received.append(record)
        self.changed.set()  # arrived (and again when answered)
        key = (request.path, headers.get("webhook-id", ""))
        self.tries[key] = self.tries.get(key, 0) + 1
        try:
            if mode == "fail":
                return web.Response(status=500, text="receiver says no")
            if mode.startswith("flaky:") and self.tries[key] <= int(mode.split(":")[1]):
                return web.Response(status=503, text="not yet")
            if mode.startswith("slow:"):
                await asyncio.sleep(float(mode.split(":")[1]))
            if mode == "hang":
                await asyncio.sleep(3600)
            if mode == "redirect":
                raise web.HTTPFound(location=self.url("ok"))
            if mode == "endless":
                response = web.StreamResponse(status=200)
                await response.prepare(request)
                record.headers["x-answered"] = "2xx"
                chunk = b"x" * 65536
                for _ in range(10_000):  # 640 MB: a sender reading it all would time out
                    await response.write(chunk)
                return response
            record.headers["x-answered"] = "2xx"
            return web.Response(status=204)
        finally:
            self.changed.set()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()
