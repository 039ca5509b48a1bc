"""Writers for the event feed's race test (tests/core/test_events_race.py), run as a
process of their own: ``python -m tests.core.event_writers URL CHAIN TASKS CHANGES SEED OUT``.

Each of TASKS concurrent tasks makes CHANGES changes, one after the other, on an object of
its own: a write transaction that emits one to three events with random sleeps inside it
(so commits come out of insert order across tasks), and now and then rolls back. After
each commit the task appends its events' ids to OUT as ``committed <id> <object> <n>``;
rolled-back ones as ``rolled_back <id>``. One object's changes follow one another (as a
row lock makes them in the product), so their events must be numbered in that order.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from pathlib import Path

from app.core import events
from app.core.db import bind_tables, close_engine, make_engine, prepare_engine, write_transaction
from app.tables import all_tables


class _RolledBack(Exception):
    pass


async def _task(chain_id: uuid.UUID, changes: int, rng: random.Random,
                out: list[str]) -> None:
    object_id = uuid.uuid4()
    n = 0
    for _ in range(changes):
        ids: list[tuple[str, int]] = []
        roll_back = rng.random() < 0.1
        try:
            async with write_transaction():
                for _ in range(rng.randint(1, 3)):
                    row = await events.emit(events.types.CARD_UPDATED, chain_id=chain_id,
                                            object_id=object_id, data={"n": n})
                    ids.append((str(row["id"]), n))
                    n += 1
                    await asyncio.sleep(rng.random() * 0.02)
                if roll_back:
                    raise _RolledBack
        except _RolledBack:
            out.extend(f"rolled_back {i}" for i, _ in ids)
            n -= len(ids)
            continue
        out.extend(f"committed {i} {object_id} {k}" for i, k in ids)
        await asyncio.sleep(rng.random() * 0.005)


async def main(url: str, chain: str, tasks: int, changes: int, seed: int, out: Path) -> None:
    engine = make_engine(url)
    bind_tables(engine, all_tables())
    await prepare_engine(engine)
    lines: list[str] = []
    try:
        await asyncio.gather(*(_task(uuid.UUID(chain), changes, random.Random(seed * 1000 + t),
                                     lines) for t in range(tasks)))
    finally:
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        await close_engine(engine)


if __name__ == "__main__":
    url, chain, tasks, changes, seed, out = sys.argv[1:7]
    asyncio.run(main(url, chain, int(tasks), int(changes), int(seed), Path(out)))
