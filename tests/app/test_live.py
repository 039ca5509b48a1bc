"""Live updates (app/live.py) through a real server process and a real HTTP client
reading the event stream, on both engines: a card used through another process (the test
process's app, or on PostgreSQL a second server) reaches the stream within about a second;
tickets are single use; streams per member are bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.world import World

API = "/api/v1"


class Events:
    """A stream read by a task: (event, data) pairs as they arrive."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.comments: list[str] = []

    async def next(self, event: str, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event!r} event within {timeout} s")
            name, data = await asyncio.wait_for(self.queue.get(), left)
            if name == event:
                return data


async def _ticket(base: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.post(f"{API}/me/events/ticket", headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])


@contextlib.asynccontextmanager
async def stream(base: str, ticket: str) -> AsyncIterator[Events]:
    events = Events()
    ready = asyncio.Event()
    status: list[int] = []

    async def read() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=60)) as http, \
                http.stream("GET", f"{API}/me/events", params={"ticket": ticket}) as response:
            status.append(response.status_code)
            assert response.headers["content-type"].startswith("text/event-stream")
            name, data = "message", ""
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    events.comments.append(line)
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "":
                    if data:
                        await events.queue.put((name, json.loads(data)))
                        if name == "ready":
                            ready.set()
                    name, data = "message", ""

    task = asyncio.create_task(read())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert status == [200]
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class Till:
    """A clerk's and an operator's calls through one server."""

    def __init__(self, world: World, base: str, http: httpx.AsyncClient | None = None) -> None:
        self.world, self.base, self.http = world, base, http
        a = world.a
        self.operator = world.headers(a.operator)
        self.clerk = world.headers(a.staff["alpha-clerk1"])
        self.manager = world.headers(a.staff["alpha-manager"])
        self.member = world.a.members[0]
        self.store = str(a.stores[0])

    async def call(self, method: str, path: str, headers: dict[str, str],
                   body: dict[str, Any] | None = None, want: int = 201) -> Any:
        if self.http is not None:
            response = await self.http.request(method, API + path, json=body, headers=headers)
        else:
            async with httpx.AsyncClient(base_url=self.base, timeout=10) as http:
                response = await http.request(method, API + path, json=body, headers=headers)
        assert response.status_code == want, response.text
        return response.json()

    async def card(self, kind: str, **extra: Any) -> dict[str, Any]:
        template = await self.call("POST", "/card-templates", self.operator,
                                   {"name": f"储值卡 {kind}", "kind": kind, **extra})
        card: dict[str, Any] = await self.call("POST", "/cards", self.clerk, {
            "template_id": template["id"], "member_id": str(self.member.id),
            "store_id": self.store})
        return card

    async def code(self, card_id: str) -> str:
        got = await self.call("GET", f"/cards/{card_id}/code",
                              self.world.headers(self.member), want=200)
        return str(got["code"])

    async def redeem(self, card_id: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/redemptions", self.clerk, {
            "code": await self.code(card_id), "store_id": self.store, **body})
        return result


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    live = LiveServer(database_url)
    await asyncio.to_thread(live.start)
    yield live
    await asyncio.to_thread(live.stop)


async def test_a_charge_reaches_the_stream(server: LiveServer, world: World,
                                           client: httpx.AsyncClient) -> None:
    """The stream is held by the server process; the card is moved through the same
    server (the in-process hint) and through another process (the test's own app: the
    outbox tail), and every move arrives within about a second."""
    till = Till(world, server.base_url)
    member = world.headers(till.member)
    card = await till.card("stored_value", points_per_yuan=1)
    await till.call("POST", f"/cards/{card['id']}/top-ups", till.clerk,
                    {"amount_cents": 500_000, "store_id": till.store})
    async with stream(server.base_url, await _ticket(server.base_url, member)) as events:
        started = time.monotonic()
        charge = await till.redeem(card["id"], action="charge", amount_cents=8_800)
        got = await events.next("card", timeout=3)
        assert time.monotonic() - started < 2.5
        assert got["card_id"] == card["id"]
        assert (got["balance_cents"], got["points"], got["status"]) == (491_200, 88, "active")
        assert got["redemption"]["action"] == "charge"
        assert got["redemption"]["charged_cents"] == 8_800
        assert got["redemption"]["store_id"] == till.store
        assert got["redemption"]["store_name"] == "alpha store 1"

        # Through another process: the test's in-process app on the same database.
        other = Till(world, "", client)
        started = time.monotonic()
        await other.call("POST", f"/cards/{card['id']}/top-ups", other.clerk,
                         {"amount_cents": 10_000, "store_id": other.store})
        got = await events.next("card", timeout=4)
        assert time.monotonic() - started < 3
        assert got["balance_cents"] == 501_200
        assert got["redemption"]["action"] == "top_up"

        # A reversal gives the money back.
        await till.call("POST", f"/redemptions/{charge['id']}/reverse", till.manager, {},
                        want=200)
        got = await events.next("card", timeout=4)
        assert got["balance_cents"] == 510_000
        assert got["redemption"]["action"] == "reversal"


async def test_a_visit_and_a_voucher(server: LiveServer, world: World) -> None:
    till = Till(world, server.base_url)
    member = world.headers(till.member)
    template = await till.call("POST", "/card-templates", till.operator, {
        "name": "十次卡", "kind": "times", "initial_visits": 10})
    card = await till.call("POST", "/cards", till.clerk, {
        "template_id": template["id"], "member_id": str(till.member.id),
        "store_id": till.store})
    now = datetime.now(UTC)
    campaign = await till.call("POST", "/campaigns", till.operator, {
        "name": "Twenty off", "kind": "cash", "value_cents": 2_000, "total_quantity": 10,
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat()})
    voucher = await till.call("POST", f"/campaigns/{campaign['id']}/claim", member, {})
    async with stream(server.base_url, await _ticket(server.base_url, member)) as events:
        await till.redeem(card["id"], action="visit")
        got = await events.next("card")
        assert got["card_id"] == card["id"] and got["visits_left"] == card["visits_left"] - 1
        assert got["redemption"]["action"] == "visit"
        await till.call("POST", "/redemptions", till.clerk, {
            "code": voucher["code"], "store_id": till.store, "amount_cents": 8_000})
        got = await events.next("voucher")
        assert got == {"voucher_id": voucher["id"], "status": "redeemed",
                       "store_name": "alpha store 1", "redeemed_at": got["redeemed_at"]}
        assert got["redeemed_at"]


async def test_tickets_and_limits(server: LiveServer, world: World) -> None:
    base = server.base_url
    member = world.headers(world.a.members[0])
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        # Staff have no stream; nobody streams without a ticket.
        staff = await http.post(f"{API}/me/events/ticket",
                                headers=world.headers(world.a.operator))
        assert staff.status_code == 403
        assert (await http.post(f"{API}/me/events/ticket")).status_code == 401
        for ticket in ("", "forged.ticket", "x" * 600):
            bad = await http.get(f"{API}/me/events", params={"ticket": ticket})
            assert bad.status_code in (400, 401), (ticket, bad.text)
        forged = await http.get(f"{API}/me/events", params={"ticket": "a.b"})
        assert (forged.status_code, forged.json()["code"]) == (401, "invalid_ticket")
        issued = await http.post(f"{API}/me/events/ticket", headers=member)
        assert issued.status_code == 201
        assert set(issued.json()) == {"ticket", "expires_at"}

    # Single use.
    ticket = await _ticket(base, member)
    async with stream(base, ticket):
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            again = await http.get(f"{API}/me/events", params={"ticket": ticket})
        assert (again.status_code, again.json()["code"]) == (401, "invalid_ticket")

    # At most five streams per member; a closed one frees its place.
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(5):
            await stack.enter_async_context(stream(base, await _ticket(base, member)))
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            sixth = await http.get(f"{API}/me/events",
                                   params={"ticket": await _ticket(base, member)})
        assert (sixth.status_code, sixth.json()["code"]) == (429, "too_many_streams")
    deadline = time.monotonic() + 5
    while True:  # the server notices the closed connections
        try:
            async with stream(base, await _ticket(base, member)):
                break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_change_through_another_server(engine_name: str, database_url: str,
                                               server: LiveServer, world: World) -> None:
    """Two server processes: the stream on one, the charge through the other."""
    other = LiveServer(database_url)
    await asyncio.to_thread(other.start)
    try:
        till = Till(world, other.base_url)
        member = world.headers(till.member)
        card = await till.card("stored_value")
        await till.call("POST", f"/cards/{card['id']}/top-ups", till.clerk,
                        {"amount_cents": 420_000, "store_id": till.store})
        async with stream(server.base_url, await _ticket(server.base_url, member)) as events:
            started = time.monotonic()
            await till.redeem(card["id"], action="charge", amount_cents=20_000)
            got = await events.next("card", timeout=4)
            assert time.monotonic() - started < 3
            assert got["balance_cents"] == 400_000
            assert got["redemption"]["charged_cents"] == 20_000
    finally:
        await asyncio.to_thread(other.stop)
