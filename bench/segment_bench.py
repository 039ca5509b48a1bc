"""Segment previews on the large data set, on PostgreSQL, through a real server.

    .venv/bin/python bench/segment_bench.py [--runs 20] [--fresh] [--explain]

Uses the database `o2o_segment_bench` on the server `O2O_BENCH_POSTGRES_URL` names
(default postgresql://postgres@127.0.0.1:5432/test; only its host, port and user are
used). The first run creates it, migrates it and fills it with `o2o demo --size large`
(100k members, ~1M redemptions: several minutes); later runs reuse it (`--fresh` starts
over). The demo's bulk load leaves the segments' visit rollup stale (its triggers are
off during the load): the bench rebuilds it first and prints how long that took.

Then it starts `o2o serve`, logs in as the large demo's operator and an area manager of
three stores (made here), and times `POST /segments/preview` (after two warm-ups) from
this process over loopback: p50, p95 and max of `--runs` sequential requests per filter
combination, from none to every filter at once with a 730-day window (the widest: every
member's whole history). The bar (issue 20): under 300 ms. `--explain` prints
PostgreSQL's plan of the heaviest combination.

One table goes to stdout, progress to stderr. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_bench import postgres_database
from bench.stats_bench import (
    API,
    PASSWORD,
    env_for,
    log,
    login,
    o2o,
    row,
    server,
)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "o2o_segment_bench"
TRIGGER_DATABASE = "o2o_segment_trigger_bench"
BAR_MS = 300
TRIGGER = "segment_visits_insert"
# One session inserting redemptions of random members, in the server itself (no round
# trips): what a redemption's insert costs, with and without the segments' trigger.
SERIAL_INSERTS = """
DO $$
DECLARE v_store uuid; v_chain uuid; v_members uuid[];
BEGIN
  SELECT id, chain INTO v_store, v_chain FROM store LIMIT 1;
  SELECT array_agg(id) INTO v_members FROM bench_member;
  FOR i IN 1..{n} LOOP
    INSERT INTO redemption (id, chain, kind, object_id, member_id, store, amount_cents,
      discount_cents, charged_cents, points_earned, created_at)
    VALUES (gen_random_uuid(), v_chain, 'voucher', gen_random_uuid(),
      v_members[1 + (i % cardinality(v_members))], v_store, 10000, 2000, 8000, 0,
      clock_timestamp());
  END LOOP;
END $$"""


async def prepare(admin_url: str, fresh: bool) -> str:
    from urllib.parse import urlsplit, urlunsplit

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


async def rollup(url: str) -> list[str]:
    """Rebuild the visit rollup when the bulk load left it stale; its size."""
    conn = await asyncpg.connect(url)
    lines = []
    try:
        if await conn.fetchval("SELECT count(*) FROM segment_stale"):
            started = time.perf_counter()
            await conn.execute("SELECT segment_visits_rebuild(NULL)")
            lines.append(f"Visit rollup rebuilt from the redemptions in "
                         f"{time.perf_counter() - started:.1f} s")
        rows, visits, size = await conn.fetchrow(
            "SELECT count(*), sum(cardinality(at)), pg_total_relation_size('segment_visits') "
            "FROM segment_visits")
        counts = await conn.fetchrow("SELECT (SELECT count(*) FROM member) AS members, "
                                     "(SELECT count(*) FROM redemption) AS redemptions")
        lines.append(f"Data set: {counts['members']:,} members, {counts['redemptions']:,} "
                     f"redemptions; rollup: {rows:,} members with a visit, {visits:,} "
                     f"visits kept, {size / 2**20:.0f} MiB")
    finally:
        await conn.close()
    return lines


def cases(today: str, long_ago: str, stores: list[str], templates: list[str]
          ) -> list[tuple[str, dict[str, Any]]]:
    every = {"last_visit_after": long_ago, "last_visit_before": today,
             "joined_after": long_ago, "joined_before": today, "visits_min": 1,
             "visits_max": 50, "spend_min_cents": 1, "spend_max_cents": 10**9,
             "window_days": 730, "tiers": ["银卡 Silver", "金卡 Gold"],
             "card_template_ids": templates, "store_ids": stores[:3], "birthday_month": 1,
             "has_phone": True}
    return [
        ("no filter (every member)", {}),
        ("win-back: last visit before 60 days", {"last_visit_before": long_ago}),
        ("joined in the last 30 days", {"joined_after": today}),
        ("visits >= 3 in 90 days", {"visits_min": 3}),
        ("spend >= 500 yuan in 365 days", {"spend_min_cents": 50_000, "window_days": 365}),
        ("visits 1-2, 730 days", {"visits_min": 1, "visits_max": 2, "window_days": 730}),
        ("spend 100-1000 yuan, 730 days", {"spend_min_cents": 10_000,
                                           "spend_max_cents": 100_000, "window_days": 730}),
        ("3 stores visited in 90 days", {"store_ids": stores[:3]}),
        ("3 stores visited in 730 days", {"store_ids": stores[:3], "window_days": 730}),
        ("tier Gold", {"tiers": ["金卡 Gold"]}),
        ("holds the prepaid card", {"card_template_ids": templates[:1]}),
        ("has a phone, no visit in 90 days", {"has_phone": True, "visits_max": 0}),
        ("visits, spend, stores, tier, 730 days",
         {"visits_min": 2, "spend_min_cents": 10_000, "store_ids": stores[:5],
          "tiers": ["银卡 Silver"], "window_days": 730}),
        ("every filter at once, 730 days", every),
        ("every filter but birthday, 730 days",
         {k: v for k, v in every.items() if k != "birthday_month"}),
    ]


async def explain(url: str, operator_chain: str) -> None:
    """PostgreSQL's plan of the heaviest combination, through the service's own SQL."""
    os.environ["O2O_DATABASE_URL"] = url
    from piccolo.querystring import QueryString

    from app.core.auth import Principal
    from app.core.db import bind_tables, make_engine
    from app.tables import all_tables
    from marketing.segments import repository, service

    engine = make_engine(url)
    bind_tables(engine, all_tables())
    import uuid

    principal = Principal(kind="staff", id=uuid.uuid4(), chain_id=uuid.UUID(operator_chain),
                          role="operator")
    f = service.parse_filters({"visits_min": 2, "spend_min_cents": 10_000, "window_days": 730,
                               "has_phone": True})
    match = await service._match(principal, f)
    hits = repository._select(match, "{id} AS id", lean=True)
    plan = await repository._planned(QueryString(
        "EXPLAIN (ANALYZE, BUFFERS) WITH hits AS MATERIALIZED (" + hits.template + ") "
        "SELECT (SELECT count(*) FROM hits) AS total, "
        "array(SELECT id FROM hits ORDER BY id LIMIT 50) AS page", *hits.args))
    print("\n".join(r["QUERY PLAN"] for r in plan), file=sys.stderr)


SERIAL_N = 10_000


def backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend has used (a local server: /proc), so a busy
    machine's other work does not count; wall-clock seconds when /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return time.perf_counter()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def trigger_cost(admin_url: str, members: int, seconds: float,
                       rounds: int) -> list[str]:
    """What the segments' trigger adds to a redemption's insert: pgbench (16 clients,
    each insert its own transaction, the stats triggers on as migrated: inserts/s and the
    machine's CPU per insert, both moved by whatever else the machine runs) and one
    session's 10,000 serial inserts in the server (the backend's own CPU per insert: the
    steadiest figure on a shared machine), with the trigger and without it, alternated
    ``rounds`` times."""
    import tempfile

    from bench.stats_triggers_bench import INSERT, _pgbench, _prepare

    lines = []
    async with postgres_database(admin_url, TRIGGER_DATABASE) as url:
        chain, store = await _prepare(url, members)
        conn = await asyncpg.connect(url)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        samples: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
        try:
            with tempfile.TemporaryDirectory() as scratch:
                script = Path(scratch) / "insert.sql"
                script.write_text(INSERT.format(members=members, chain=chain, store=store))
                for _ in range(rounds):
                    for on in (True, False):
                        await conn.execute(f"ALTER TABLE redemption "
                                           f"{'ENABLE' if on else 'DISABLE'} TRIGGER {TRIGGER}")
                        await conn.execute("ANALYZE")
                        tps, cpu = await asyncio.to_thread(_pgbench, url, script, 16, seconds)
                        started = backend_cpu(pid)
                        await conn.execute(SERIAL_INSERTS.format(n=SERIAL_N))
                        serial = (backend_cpu(pid) - started) / SERIAL_N * 1e6
                        samples[on].append((tps, cpu, serial))
            await conn.execute(f"ALTER TABLE redemption ENABLE TRIGGER {TRIGGER}")
            longest = await conn.fetchval("SELECT max(cardinality(at)) FROM segment_visits")
        finally:
            await conn.close()
    lines.append(f"Redemption inserts ({members:,} members, up to {longest:,} visits each "
                 f"by the end; {rounds} alternated rounds, medians):")
    lines.append(f"{'  configuration':<44} {'inserts/s':>10} {'CPU ms/ins':>11} "
                 f"{'backend us':>10}")
    for on in (True, False):
        tps, cpu, serial = (statistics.median(x[i] for x in samples[on]) for i in range(3))
        name = "with the segments trigger" if on else "without it (stats triggers only)"
        lines.append(f"  {name:<42} {tps:>10,.0f} {cpu:>11.3f} {serial:>10.1f}")
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="rebuild the data set")
    parser.add_argument("--explain", action="store_true",
                        help="print the plan of a heavy combination")
    parser.add_argument("--trigger-rounds", type=int, default=2,
                        help="rounds of the trigger's cost on the hot path (0: skip)")
    parser.add_argument("--trigger-only", action="store_true")
    args = parser.parse_args()
    admin = os.environ.get("O2O_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    trigger_lines = (await trigger_cost(admin, 2000, 5, args.trigger_rounds)
                     if args.trigger_rounds else [])
    if args.trigger_only:
        print("\n".join(trigger_lines))
        return
    url = await prepare(admin, args.fresh)
    lines = await rollup(url)
    lines.append(f"{'POST /segments/preview':<44} {'who':>5} {'p50 ms':>8} {'p95 ms':>8} "
                 f"{'max ms':>8} {'bytes':>9}")
    worst = 0.0
    async with server(url) as base, httpx.AsyncClient(base_url=base, timeout=120) as client:
        operator = await login(client, "large-operator")
        stores = [s["id"] for s in (await client.get(f"{API}/stores", headers=operator)).json()]
        templates = [t["id"] for t in
                     (await client.get(f"{API}/card-templates", headers=operator)).json()]
        made = await client.post(f"{API}/staff", headers=operator, json={
            "username": "bench-area-manager", "password": PASSWORD, "role": "manager",
            "store_ids": stores[:3]})
        if made.status_code not in (201, 409):
            made.raise_for_status()
        area = await login(client, "bench-area-manager")
        now = datetime.now(UTC)
        today = (now + timedelta(hours=8)).date()
        combos = cases((today - timedelta(days=30)).isoformat(),
                       (today - timedelta(days=60)).isoformat(), stores, templates)
        for who, headers in (("op", operator), ("area", area)):
            for name, filters in combos:
                log(f"{name} ({who})")
                samples, size = [], 0
                for n in range(args.runs + 2):
                    started = time.perf_counter()
                    response = await client.post(f"{API}/segments/preview", headers=headers,
                                                 json={"filters": filters})
                    elapsed = (time.perf_counter() - started) * 1000
                    response.raise_for_status()
                    size = len(response.content)
                    if n >= 2:
                        samples.append(elapsed)
                worst = max(worst, max(samples))
                count = response.json()["count"]
                lines.append(row(f"{name} [{count:,}]", who, samples, size))
        if args.explain:
            me = (await client.get(f"{API}/chain", headers=operator)).json()
            await explain(url, me["id"])
    lines.append(f"Slowest preview: {worst:.0f} ms (bar: {BAR_MS} ms); load average during "
                 f"the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n".join(lines + trigger_lines))


if __name__ == "__main__":
    asyncio.run(main())
