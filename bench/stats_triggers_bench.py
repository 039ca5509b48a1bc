"""What the stats triggers cost a redemption insert on PostgreSQL, measured with pgbench.

    .venv/bin/python bench/stats_triggers_bench.py [--clients 16] [--seconds 6]

A fresh database migrated by `o2o migrate`, seeded by `o2o demo` plus 200 members; then
pgbench (a separate process, PostgreSQL's own load generator) inserts redemptions of
random members at one store, each its own transaction: once with the triggers as
migrated (they queue the figures, stats migration 2026-12-01T19:00), then the fold of
what they queued, timed alone; once with the triggers that kept the rollups in the
insert's own transaction (before that migration); once with those and the stats PL/pgSQL
helpers put back to the SQL-language functions they replaced (2026-12-01T16:30); once
with the triggers switched off (`o2o.stats_off`); and once with the immediate triggers
and without the redemption's foreign keys (what their checks cost). Prints inserts per
second and CPU per insert of the machine, and the fold's rows per second and CPU per
row; asserts nothing. By default the members repeat (200 of them, one store, one day): a
batch of 5,000 queued rows folds into at most 200 member-days and one store-day, the
fold's best case; `--members 20000` gives nearly every row a member-day of its own.
Needs `pgbench` (Debian: postgresql-client) and a server whose user may create databases
(`O2O_BENCH_POSTGRES_URL`, default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.stats.piccolo_migrations.stats_2026_12_01t16_30_00_000000 import (  # noqa: E402
    _DOWN as SQL_HELPERS,
)
from app.stats.piccolo_migrations.stats_2026_12_01t16_30_00_000000 import (  # noqa: E402
    _UP as PLPGSQL_HELPERS,
)
from app.stats.piccolo_migrations.stats_2026_12_01t19_00_00_000000 import (  # noqa: E402
    _DOWN as IMMEDIATE_TRIGGERS,
)
from bench.load_bench import postgres_database  # noqa: E402

DATABASE = "o2o_triggers_bench"
# What the foreign-key checks of a redemption insert (chain, store, staff) cost it.
DROP_FOREIGN_KEYS = ("ALTER TABLE redemption DROP CONSTRAINT redemption_chain_fkey, "
                     "DROP CONSTRAINT redemption_store_fkey, "
                     "DROP CONSTRAINT redemption_staff_fkey")
INSERT = """\\set n random(1, {members})
INSERT INTO redemption (id, chain, kind, object_id, member_id, store, amount_cents,
  discount_cents, charged_cents, points_earned, created_at)
VALUES (gen_random_uuid(), '{chain}', 'voucher', gen_random_uuid(),
  (SELECT id FROM bench_member WHERE n = :n), '{store}', 10000, 2000, 8000, 0, now());
"""


def _machine_cpu() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def _pgbench(url: str, script: Path, clients: int, seconds: float,
             options: str = "") -> tuple[float, float]:
    """(transactions per second, machine CPU ms per transaction) of one pgbench run."""
    env = {**os.environ, "PGOPTIONS": options}
    busy0, total0 = _machine_cpu()
    out = subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", "2", "-T",
                          str(int(seconds)), "-f", str(script), url], env=env, check=True,
                         capture_output=True, text=True).stdout
    busy1, total1 = _machine_cpu()
    done = int(re.search(r"number of transactions actually processed: (\d+)", out)[1])
    tps = float(re.search(r"tps = ([\d.]+)", out)[1])
    cores = os.cpu_count() or 1
    cpu_s = (busy1 - busy0) / (total1 - total0) * seconds * cores
    return tps, 1000 * cpu_s / max(done, 1)


async def _prepare(url: str, members: int) -> tuple[str, str]:
    env = {**os.environ, "O2O_DATABASE_URL": url, "O2O_SECRET_KEY": "b" * 64}
    for command in (["migrate"], ["demo"]):
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "app.cli", *command],
                                cwd=ROOT, env=env, check=True, capture_output=True)
    conn = await asyncpg.connect(url)
    try:
        chain = await conn.fetchval("SELECT id FROM chain LIMIT 1")
        store = await conn.fetchval("SELECT id FROM store WHERE chain = $1 LIMIT 1", chain)
        await conn.execute(
            "INSERT INTO member (id, chain, name, created_at) SELECT gen_random_uuid(), $1, "
            "'bench ' || g, now() FROM generate_series(1, $2) g", chain, members)
        await conn.execute("CREATE TABLE bench_member AS SELECT row_number() OVER () AS n, "
                           "id FROM (SELECT id FROM member WHERE name LIKE 'bench %') m")
        await conn.execute("CREATE UNIQUE INDEX ON bench_member (n)")
    finally:
        await conn.close()
    return str(chain), str(store)


async def _run_ddl(url: str, statements: tuple[str, ...]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _fold_all(url: str) -> tuple[int, float, float]:
    """Fold the whole queue in batches: (rows, rows per second, machine CPU ms per row)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
        queued = int(await conn.fetchval("SELECT count(*) FROM stats_pending"))
        busy0, total0 = _machine_cpu()
        started = time.perf_counter()
        while await conn.fetchval("SELECT stats_fold(5000, true)") > 0:
            pass
        elapsed = time.perf_counter() - started
        busy1, total1 = _machine_cpu()
    finally:
        await conn.close()
    cpu_s = (busy1 - busy0) / max(total1 - total0, 1) * elapsed * (os.cpu_count() or 1)
    return queued, queued / elapsed, 1000 * cpu_s / max(queued, 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--members", type=int, default=200,
                        help="members the inserts pick from (20000: a fold's worst case, "
                             "nearly every row a member-day of its own)")
    args = parser.parse_args()
    if shutil.which("pgbench") is None:
        print("stats_triggers_bench: pgbench not found (apt-get install postgresql-client)")
        return
    base = os.environ.get("O2O_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    async with postgres_database(base, DATABASE) as url:
        chain, store = await _prepare(url, args.members)
        with tempfile.TemporaryDirectory() as scratch:
            script = Path(scratch) / "insert.sql"
            script.write_text(INSERT.format(members=args.members, chain=chain, store=store))
            async def run(options: str = "") -> tuple[float, float]:
                # Fresh planner statistics first, as autovacuum keeps them in production:
                # plans cached while a rollup table looked empty would scan it whole.
                await _run_ddl(url, ("ANALYZE",))
                return await asyncio.to_thread(_pgbench, url, script, args.clients,
                                               args.seconds, options)

            rows = [("triggers queue the figures (as migrated)", await run())]
            fold = await _fold_all(url)
            await _run_ddl(url, IMMEDIATE_TRIGGERS)
            rows.append(("triggers fold at once (before 12-01T19:00)", await run()))
            await _run_ddl(url, SQL_HELPERS)
            rows.append(("at once, SQL-language helpers (before 16:30)", await run()))
            await _run_ddl(url, PLPGSQL_HELPERS)
            rows.append(("no triggers (o2o.stats_off)", await run("-c o2o.stats_off=on")))
            await _run_ddl(url, (DROP_FOREIGN_KEYS,))  # last: the database is dropped next
            rows.append(("at once, no foreign keys on redemption", await run()))
    print(f"redemption inserts, {args.clients} pgbench clients, {args.members:,} members, "
          f"{args.seconds:g} s each")
    print(f"{'configuration':<44} {'inserts/s':>10} {'CPU ms/insert':>14}")
    for name, (tps, cpu_ms) in rows:
        print(f"{name:<44} {tps:>10,.0f} {cpu_ms:>14.2f}")
    queued, per_s, cpu_ms = fold
    print(f"the fold of the {queued:,} rows queued in the first run: {per_s:,.0f} rows/s, "
          f"{cpu_ms:.3f} ms CPU per row")


if __name__ == "__main__":
    asyncio.run(main())
