"""Response bodies of the issue jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

from msgspec import Struct

from marketing.jobs.rows import JobStatus


class JobOut(Struct):
    """A job as ``GET /jobs/{id}`` answers it: the contract's ``id``, ``status``,
    ``total`` (the segment's members when the job started), ``done`` (= issued +
    skipped), ``issued``, ``skipped``; and ``skipped_by_code`` (how many were refused
    with each error code: claim_limit_reached, campaign_sold_out, campaign_inactive,
    not_found), ``waiting`` ("campaign_paused" while the campaign is paused: the job goes
    on when it is resumed), ``error`` (why a failed job failed: "campaign_gone", or
    "unexpected_error: ..." after repeated failures)."""

    id: uuid.UUID
    status: JobStatus
    total: int
    done: int
    issued: int
    skipped: int
    campaign_id: uuid.UUID
    segment_id: uuid.UUID | None
    skipped_by_code: dict[str, int]
    waiting: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
