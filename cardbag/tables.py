"""Tables of the WeChat card bag (issue 21). Plain UUID references, no foreign keys: the
rows follow cards and templates that are never deleted (they are cancelled), and a card's
removal from WeChat never touches the card.

Raw-DDL indexes (their own migration): bag cards due for a sync (partial, ``dirty``); a
chain's bag cards by template (health counts); the sync log by chain and by template,
newest first; pushes by receipt time (purge).
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class WechatCard(Table, tablename="cardbag_template"):
    """A card template made a WeChat member card (``POST /card/create``).

    ``status``: creating (our row is claimed, WeChat has not answered yet) | pending
    (WeChat's review) | approved | rejected | failed (``/card/create`` refused; a POST may
    try again).
    """

    template_id = UUID(primary_key=True)
    chain_id = UUID(null=False, index=True)
    wechat_card_id = Varchar(length=64, null=True, default=None, unique=True)
    status = Varchar(length=12, null=False, default="creating")
    reject_reason = Text(null=True, default=None)
    logo_url = Varchar(length=512, null=False)
    brand_name = Varchar(length=36, null=False)
    color = Varchar(length=16, null=True, default=None)
    notice = Varchar(length=48, null=True, default=None)
    description = Text(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    reviewed_at = Timestamptz(null=True, default=None)


class BagCard(Table, tablename="cardbag_card"):
    """A member's card that is (or was) in their WeChat card bag, and its sync state.

    ``state``: in_bag | removed. ``activated_at``: when ``/card/membercard/activate``
    succeeded (null: still to do). ``synced_seq``/``synced_tier``/``synced_status``: what
    WeChat shows (the card's ledger entry ``seq`` last pushed, its tier and status then).
    ``dirty``: the card may have changed since; the sender claims dirty rows due at
    ``due_at`` with a lease (``lease_until``/``lease_owner``), pushes what differs in
    ledger order, and clears it. ``attempts`` counts the failed tries of the current push
    (backoff), ``last_error``/``last_errcode`` the latest failure.
    """

    card_id = UUID(primary_key=True)
    chain_id = UUID(null=False)
    template_id = UUID(null=False)
    wechat_card_id = Varchar(length=64, null=False)
    code = Varchar(length=24, null=False)  # the card's number (use_custom_code)
    openid = Varchar(length=64, null=True, default=None)
    state = Varchar(length=8, null=False, default="in_bag")
    added_at = Timestamptz(null=False, default=TimestamptzNow())
    removed_at = Timestamptz(null=True, default=None)
    activated_at = Timestamptz(null=True, default=None)
    synced_seq = Integer(null=False, default=0)
    synced_tier = Varchar(length=60, null=True, default=None)
    synced_status = Varchar(length=16, null=True, default=None)
    synced_at = Timestamptz(null=True, default=None)
    dirty = Boolean(null=False, default=True)
    due_at = Timestamptz(null=False, default=TimestamptzNow())
    attempts = Integer(null=False, default=0)
    lease_until = Timestamptz(null=True, default=None)
    lease_owner = Varchar(length=36, null=True, default=None)
    last_error = Text(null=True, default=None)
    last_errcode = Integer(null=True, default=None)


class FeedCursor(Table, tablename="cardbag_cursor"):
    """How far the sync has read a chain's event feed (``core_event.sequence``): events
    after it may name cards to mark dirty."""

    chain_id = UUID(primary_key=True)
    last_sequence = BigInt(null=False, default=0)
    updated_at = Timestamptz(null=False, default=TimestamptzNow())


class SyncLog(Table, tablename="cardbag_sync_log"):
    """The sync's delivery log: each failed try (``retry``) and each given-up push
    (``failed``) to WeChat, for the operator's sync health. Successes are not logged
    (``cardbag_card.synced_at`` says when)."""

    id = UUID(primary_key=True)
    chain_id = UUID(null=False)
    template_id = UUID(null=False)
    card_id = UUID(null=False)
    action = Varchar(length=12, null=False)  # activate | update
    seq = Integer(null=True, default=None)  # the ledger entry pushed, if any
    outcome = Varchar(length=8, null=False)  # retry | failed
    errcode = Integer(null=True, default=None)  # WeChat's; null: unreachable or timeout
    note = Text(null=False, default="")
    at = Timestamptz(null=False, default=TimestamptzNow())


class TakenPush(Table, tablename="cardbag_push"):
    """A WeChat event push already applied, by a key made of what WeChat repeats in a
    retried push (FromUserName, CreateTime, Event, card and code): a push seen again is
    answered and changes nothing. Purged after a few days."""

    key = Varchar(length=255, primary_key=True)
    chain_id = UUID(null=False)
    received_at = Timestamptz(null=False, default=TimestamptzNow())
