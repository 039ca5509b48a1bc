"""The rows the cards repository returns, one shape each (the columns of cards/tables.py,
plus the few joined keys a select adds).

Piccolo and ``app.core.db.Sql`` give plain dicts; the repository casts them to these at
its boundary (no copy), so a typo in ``row["field"]`` fails mypy instead of a request.
Both engines give the same Python types: UUIDs and aware datetimes (Piccolo's SQLite
converters), JSON columns parsed by the repository.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, NotRequired, TypedDict

CardKind = Literal["membership", "stored_value", "times"]
CampaignKind = Literal["cash", "discount", "gift", "service"]
BonusPolicy = Literal["proportional", "paid_first"]


class TierRow(TypedDict):
    """One tier of a template's ``tiers`` JSON."""

    name: str
    min_points: int
    discount_percent: int


class TopUpOptionRow(TypedDict):
    """One option of a template's ``top_up_options`` JSON (issue 19)."""

    amount_cents: int
    bonus_cents: int


class TemplateRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    name: str
    kind: CardKind
    validity_days: int | None
    initial_visits: int | None
    points_per_yuan: int
    tiers: list[TierRow]
    store_ids: list[str] | None  # None: every store of the chain
    claimable: bool
    active: bool
    created_at: datetime
    top_up_options: list[TopUpOptionRow]
    bonus_policy: BonusPolicy


class CardRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    template: uuid.UUID
    member: uuid.UUID
    number: str
    status: str  # active | frozen | expired | cancelled
    balance_cents: int
    points: int
    visits_left: int | None
    tier: str | None
    expires_at: datetime | None
    ledger_seq: int
    ledger_hash: str
    issued_by: uuid.UUID | None
    issued_store: uuid.UUID | None
    created_at: datetime
    # The bonus money in balance_cents. Every row read from the table has it; a row built
    # in memory before its first ledger entry (a demo's, an import's) may leave it out: 0.
    bonus_balance_cents: NotRequired[int]


class CardView(CardRow):
    """A card with what its template adds for a reader (get_card, member_cards, a scan)."""

    kind: CardKind
    template_name: str


class LedgerRow(TypedDict):
    id: uuid.UUID
    card: uuid.UUID
    seq: int
    # issue | top_up | charge | visit | earn | reversal | adjust | opening_balance |
    # top_up_bonus | refund | refund_reverted
    kind: str
    delta_cents: int
    delta_points: int
    delta_visits: int
    balance_after_cents: int
    points_after: int
    visits_after: int | None
    store_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    created_at: datetime
    prev_hash: str
    hash: str
    delta_paid_cents: int  # delta_cents = delta_paid_cents + delta_bonus_cents
    delta_bonus_cents: int
    bonus_after_cents: int
    order_id: uuid.UUID | None


class CardNames(TypedDict):
    """What a day sheet names a card by."""

    id: uuid.UUID
    number: str
    template_name: str
    kind: CardKind


class VoucherNames(TypedDict):
    """What a day sheet names a voucher by."""

    id: uuid.UUID
    campaign_name: str
    kind: CampaignKind


class RedemptionRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    kind: str  # card | voucher | booking
    action: str | None
    object_id: uuid.UUID
    member_id: uuid.UUID | None
    store: uuid.UUID
    staff: uuid.UUID | None
    amount_cents: int | None
    discount_cents: int
    charged_cents: int
    points_earned: int
    balance_after_cents: int | None
    visits_left: int | None
    points_after: int | None
    created_at: datetime  # the server's time of the write (recorded_at)
    redeemed_at: datetime | None  # the scanner's claimed time; None on old rows
    reversed_at: datetime | None
    reversed_by: uuid.UUID | None
    client_ref: str | None
    api_key_id: uuid.UUID | None  # the API key that recorded it (decision 041)


class CampaignTerms(TypedDict):
    """What a scan reads of a voucher's campaign (``voucher_and_campaign``)."""

    name: str
    kind: CampaignKind
    value_cents: int | None
    percent_off: int | None
    max_discount_cents: int | None
    item_name: str | None
    min_spend_cents: int
    valid_from: datetime
    valid_until: datetime
    store_ids: list[str] | None  # None: every store of the chain
    # Usage rules (cards.campaign_rules): 0 = Monday; "HH:MM" in the store's zone.
    weekdays: list[int] | None
    time_from: str | None
    time_until: str | None
    # Whether its vouchers may be gifted (issue 20): read with a voucher's terms and a
    # campaign's row, not by a scan (which never needs it).
    giftable: NotRequired[bool]


class CampaignRow(CampaignTerms):
    id: uuid.UUID
    chain: uuid.UUID
    total_quantity: int
    issued_count: int
    per_member_limit: int
    status: Literal["active", "paused"]
    created_at: datetime


class VoucherState(TypedDict):
    """What a scan reads of a voucher (``voucher_and_campaign``)."""

    id: uuid.UUID
    campaign: uuid.UUID
    member: uuid.UUID
    status: str  # issued | redeemed | expired | revoked | gifting
    valid_until: datetime
    redeemed_at: datetime | None
    redeemed_store: uuid.UUID | None
    # The one live signed code: a scan compares it with the scanned one (a gift gives the
    # voucher a new code and kills the old; issue 20).
    code: str


class VoucherScan(VoucherState):
    """A voucher as a scan reads it, with its campaign's name and kind."""

    campaign_name: str
    kind: CampaignKind


class VoucherRow(VoucherState):
    chain: uuid.UUID
    short_code: str
    redemption_id: uuid.UUID | None
    revoked_at: datetime | None
    created_at: datetime
    # What issued it (issue 20): claim | issue | job | automation | referral | gift.
    source: str
    source_id: uuid.UUID | None


class VoucherView(VoucherRow, VoucherScan):
    """A voucher with its campaign's name and kind (get_voucher, member_vouchers), and the
    campaign's terms (what the voucher's ``terms`` show)."""

    terms: CampaignTerms


class VoucherCode(TypedDict):
    id: uuid.UUID
    code: str


class SyncReceiptRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    client_ref: str
    store: uuid.UUID
    status: str  # accepted | conflict | rejected
    redemption_id: uuid.UUID | None
    code: str | None
    created_at: datetime


class CampaignTally(TypedDict):
    """A campaign's vouchers by outcome and the money of its redemptions (results)."""

    issued: int
    redeemed: int
    revoked: int
    expired: int
    discount_cents: int
    bill_cents: int


class BundleVoucher(TypedDict):
    id: uuid.UUID
    campaign: uuid.UUID
    status: str  # issued | gifting
    valid_until: datetime
