"""Every query of the issue jobs. No rules here: callers decide what a row means.

Writes join the caller's write transaction (the service or the worker opens it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.db import Sql, current_engine, for_update, is_sqlite, json_column
from cards.tables import Campaign
from marketing.jobs.rows import ItemRow, JobRow
from marketing.jobs.tables import MarketingJob, MarketingJobItem

Values = Mapping[str, Any]
INSERT_CHUNK = 1000  # item rows per INSERT (4 parameters each: under both engines' limits)


def codes(row: JobRow) -> dict[str, int]:
    """The job's skipped counts by error code (a JSON column: text as read)."""
    return {str(k): int(v) for k, v in (json_column(row["skipped_codes"]) or {}).items()}


# --- jobs -------------------------------------------------------------------------------

async def insert_job(values: Values) -> None:
    await MarketingJob.insert(MarketingJob(**values)).run()


_INSERT_INTO = "INSERT INTO marketing_job_item (id, job, position, member, status) VALUES "


def _insert_items(rows: int) -> Sql:
    return Sql(_INSERT_INTO + ", ".join(["({}, {}, {}, {}, 'pending')"] * rows))


_INSERT_FULL = _insert_items(INSERT_CHUNK)


# PostgreSQL: the whole list as one array parameter, one statement (100,000 members:
# 1.4 s against 2.4 s for 100 statements of 1,000 rows: the start's transaction is shorter).
_INSERT_ARRAY = Sql(
    "INSERT INTO marketing_job_item (id, job, position, member, status) "
    "SELECT gen_random_uuid(), {}, (t.n - 1)::int, t.m, 'pending' "
    "FROM unnest({}::uuid[]) WITH ORDINALITY AS t(m, n)")


async def insert_items(job_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> None:
    """The job's members, at positions 0..n-1 in the order given, all pending: on
    PostgreSQL one statement, on SQLite one multi-row statement per
    :data:`INSERT_CHUNK` (a segment may hold 100,000 members)."""
    if not member_ids:
        return
    if not is_sqlite(current_engine()):
        await _INSERT_ARRAY.rows(job_id, list(member_ids))
        return
    for start in range(0, len(member_ids), INSERT_CHUNK):
        chunk = member_ids[start:start + INSERT_CHUNK]
        args: list[Any] = []
        for n, member in enumerate(chunk):
            args += (uuid.uuid4(), job_id, start + n, member)
        statement = _INSERT_FULL if len(chunk) == INSERT_CHUNK else _insert_items(len(chunk))
        await statement.rows(*args)


async def get_job(job_id: uuid.UUID, chain_id: uuid.UUID) -> JobRow | None:
    row = await MarketingJob.select().where(
        (MarketingJob.id == job_id) & (MarketingJob.chain == chain_id)).first().run()
    return cast(JobRow | None, row)


async def list_jobs(chain_id: uuid.UUID, *, limit: int, offset: int,
                    campaign_id: uuid.UUID | None = None) -> list[JobRow]:
    """The chain's jobs, newest first (index (chain, created_at))."""
    where: Combinable = MarketingJob.chain == chain_id
    if campaign_id is not None:
        where &= MarketingJob.campaign == campaign_id
    rows = await MarketingJob.select().where(where).order_by(
        MarketingJob.created_at, ascending=False).limit(limit).offset(offset).run()
    return cast(list[JobRow], rows)


async def claimable_jobs(now: datetime, limit: int) -> list[uuid.UUID]:
    """Running jobs no process holds (no lease, or a lease run out), oldest first."""
    rows = await MarketingJob.select(MarketingJob.id).where(
        (MarketingJob.status == "running")
        & (MarketingJob.lease_until.is_null() | (MarketingJob.lease_until < now))
    ).order_by(MarketingJob.created_at).limit(limit).run()
    return [r["id"] for r in rows]


async def claim_job(job_id: uuid.UUID, token: uuid.UUID, now: datetime,
                    lease_until: datetime) -> JobRow | None:
    """Take the job's lease if it is still free (the same condition as
    :func:`claimable_jobs`, in the update itself: of two processes, one wins)."""
    rows = await MarketingJob.update({
        MarketingJob.lease_token: token, MarketingJob.lease_until: lease_until,
    }).where(
        (MarketingJob.id == job_id) & (MarketingJob.status == "running")
        & (MarketingJob.lease_until.is_null() | (MarketingJob.lease_until < now))
    ).returning(*MarketingJob.all_columns()).run()
    return cast(JobRow, rows[0]) if rows else None


async def hold_job(job_id: uuid.UUID, token: uuid.UUID,
                   lease_until: datetime) -> JobRow | None:
    """Inside a batch's write transaction, first: the job as it stands, its lease
    extended, if this process still holds it (None: the lease was lost). On PostgreSQL
    the update also locks the row until the batch commits, so no claim can take it in
    between."""
    rows = await MarketingJob.update({MarketingJob.lease_until: lease_until}).where(
        (MarketingJob.id == job_id) & (MarketingJob.lease_token == token)
        & (MarketingJob.status == "running")
    ).returning(*MarketingJob.all_columns()).run()
    return cast(JobRow, rows[0]) if rows else None


async def update_held(job_id: uuid.UUID, token: uuid.UUID, values: Values) -> bool:
    """Write the job's progress (or its end) if this process still holds it."""
    changes: dict[Any, Any] = {getattr(MarketingJob, k): v for k, v in values.items()}
    if "skipped_codes" in values:
        changes[MarketingJob.skipped_codes] = json.dumps(values["skipped_codes"],
                                                         sort_keys=True)
    rows = await MarketingJob.update(changes).where(
        (MarketingJob.id == job_id) & (MarketingJob.lease_token == token)
    ).returning(MarketingJob.id).run()
    return bool(rows)


async def release_job(job_id: uuid.UUID, token: uuid.UUID) -> None:
    """Give the lease back (another process may go on at once)."""
    await MarketingJob.update({
        MarketingJob.lease_token: None, MarketingJob.lease_until: None,
    }).where((MarketingJob.id == job_id) & (MarketingJob.lease_token == token)).run()


async def lock_campaign(campaign_id: uuid.UUID) -> None:
    """Lock the campaign's row for the rest of the write transaction (PostgreSQL; SQLite's
    write transaction already serialises writers). A batch takes it first, so two jobs
    of one campaign take turns instead of deadlocking on the claim rows and the campaign
    row that issuing locks in the other order."""
    await for_update(Campaign.select(Campaign.id).where(Campaign.id == campaign_id)).run()


# --- items ------------------------------------------------------------------------------

async def pending_items(job_id: uuid.UUID, from_position: int, limit: int) -> list[ItemRow]:
    """The next pending items, in position order (index (job, position)): every item
    before ``from_position`` (the job's ``done``) is finished."""
    rows = await MarketingJobItem.select().where(
        (MarketingJobItem.job == job_id) & (MarketingJobItem.position >= from_position)
        & (MarketingJobItem.status == "pending")
    ).order_by(MarketingJobItem.position).limit(limit).run()
    return cast(list[ItemRow], rows)


_FINISH_ITEM = Sql(
    "UPDATE marketing_job_item SET status = {}, code = {}, voucher = {}, done_at = {} "
    "WHERE id = {} AND status = 'pending' RETURNING id")


async def finish_item(item_id: uuid.UUID, status: str, *, code: str | None,
                      voucher_id: uuid.UUID | None, now: datetime) -> bool:
    """pending → issued or skipped; False when it was not pending any more."""
    return bool(await _FINISH_ITEM.rows(status, code, voucher_id, now, item_id))


# PostgreSQL: a batch's marks as arrays, one statement.
_FINISH_ARRAY = Sql(
    "UPDATE marketing_job_item AS i SET status = t.s, code = t.c, voucher = t.v, done_at = {} "
    "FROM unnest({}::uuid[], {}::text[], {}::text[], {}::uuid[]) AS t(id, s, c, v) "
    "WHERE i.id = t.id AND i.status = 'pending' RETURNING i.id")


async def finish_items(marks: Sequence[tuple[uuid.UUID, str, str | None, uuid.UUID | None]],
                       now: datetime) -> int:
    """Many items pending → issued or skipped (``marks``: item id, status, code,
    voucher): how many were still pending. PostgreSQL: one statement; SQLite (in-process:
    a statement costs no round trip) one per item."""
    if not marks:
        return 0
    if not is_sqlite(current_engine()):
        ids, statuses, item_codes, vouchers = (list(c) for c in zip(*marks, strict=True))
        return len(await _FINISH_ARRAY.rows(now, ids, statuses, item_codes, vouchers))
    done = 0
    for item_id, status, code, voucher_id in marks:
        done += bool(await _FINISH_ITEM.rows(status, code, voucher_id, now, item_id))
    return done


async def skip_pending(job_id: uuid.UUID, code: str, now: datetime) -> int:
    """Every pending item of the job → skipped with ``code``; how many."""
    rows = await MarketingJobItem.update({
        MarketingJobItem.status: "skipped", MarketingJobItem.code: code,
        MarketingJobItem.done_at: now,
    }).where((MarketingJobItem.job == job_id) & (MarketingJobItem.status == "pending")
             ).returning(MarketingJobItem.id).run()
    return len(rows)
