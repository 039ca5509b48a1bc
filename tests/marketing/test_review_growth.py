"""Review of issue 20's growth side (jobs and referral) as an attacker and a chain's
marketer would read it: what the builders' tests did not try.

Jobs: a batch must not hold the campaign's row (PostgreSQL) or SQLite's write lock for
seconds, or a member's claim of the same campaign waits that long.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from marketing.jobs import worker
from marketing.jobs.tables import MarketingJob
from tests.marketing.test_jobs import (
    _signer,
    add_members,
    job_state,
    job_vouchers,
    make_campaign,
    make_segment,
    segment_issuer,  # noqa: F401 - the autouse fixture wiring the jobs' issuer
    start_job,
)
from tests.world import World

API = "/api/v1"


async def test_a_batch_never_makes_a_claim_of_its_campaign_wait_long(
        client: httpx.AsyncClient, world: World) -> None:
    """A job of 150 members in batches of 200: at ~19 ms a member on PostgreSQL one batch
    held the campaign's row ~3 s, and a member claiming that campaign meanwhile waited as
    long. A batch now stops after a short time budget and commits, so a claim waits at
    most about that budget."""
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, 150)
    campaign_id = await make_campaign(client, operator, per_member_limit=1000,
                                      total_quantity=10_000)
    segment_id = await make_segment(client, operator)
    job_id = (await start_job(client, operator, campaign_id, segment_id)).json()["job_id"]
    claimer = world.headers(world.a.members[0])

    async def work() -> None:
        while await MarketingJob.count().where(MarketingJob.status == "running").run():
            await worker.run(_signer(world), batch=200)

    waits: list[float] = []
    working = asyncio.create_task(work())
    try:
        while not working.done():
            began = time.monotonic()
            claimed = await client.post(f"{API}/campaigns/{campaign_id}/claim",
                                        headers=claimer)
            assert claimed.status_code == 201, claimed.text
            waits.append(time.monotonic() - began)
            await asyncio.sleep(0.02)  # the member's next tap, not a wait for the worker
    finally:
        await working
    state = await job_state(client, operator, job_id)
    assert (state["status"], state["issued"]) == ("done", 150)
    assert sorted((await job_vouchers(job_id)).elements()) == sorted(members)
    assert len(waits) >= 2, waits
    assert max(waits) < 1.0, f"a claim waited {max(waits):.2f} s behind a batch: {waits}"
