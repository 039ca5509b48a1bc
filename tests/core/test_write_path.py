"""The kernel's one idempotent write path (``idempotency.once``), called directly: replay
before the check, conflict, in-flight twin, a contract error stored, a crash frees the
claim, a stale claim taken over, and each request acting without a key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import msgspec
import pytest

from app.core import idempotency
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.errors import IdempotencyConflict, IdempotencyInFlight, NotFound, RateLimited
from app.core.tables import IdempotencyRecord


class Steps:
    """A check and a write that count their runs."""

    def __init__(self) -> None:
        self.checks = self.writes = 0

    async def check(self) -> int:
        self.checks += 1
        return 7

    async def write(self, checked: int) -> dict[str, int]:
        self.writes += 1
        return {"checked": checked, "writes": self.writes}


def _call(key: str | None = "k-1", request_hash: str = "h-1") -> idempotency.Call:
    return idempotency.Call("test-caller", key, request_hash)


async def _once(steps: Steps, call: idempotency.Call) -> httpx.Response:
    response = await idempotency.once(call, steps.write, check=steps.check)
    assert isinstance(response.content, bytes) and response.status_code is not None
    return httpx.Response(response.status_code, content=response.content,
                          headers={**response.headers, "content-type": str(response.media_type)})


@pytest.mark.usefixtures("client")
async def test_a_retry_is_replayed_before_the_check() -> None:
    steps = Steps()
    first = await _once(steps, _call())
    again = await _once(steps, _call())
    assert (first.status_code, first.json()) == (201, {"checked": 7, "writes": 1})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert (steps.checks, steps.writes) == (1, 1)


@pytest.mark.usefixtures("client")
async def test_the_same_key_for_another_request_is_a_conflict() -> None:
    steps = Steps()
    await _once(steps, _call())
    with pytest.raises(IdempotencyConflict):
        await _once(steps, _call(request_hash="h-2"))
    assert (steps.checks, steps.writes) == (1, 1)


@pytest.mark.usefixtures("client")
async def test_a_twin_in_flight_is_refused() -> None:
    steps, release = Steps(), asyncio.Event()

    async def slow_check() -> int:
        await release.wait()  # outside any transaction: the twin can claim meanwhile
        return await steps.check()

    first = asyncio.create_task(idempotency.once(_call(), steps.write, check=slow_check))
    await asyncio.sleep(0.05)
    with pytest.raises(IdempotencyInFlight):
        await _once(steps, _call())
    release.set()
    assert (await first).status_code == 201
    assert (steps.checks, steps.writes) == (1, 1)


@pytest.mark.usefixtures("client")
async def test_a_contract_error_is_the_stored_answer() -> None:
    steps = Steps()

    async def refused() -> int:
        steps.checks += 1
        raise NotFound("no such thing")

    with pytest.raises(NotFound):
        await idempotency.once(_call(), steps.write, check=refused)
    # The retry's check would pass: the stored refusal answers first.
    again = await _once(steps, _call())
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "not_found"
    assert again.headers["idempotent-replayed"] == "true"
    assert (steps.checks, steps.writes) == (1, 0)


@pytest.mark.usefixtures("client")
async def test_an_error_in_the_write_rolls_it_back_with_the_answer() -> None:
    steps = Steps()
    marker = uuid.uuid4()

    async def write_then_refuse(_: int) -> None:
        await IdempotencyRecord.insert(IdempotencyRecord(
            id=marker, caller="other", key=str(marker), request_hash="x", state="in_flight",
            claimed_at=utcnow(), created_at=utcnow())).run()
        raise NotFound("refused after writing")

    with pytest.raises(NotFound):
        await idempotency.once(_call(), write_then_refuse, check=steps.check)
    assert not await IdempotencyRecord.exists().where(IdempotencyRecord.id == marker).run()
    assert (await _once(steps, _call())).status_code == 404


@pytest.mark.usefixtures("client")
async def test_a_crash_frees_the_claim() -> None:
    steps = Steps()

    async def crash(_: int) -> None:
        raise RuntimeError("the process fell over")

    with pytest.raises(RuntimeError):
        await idempotency.once(_call(), crash, check=steps.check)
    done = await _once(steps, _call())
    assert (done.status_code, done.json()) == (201, {"checked": 7, "writes": 1})
    assert "idempotent-replayed" not in done.headers


@pytest.mark.usefixtures("client")
async def test_a_finished_answer_is_never_freed_nor_overwritten() -> None:
    """What a cancellation landing after the commit would do (free the claim, or store
    another answer) leaves the finished answer: the retry is replayed, not run again."""
    steps = Steps()
    await _once(steps, _call())
    await idempotency._free(_call(), "k-1")
    async with write_transaction():
        await idempotency._finish(_call(), "k-1", 500, b"{}", "application/json")
    again = await _once(steps, _call())
    assert (again.status_code, again.json()) == (201, {"checked": 7, "writes": 1})
    assert steps.writes == 1


@pytest.mark.usefixtures("client")
async def test_a_429_frees_the_claim_for_the_retry_it_asks_for() -> None:
    steps = Steps()

    async def throttled() -> int:
        raise RateLimited("too many misses", retry_after=5)

    with pytest.raises(RateLimited):
        await idempotency.once(_call(), steps.write, check=throttled)
    assert (await _once(steps, _call())).status_code == 201
    assert steps.writes == 1


@pytest.mark.usefixtures("client")
async def test_a_stale_claim_is_taken_over() -> None:
    long_ago = utcnow() - idempotency.LEASE - timedelta(seconds=1)
    async with write_transaction():
        await IdempotencyRecord.insert(IdempotencyRecord(
            id=uuid.uuid4(), caller="test-caller", key="k-1", request_hash="h-1",
            state="in_flight", claimed_at=long_ago, created_at=long_ago)).run()
    steps = Steps()
    assert (await _once(steps, _call())).status_code == 201
    assert steps.writes == 1


@pytest.mark.usefixtures("client")
async def test_without_a_key_each_request_acts_and_nothing_is_stored() -> None:
    steps = Steps()
    first = await _once(steps, _call(key=None))
    second = await _once(steps, _call(key=None))
    assert [first.json()["writes"], second.json()["writes"]] == [1, 2]
    assert msgspec.json.decode(second.content) == {"checked": 7, "writes": 2}
    assert await IdempotencyRecord.count().where(
        IdempotencyRecord.caller == "test-caller").run() == 0


@pytest.mark.usefixtures("client")
async def test_a_write_without_a_check() -> None:
    async def write() -> list[int]:
        return [1]

    response = await idempotency.once(_call(), write, status_code=200)
    assert (response.status_code, msgspec.json.decode(response.content)) == (200, [1])
