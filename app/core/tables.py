"""Tables of the kernel: idempotency records, throttle counters, signing keys."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Integer, Text, Timestamptz, Varchar
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
