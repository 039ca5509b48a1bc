"""Availability of one busy day: 20 resources x 500 bookings, on SQLite and PostgreSQL.

    .venv/bin/python bench/availability_bench.py [--calls 50] [--engines sqlite,postgres]

For each engine: a fresh database migrated by `o2o migrate`, seeded with one store open
around the clock, a 15-minute service, 20 stylists and 500 confirmed bookings spread over
one local day (25 per stylist), then `availability()` (the service function behind
GET /stores/{id}/availability) is called in process, timed, and its queries counted.
Prints a table; asserts nothing. `O2O_BENCH_POSTGRES_URL` names a PostgreSQL server whose
user may create databases (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.db import Sql, bind_tables, close_engine, make_engine, prepare_engine  # noqa: E402
from app.tables import all_tables  # noqa: E402
from bookings import service  # noqa: E402
from bookings.tables import Booking  # noqa: E402
from stores.tables import Chain, Member, Resource, ResourceService, Service, Store  # noqa: E402

RESOURCES, BOOKINGS = 20, 500
ZONE = "Asia/Shanghai"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def migrate(url: str) -> None:
    env = {**os.environ, "O2O_DATABASE_URL": url, "O2O_SECRET_KEY": "bench-" * 8}
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env,
                   check=True, capture_output=True)


async def seed(day: Any) -> tuple[uuid.UUID, uuid.UUID]:
    chain, store, svc, member = (uuid.uuid4() for _ in range(4))
    await Chain.insert(Chain(id=chain, name="bench")).run()
    await Store.insert(Store(id=store, chain=chain, name="busy", timezone=ZONE,
                             opening_hours=[{"weekday": d, "open": "00:00", "close": "24:00"}
                                            for d in range(7)])).run()
    await Service.insert(Service(id=svc, store=store, name="cut", duration_minutes=15)).run()
    await Member.insert(Member(id=member, chain=chain, name="m")).run()
    resources = [uuid.uuid4() for _ in range(RESOURCES)]
    await Resource.insert(*(Resource(id=r, store=store, name=f"R{n}", kind="staff")
                            for n, r in enumerate(resources))).run()
    await ResourceService.insert(*(ResourceService(id=uuid.uuid4(), resource=r, service=svc)
                                   for r in resources)).run()
    midnight = datetime.combine(day, clock_time.min, ZoneInfo(ZONE)).astimezone(UTC)
    rows = []
    per = BOOKINGS // RESOURCES
    for n, resource in enumerate(resources):
        for k in range(per):  # every half hour from 08:00, every other resource shifted
            start = midnight + timedelta(hours=8, minutes=30 * k + 15 * (n % 2))
            rows.append(Booking(id=uuid.uuid4(), chain=chain, store=store, service=svc,
                                resource=resource, member=member, start_at=start,
                                end_at=start + timedelta(minutes=15),
                                block_end_at=start + timedelta(minutes=15), exclusive=True))
    await Booking.insert(*rows).run()
    return store, svc


async def measure(url: str, calls: int) -> dict[str, Any]:
    engine = make_engine(url)
    bind_tables(engine, all_tables())
    await prepare_engine(engine)
    day = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    store, svc = await seed(day)
    engine_class = type(engine)
    original = engine_class.run_querystring
    queries = 0

    async def counting(self: Any, querystring: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        return await original(self, querystring, *args, **kwargs)

    original_sql = Sql.rows

    async def counting_sql(self: Sql, *args: Any) -> list[dict[str, Any]]:
        nonlocal queries
        queries += 1
        return await original_sql(self, *args)

    engine_class.run_querystring = counting  # type: ignore[method-assign]
    Sql.rows = counting_sql  # type: ignore[method-assign]
    timings = []
    try:
        result = await service.availability(store, svc, day, 1)  # warm-up
        queries = 0
        for _ in range(calls):
            began = time.perf_counter()
            await service.availability(store, svc, day, 1)
            timings.append((time.perf_counter() - began) * 1000)
    finally:
        engine_class.run_querystring = original  # type: ignore[method-assign]
        Sql.rows = original_sql  # type: ignore[method-assign]
        await close_engine(engine)
    timings.sort()
    return {"slots": len(result.slots), "queries": queries / calls,
            "p50": statistics.median(timings), "p99": timings[int(len(timings) * 0.99) - 1],
            "mean": statistics.fmean(timings)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for engine in args.engines.split(","):
        if engine == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.sqlite3"
                migrate(url)
                rows.append(("SQLite", await measure(url, args.calls)))
        else:
            base = os.environ.get("O2O_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
            name = f"o2o_bench_avail_{os.getpid()}"
            admin = await asyncpg.connect(base)
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                parts = urlsplit(base)
                url = urlunsplit(parts._replace(path=f"/{name}"))
                migrate(url)
                rows.append(("PostgreSQL", await measure(url, args.calls)))
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
    print(f"availability: {RESOURCES} resources x {BOOKINGS} bookings in one day, "
          f"{args.calls} calls, in process")
    print(f"{'engine':<12}{'slots':>7}{'queries/call':>14}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'mean ms':>9}")
    for name, r in rows:
        print(f"{name:<12}{r['slots']:>7}{r['queries']:>14.1f}{r['p50']:>9.1f}"
              f"{r['p99']:>9.1f}{r['mean']:>9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
