"""An issue job survives its worker's death: a real ``o2o worker`` process is killed
(SIGKILL) in the middle of a job, then two other worker processes finish it at once;
every member of the segment ends with exactly one voucher of the job and one
notification. Starts processes: XDIST group "processes"."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from marketing.jobs.tables import MarketingJob, MarketingJobItem
from tests.conftest import ROOT, TEST_SECRET
from tests.marketing.test_jobs import (
    add_members,
    issued_notifications,
    job_vouchers,
    make_campaign,
    make_segment,
    segment_issuer,  # noqa: F401 - the autouse fixture, here too
    start_job,
)
from tests.world import World

MEMBERS = 240
KILL_AT = 60  # members done when the first worker dies


class Workers:
    """``o2o worker`` processes on one database, ticking the jobs in small batches
    under a short lease (so the survivors take a dead worker's job over quickly)."""

    def __init__(self, database_url: str, logs: Path) -> None:
        self.env = {**os.environ, "O2O_DATABASE_URL": database_url,
                    "O2O_SECRET_KEY": TEST_SECRET, "O2O_ENV": "development",
                    "O2O_WECHAT_MODE": "sandbox", "O2O_MARKETING_TICK_SECONDS": "0.05",
                    "O2O_JOB_BATCH": "10", "O2O_JOB_LEASE_SECONDS": "1.5"}
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker{len(self.processes)}.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=ROOT,
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``: the test has checked what it checks,
        and a clean stop (the notifications still being delivered) is not under test."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("worker*.log")))


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(database_url, tmp_path)
    yield running
    running.stop()


async def _job(job_id: uuid.UUID) -> dict[str, object]:
    row = await MarketingJob.select().where(MarketingJob.id == job_id).first().run()
    assert row is not None
    return dict(row)


async def _wait_for(job_id: uuid.UUID, done: int, workers: Workers,
                    deadline_s: float = 40.0) -> dict[str, object]:
    deadline = time.monotonic() + deadline_s
    while True:
        row = await _job(job_id)
        if int(str(row["done"])) >= done:
            return row
        assert time.monotonic() < deadline, f"job at {row}\n{workers.output()}"
        await asyncio.sleep(0.01)  # a poll of the database with a deadline


async def test_a_killed_worker_loses_nothing_and_two_others_finish_once(
        client: httpx.AsyncClient, world: World, workers: Workers) -> None:
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, MEMBERS)
    campaign_id = await make_campaign(client, operator)
    segment_id = await make_segment(client, operator)
    started = await start_job(client, operator, campaign_id, segment_id)
    assert started.status_code == 202, started.text
    job_id = uuid.UUID(started.json()["job_id"])

    first = workers.start()
    at_kill = await _wait_for(job_id, KILL_AT, workers)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    row = await _job(job_id)
    assert row["status"] == "running" and int(str(row["done"])) < MEMBERS, (
        f"the job ended before the kill ({at_kill}): nothing was resumed")
    # What the dead worker committed is whole: its items, vouchers and counters agree.
    finished = await MarketingJobItem.count().where(
        (MarketingJobItem.job == job_id) & (MarketingJobItem.status != "pending")).run()
    assert finished == row["done"] == sum((await job_vouchers(job_id)).values())

    # Two at once take it over when the dead one's lease runs out.
    workers.start()
    workers.start()
    row = await _wait_for(job_id, MEMBERS, workers)
    assert (row["status"], row["issued"], row["skipped"]) == ("done", MEMBERS, 0), (
        workers.output())
    assert await job_vouchers(job_id) == Counter({m: 1 for m in members})
    assert await issued_notifications(members) == Counter({m: 1 for m in members})
    campaign = (await client.get(f"/api/v1/campaigns/{campaign_id}", headers=operator)).json()
    assert campaign["issued_count"] == MEMBERS
