"""Request and response bodies of automations (API.md, "Marketing")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, field

from marketing.automations.rows import AutomationStatus, Trigger

Name = Annotated[str, Meta(min_length=1, max_length=120)]


class AutomationParams(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Each trigger takes its own: birthday ``days_before`` (0-60, default 0), inactive
    ``inactive_days`` (1-3650), nth_visit ``n`` (1-10000), welcome none."""

    days_before: int | None = None
    inactive_days: int | None = None
    n: int | None = None


class AutomationIn(Struct, forbid_unknown_fields=True):
    name: Name
    trigger: Trigger
    campaign_id: uuid.UUID
    params: AutomationParams = field(default_factory=AutomationParams)
    notify: bool = True
    status: AutomationStatus = "active"


class AutomationPatch(Struct, forbid_unknown_fields=True):
    name: Name | None = None
    params: AutomationParams | None = None
    notify: bool | None = None
    status: AutomationStatus | None = None
    campaign_id: uuid.UUID | None = None


class AutomationOut(Struct):
    id: uuid.UUID
    chain_id: uuid.UUID
    name: str
    trigger: Trigger
    params: dict[str, Any]
    campaign_id: uuid.UUID
    notify: bool
    status: AutomationStatus
    created_at: datetime
    updated_at: datetime


class AutomationRunOut(Struct):
    """One member's occurrence: ``status`` issued (``voucher_id``) or skipped (the issue
    was refused: ``skipped_code``, e.g. campaign_sold_out, claim_limit_reached)."""

    member_id: uuid.UUID
    voucher_id: uuid.UUID | None
    occurrence: str
    created_at: datetime
    status: Literal["issued", "skipped"]
    skipped_code: str | None = None
