"""Tables of card templates, cards, the card ledger, redemptions and spent card codes.

Raw-DDL indexes (their own migration): one *active* card per (template, member) as a
partial unique index; (card, seq) unique on the ledger.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from stores.tables import Chain, Member, Staff, Store


class CardTemplate(Table, tablename="card_template"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    kind = Varchar(length=16, null=False)  # membership | stored_value | times
    validity_days = Integer(null=True, default=None)
    initial_visits = Integer(null=True, default=None)
    points_per_yuan = Integer(null=False, default=0)
    tiers = JSON(null=False, default="[]")  # [{name, min_points, discount_percent}]
    store_ids = JSON(null=True, default=None)  # null: every store of the chain
    # Members may take the card themselves (POST /card-templates/{id}/claim); a chain that
    # sells prepaid visits sets this false so only staff issue them.
    claimable = Boolean(null=False, default=True)
    active = Boolean(null=False, default=True)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # Online top-up (issue 19, decision 049), stored-value templates only: what a member
    # may pay ([{amount_cents, bonus_cents}]) and how a charge splits paid and bonus money.
    top_up_options = JSON(null=False, default="[]")
    bonus_policy = Varchar(length=16, null=False, default="proportional")  # | paid_first


class Card(Table, tablename="card"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    # Not index=True: Piccolo would name that index "card_template", the table's own name;
    # the (template, member) unique index in the raw migration serves lookups by template.
    template = ForeignKey(CardTemplate, null=False, on_delete=OnDelete.restrict)
    member = ForeignKey(Member, null=False, on_delete=OnDelete.restrict, index=True)
    number = Varchar(length=24, null=False, unique=True)
    status = Varchar(length=16, null=False, default="active")
    balance_cents = BigInt(null=False, default=0)
    points = BigInt(null=False, default=0)
    visits_left = Integer(null=True, default=None)
    tier = Varchar(length=60, null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    ledger_seq = Integer(null=False, default=0)
    ledger_hash = Varchar(length=64, null=False, default="")
    issued_by = ForeignKey(Staff, null=True, default=None, on_delete=OnDelete.set_null)
    issued_store = ForeignKey(Store, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # The bonus money in balance_cents (paid money = balance_cents - bonus_balance_cents).
    bonus_balance_cents = BigInt(null=False, default=0)


class LedgerEntry(Table, tablename="card_ledger"):
    """Append-only; ``hash`` = sha256(prev_hash ‖ canonical entry)."""

    id = UUID(primary_key=True)
    card = ForeignKey(Card, null=False, on_delete=OnDelete.restrict, index=True)
    seq = Integer(null=False)
    kind = Varchar(length=16, null=False)
    delta_cents = BigInt(null=False, default=0)
    delta_points = BigInt(null=False, default=0)
    delta_visits = Integer(null=False, default=0)
    balance_after_cents = BigInt(null=False, default=0)
    points_after = BigInt(null=False, default=0)
    visits_after = Integer(null=True, default=None)
    store_id = UUID(null=True, default=None)
    staff_id = UUID(null=True, default=None)
    redemption_id = UUID(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    prev_hash = Varchar(length=64, null=False)
    hash = Varchar(length=64, null=False)
    # Paid and bonus money (issue 19, decision 049): delta_cents = paid + bonus, always;
    # bonus_after_cents the card's bonus money after the entry; order_id the top-up order
    # of an online top_up, top_up_bonus, refund or refund_reverted.
    delta_paid_cents = BigInt(null=False, default=0)
    delta_bonus_cents = BigInt(null=False, default=0)
    bonus_after_cents = BigInt(null=False, default=0)
    order_id = UUID(null=True, default=None)


class Redemption(Table, tablename="redemption"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=16, null=False)  # card | voucher | booking
    action = Varchar(length=16, null=True, default=None)
    object_id = UUID(null=False, index=True)
    member_id = UUID(null=True, default=None)
    # No index of its own: redemption_store_created (store, created_at) serves it.
    store = ForeignKey(Store, null=False, on_delete=OnDelete.restrict, index=False)
    staff = ForeignKey(Staff, null=True, default=None, on_delete=OnDelete.set_null)
    amount_cents = BigInt(null=True, default=None)
    discount_cents = BigInt(null=False, default=0)
    charged_cents = BigInt(null=False, default=0)
    points_earned = BigInt(null=False, default=0)
    balance_after_cents = BigInt(null=True, default=None)
    visits_left = Integer(null=True, default=None)
    points_after = BigInt(null=True, default=None)
    # The server's time of the write (the API's ``recorded_at``): the reversal window, the
    # day sheet and the stats key on it, so a late upload never lands on a closed day.
    created_at = Timestamptz(null=False, default=TimestamptzNow(), index=True)
    # The time the scanner claims (offline: its own clock, inside the chain's window);
    # NULL on rows from before it was kept, read as created_at.
    redeemed_at = Timestamptz(null=True, default=None)
    reversed_at = Timestamptz(null=True, default=None)
    reversed_by = UUID(null=True, default=None)
    # An offline scanner's own id for the item (POST /redemptions/sync); unique per chain.
    client_ref = Varchar(length=100, null=True, default=None)
    # The API key that recorded it (a till's POS; decision 041), when no person did.
    api_key_id = UUID(null=True, default=None)


class CardCodeExpiry(Table, tablename="card_code_expiry"):
    """The second each live dynamic code of a card ends on, one row each. The code format
    has no nonce, so two codes of one card that end on the same second are the same code;
    the primary key keeps every server process from handing out such a twin."""

    key = Varchar(length=64, primary_key=True)  # "<card id> <unix seconds>"
    expires_at = Timestamptz(null=False, index=True)


class SpentCode(Table, tablename="spent_code"):
    """A dynamic card code is spent by inserting its hash: the unique key decides races."""

    code_hash = Varchar(length=64, primary_key=True)
    redemption_id = UUID(null=False)
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class Campaign(Table, tablename="campaign"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    kind = Varchar(length=16, null=False)  # cash | discount | gift | service
    value_cents = BigInt(null=True, default=None)
    percent_off = Integer(null=True, default=None)
    max_discount_cents = BigInt(null=True, default=None)
    item_name = Varchar(length=120, null=True, default=None)
    min_spend_cents = BigInt(null=False, default=0)
    total_quantity = Integer(null=False)
    issued_count = Integer(null=False, default=0)
    per_member_limit = Integer(null=False, default=1)
    valid_from = Timestamptz(null=False)
    valid_until = Timestamptz(null=False)
    store_ids = JSON(null=True, default=None)
    status = Varchar(length=16, null=False, default="active")  # active | paused
    # Usage rules (issue 17): days of the week (0 = Monday; NULL every day) and hours of
    # the day ("HH:MM", both NULL for all day), in the redeeming store's zone.
    weekdays = JSON(null=True, default=None)
    time_from = Varchar(length=5, null=True, default=None)
    time_until = Varchar(length=5, null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # Members may give its vouchers to another member of the chain (issue 20).
    giftable = Boolean(null=False, default=False)


class CampaignClaims(Table, tablename="campaign_claims"):
    """Vouchers per (campaign, member): the per-member limit is a conditional upsert here.
    Unique index: (campaign, member)."""

    id = UUID(primary_key=True)
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    member = ForeignKey(Member, null=False, on_delete=OnDelete.cascade)
    claimed = Integer(null=False, default=0)


class Voucher(Table, tablename="voucher"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.restrict, index=True)
    member = ForeignKey(Member, null=False, on_delete=OnDelete.restrict, index=True)
    status = Varchar(length=16, null=False, default="issued")
    code = Varchar(length=200, null=False)
    short_code = Varchar(length=12, null=False, unique=True)
    valid_until = Timestamptz(null=False)
    redeemed_at = Timestamptz(null=True, default=None)
    redemption_id = UUID(null=True, default=None)
    redeemed_store = UUID(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # What issued it (issue 20): claim | issue | job | automation | referral | gift, and
    # the job, automation or referral it came from (their results read these). Indexed
    # by its own migration (voucher_source_id, the rows that have one).
    source = Varchar(length=16, null=False, default="claim")
    source_id = UUID(null=True, default=None)


class SyncReceipt(Table, tablename="sync_receipt"):
    """The outcome of each offline item, by the scanner's client_ref (unique per chain), so
    a replayed batch answers ``duplicate`` for every item and changes nothing."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict)
    client_ref = Varchar(length=100, null=False)
    store = ForeignKey(Store, null=False, on_delete=OnDelete.restrict)
    status = Varchar(length=16, null=False)  # accepted | conflict | rejected
    redemption_id = UUID(null=True, default=None)
    code = Varchar(length=40, null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class CardShortCode(Table, tablename="card_short_code"):
    """The digits a member reads out when the camera fails: one row per dynamic card code
    (GET /cards/{id}/code), naming that very code, so using the digits spends the code.
    ``9`` and 11 random digits, never a voucher's short code (decision 038); kept a day
    past ``expires_at`` so a late try answers code_expired, then purged."""

    short_code = Varchar(length=12, primary_key=True)
    chain = UUID(null=False)
    card = UUID(null=False)
    code = Varchar(length=512, null=False)
    expires_at = Timestamptz(null=False, index=True)
