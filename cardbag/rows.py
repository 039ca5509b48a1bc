"""The rows of the card bag's tables as the repositories return them (cast at their
boundary, no copy), so a typo in ``row["field"]`` fails mypy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, TypedDict

WechatCardStatus = Literal["creating", "pending", "approved", "rejected", "failed"]
BagState = Literal["in_bag", "removed"]


class WechatCardRow(TypedDict):
    template_id: uuid.UUID
    chain_id: uuid.UUID
    wechat_card_id: str | None
    status: WechatCardStatus
    reject_reason: str | None
    logo_url: str
    brand_name: str
    color: str | None
    notice: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    reviewed_at: datetime | None


class BagCardRow(TypedDict):
    card_id: uuid.UUID
    chain_id: uuid.UUID
    template_id: uuid.UUID
    wechat_card_id: str
    code: str
    openid: str | None
    state: BagState
    added_at: datetime
    removed_at: datetime | None
    activated_at: datetime | None
    synced_seq: int
    synced_tier: str | None
    synced_status: str | None
    synced_at: datetime | None
    dirty: bool
    due_at: datetime
    attempts: int
    lease_until: datetime | None
    lease_owner: str | None
    last_error: str | None
    last_errcode: int | None


class SyncLogRow(TypedDict):
    id: uuid.UUID
    chain_id: uuid.UUID
    template_id: uuid.UUID
    card_id: uuid.UUID
    action: Literal["activate", "update"]
    seq: int | None
    outcome: Literal["retry", "failed"]
    errcode: int | None
    note: str
    at: datetime
