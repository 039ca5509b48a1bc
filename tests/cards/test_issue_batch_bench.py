"""Timings (O2O_BENCH=1 only; they assert nothing): N claims of one member each through
cards' claim, and a 5,000-member issue job through the jobs' worker."""

from __future__ import annotations

import os
import time
import uuid

import httpx
import pytest

from app.core.auth import Principal
from cards import vouchers
from marketing.jobs import worker
from tests.marketing.test_jobs import (
    _signer,
    add_members,
    make_campaign,
    make_segment,
    segment_issuer,  # noqa: F401  (the fixture)
    start_job,
    work_until_idle,
)
from tests.world import World

pytestmark = pytest.mark.skipif(not os.environ.get("O2O_BENCH"), reason="O2O_BENCH=1 only")


async def test_time_claims(client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    campaign_id = uuid.UUID(await make_campaign(client, operator, total_quantity=100_000))
    members = await add_members(world.a.id, 500)
    signer = _signer(world)
    started = time.perf_counter()
    for member_id in members:
        principal = Principal(kind="member", id=member_id, chain_id=world.a.id, role="member")
        await vouchers.claim(principal, campaign_id, signer)
    took = time.perf_counter() - started
    each_ms = took / len(members) * 1000
    print(f"\nBENCH claims: {len(members)} in {took:.3f} s = {each_ms:.2f} ms each")


async def test_time_job(client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    campaign_id = await make_campaign(client, operator, total_quantity=100_000)
    await add_members(world.a.id, 5000)
    segment_id = await make_segment(client, operator)
    job = await start_job(client, operator, campaign_id, segment_id)
    assert job.status_code == 202, job.text
    started = time.perf_counter()
    await work_until_idle(_signer(world), batch=worker.BATCH, deadline_s=3600)
    took = time.perf_counter() - started
    print(f"\nBENCH job: 5000 members in {took:.2f} s")
