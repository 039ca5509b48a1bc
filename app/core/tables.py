"""Tables of the kernel: idempotency records, throttle counters, signing keys, and the
notification outbox, inbox and shared WeChat access tokens."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class IdempotencyRecord(Table, tablename="core_idempotency"):
    """One row per (caller, Idempotency-Key): the request's hash and the stored answer."""

    id = UUID(primary_key=True)
    caller = Varchar(length=80, null=False)
    key = Varchar(length=255, null=False)
    request_hash = Varchar(length=64, null=False)
    state = Varchar(length=16, null=False, default="in_flight")  # in_flight | done
    status_code = Integer(null=True, default=None)
    response_body = Text(null=True, default=None)
    media_type = Varchar(length=64, null=True, default=None)
    claimed_at = Timestamptz(null=False, default=TimestamptzNow())
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class ThrottleCounter(Table, tablename="core_throttle"):
    """Fixed-window hit counters shared by every server process (login failures...)."""

    key = Varchar(length=255, primary_key=True)
    hits = Integer(null=False, default=0)
    expires_at = BigInt(null=False, default=0)  # unix seconds


class SigningKey(Table, tablename="core_signing_key"):
    """An Ed25519 key of one chain for the signed codes (app.core.codes).

    ``kid`` is 4 random bytes as 8 lower-case hex digits, unique across every chain, so a
    kid names its chain. The private key is sealed with a key derived for this purpose
    only, with the kid as associated data. At most one ``active`` key per chain (a
    partial unique index); ``retired`` keys still verify and stay published until
    ``publish_until`` (null: for ever).
    """

    id = UUID(primary_key=True)
    chain_id = UUID(null=False, index=True)  # no foreign key: the kernel knows no domain
    kid = Varchar(length=8, null=False, unique=True)
    public_key = Varchar(length=64, null=False)  # raw 32 bytes, base64url without padding
    private_key_sealed = Text(null=False)
    status = Varchar(length=8, null=False, default="active")  # active | retired
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    retired_at = Timestamptz(null=True, default=None)
    publish_until = Timestamptz(null=True, default=None)


class Notification(Table, tablename="core_notification"):
    """The outbox: one row per event, written in the transaction of the change.

    ``status`` is pending | sent | failed | cancelled. A dispatcher claims a due pending
    row by setting ``lease_until``/``lease_owner``; an expired lease is claimed again.
    ``attempts`` counts the deliveries started. ``dedupe_key`` is unique: emitting a key
    again replaces a pending or cancelled row and leaves a sent or failed one alone.
    Indexes (raw, in later migrations): due pending rows, the chain's log, and every row
    by (created_at, id) for the live streams' tail.
    """

    id = UUID(primary_key=True)
    chain_id = UUID(null=False)  # no foreign keys: the kernel knows no domain
    member_id = UUID(null=False)
    store_id = UUID(null=True, default=None)
    event = Varchar(length=40, null=False)
    data = JSON(null=False, default="{}")
    dedupe_key = Varchar(length=255, null=False, unique=True)
    status = Varchar(length=12, null=False, default="pending")
    attempts = Integer(null=False, default=0)
    last_error = Text(null=True, default=None)
    channel = Varchar(length=12, null=True, default=None)  # inbox | wechat, once sent
    due_at = Timestamptz(null=False, default=TimestamptzNow())
    lease_until = Timestamptz(null=True, default=None)
    lease_owner = Varchar(length=36, null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class InboxMessage(Table, tablename="core_inbox_message"):
    """A member's message, rendered as text: one per notification (unique), so a
    delivery retried after a crash shows once."""

    id = UUID(primary_key=True)
    notification_id = UUID(null=False, unique=True)
    chain_id = UUID(null=False)
    member_id = UUID(null=False)
    store_id = UUID(null=True, default=None)
    event = Varchar(length=40, null=False)
    title = Varchar(length=120, null=False)
    text = Text(null=False)
    at = Timestamptz(null=False)  # when the event is for (its due time)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    # The event's data (issue 17): rendered again in the chain's locale when read, and
    # given to pages that word the message themselves. ``{}`` on older messages.
    data = JSON(null=False, default="{}")


class WechatToken(Table, tablename="core_wechat_token"):
    """A WeChat app's access token, shared by every process. ``refresh_until`` is the
    lease of the one process fetching a new token (null: nobody is)."""

    app_id = Varchar(length=64, primary_key=True)
    access_token = Text(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    refresh_until = Timestamptz(null=True, default=None)
    refresh_owner = Varchar(length=36, null=True, default=None)
    updated_at = Timestamptz(null=False, default=TimestamptzNow())


class TokenVersion(Table, tablename="core_token_version"):
    """What ends every token of one subject (a staff member) at once (app.core.revocation).

    A token carries the version current when it was issued (claim ``ver``, 0 when absent);
    one below ``version`` is refused, except the token ``kept_jti`` (the caller's own token
    when a staff member changes their own password). No row: version 0.
    """

    subject = UUID(primary_key=True)  # a staff or member id; no foreign key (kernel)
    version = Integer(null=False, default=0)
    kept_jti = Varchar(length=64, null=True, default=None)
    updated_at = Timestamptz(null=False, default=TimestamptzNow())


class RevokedToken(Table, tablename="core_revoked_token"):
    """A token ended before its ``exp`` (logout), by its ``jti``; kept until that ``exp``
    (then it is refused anyway) and purged by the housekeeping task."""

    jti = Varchar(length=64, primary_key=True)
    subject = UUID(null=False)
    expires_at = BigInt(null=False)  # unix seconds: the token's own exp


class WebhookEndpoint(Table, tablename="core_webhook_endpoint"):
    """A chain's webhook endpoint (app.core.webhooks).

    ``secret_sealed`` is the signing secret (``whsec_...``) sealed with the app's
    SecretBox, the endpoint id as associated data; after a rotation the previous one stays
    in ``old_secret_sealed`` until ``old_secret_until`` (24 h), and both sign.
    ``last_sequence`` is the last event ``sequence`` of the chain the fan-out has turned
    into deliveries (the feed's end when the endpoint is created). ``failing_since``: the
    first failed attempt of the current run of failures (null after any success); five
    days of it disable the endpoint with ``disabled_reason``.
    """

    id = UUID(primary_key=True)
    chain_id = UUID(null=False, index=True)  # no foreign key: the kernel knows no domain
    url = Varchar(length=2048, null=False)
    description = Varchar(length=500, null=True, default=None)
    events = JSON(null=False, default='["*"]')
    status = Varchar(length=12, null=False, default="enabled")  # enabled | disabled
    disabled_reason = Text(null=True, default=None)
    secret_sealed = Text(null=False)
    old_secret_sealed = Text(null=True, default=None)
    old_secret_until = Timestamptz(null=True, default=None)
    last_sequence = BigInt(null=False, default=0)
    failing_since = Timestamptz(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    updated_at = Timestamptz(null=False, default=TimestamptzNow())


class WebhookDelivery(Table, tablename="core_webhook_delivery"):
    """One event for one endpoint: the body as sent (built once, at fan-out), and its
    attempts. ``status`` is pending | delivered | failed. A worker claims a due pending
    row by setting ``lease_until``/``lease_owner``; an expired lease is claimed again (a
    process that died mid-delivery). ``object_key`` is ``family:object_id``: a row is
    not due while an earlier ``sequence`` of the same endpoint and object is pending.
    Unique (endpoint_id, event_id) and the claim and log indexes are raw, in the
    migration."""

    id = UUID(primary_key=True)
    endpoint_id = UUID(null=False)
    chain_id = UUID(null=False)
    event_id = UUID(null=False)
    sequence = BigInt(null=False)
    type = Varchar(length=40, null=False)
    object_key = Varchar(length=80, null=False)
    body = Text(null=False)
    status = Varchar(length=12, null=False, default="pending")
    attempts = Integer(null=False, default=0)
    last_status_code = Integer(null=True, default=None)
    last_error = Text(null=True, default=None)
    next_attempt_at = Timestamptz(null=False, default=TimestamptzNow())
    lease_until = Timestamptz(null=True, default=None)
    lease_owner = Varchar(length=36, null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class Event(Table, tablename="core_event"):
    """The event feed (app.core.events): one row per change the chain's other systems
    care about, written in the change's own transaction with ``sequence`` NULL; the
    sequencer numbers committed rows per chain afterwards (1, 2, 3, ... with no gap).

    Created by raw DDL (core_2026_12_06t19_21_42_042000) because of one more column not
    declared here: ``position``, the insert order given by the database (PostgreSQL: an
    identity column; SQLite: the rowid, AUTOINCREMENT), which the sequencer numbers in.
    Indexes: unique (chain_id, sequence) (the feed's reads; a number is never given
    twice), and (chain_id, position) WHERE sequence IS NULL (what is pending).
    """

    id = UUID(primary_key=True)
    chain_id = UUID(null=False)  # no foreign keys: the kernel knows no domain
    sequence = BigInt(null=True, default=None)
    type = Varchar(length=40, null=False)
    store_id = UUID(null=True, default=None)
    object_id = UUID(null=False)
    data = JSON(null=False, default="{}")
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class EventCounter(Table, tablename="core_event_counter"):
    """The last sequence handed out per chain. Only the sequencer writes it (under its
    row lock), never a change's transaction: the tills never queue on it."""

    chain_id = UUID(primary_key=True)
    last_sequence = BigInt(null=False, default=0)
    updated_at = Timestamptz(null=False, default=TimestamptzNow())


class ApiKey(Table, tablename="core_api_key"):
    """A machine credential of one chain (app.core.apikeys): the key itself is never
    stored, only ``key_hash`` (hex HMAC-SHA256 of it, keyed with a sub-key of
    O2O_SECRET_KEY: the key carries 256 random bits, so no slow hash is needed, and a
    copy of the database alone cannot test guesses) and ``prefix`` (its first 12
    characters, to tell keys apart). ``store_ids`` NULL: chain-wide."""

    id = UUID(primary_key=True)
    chain_id = UUID(null=False, index=True)  # no foreign key: the kernel knows no domain
    name = Varchar(length=100, null=False)
    prefix = Varchar(length=12, null=False)
    key_hash = Varchar(length=64, null=False, unique=True)
    scopes = JSON(null=False, default="[]")
    store_ids = JSON(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    created_by = UUID(null=True, default=None)  # the staff member who made it
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
