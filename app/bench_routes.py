"""Bench-only routes: the ceilings a benchmark compares real endpoints against.

Mounted only when O2O_BENCH_ROUTES=1 (never in production by default).
"""

from __future__ import annotations

from litestar import Controller, get
from msgspec import Struct

from app.core.auth import PUBLIC


class Hello(Struct):
    hello: str


class BenchController(Controller):
    path = "/bench"
    tags = ["bench"]
    include_in_schema = False

    @get("/hello", opt=PUBLIC, summary="Hello-world ceiling")
    async def hello(self) -> Hello:
        return Hello(hello="world")
