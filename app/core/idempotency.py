"""Idempotency-Key: the same request retried gets the first answer, and acts once.

Protocol, per (caller, key):
1. *claim* in a short committed transaction: insert an ``in_flight`` row with the request's
   hash (a concurrent twin loses the unique index and answers 409 ``idempotency_in_flight``;
   a finished row with the same hash is replayed, another hash is 409
   ``idempotency_conflict``). A claim older than the lease was left by a crashed process
   and is taken over.
2. *effect*: the operation runs in the write transaction that also stores its answer, so
   the effect and the stored answer commit together or not at all.
3. A contract error (``AppError``) is stored as the answer too: the retry sees the same
   problem. An unexpected exception frees the claim so a retry can run again.
"""

from __future__ import annotations

import hashlib
import string
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Response

from app.core.clock import utcnow
from app.core.db import Sql, write_transaction
from app.core.errors import (
    AppError,
    IdempotencyConflict,
    IdempotencyInFlight,
    ValidationError,
    problem,
)
from app.core.tables import IdempotencyRecord

HEADER = "Idempotency-Key"
LEASE = timedelta(seconds=60)
RETENTION = timedelta(hours=48)
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
JSON = "application/json"


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


async def _claim(caller: str, key: str, request_hash: str) -> Response[Any] | None:
    """Claim the key; returns a stored answer to replay, or None when we own the claim.

    The insert comes first (a new key, the usual case, costs no read); only a key seen
    before is read and judged."""
    now = utcnow()
    async with write_transaction():
        claimed = await _CLAIM.rows(uuid.uuid4(), caller, key, request_hash, now, now)
    if claimed:
        return None
    # Claimed before, by a retry's first try or a twin still running: judge its row.
    row = await _find(caller, key)
    if row is None:  # gone meanwhile (its owner failed and freed it): not ours to take
        raise IdempotencyInFlight()
    if row["request_hash"] != request_hash:
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


async def _find(caller: str, key: str) -> dict[str, Any] | None:
    return await IdempotencyRecord.select().where(
        (IdempotencyRecord.caller == caller) & (IdempotencyRecord.key == key)).first().run()


async def stored_answer(caller: str, key: str | None,
                        request_hash: str) -> Response[Any] | None:
    """The stored answer of a finished request with this key (a retry), before any work.

    Lets a caller skip checks that would fail on a retry although the first try succeeded
    (a card code past its 60 s, say). A different request under the key is 409.
    """
    if validate_key(key) is None:
        return None
    assert key is not None
    row = await _find(caller, key)
    if row is None or row["state"] != "done":
        return None
    if row["request_hash"] != request_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request")
    return _replay(row)


def _replay(row: dict[str, Any]) -> Response[Any]:
    return Response(content=row["response_body"].encode(), status_code=row["status_code"],
                    media_type=row["media_type"] or JSON,
                    headers={"Idempotent-Replayed": "true"})


async def _finish(caller: str, key: str, status: int, body: bytes, media_type: str) -> None:
    await IdempotencyRecord.update({
        IdempotencyRecord.state: "done",
        IdempotencyRecord.status_code: status,
        IdempotencyRecord.response_body: body.decode(),
        IdempotencyRecord.media_type: media_type,
    }).where((IdempotencyRecord.caller == caller) & (IdempotencyRecord.key == key)).run()


Operation = Callable[[], Awaitable[Any]]


async def run(
    *,
    caller: str,
    key: str | None,
    request_hash: str,
    operation: Operation | None = None,
    prepare: Callable[[], Awaitable[Operation]] | None = None,
    status_code: int = 201,
) -> Response[Any]:
    """Run ``operation`` once per (caller, key) and answer with its encoded result.

    Or ``prepare``: its reads and checks run outside the write transaction (on SQLite,
    outside the write lock) and it returns the operation, which opens its own write
    transaction (or joins this one, with a key) or is atomic alone (a voucher's spend is
    one statement on PostgreSQL: no BEGIN and COMMIT round trips); its errors count as
    the operation's (a contract error is the stored answer)."""
    if (operation is None) == (prepare is None):
        raise TypeError("give exactly one of operation and prepare")
    key = validate_key(key)
    if key is None:
        if prepare is not None:
            result = await (await prepare())()
        else:
            assert operation is not None
            async with write_transaction():
                result = await operation()
        return Response(content=msgspec.json.encode(result), status_code=status_code,
                        media_type=JSON)

    replay = await _claim(caller, key, request_hash)
    if replay is not None:
        return replay
    try:
        step = operation if prepare is None else await prepare()
        assert step is not None
        async with write_transaction():
            result = await step()
            body = msgspec.json.encode(result)
            await _finish(caller, key, status_code, body, JSON)
    except AppError as err:
        rendered = problem(err.status, err.code, err.title, err.detail, err.extra)
        async with write_transaction():
            await _finish(caller, key, err.status, msgspec.json.encode(rendered.content),
                          "application/problem+json")
        raise
    except BaseException:
        async with write_transaction():
            await IdempotencyRecord.delete().where(
                (IdempotencyRecord.caller == caller) & (IdempotencyRecord.key == key)).run()
        raise
    return Response(content=body, status_code=status_code, media_type=JSON)


async def purge_expired() -> None:
    """Forget keys past their retention (contract: at least 24 h)."""
    async with write_transaction():
        await IdempotencyRecord.delete().where(
            IdempotencyRecord.created_at < utcnow() - RETENTION).run()
