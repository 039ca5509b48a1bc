"""The rows the gifts repository returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, TypedDict

GiftStatus = Literal["pending", "accepted", "cancelled", "expired"]


class GiftRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    voucher: uuid.UUID
    giver: uuid.UUID
    token_hash: str
    status: GiftStatus
    expires_at: datetime
    accepted_by: uuid.UUID | None
    ended_at: datetime | None
    created_at: datetime
