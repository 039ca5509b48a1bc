"""The jobs' tick, called by the marketing runner in every server process and in
``o2o worker`` (and by tests directly): it claims a running job under a lease and works
through it batch by batch (``service.work_batch``: one write transaction each) for at
most :data:`BUDGET_S` seconds, then gives the lease back.

Two processes ticking at once never work on one job together: the lease is taken by a
conditional update, checked again inside each batch's transaction, and a process killed
holding it leaves the job to whoever claims it once the lease has run out; the batch it
was writing rolled back with it.

Tunable through the environment (tests shrink them to catch a worker mid-job):
``O2O_JOB_BATCH`` (members per transaction, default 200: one ``issue_vouchers`` call,
~0.2 s on PostgreSQL, so a member's claim waits at most about that long for a batch)
and ``O2O_JOB_LEASE_SECONDS`` (default 60).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import Counter
from datetime import timedelta

from app.core.codes.keys import CodeSigner
from marketing.jobs import service
from marketing.tick import Tick

log = logging.getLogger("o2o.marketing.jobs")

BATCH = 200
LEASE_S = 60.0
BUDGET_S = 10.0  # a tick's time on jobs, so the runner's other ticks get their turn


def _env(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


async def tick(ctx: Tick) -> None:
    await run(ctx.signer)


async def run(signer: CodeSigner, *, budget_s: float = BUDGET_S, batch: int | None = None,
              lease_s: float | None = None) -> Counter[str]:
    """Work on running jobs for up to ``budget_s`` seconds: how many batches ended how
    (progress, done, failed, waiting, lost, error)."""
    size = batch or int(_env("O2O_JOB_BATCH", BATCH))
    lease = timedelta(seconds=lease_s or _env("O2O_JOB_LEASE_SECONDS", LEASE_S))
    deadline = time.monotonic() + budget_s
    outcomes: Counter[str] = Counter()
    while time.monotonic() < deadline:
        claimed = await service.claim_next(lease)
        if claimed is None:
            break
        job, token = claimed
        try:
            await _work(job["id"], token, signer, size, lease, deadline, outcomes)
        finally:
            await service.release(job["id"], token)
    return outcomes


async def _work(job_id: uuid.UUID, token: uuid.UUID, signer: CodeSigner, size: int,
                lease: timedelta, deadline: float, outcomes: Counter[str]) -> None:
    """Batches of one job while it makes progress and time is left."""
    while True:
        try:
            outcome: str = await service.work_batch(job_id, token, signer, size=size,
                                                    lease=lease)
        except Exception as exc:  # counted; the job fails if it repeats
            log.exception("issue job %s: batch failed", job_id)
            outcome = await service.batch_failed(job_id, token, exc)
            outcomes["error"] += 1
        outcomes[outcome] += 1
        if outcome != "progress" or time.monotonic() >= deadline:
            return
