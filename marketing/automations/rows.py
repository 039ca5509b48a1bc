"""The rows the automations repository returns (the columns of tables.py), cast once at
the repository's boundary so mypy checks every ``row["field"]``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal, TypedDict

Trigger = Literal["birthday", "inactive", "welcome", "nth_visit"]
AutomationStatus = Literal["active", "paused"]
RunStatus = Literal["issued", "skipped"]


class AutomationRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    name: str
    trigger: str
    params: dict[str, Any]
    campaign: uuid.UUID
    notify: bool
    status: str
    created_at: datetime
    updated_at: datetime
    active_since: datetime
    swept_through: date | None
    cursor_at: datetime | None


class AutomationRunRow(TypedDict):
    id: uuid.UUID
    automation: uuid.UUID
    member: uuid.UUID
    occurrence: str
    status: str
    voucher: uuid.UUID | None
    skipped_code: str | None
    created_at: datetime
