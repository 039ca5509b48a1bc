"""What the event feed costs: a change's emit, and the sequencer's numbering.

    .venv/bin/python bench/events_bench.py [--engines sqlite,postgres] [--writes 3000]
                                           [--clients 16] [--rows 50000]

On a fresh database of each engine migrated by `o2o migrate`, in this process:

- **emit per write**: ``--writes`` write transactions by ``--clients`` concurrent tasks,
  each a small change (a throttle counter upsert, a row like the ones the product
  writes), once without and once with ``events.emit`` of a 1 KB object in the same
  transaction, all events of one chain (the case a shared counter row would serialise).
  Prints writes per second of both and the cost of the emit per write.
- **sequencer throughput**: ``--rows`` unnumbered events of one chain written ahead, then
  ``sequencer.number_chain`` numbers them all (batches of 1,000, a transaction each);
  rows per second. And the idle look every process makes twice a second (nothing
  pending), per look.

Asserts nothing. PostgreSQL: ``O2O_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test), a user who may create databases.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core import events  # noqa: E402
from app.core.db import (  # noqa: E402
    Sql,
    bind_tables,
    close_engine,
    make_engine,
    prepare_engine,
    write_transaction,
)
from app.core.events import repository as events_repo  # noqa: E402
from app.core.events import sequencer  # noqa: E402
from app.tables import all_tables  # noqa: E402
from bench.load_bench import postgres_database  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
PG_URL = os.environ.get("O2O_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# A card as the API answers it, roughly (what a card.topped_up event carries).
OBJECT = {"id": str(uuid.uuid4()), "member_id": str(uuid.uuid4()), "status": "active",
          "balance_cents": 12_345, "points": 678, "visits": 9, "tier": "gold",
          "template": {"id": str(uuid.uuid4()), "name": "Stored value", "kind": "stored_value"},
          "ledger_entry": {"id": str(uuid.uuid4()), "kind": "top_up", "delta_cents": 10_000,
                           "note": "x" * 500}}
_CHANGE = Sql("INSERT INTO core_throttle (key, hits, expires_at) VALUES ({}, 1, 0) "
              "ON CONFLICT (key) DO UPDATE SET hits = core_throttle.hits + 1")


def _migrate(url: str) -> None:
    env = {**os.environ, "O2O_DATABASE_URL": url, "O2O_SECRET_KEY": SECRET}
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env,
                   check=True, capture_output=True)


async def _writes(chain_id: uuid.UUID, writes: int, clients: int, *, emit: bool) -> float:
    """Writes per second."""
    left = iter(range(writes))

    async def client(c: int) -> None:
        for n in left:
            async with write_transaction():
                await _CHANGE.rows(f"bench:{c}:{n % 50}")
                if emit:
                    await events.emit(events.types.CARD_TOPPED_UP, chain_id=chain_id,
                                      object_id=uuid.uuid4(), data=OBJECT)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return writes / (time.perf_counter() - started)


async def _fill(chain_id: uuid.UUID, rows: int) -> None:
    for first in range(0, rows, 1000):
        async with write_transaction():
            for _ in range(min(1000, rows - first)):
                await events_repo.insert(events.event(
                    events.types.REDEMPTION_CREATED, chain_id=chain_id,
                    object_id=uuid.uuid4(), data=OBJECT))


async def _bench(name: str, url: str, writes: int, clients: int, rows: int) -> None:
    _migrate(url)
    engine = make_engine(url)
    bind_tables(engine, all_tables())
    await prepare_engine(engine)
    try:
        chain_id = uuid.uuid4()
        await _writes(chain_id, min(writes, 300), clients, emit=True)  # warm up
        await sequencer.number_chain(chain_id)
        plain = await _writes(chain_id, writes, clients, emit=False)
        evented = await _writes(chain_id, writes, clients, emit=True)
        cost_us = (1 / evented - 1 / plain) * 1e6
        print(f"{name}: {clients} writers, {writes} writes: {plain:,.0f}/s without an event, "
              f"{evented:,.0f}/s with one; the emit costs {cost_us:,.0f} us per write "
              f"({(1 - evented / plain) * 100:.1f} %)")
        started = time.perf_counter()
        numbered = await sequencer.number_chain(chain_id)
        print(f"{name}: numbered the {numbered:,} events of those writes in "
              f"{(time.perf_counter() - started) * 1000:,.0f} ms")
        other = uuid.uuid4()
        await _fill(other, rows)
        started = time.perf_counter()
        numbered = await sequencer.number_chain(other)
        took = time.perf_counter() - started
        print(f"{name}: sequencer numbered {numbered:,} rows in {took:.2f} s: "
              f"{numbered / took:,.0f} rows/s")
        looks = []
        for _ in range(200):
            started = time.perf_counter()
            await sequencer.number_pending()
            looks.append(time.perf_counter() - started)
        print(f"{name}: an idle look (nothing pending): first {looks[0] * 1e6:,.0f} us "
              f"(right after numbering: the index still holds the rows' old versions "
              f"until they are found dead or vacuumed), then median "
              f"{statistics.median(looks[1:]) * 1e6:,.0f} us")
    finally:
        await close_engine(engine)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    for name in args.engines.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                await _bench("sqlite", f"sqlite:///{folder}/events.sqlite3", args.writes,
                             args.clients, args.rows)
        else:
            async with postgres_database(PG_URL, "o2o_events_bench") as url:
                await _bench("postgres", url, args.writes, args.clients, args.rows)


if __name__ == "__main__":
    asyncio.run(main())
