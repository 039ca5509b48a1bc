"""Idempotency-Key: the same request retried gets the first answer, and acts once.

Every write that honours the header goes through :func:`once`, in this order:

1. *claim* in a short committed transaction: insert an ``in_flight`` row with the request's
   hash. A new key costs that one insert and no read. A key seen before (the insert does
   nothing) is read once and judged: a finished row with the same hash is replayed before
   any other work (the slot a booking took is no longer free, a card's code is past its
   60 s); another hash is 409 ``idempotency_conflict``; a row still ``in_flight`` is a
   concurrent twin, 409 ``idempotency_in_flight`` (PostgreSQL's insert waits for a twin's
   claim to commit). A claim older than the lease was left by a crashed process and is
   taken over.
2. *check*: the step's reads and checks, outside any transaction (on SQLite, outside the
   write lock).
3. *effect*: the write runs in the write transaction that also stores its answer, so the
   effect and the stored answer commit together or not at all.
4. A contract error (``AppError``) from the check or the write is stored as the answer
   too: the retry sees the same problem. An unexpected exception, or a 429 (which asks
   for a retry later: a short code's misses), frees the claim so a retry can run again.

Without a key each request acts: the check, then the write, which owns its transaction
(a service opens it with ``write_transaction``, or ``atomic_statement`` for a write that
is one statement on PostgreSQL: no BEGIN and COMMIT round trips).
"""

from __future__ import annotations

import hashlib
import string
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, overload

import msgspec
from litestar import Request, Response

from app.core.clock import utcnow
from app.core.db import Sql, write_transaction
from app.core.errors import (
    AppError,
    IdempotencyConflict,
    IdempotencyInFlight,
    RateLimited,
    ValidationError,
    problem,
)
from app.core.tables import IdempotencyRecord

HEADER = "Idempotency-Key"
LEASE = timedelta(seconds=60)
RETENTION = timedelta(hours=48)
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
JSON = "application/json"
P = TypeVar("P")


# A conflict does nothing and returns no row (PostgreSQL waits for a twin's transaction).
_CLAIM = Sql(
    "INSERT INTO core_idempotency (id, caller, key, request_hash, state, claimed_at, "
    "created_at) VALUES ({}, {}, {}, {}, 'in_flight', {}, {}) "
    "ON CONFLICT (caller, key) DO NOTHING RETURNING id")


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or any(ch not in _PRINTABLE for ch in key):
        raise ValidationError(HEADER, "must be 1 to 255 printable ASCII characters")
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    """Hash of what makes two requests "the same": method, path and the decoded body."""
    digest = hashlib.sha256()
    digest.update(method.encode() + b" " + path.encode() + b"\n")
    digest.update(msgspec.json.encode(body, order="sorted"))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Call:
    """One request under its Idempotency-Key: who asks (keys are the caller's own), the
    key (None: each request acts) and the request's fingerprint."""

    caller: str
    key: str | None
    request_hash: str


def call(request: Request[Any, Any, Any], caller: str, key: str | None, body: Any) -> Call:
    """The :class:`Call` of a request: every controller's one fingerprint (method, path,
    decoded body), computed only when a key is given."""
    if validate_key(key) is None:
        return Call(caller, None, "")
    return Call(caller, key, fingerprint(request.method, request.url.path, body))


async def _claim(call: Call, key: str) -> Response[Any] | None:
    """Claim the key; returns a stored answer to replay, or None when we own the claim.

    The insert comes first (a new key, the usual case, costs no read); only a key seen
    before is read, once, and judged."""
    now = utcnow()
    async with write_transaction():
        claimed = await _CLAIM.rows(uuid.uuid4(), call.caller, key, call.request_hash,
                                    now, now)
    if claimed:
        return None
    # Claimed before, by a retry's first try or a twin still running: judge its row.
    row = await IdempotencyRecord.select().where(
        (IdempotencyRecord.caller == call.caller) & (IdempotencyRecord.key == key)
    ).first().run()
    if row is None:  # gone meanwhile (its owner failed and freed it): not ours to take
        raise IdempotencyInFlight()
    if row["request_hash"] != call.request_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request")
    if row["state"] == "done":
        return _replay(row)
    if row["claimed_at"] > now - LEASE:
        raise IdempotencyInFlight()
    async with write_transaction():  # a crashed owner's claim: take it over, once
        taken = await IdempotencyRecord.update({IdempotencyRecord.claimed_at: now}).where(
            (IdempotencyRecord.id == row["id"]) & (IdempotencyRecord.state == "in_flight")
            & (IdempotencyRecord.claimed_at == row["claimed_at"])).returning(
            IdempotencyRecord.id).run()
    if not taken:
        raise IdempotencyInFlight()
    return None


def _replay(row: dict[str, Any]) -> Response[Any]:
    return Response(content=row["response_body"].encode(), status_code=row["status_code"],
                    media_type=row["media_type"] or JSON,
                    headers={"Idempotent-Replayed": "true"})


def _this(call: Call, key: str) -> Any:
    return (IdempotencyRecord.caller == call.caller) & (IdempotencyRecord.key == key)


def _claimed(call: Call, key: str) -> Any:
    """Our claim, still a claim: a finished answer is never overwritten nor freed (a
    cancellation that lands after the commit must not let a retry act twice)."""
    return _this(call, key) & (IdempotencyRecord.state == "in_flight")


async def _finish(call: Call, key: str, status: int, body: bytes, media_type: str) -> None:
    await IdempotencyRecord.update({
        IdempotencyRecord.state: "done",
        IdempotencyRecord.status_code: status,
        IdempotencyRecord.response_body: body.decode(),
        IdempotencyRecord.media_type: media_type,
    }).where(_claimed(call, key)).run()


async def _free(call: Call, key: str) -> None:
    async with write_transaction():
        await IdempotencyRecord.delete().where(_claimed(call, key)).run()


@overload
async def once(call: Call, write: Callable[[P], Awaitable[Any]], *,
               check: Callable[[], Awaitable[P]], status_code: int = 201) -> Response[Any]: ...


@overload
async def once(call: Call, write: Callable[[], Awaitable[Any]], *,
               status_code: int = 201) -> Response[Any]: ...


async def once(call: Call, write: Callable[..., Awaitable[Any]], *,
               check: Callable[[], Awaitable[Any]] | None = None,
               status_code: int = 201) -> Response[Any]:
    """The one idempotent write path: answer a stored replay, else ``check`` (reads and
    checks, outside any transaction; its result is handed to ``write``), then ``write``
    (its own transaction, or with a key the one that stores its answer), answered with
    the encoded result. The module's docstring tells the protocol."""
    if call.key is None:
        result = await (write(await check()) if check is not None else write())
        return Response(content=msgspec.json.encode(result), status_code=status_code,
                        media_type=JSON)
    key = call.key
    replay = await _claim(call, key)
    if replay is not None:
        return replay
    try:
        checked = await check() if check is not None else None
        async with write_transaction():
            result = await (write(checked) if check is not None else write())
            body = msgspec.json.encode(result)
            await _finish(call, key, status_code, body, JSON)
    except RateLimited:
        await _free(call, key)  # "try again later": the retry must be able to run
        raise
    except AppError as err:
        rendered = problem(err.status, err.code, err.title, err.detail, err.extra)
        async with write_transaction():
            await _finish(call, key, err.status, msgspec.json.encode(rendered.content),
                          "application/problem+json")
        raise
    except BaseException:
        await _free(call, key)
        raise
    return Response(content=body, status_code=status_code, media_type=JSON)


async def purge_expired() -> None:
    """Forget keys past their retention (contract: at least 24 h)."""
    async with write_transaction():
        await IdempotencyRecord.delete().where(
            IdempotencyRecord.created_at < utcnow() - RETENTION).run()
