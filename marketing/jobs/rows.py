"""The rows the jobs repository returns (the columns of marketing/jobs/tables.py), cast
once at the repository's boundary so mypy checks every ``row["field"]``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, TypedDict

JobStatus = Literal["running", "done", "failed"]
ItemStatus = Literal["pending", "issued", "skipped"]


class JobRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    campaign: uuid.UUID
    segment: uuid.UUID | None
    status: JobStatus
    total: int
    done: int
    issued: int
    skipped: int
    skipped_codes: Any  # JSON: {code: count} (text as read; repository.codes() parses)
    error: str | None
    failures: int
    waiting: str | None
    lease_token: uuid.UUID | None
    lease_until: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class ItemRow(TypedDict):
    id: uuid.UUID
    job: uuid.UUID
    position: int
    member: uuid.UUID
    status: ItemStatus
    code: str | None
    voucher: uuid.UUID | None
    done_at: datetime | None
