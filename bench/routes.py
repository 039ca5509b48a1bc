"""Bench-only routes: the ceilings a benchmark compares real endpoints against.

Mounted only by the benchmarks' own server (bench.server, which passes them to
create_app); `o2o serve` never has them:

- ``GET /bench/hello``: a hello-world JSON answer, no database (the HTTP stack's ceiling).
- ``POST /bench/rows`` ``{"rows": N}``: creates N counter rows (``bench:0`` ...) for
  ``/bench/update`` (in the throttle table, expiring in 2100 so housekeeping keeps them).
- ``POST /bench/update``: one write transaction with one conditional
  ``UPDATE … RETURNING`` on a random one of those rows (the database write's ceiling:
  what a spend-once step costs on its own).

The two queries live here rather than in a repository: they exist only for benchmarks.
"""

from __future__ import annotations

import random
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK
from msgspec import Meta, Struct

from app.core.auth import PUBLIC
from app.core.db import write_transaction
from app.core.errors import NotFound
from app.core.tables import ThrottleCounter

_KEEP_UNTIL = 4_102_444_800  # 2100-01-01: the housekeeping purge never takes them
_LIMIT = 2_000_000_000  # the condition of the conditional update (always true here)
_rows = {"count": 0}  # rows known to exist, per process (set by /rows, else counted)


class Hello(Struct):
    hello: str


class RowsIn(Struct, forbid_unknown_fields=True):
    rows: Annotated[int, Meta(ge=1, le=100_000)]


class Bumped(Struct):
    key: str
    hits: int


async def _count_rows() -> int:
    return int(await ThrottleCounter.count().where(
        ThrottleCounter.key.like("bench:%")).run())


class BenchController(Controller):
    path = "/bench"
    tags = ["bench"]
    include_in_schema = False

    @get("/hello", opt=PUBLIC, summary="Hello-world ceiling")
    async def hello(self) -> Hello:
        return Hello(hello="world")

    @post("/rows", opt=PUBLIC, status_code=HTTP_200_OK, summary="Rows for the one-UPDATE ceiling")
    async def rows(self, data: JSONBody[RowsIn]) -> RowsIn:
        async with write_transaction():
            await ThrottleCounter.delete().where(ThrottleCounter.key.like("bench:%")).run()
            for first in range(0, data.rows, 500):  # SQLite caps the variables per query
                await ThrottleCounter.insert(*(
                    ThrottleCounter(key=f"bench:{n}", hits=0, expires_at=_KEEP_UNTIL)
                    for n in range(first, min(first + 500, data.rows)))).run()
        _rows["count"] = data.rows
        return data

    @post("/update", opt=PUBLIC, status_code=HTTP_200_OK, summary="One-UPDATE ceiling")
    async def update(self) -> Bumped:
        if not _rows["count"]:  # another worker process seeded them
            _rows["count"] = await _count_rows()
            if not _rows["count"]:
                raise NotFound("POST /bench/rows first")
        key = f"bench:{random.randrange(_rows['count'])}"  # noqa: S311 - not a secret
        async with write_transaction():
            rows = await ThrottleCounter.update(
                {ThrottleCounter.hits: ThrottleCounter.hits + 1}).where(
                (ThrottleCounter.key == key) & (ThrottleCounter.hits < _LIMIT)).returning(
                ThrottleCounter.hits).run()
        if not rows:
            raise NotFound("no such bench row")
        return Bumped(key=key, hits=int(rows[0]["hits"]))
