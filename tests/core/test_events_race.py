"""The feed's race (issue 18, "the hard part"): many writers commit events out of insert
order while real server processes number them and a reader polls ``GET /events``.

PostgreSQL: two `o2o serve` processes (each with its background sequencer, and each
numbering before it answers), writer processes with concurrent transactions that sleep
inside (commits interleave out of insert order) and sometimes roll back, a reader that
polls both servers in turn. SQLite: the same with one server process.

The reader's sequences never go back and have no gap; in the end every committed event
appears exactly once, no rolled-back one appears, the numbers are contiguous, and one
object's events are numbered in the order they were written.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.asgi import create_app
from tests.conftest import ROOT, LiveServer, make_settings, serving
from tests.world import build_world


async def _inversions(database_url: str, chain_id: uuid.UUID) -> int:
    """Pairs of the chain's events numbered in the other order than they were inserted."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM core_event a JOIN core_event b ON b.chain_id = a.chain_id "
            "AND a.position < b.position AND a.sequence > b.sequence WHERE a.chain_id = $1",
            chain_id))
    finally:
        await conn.close()


def _start_writers(url: str, chain_id: uuid.UUID, processes: int, tasks: int, changes: int,
                   folder: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    started = []
    for p in range(processes):
        out = folder / f"writer-{p}.txt"
        started.append((subprocess.Popen(
            [sys.executable, "-m", "tests.core.event_writers", url, str(chain_id),
             str(tasks), str(changes), str(p + 1), str(out)], cwd=ROOT), out))
    return started


async def _race(database_url: str, tmp_path: Path, *, servers: int, processes: int,
                tasks: int, changes: int) -> None:
    app = create_app(make_settings(database_url, notify_dispatcher=False))
    async with serving(app) as http:
        world = await build_world(app)
        headers = world.headers(world.a.operator)
        head = (await http.get("/api/v1/events", params={"limit": 1000},
                               headers=headers)).json()
        assert len(head["items"]) < 1000
        after0: int = head["next_after"]
    live = [LiveServer(database_url, log_file=tmp_path / f"server-{n}.log").start()
            for n in range(servers)]
    try:
        writers = _start_writers(database_url, world.a.id, processes, tasks, changes, tmp_path)
        seen: list[dict[str, Any]] = []
        after, polls = after0, 0
        async with httpx.AsyncClient(timeout=30) as client:

            async def poll() -> list[dict[str, Any]]:
                nonlocal after, polls
                server = live[polls % len(live)]
                polls += 1
                answer = await client.get(server.base_url + "/api/v1/events", headers=headers,
                                          params={"after": after, "limit": 200})
                assert answer.status_code == 200, answer.text
                page = answer.json()
                got = [int(i["sequence"]) for i in page["items"]]
                # Never back, never a gap: exactly the numbers after the last one seen.
                assert got == list(range(after + 1, after + 1 + len(got))), (after, got)
                after = page["next_after"]
                return list(page["items"])

            deadline = time.monotonic() + 300
            while any(w.poll() is None for w, _ in writers):
                if time.monotonic() > deadline:
                    for w, _ in writers:
                        w.kill()
                    pytest.fail("the writers did not finish in 300 s")
                seen += await poll()
                await asyncio.sleep(0.005)
            assert all(w.returncode == 0 for w, _ in writers)
            # The writers are done (committed or rolled back): one more read has all.
            while True:
                page = await poll()
                if not page:
                    break
                seen += page
        committed: dict[str, tuple[str, int]] = {}
        rolled_back: set[str] = set()
        for _, out in writers:
            for line in out.read_text(encoding="utf-8").split("\n"):
                if line.startswith("committed "):
                    _, event_id, object_id, index = line.split()
                    committed[event_id] = (object_id, int(index))
                elif line.startswith("rolled_back "):
                    rolled_back.add(line.split()[1])
        ids = [i["id"] for i in seen]
        assert len(ids) == len(set(ids)), "an event appeared twice"
        assert set(ids) == set(committed), (
            f"missing {len(set(committed) - set(ids))}, unknown {len(set(ids) - set(committed))}")
        assert not set(ids) & rolled_back
        assert [int(i["sequence"]) for i in seen] == list(
            range(after0 + 1, after0 + 1 + len(committed)))
        per_object: dict[str, list[int]] = {}
        for item in seen:
            object_id, written = committed[item["id"]]
            assert item["data"] == {"n": written}
            per_object.setdefault(object_id, []).append(written)
        assert all(ns == sorted(ns) for ns in per_object.values())
        assert polls > 10  # the reader really raced the writers
        assert rolled_back, "some changes rolled back"
        if servers > 1:
            # The race was real: events committed out of their insert order.
            assert await _inversions(database_url, world.a.id) > 0
    finally:
        for server in live:
            server.stop()
    for number in range(servers):
        text = (tmp_path / f"server-{number}.log").read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]


@pytest.mark.postgres
async def test_two_servers_many_writers_one_reader_postgres(
        engine_name: str, database_url: str, tmp_path: Path) -> None:
    if engine_name != "postgres":
        pytest.skip("the two-process race is PostgreSQL's; SQLite has its own below")
    started = time.monotonic()
    await _race(database_url, tmp_path, servers=2, processes=4, tasks=8, changes=12)
    assert time.monotonic() - started < 300


async def test_one_server_many_writers_one_reader_sqlite(
        engine_name: str, database_url: str, tmp_path: Path) -> None:
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL runs the two-process race above")
    await _race(database_url, tmp_path, servers=1, processes=2, tasks=4, changes=10)
