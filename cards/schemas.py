"""Request and response bodies of the cards domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from cards.rows import BonusPolicy as BonusPolicy
from cards.rows import CampaignKind as CampaignKind
from cards.rows import CardKind as CardKind
from stores.schemas import MemberOut

CardStatus = Literal["active", "frozen", "expired", "cancelled"]
CardAction = Literal["charge", "visit", "earn"]
MAX_TOP_UP_CENTS = 5_000_000  # ¥50,000 per top-up
MAX_BALANCE_CENTS = 100_000_000  # ¥1,000,000 on one card
MAX_BILL_CENTS = 100_000_000
MAX_TOP_UP_OPTIONS = 12


class Tier(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=60)]
    min_points: Annotated[int, Meta(ge=0, le=1_000_000_000)]
    discount_percent: Annotated[int, Meta(ge=0, le=100)] = 0


class TopUpOption(Struct, forbid_unknown_fields=True):
    """What a member may pay online for a stored-value card, and the bonus it brings."""

    amount_cents: Annotated[int, Meta(ge=1, le=MAX_TOP_UP_CENTS)]
    bonus_cents: Annotated[int, Meta(ge=0, le=MAX_TOP_UP_CENTS)] = 0


class TemplateCreate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    kind: CardKind
    validity_days: Annotated[int, Meta(ge=1, le=36500)] | None = None
    initial_visits: Annotated[int, Meta(ge=1, le=10000)] | None = None
    points_per_yuan: Annotated[int, Meta(ge=0, le=1000)] = 0
    tiers: Annotated[list[Tier], Meta(max_length=20)] = msgspec.field(default_factory=list)
    store_ids: Annotated[list[uuid.UUID], Meta(max_length=500)] | None = None
    claimable: bool = True
    # Stored-value templates only (issue 19): amounts distinct, at most 12.
    top_up_options: Annotated[list[TopUpOption], Meta(max_length=MAX_TOP_UP_OPTIONS)] = (
        msgspec.field(default_factory=list))
    bonus_policy: BonusPolicy = "proportional"


class TemplateMoneyUpdate(Struct, forbid_unknown_fields=True):
    """PATCH /card-templates/{id}: a stored-value template's online top-up terms, each
    left as it is when left out; checked exactly as at creation."""

    top_up_options: Annotated[list[TopUpOption],
                              Meta(max_length=MAX_TOP_UP_OPTIONS)] | None = None
    bonus_policy: BonusPolicy | None = None


class TemplateOut(Struct):
    id: uuid.UUID
    chain_id: uuid.UUID
    name: str
    kind: CardKind
    validity_days: int | None
    initial_visits: int | None
    points_per_yuan: int
    tiers: list[Tier]
    store_ids: list[uuid.UUID] | None
    claimable: bool
    active: bool
    created_at: datetime
    top_up_options: list[TopUpOption]
    bonus_policy: BonusPolicy


class CardIssue(Struct, forbid_unknown_fields=True):
    template_id: uuid.UUID
    member_id: uuid.UUID
    store_id: uuid.UUID | None = None


class CardWechat(Struct):
    """A card in its member's WeChat card bag (issue 21): ``synced_at`` is when WeChat
    last took its figures (null: not yet)."""

    in_card_bag: bool
    synced_at: datetime | None


class CardOut(Struct):
    id: uuid.UUID
    template_id: uuid.UUID
    member_id: uuid.UUID
    number: str
    status: CardStatus
    balance_cents: int  # = paid_balance_cents + bonus_balance_cents
    points: int
    visits_left: int | None
    tier: str | None
    expires_at: datetime | None
    kind: CardKind
    template_name: str
    created_at: datetime
    paid_balance_cents: int
    bonus_balance_cents: int
    # Null unless the card is in its member's WeChat card bag. Filled by the endpoints
    # that answer a card (through the lookup create_app registers); null in the feed's
    # events and in the answers of write paths (they never ask: nothing added to them).
    wechat: CardWechat | None = None


class CardCode(Struct):
    code: str
    expires_at: datetime
    # The same code as 12 digits to read out ("9" + 11 digits; decision 038): same expiry,
    # and using either spends both.
    short_code: str


class TopUp(Struct, forbid_unknown_fields=True):
    amount_cents: Annotated[int, Meta(ge=1, le=MAX_TOP_UP_CENTS)]
    store_id: uuid.UUID


class LedgerEntryOut(Struct):
    id: uuid.UUID
    kind: str
    delta_cents: int  # = delta_paid_cents + delta_bonus_cents
    delta_points: int
    delta_visits: int
    balance_after_cents: int
    points_after: int
    visits_after: int | None
    store_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    created_at: datetime
    delta_paid_cents: int
    delta_bonus_cents: int


class RedeemIn(Struct, forbid_unknown_fields=True):
    store_id: uuid.UUID
    code: Annotated[str, Meta(min_length=1, max_length=512)] | None = None
    short_code: Annotated[str, Meta(pattern=r"^\d{12}$")] | None = None
    action: CardAction | None = None
    amount_cents: Annotated[int, Meta(ge=0, le=MAX_BILL_CENTS)] | None = None


class RedemptionOut(Struct):
    id: uuid.UUID
    kind: str
    action: str | None
    object_id: uuid.UUID
    store_id: uuid.UUID
    staff_id: uuid.UUID | None
    amount_cents: int | None
    discount_cents: int
    charged_cents: int
    balance_after_cents: int | None
    visits_left: int | None
    points_after: int | None
    created_at: datetime
    reversed_at: datetime | None
    # Both times of a redemption (issue 15). ``recorded_at``: the server's time of the
    # write (= created_at), on which the day sheet, the stats and the 24 h reversal window
    # count. ``redeemed_at``: the time the scanner claims; differs for an offline scan
    # (``offline``: uploaded through POST /redemptions/sync), so an auditor sees the gap.
    recorded_at: datetime
    redeemed_at: datetime
    offline: bool
    # The API key that recorded it (``staff_id`` is then null), else null (decision 041).
    api_key_id: uuid.UUID | None = None


ReversalRefusal = Literal["role", "too_late", "already_reversed"]


class RedemptionListOut(RedemptionOut):
    """A row of a store's day sheet (GET /redemptions, issue 17): the redemption with
    what the till words it with, and whether the caller may undo it."""

    member_id: uuid.UUID | None = None
    member_name: str | None = None
    member_phone_tail: str | None = None
    card_number: str | None = None
    card_kind: CardKind | None = None
    template_name: str | None = None
    campaign_name: str | None = None
    campaign_kind: CampaignKind | None = None
    reversible: bool = False
    not_reversible_reason: ReversalRefusal | None = None


class PreviewCard(Struct):
    """A scanned card as the till shows it (issue 17): figures, not words."""

    id: uuid.UUID
    number: str
    kind: CardKind
    template_name: str
    balance_cents: int
    points: int
    visits_left: int | None
    tier: str | None
    discount_percent: int
    status: CardStatus
    actions: list[CardAction]
    paid_balance_cents: int = 0
    bonus_balance_cents: int = 0


class PreviewOut(Struct, kw_only=True):
    kind: str
    object_id: uuid.UUID
    member: MemberOut
    # A card's figures and the action the till opens on (null for vouchers, bookings).
    card: PreviewCard | None = None
    default_action: CardAction | None = None
    summary: str
    voucher: VoucherPreview | None = None  # a voucher's campaign and terms (issue 17)


# gifting: given to another member by a link not accepted yet (issue 20); not spendable.
VoucherStatus = Literal["issued", "redeemed", "expired", "revoked", "gifting"]
MAX_ISSUE_BATCH = 1000


class Hours(Struct, forbid_unknown_fields=True):
    """Hours of the day a voucher may be spent, in the store's zone: "HH:MM", ``to``
    exclusive and after ``from`` (may be "24:00": to the end of the day)."""

    from_: Annotated[str, Meta(max_length=20)] = msgspec.field(name="from")
    to: Annotated[str, Meta(max_length=20)]


class CampaignCreate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    kind: CampaignKind
    total_quantity: Annotated[int, Meta(ge=1, le=10_000_000)]
    valid_from: datetime
    valid_until: datetime
    value_cents: Annotated[int, Meta(ge=1, le=MAX_BILL_CENTS)] | None = None
    percent_off: Annotated[int, Meta(ge=1, le=100)] | None = None
    max_discount_cents: Annotated[int, Meta(ge=1, le=MAX_BILL_CENTS)] | None = None
    item_name: Annotated[str, Meta(min_length=1, max_length=120)] | None = None
    min_spend_cents: Annotated[int, Meta(ge=0, le=MAX_BILL_CENTS)] = 0
    per_member_limit: Annotated[int, Meta(ge=1, le=1000)] = 1
    store_ids: Annotated[list[uuid.UUID], Meta(max_length=500)] | None = None
    # Usage rules (issue 17), checked by cards.campaign_rules (400 naming the field).
    weekdays: Annotated[list[int], Meta(max_length=20)] | None = None
    hours: Hours | None = None  # the contract's spelling (issue 20)
    time_from: Annotated[str, Meta(max_length=20)] | None = None  # older spelling of hours
    time_until: Annotated[str, Meta(max_length=20)] | None = None
    # Members may give its vouchers to another member of the chain (issue 20).
    giftable: bool = False


CannotClaim = Literal["claim_limit_reached", "campaign_sold_out", "campaign_inactive"]


class CampaignOut(Struct):
    id: uuid.UUID
    chain_id: uuid.UUID
    name: str
    kind: CampaignKind
    value_cents: int | None
    percent_off: int | None
    max_discount_cents: int | None
    item_name: str | None
    min_spend_cents: int
    total_quantity: int
    issued_count: int
    per_member_limit: int
    valid_from: datetime
    valid_until: datetime
    store_ids: list[uuid.UUID] | None
    status: Literal["active", "paused"]
    created_at: datetime
    weekdays: list[int] | None = None
    time_from: str | None = None
    time_until: str | None = None
    hours: Hours | None = None  # = time_from/time_until, the contract's spelling
    giftable: bool = False
    # A member's own claim state (null for staff).
    claimed_count: int | None = None
    can_claim: bool | None = None
    cannot_claim_reason: CannotClaim | None = None


class VoucherTerms(Struct):
    """What a voucher gives and where and when it may be spent, for pages to word."""

    kind: CampaignKind
    value_cents: int | None
    percent_off: int | None
    max_discount_cents: int | None
    item_name: str | None
    min_spend_cents: int
    store_ids: list[uuid.UUID] | None
    weekdays: list[int] | None
    time_from: str | None
    time_until: str | None
    valid_from: datetime
    valid_until: datetime
    hours: Hours | None = None  # = time_from/time_until, the contract's spelling
    giftable: bool = False


class VoucherPreview(Struct):
    campaign_name: str
    terms: VoucherTerms
    discount_cents: int | None


class CampaignResults(Struct):
    campaign_id: uuid.UUID
    issued: int
    redeemed: int
    revoked: int
    expired: int
    redemption_rate: float
    discount_cents: int
    bill_cents: int


class OfflineBundle(Struct):
    payload: str
    kid: str
    signature: str


class VoucherOut(Struct):
    id: uuid.UUID
    campaign_id: uuid.UUID
    member_id: uuid.UUID
    status: VoucherStatus
    code: str
    short_code: str
    valid_until: datetime
    redeemed_at: datetime | None
    redemption_id: uuid.UUID | None
    campaign_name: str
    kind: CampaignKind
    terms: VoucherTerms


class IssueIn(Struct, forbid_unknown_fields=True):
    """Exactly one of ``member_ids`` (issued now: 201 IssueOut) and ``segment_id`` (a
    background job: 202 IssueJobOut)."""

    member_ids: Annotated[list[uuid.UUID],
                          Meta(min_length=1, max_length=MAX_ISSUE_BATCH)] | None = None
    segment_id: uuid.UUID | None = None


class IssueJobOut(Struct):
    job_id: uuid.UUID


class Skipped(Struct):
    member_id: uuid.UUID
    code: str


class IssueOut(Struct):
    issued: list[VoucherOut]
    skipped: list[Skipped]


class SyncItem(Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=1, max_length=512)]
    redeemed_at: datetime
    client_ref: Annotated[str, Meta(min_length=1, max_length=100)]
    action: CardAction | None = None
    amount_cents: Annotated[int, Meta(ge=0, le=MAX_BILL_CENTS)] | None = None


class SyncIn(Struct, forbid_unknown_fields=True):
    store_id: uuid.UUID
    items: Annotated[list[SyncItem], Meta(min_length=1, max_length=500)]


class SyncResult(Struct, omit_defaults=True):
    client_ref: str
    status: Literal["accepted", "duplicate", "conflict", "rejected"]
    redemption_id: uuid.UUID | None = None
    code: str | None = None
    detail: str | None = None
    redeemed_at: datetime | None = None
    store_id: uuid.UUID | None = None
    store_name: str | None = None


class SyncOut(Struct):
    results: list[SyncResult]


class StaffVoucherOut(Struct):
    """A voucher as staff see it (GET /members/{id}/vouchers): VoucherOut without ``code``
    and ``short_code``. Either spends the voucher, so only its member (and the chain's
    operators, GET /vouchers/{id}) ever get them: a clerk redeems what the member shows."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    member_id: uuid.UUID
    status: VoucherStatus
    valid_until: datetime
    redeemed_at: datetime | None
    redemption_id: uuid.UUID | None
    campaign_name: str
    kind: CampaignKind
    terms: VoucherTerms


# --- member import (issue 18, decision 045) ---------------------------------------------

class ImportProblem(Struct):
    """One problem of an import file: its physical CSV line (the header is line 1), the
    column it is about (None: the whole line) and what is wrong."""

    line: int
    field: str | None
    message: str


class ImportOut(Struct):
    rows: int
    members_created: int
    members_updated: int
    cards_created: int
    dry_run: bool
    errors: list[ImportProblem]


class ImportInvalidOut(Struct):
    """The 422 ``import_invalid`` problem (RFC 9457) of a member import: every problem
    found (at most 1000 listed; ``error_count`` counts them all)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ImportProblem]
    error_count: int
