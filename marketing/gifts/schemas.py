"""Request and response bodies of gifting."""

from __future__ import annotations

import uuid
from datetime import datetime

from msgspec import Struct

from cards.schemas import CampaignKind, VoucherTerms
from marketing.gifts.rows import GiftStatus


class GiftCreated(Struct):
    """POST /vouchers/{id}/gift: the link to send, shown this once (only a hash of the
    token is kept; cancel and gift again for a new link)."""

    id: uuid.UUID
    token: str
    link: str
    expires_at: datetime
    voucher_id: uuid.UUID
    status: GiftStatus


class GiftOut(Struct):
    """A gift as its giver sees it (GET /me/gifts, POST /gifts/{id}/cancel)."""

    id: uuid.UUID
    voucher_id: uuid.UUID
    status: GiftStatus
    expires_at: datetime
    created_at: datetime
    ended_at: datetime | None
    campaign_name: str | None


class GiftPreview(Struct):
    """GET /gifts/{token}: what the friend is offered, before accepting (no code)."""

    id: uuid.UUID
    status: GiftStatus
    expires_at: datetime
    own: bool  # the caller is the giver
    giver_name: str | None
    voucher_id: uuid.UUID
    campaign_name: str
    kind: CampaignKind
    terms: VoucherTerms
    valid_until: datetime
