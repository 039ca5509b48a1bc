"""Issuing a campaign to a segment as a background job (marketing.jobs, issue 20): each
member once, the campaign's quantity and per-member limit, the notifications, the
Idempotency-Key of the 202, two workers at once, and who sees a job.

The jobs' worker is called directly here (``marketing.jobs.worker.run``); the killed and
racing ``o2o worker`` processes are in test_jobs_processes.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.core.codes.keys import CodeSigner
from app.core.db import write_transaction
from app.core.tables import Notification
from cards import public as cards_public
from cards.tables import Campaign, Voucher
from marketing.jobs import service, worker
from marketing.jobs.tables import MarketingJob, MarketingJobItem
from stores.tables import Member
from tests.world import World

API = "/api/v1"
FEBRUARY = 2  # the test members' birthday month: the segments select them by it


# --- helpers (test_jobs_processes.py uses them too) --------------------------------------

@pytest.fixture(autouse=True)
def segment_issuer(app: Litestar) -> None:
    """What create_app wires (cards' ``segment_issuer``: marketing.jobs' start)."""
    app.state.segment_issuer = service.start_issue_job



async def add_members(chain_id: uuid.UUID, count: int, *, month: int = FEBRUARY
                      ) -> list[uuid.UUID]:
    """``count`` members born in ``month``, written directly (a harness: the job is under
    test, not the member registration): their ids in the segment's order (by id)."""
    ids = sorted(uuid.uuid4() for _ in range(count))
    now = datetime.now(UTC)
    async with write_transaction():
        for start in range(0, count, 500):
            await Member.insert(*[
                Member(id=member_id, chain=chain_id, name=f"job member {start + n}",
                       birthday=date(1990, month, 1 + (start + n) % 28), created_at=now)
                for n, member_id in enumerate(ids[start:start + 500])]).run()
    return ids


async def make_campaign(client: httpx.AsyncClient, headers: dict[str, str],
                        **body: Any) -> str:
    start = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": "Come back ¥10", "kind": "cash", "value_cents": 1000,
        "total_quantity": 10_000, "per_member_limit": 1,
        "valid_from": (start - timedelta(days=1)).isoformat(),
        "valid_until": (start + timedelta(days=30)).isoformat(), **body}
    response = await client.post(f"{API}/campaigns", json=values, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def make_segment(client: httpx.AsyncClient, headers: dict[str, str],
                       month: int = FEBRUARY) -> str:
    response = await client.post(f"{API}/segments", headers=headers, json={
        "name": f"born in month {month}", "filters": {"birthday_month": month}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def start_job(client: httpx.AsyncClient, headers: dict[str, str], campaign_id: str,
                    segment_id: str, key: str | None = None) -> httpx.Response:
    return await client.post(f"{API}/campaigns/{campaign_id}/issue",
                             json={"segment_id": segment_id},
                             headers={**headers, **({"Idempotency-Key": key} if key else {})})


async def job_state(client: httpx.AsyncClient, headers: dict[str, str],
                    job_id: str) -> dict[str, Any]:
    response = await client.get(f"{API}/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def work_until_idle(signer: CodeSigner, *, batch: int = 7,
                          deadline_s: float = 20.0) -> Counter[str]:
    """Tick until no job is running (as the runner would, without its waits)."""
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + deadline_s
    while await MarketingJob.count().where(MarketingJob.status == "running").run():
        assert time.monotonic() < deadline, "jobs still running"
        ran = await worker.run(signer, batch=batch)
        if not ran:  # another worker holds them: look again shortly
            await asyncio.sleep(0.02)
        outcomes += ran
    return outcomes


async def job_vouchers(job_id: str | uuid.UUID) -> Counter[uuid.UUID]:
    """Vouchers the job issued, by member."""
    rows = await Voucher.select(Voucher.member, Voucher.source).where(
        Voucher.source_id == uuid.UUID(str(job_id))).run()
    assert all(r["source"] == "job" for r in rows)
    return Counter(r["member"] for r in rows)


async def issued_notifications(member_ids: list[uuid.UUID]) -> Counter[uuid.UUID]:
    rows = await Notification.select(Notification.member_id).where(
        (Notification.event == "voucher_issued")
        & Notification.member_id.is_in(member_ids)).run()
    return Counter(r["member_id"] for r in rows)


def _signer(world: World) -> CodeSigner:
    signer: CodeSigner = world.app.state.runtime.signer
    return signer


# --- tests ------------------------------------------------------------------------------

async def test_a_job_issues_each_member_of_the_segment_once(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, 30)
    outsiders = await add_members(world.a.id, 3, month=7)  # not in the segment
    campaign_id = await make_campaign(client, operator)
    segment_id = await make_segment(client, operator)

    started = await start_job(client, operator, campaign_id, segment_id, key="job-1")
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    again = await start_job(client, operator, campaign_id, segment_id, key="job-1")
    assert again.status_code == 202 and again.json() == {"job_id": job_id}
    assert again.headers.get("Idempotent-Replayed") == "true"
    # The segment was evaluated when the job started: a member who joins it later is not
    # in this job.
    late = await add_members(world.a.id, 1)
    state = await job_state(client, operator, job_id)
    assert {k: state[k] for k in ("id", "status", "total", "done", "issued", "skipped")} == {
        "id": job_id, "status": "running", "total": 30, "done": 0, "issued": 0, "skipped": 0}
    assert state["campaign_id"] == campaign_id and state["segment_id"] == segment_id

    outcomes = await work_until_idle(_signer(world), batch=7)
    assert outcomes["done"] == 1 and outcomes["error"] == 0
    state = await job_state(client, operator, job_id)
    assert {k: state[k] for k in ("status", "total", "done", "issued", "skipped")} == {
        "status": "done", "total": 30, "done": 30, "issued": 30, "skipped": 0}
    assert state["skipped_by_code"] == {} and state["finished_at"] is not None
    issued = await job_vouchers(job_id)
    assert issued == Counter({m: 1 for m in members})
    assert await issued_notifications(members + outsiders + late) == Counter(
        {m: 1 for m in members})
    items = await MarketingJobItem.select(MarketingJobItem.status).where(
        MarketingJobItem.job == uuid.UUID(job_id)).run()
    assert Counter(i["status"] for i in items) == {"issued": 30}

    # Nothing left to do: another tick issues nothing more.
    assert sum((await worker.run(_signer(world))).values()) == 0
    assert await job_vouchers(job_id) == issued
    listed = await client.get(f"{API}/jobs", headers=operator,
                              params={"campaign_id": campaign_id})
    assert listed.status_code == 200 and [j["id"] for j in listed.json()] == [job_id]


async def test_a_job_respects_the_quantity_and_the_per_member_limit(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, 10)
    segment_id = await make_segment(client, operator)
    # The limit: three members already hold the campaign's one voucher each.
    limited = await make_campaign(client, operator, per_member_limit=1)
    first = await client.post(f"{API}/campaigns/{limited}/issue", headers=operator,
                              json={"member_ids": [str(m) for m in members[2:5]]})
    assert first.status_code == 201 and len(first.json()["issued"]) == 3
    # The quantity: four vouchers for ten members.
    scarce = await make_campaign(client, operator, total_quantity=4, per_member_limit=3)
    jobs = [(await start_job(client, operator, c, segment_id)).json()["job_id"]
            for c in (limited, scarce)]

    await work_until_idle(_signer(world), batch=3)
    by_limit, by_quantity = [await job_state(client, operator, j) for j in jobs]
    assert (by_limit["status"], by_limit["issued"], by_limit["skipped"]) == ("done", 7, 3)
    assert by_limit["skipped_by_code"] == {"claim_limit_reached": 3}
    assert await job_vouchers(jobs[0]) == Counter({m: 1 for m in members[:2] + members[5:]})
    assert (by_quantity["status"], by_quantity["issued"], by_quantity["skipped"]) == (
        "done", 4, 6)
    assert by_quantity["skipped_by_code"] == {"campaign_sold_out": 6}
    assert sum((await job_vouchers(jobs[1])).values()) == 4
    campaign = (await client.get(f"{API}/campaigns/{scarce}", headers=operator)).json()
    assert campaign["issued_count"] == 4
    # Every member holds one voucher of the limited campaign, never two.
    held = await Voucher.select(Voucher.member).where(
        Voucher.campaign == uuid.UUID(limited)).run()
    assert Counter(r["member"] for r in held) == Counter({m: 1 for m in members})


async def test_two_workers_at_once_issue_each_member_once(
        client: httpx.AsyncClient, world: World) -> None:
    """Two ticks racing over three jobs (two of them of one campaign, to the same
    members): each job issues each member once, and the shared campaign's limit holds."""
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, 25)
    segment_id = await make_segment(client, operator)
    shared = await make_campaign(client, operator, per_member_limit=1)
    other = await make_campaign(client, operator, per_member_limit=2)
    jobs = [(await start_job(client, operator, c, segment_id)).json()["job_id"]
            for c in (shared, shared, other)]

    async def ticking() -> Counter[str]:
        return await work_until_idle(_signer(world), batch=4)

    await asyncio.gather(ticking(), ticking())
    states = [await job_state(client, operator, j) for j in jobs]
    assert [s["status"] for s in states] == ["done"] * 3
    assert all(s["done"] == s["total"] == 25 for s in states)
    # The two jobs of the shared campaign: each member got its one voucher from one of
    # them, the other job skipped it.
    shared_vouchers = await job_vouchers(jobs[0]) + await job_vouchers(jobs[1])
    assert shared_vouchers == Counter({m: 1 for m in members})
    assert states[0]["issued"] + states[1]["issued"] == 25
    assert states[0]["skipped"] + states[1]["skipped"] == 25
    assert await job_vouchers(jobs[2]) == Counter({m: 1 for m in members})
    assert await issued_notifications(members) == Counter({m: 2 for m in members})


async def test_who_sees_a_job_and_what_a_start_refuses(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    await add_members(world.a.id, 2)
    campaign_id = await make_campaign(client, operator)
    segment_id = await make_segment(client, operator)
    job_id = (await start_job(client, operator, campaign_id, segment_id)).json()["job_id"]

    other_chain = world.headers(world.b.operator)
    assert (await client.get(f"{API}/jobs/{job_id}", headers=other_chain)).status_code == 404
    assert (await client.get(f"{API}/jobs", headers=other_chain)).json() == []
    assert (await client.get(f"{API}/jobs/{uuid.uuid4()}", headers=operator)).status_code == 404
    manager = world.headers(world.a.staff["alpha-manager"])
    assert (await client.get(f"{API}/jobs/{job_id}", headers=manager)).status_code == 403
    # Another chain's segment or campaign is not found; neither form is both.
    b_segment = await make_segment(client, other_chain)
    refused = await start_job(client, operator, campaign_id, b_segment)
    assert refused.status_code == 404, refused.text
    b_campaign = await make_campaign(client, other_chain)
    assert (await start_job(client, operator, b_campaign, segment_id)).status_code == 404
    both = await client.post(f"{API}/campaigns/{campaign_id}/issue", headers=operator,
                             json={"segment_id": segment_id,
                                   "member_ids": [str(world.a.members[0].id)]})
    assert both.status_code == 400


async def _lease_runs_out(job_id: str) -> None:
    """The job's wait (a paused campaign's, a failure's backoff) is over: what the clock
    would do, without waiting for it."""
    async with write_transaction():
        await MarketingJob.update({MarketingJob.lease_until: None}).where(
            MarketingJob.id == uuid.UUID(job_id)).run()


async def test_a_paused_campaign_holds_its_job_until_resumed(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, 6)
    campaign_id = await make_campaign(client, operator)
    segment_id = await make_segment(client, operator)
    job_id = (await start_job(client, operator, campaign_id, segment_id)).json()["job_id"]
    assert (await client.post(f"{API}/campaigns/{campaign_id}/pause",
                              headers=operator)).status_code == 200
    refused = await start_job(client, operator, campaign_id, segment_id)
    assert refused.status_code == 409 and refused.json()["code"] == "campaign_inactive"

    assert (await worker.run(_signer(world), batch=4))["waiting"] == 1
    state = await job_state(client, operator, job_id)
    assert (state["status"], state["waiting"], state["done"]) == ("running", "campaign_paused", 0)
    assert sum((await worker.run(_signer(world))).values()) == 0  # not looked at meanwhile

    assert (await client.post(f"{API}/campaigns/{campaign_id}/resume",
                              headers=operator)).status_code == 200
    await _lease_runs_out(job_id)
    await work_until_idle(_signer(world), batch=4)
    state = await job_state(client, operator, job_id)
    assert (state["status"], state["issued"], state["waiting"]) == ("done", 6, None)
    assert await job_vouchers(job_id) == Counter({m: 1 for m in members})


async def test_how_a_job_fails_or_ends_early(
        client: httpx.AsyncClient, world: World, monkeypatch: Any) -> None:
    operator = world.headers(world.a.operator)
    await add_members(world.a.id, 5)
    segment_id = await make_segment(client, operator)

    # An unexpected error in every batch: each rolls back whole (nothing issued, nothing
    # marked), and the MAX_FAILURES-th in a row fails the job, saying why.
    broken = await make_campaign(client, operator)
    broken_job = (await start_job(client, operator, broken, segment_id)).json()["job_id"]

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(cards_public, "issue_vouchers", failing)
    for attempt in range(1, service.MAX_FAILURES + 1):
        assert (await worker.run(_signer(world)))["error"] == 1
        state = await job_state(client, operator, broken_job)
        assert state["done"] == 0 and not await job_vouchers(broken_job)
        assert state["status"] == ("failed" if attempt == service.MAX_FAILURES else "running")
        await _lease_runs_out(broken_job)
    assert state["error"] == "unexpected_error: RuntimeError: the disk is on fire"
    monkeypatch.undo()

    # A campaign that is no campaign of the chain any more fails its job.
    gone = await make_campaign(client, operator)
    gone_job = (await start_job(client, operator, gone, segment_id)).json()["job_id"]
    async with write_transaction():
        await Campaign.delete().where(Campaign.id == uuid.UUID(gone)).run()
    # A campaign past its end skips everyone left, at once.
    ended = await make_campaign(client, operator)
    ended_job = (await start_job(client, operator, ended, segment_id)).json()["job_id"]
    async with write_transaction():
        await Campaign.update({Campaign.valid_until: datetime.now(UTC) - timedelta(seconds=1)}
                              ).where(Campaign.id == uuid.UUID(ended)).run()
    await work_until_idle(_signer(world))
    state = await job_state(client, operator, gone_job)
    assert (state["status"], state["error"], state["done"]) == ("failed", "campaign_gone", 0)
    state = await job_state(client, operator, ended_job)
    assert (state["status"], state["done"], state["skipped"]) == ("done", 5, 5)
    assert state["skipped_by_code"] == {"campaign_inactive": 5}
