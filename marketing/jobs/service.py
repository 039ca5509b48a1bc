"""Issuing a campaign to a segment as a background job (issue 20).

**Start** (:func:`start_issue_job`, the ``segment_issuer`` cards' ``POST
/campaigns/{id}/issue`` awaits with a ``segment_id``): the segment is evaluated once, now,
and its members are stored as the job's items, in the segment's order: ``total`` is
fixed, and the work can be resumed from the items whatever happens to the process.

**Work** (:func:`work_batch`, called by ``marketing.jobs.worker`` under the job's lease):
one batch of pending items is ONE write transaction. It first extends the lease of the
process that holds it (else it does nothing: the lease was lost), then issues to the
batch's members in one call of ``cards.public.issue_vouchers`` (source "job", the job's
id, with the members' notifications: the claim's rule in set form, a few statements per
batch): a refusal (limit, quantity, a member gone) is that member's answer only and is
recorded as skipped with its code. Each item's done mark and the job's
counters commit with the vouchers, so a crash loses the whole batch or nothing, and a
member is never issued twice for one job (the item is marked by a conditional update in
the voucher's transaction; two processes cannot both hold the lease, and the lease is
checked, and on PostgreSQL the job row locked, inside that same transaction).

A paused campaign makes the job wait (``waiting``: "campaign_paused"); an ended or sold
out campaign skips the rest at once (campaign_inactive, campaign_sold_out); a campaign
that is no longer the chain's fails the job ("campaign_gone"); so do unexpected errors
:data:`MAX_FAILURES` batches in a row ("unexpected_error: ...").
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.keys import CodeSigner
from app.core.db import write_transaction
from app.core.errors import Forbidden, NotFound
from cards import public as cards
from cards.errors import CampaignInactive
from marketing.jobs import errors
from marketing.jobs import repository as repo
from marketing.jobs.rows import ItemRow, JobRow
from marketing.jobs.schemas import JobOut
from marketing.segments import service as segments

MAX_FAILURES = 5  # unexpected batch failures in a row that fail the job
PAUSED_WAIT = timedelta(seconds=30)  # a paused campaign's job is looked at again after
FAILURE_BACKOFF = timedelta(seconds=2)  # times the failures so far: the next try
ERROR_CHARS = 500

Outcome = Literal["lost", "progress", "done", "failed", "waiting"]


def job_out(row: JobRow) -> JobOut:
    return JobOut(
        id=row["id"], status=row["status"], total=row["total"], done=row["done"],
        issued=row["issued"], skipped=row["skipped"], campaign_id=row["campaign"],
        segment_id=row["segment"], skipped_by_code=repo.codes(row), waiting=row["waiting"],
        error=row["error"], created_at=row["created_at"], finished_at=row["finished_at"])


# --- start ------------------------------------------------------------------------------

async def start_issue_job(principal: Principal, campaign_id: uuid.UUID,
                          segment_id: uuid.UUID) -> uuid.UUID:
    """Start issuing the campaign to the segment's members (operators): the job's id.
    Refuses: 404 for a campaign or segment not of the chain, 409 campaign_inactive for a
    paused campaign or one outside its dates (every member would be skipped). Joins the
    caller's write transaction (the Idempotency-Key's), else opens its own."""
    if not principal.is_operator:
        raise Forbidden()
    campaign = await cards.campaign_in_chain(principal.chain_id, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign")
    now = utcnow()
    if campaign.status != "active" or not campaign.valid_from <= now < campaign.valid_until:
        raise CampaignInactive()
    filters = await segments.segment_filters(principal, segment_id)
    members = list(dict.fromkeys(await segments.member_ids(principal, filters)))
    job_id = uuid.uuid4()
    empty = not members
    async with write_transaction():
        await repo.insert_job({
            "id": job_id, "chain": principal.chain_id, "campaign": campaign_id,
            "segment": segment_id, "status": "done" if empty else "running",
            "total": len(members), "created_by": principal.staff_id, "created_at": now,
            "updated_at": now, "finished_at": now if empty else None})
        await repo.insert_items(job_id, members)
    return job_id


# --- read -------------------------------------------------------------------------------

async def get_job(principal: Principal, job_id: uuid.UUID) -> JobOut:
    row = await repo.get_job(job_id, principal.chain_id)
    if row is None or not principal.is_operator:
        raise NotFound("no such job")
    return job_out(row)


async def list_jobs(principal: Principal, *, limit: int = 50, offset: int = 0,
                    campaign_id: uuid.UUID | None = None) -> list[JobOut]:
    if not principal.is_operator:
        raise Forbidden()
    rows = await repo.list_jobs(principal.chain_id, limit=limit, offset=offset,
                                campaign_id=campaign_id)
    return [job_out(r) for r in rows]


# --- work -------------------------------------------------------------------------------

@dataclass
class Progress:
    """A batch's counters, applied to the job's when the batch commits."""

    done: int
    issued: int
    skipped: int
    codes: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, job: JobRow) -> Progress:
        return cls(job["done"], job["issued"], job["skipped"], Counter(repo.codes(job)))

    def add(self, code: str | None, count: int = 1) -> None:
        self.done += count
        if code is None:
            self.issued += count
        else:
            self.skipped += count
            self.codes[code] += count

    def values(self) -> dict[str, Any]:
        return {"done": self.done, "issued": self.issued, "skipped": self.skipped,
                "skipped_codes": dict(self.codes)}


class ItemTaken(RuntimeError):
    """An item was no longer pending when its batch marked it: another process worked on
    the job at once (the lease forbids it). The whole batch rolls back."""


async def claim_next(lease: timedelta) -> tuple[JobRow, uuid.UUID] | None:
    """Take the lease of the oldest running job no process holds: (job, lease token), or
    None when there is none. Of two processes claiming at once, one wins each job."""
    now = utcnow()
    for job_id in await repo.claimable_jobs(now, limit=5):
        token = uuid.uuid4()
        async with write_transaction():
            job = await repo.claim_job(job_id, token, now, now + lease)
        if job is not None:
            return job, token
    return None


async def release(job_id: uuid.UUID, token: uuid.UUID) -> None:
    async with write_transaction():
        await repo.release_job(job_id, token)


async def work_batch(job_id: uuid.UUID, token: uuid.UUID, signer: CodeSigner, *,
                     size: int, lease: timedelta) -> Outcome:
    """One batch of the job's pending members (at most ``size``), in one write
    transaction (see the module's docstring): what became of it."""
    now = utcnow()
    async with write_transaction():
        job = await repo.hold_job(job_id, token, now + lease)
        if job is None:
            return "lost"
        await repo.lock_campaign(job["campaign"])
        campaign = await cards.campaign_in_chain(job["chain"], job["campaign"])
        if campaign is None:
            await _end(job, token, now, "failed", error=errors.CAMPAIGN_GONE)
            return "failed"
        if campaign.status == "paused":
            await repo.update_held(job_id, token, {
                "waiting": errors.CAMPAIGN_PAUSED, "lease_token": None,
                "lease_until": now + PAUSED_WAIT, "updated_at": now})
            return "waiting"
        progress = Progress.of(job)
        rest = _skip_all_code(campaign.valid_until, campaign.issued_count,
                              campaign.total_quantity, now)
        if rest is not None:
            progress.add(rest, await repo.skip_pending(job_id, rest, now))
        else:
            items = await repo.pending_items(job_id, job["done"], size)
            for code in await _issue_items(job, items, signer, now):
                progress.add(code)
        if progress.done >= job["total"]:
            await _end(job, token, now, "done", progress=progress)
            return "done"
        await repo.update_held(job_id, token, {**progress.values(), "failures": 0,
                                               "error": None, "waiting": None,
                                               "updated_at": now})
    return "progress"


def _skip_all_code(valid_until: datetime, issued_count: int, total_quantity: int,
                   now: datetime) -> str | None:
    """The code every remaining member would be refused with, when the campaign can
    issue no more (ended, sold out): they are all skipped at once, not one by one."""
    if now >= valid_until:
        return CampaignInactive.code
    if issued_count >= total_quantity:
        return "campaign_sold_out"
    return None


async def _issue_items(job: JobRow, items: list[ItemRow], signer: CodeSigner,
                       now: datetime) -> list[str | None]:
    """The items' vouchers, in one call of ``cards.public.issue_vouchers`` (the claim's
    rule in set form: a few statements for the whole batch), each item marked issued or
    skipped with its refusal's code in the same transaction: for each item, None when
    issued, else the code."""
    if not items:
        return []
    results = await cards.issue_vouchers(
        job["chain"], job["campaign"], [item["member"] for item in items], signer=signer,
        source="job", source_id=job["id"], notify=True, now=now)
    marks: list[tuple[uuid.UUID, str, str | None, uuid.UUID | None]] = [
        (item["id"], "skipped", result, None) if isinstance(result, str)
        else (item["id"], "issued", None, result.id)
        for item, result in zip(items, results, strict=True)]
    if await repo.finish_items(marks, now) != len(items):
        raise ItemTaken(f"job {job['id']}: an item of the batch was no longer pending")
    return [code for _, _, code, _ in marks]


async def _end(job: JobRow, token: uuid.UUID, now: datetime, status: str, *,
               progress: Progress | None = None, error: str | None = None) -> None:
    values: dict[str, Any] = progress.values() if progress is not None else {}
    await repo.update_held(job["id"], token, {
        **values, "status": status, "error": error, "waiting": None, "finished_at": now,
        "updated_at": now, "lease_token": None, "lease_until": None})


async def batch_failed(job_id: uuid.UUID, token: uuid.UUID, exc: BaseException) -> Outcome:
    """A batch failed unexpectedly (rolled back: nothing of it stands). Counted; the
    job is tried again after a while, and fails at the :data:`MAX_FAILURES`-th time in
    a row, saying why."""
    now = utcnow()
    reason = f"{errors.UNEXPECTED}: {type(exc).__name__}: {exc}"[:ERROR_CHARS]
    async with write_transaction():
        job = await repo.hold_job(job_id, token, now)
        if job is None:
            return "lost"
        failures = job["failures"] + 1
        if failures >= MAX_FAILURES:
            await _end(job, token, now, "failed", error=reason)
            return "failed"
        await repo.update_held(job_id, token, {
            "failures": failures, "error": reason, "lease_token": None,
            "lease_until": now + FAILURE_BACKOFF * failures, "updated_at": now})
    return "waiting"
