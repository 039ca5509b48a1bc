"""Rows of the referral tables, as the repository returns them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypedDict


class ProgramRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    referrer_campaign: uuid.UUID
    invitee_campaign: uuid.UUID
    status: str
    updated_at: datetime
    require_verified_phone: bool
    reward_after_reversal_window: bool


class ReferralRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    referrer: uuid.UUID
    invitee: uuid.UUID
    code: str
    status: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    redemption_id: uuid.UUID | None
    referrer_voucher: uuid.UUID | None
    invitee_voucher: uuid.UUID | None
    referrer_skip: str | None
    invitee_skip: str | None


class DueRow(TypedDict):
    """A pending invite of an active program whose invitee has a redemption not reversed."""

    id: uuid.UUID
    chain: uuid.UUID
