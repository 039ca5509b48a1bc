"""Tables of the kernel: idempotency records and throttle counters."""

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
