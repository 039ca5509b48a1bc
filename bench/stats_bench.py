"""Stats latency on the large data set, on PostgreSQL, through a real server.

    .venv/bin/python bench/stats_bench.py [--runs 20] [--fresh] [--raw]

Uses the database `o2o_stats_bench` on the server `O2O_BENCH_POSTGRES_URL` names
(default postgresql://postgres@127.0.0.1:5432/test; only its host, port and user are
used). The first run creates it, migrates it and fills it with `o2o demo --size large`
(100k members, ~1M redemptions: several minutes); later runs reuse it (`--fresh` starts
over). Then it starts `o2o serve`, logs in as the large demo's operator and manager, and
times each request (after two warm-ups) from this process over loopback: p50, p95 and
max of `--runs` sequential requests, for 7, 30, 90 and 366-day ranges ending today.
The large demo's manager runs all ten stores (the chain's path); an area manager of three
stores, made here, takes the several-stores path (a distinct count over their rows).

`--raw` also times, in the database alone, the two heaviest parts of the year's overview
read from the event tables instead (with this schema's indexes), for comparison.

One table goes to stdout, progress to stderr. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "o2o_stats_bench"
PASSWORD = "demo-pass-2026"
RANGES = (7, 30, 90, 366)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env.update(O2O_DATABASE_URL=url, O2O_SECRET_KEY=SECRET, O2O_ENV="development")
    return env


def o2o(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, check=True)


async def prepare(admin_url: str, fresh: bool) -> str:
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{DATABASE}"))
    conn = await asyncpg.connect(admin_url)
    try:
        if fresh:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    env = env_for(url)
    o2o(env, "migrate")
    log("o2o demo --size large (minutes the first time; a no-op after)")
    started = time.monotonic()
    o2o(env, "demo", "--size", "large")
    log(f"data set ready in {time.monotonic() - started:.0f} s")
    return url


async def sizes(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
                for table in ("member", "card", "card_ledger", "redemption", "voucher",
                              "booking", "stats_store_day", "stats_activity")}
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level",
         "warning"], cwd=ROOT, env=env_for(url), start_new_session=True)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


@contextlib.asynccontextmanager
async def server(url: str) -> AsyncIterator[str]:
    port = free_port()
    proc = start_server(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{API}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield base
    finally:
        stop_server(proc)


async def login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post(f"{API}/auth/staff/login",
                                 json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def timed(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                params: dict[str, Any], runs: int) -> tuple[list[float], int]:
    samples, size = [], 0
    for n in range(runs + 2):
        started = time.perf_counter()
        response = await client.get(f"{API}{path}", headers=headers, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        size = len(response.content)
        if n >= 2:
            samples.append(elapsed)
    return samples, size


def row(name: str, days: int | str, samples: list[float], size: int) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    return (f"{name:<34} {days!s:>5} {statistics.median(ordered):8.1f} {p95:8.1f} "
            f"{ordered[-1]:8.1f} {size:>9,}")


async def raw_costs(url: str, today: date) -> list[str]:
    """The year's overview from the events themselves: the two heaviest parts."""
    first = today - timedelta(days=365)
    conn = await asyncpg.connect(url)
    lines = []
    try:
        await conn.execute("SET jit = off")
        bounds = ("WITH s AS (SELECT id, (DATE '{0}')::timestamp AT TIME ZONE timezone AS lo, "
                  "(DATE '{1}' + 1)::timestamp AT TIME ZONE timezone AS hi FROM store) ")
        queries = {
            "redemptions: count, value": (
                "SELECT count(*), sum(r.charged_cents + r.discount_cents) FROM redemption r "
                "JOIN s ON s.id = r.store AND r.created_at >= s.lo AND r.created_at < s.hi "
                "WHERE r.reversed_at IS NULL"),
            "active members: distinct": (
                "SELECT count(*) FROM (SELECT r.member_id FROM redemption r JOIN s "
                "ON s.id = r.store AND r.created_at >= s.lo AND r.created_at < s.hi "
                "WHERE r.reversed_at IS NULL UNION SELECT b.member FROM booking b JOIN s "
                "ON s.id = b.store AND b.start_at >= s.lo AND b.start_at < s.hi) m"),
        }
        for name, sql in queries.items():
            statement = bounds.format(first, today) + sql
            await conn.fetch(statement)
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                await conn.fetch(statement)
                samples.append((time.perf_counter() - started) * 1000)
            lines.append(row(f"  raw SQL, {name}", 366, samples, 0))
    finally:
        await conn.close()
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="rebuild the data set")
    parser.add_argument("--raw", action="store_true",
                        help="also time the year's overview read from the events")
    args = parser.parse_args()
    admin = os.environ.get("O2O_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    url = await prepare(admin, args.fresh)
    counts = await sizes(url)
    today = datetime.now(UTC).date()
    lines = [f"Data set: {', '.join(f'{n:,} {t}' for t, n in counts.items())}",
             f"{'request':<34} {'days':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
             f"{'bytes':>9}"]
    async with server(url) as base, httpx.AsyncClient(base_url=base, timeout=120) as client:
        operator = await login(client, "large-operator")
        manager = await login(client, "large-manager")
        stores = (await client.get(f"{API}/stores", headers=operator)).json()
        one = stores[0]["id"]
        made = await client.post(f"{API}/staff", headers=operator, json={
            "username": "bench-area-manager", "password": PASSWORD, "role": "manager",
            "store_ids": [s["id"] for s in stores[:3]]})
        if made.status_code not in (201, 409):
            made.raise_for_status()
        area = await login(client, "bench-area-manager")
        cases: list[tuple[str, str, dict[str, str], dict[str, Any], tuple[int, ...]]] = [
            ("overview, chain (operator)", "/stats/overview", operator, {}, RANGES),
            ("overview, one store", "/stats/overview", operator, {"store_id": one}, RANGES),
            ("overview, every store (manager)", "/stats/overview", manager, {}, RANGES),
            ("overview, 3 stores (area manager)", "/stats/overview", area, {}, RANGES),
            ("timeseries redemptions, chain", "/stats/timeseries", operator,
             {"metric": "redemptions"}, RANGES),
            ("timeseries new_members, chain", "/stats/timeseries", operator,
             {"metric": "new_members"}, (30, 366)),
            ("timeseries active_members, chain", "/stats/timeseries", operator,
             {"metric": "active_members"}, (30, 366)),
            ("export.csv, chain", "/stats/export.csv", operator, {}, (30, 366)),
            ("stores side by side", "/stats/stores", operator, {}, (30, 366)),
            ("top services", "/stats/services", operator, {}, (30, 366)),
        ]
        for name, path, headers, extra, ranges in cases:
            for days in ranges:
                params = {"from": (today - timedelta(days=days - 1)).isoformat(),
                          "to": today.isoformat(), **extra}
                log(f"{name}, {days} days")
                samples, size = await timed(client, path, headers, params, args.runs)
                lines.append(row(name, days, samples, size))
        for name, headers, extra in (("cohorts, 12 months, chain", operator, {}),
                                     ("cohorts, 12 months, one store", operator,
                                      {"store_id": one}),
                                     ("cohorts, 12 months, 3 stores", area, {})):
            samples, size = await timed(client, "/stats/cohorts", headers, extra, args.runs)
            lines.append(row(name, "12 mo", samples, size))
    if args.raw:
        lines.append("Without rollups (database only, from the events):")
        lines += await raw_costs(url, today)
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
