"""Live updates (app/live.py) through a real server process and a real HTTP client
reading the event stream, on both engines: a card used through another process (the test
process's app, or on PostgreSQL a second server) reaches the stream within about a second;
tickets are single use; streams per member are bounded."""

# ruff: noqa: RUF001

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app import live
from app.core.auth import ISSUER, Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.errors import NotFound
from app.core.notify import events as notify_events
from app.core.notify import outbox
from app.core.notify import repository as notify_repo
from app.core.revocation import Revocations
from app.core.tables import Notification
from app.live import InvalidTicket, Tickets
from cards import public as cards_public
from tests.conftest import LiveServer
from tests.world import World

API = "/api/v1"


class Events:
    """A stream read by a task: (event, data) pairs as they arrive."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.comments: list[str] = []
        self.closed = asyncio.Event()  # the server ended the stream

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
        events.closed.set()

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
        assert (got["paid_balance_cents"], got["bonus_balance_cents"]) == (491_200, 0)
        assert got["redemption"]["action"] == "charge"
        assert got["redemption"]["charged_cents"] == 8_800
        assert got["redemption"]["store_id"] == till.store
        assert got["redemption"]["store_name"] == "alpha store 1"
        notice = await events.next("notice")  # the inbox's words, in the chain's locale
        assert notice["event"] == "balance_changed" and notice["locale"] == "zh-CN"
        assert "在alpha store 1消费 ¥88.00，余额 ¥4,912.00。" in notice["text"]
        assert notice["data"]["delta_cents"] == -8_800

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


@pytest.fixture
async def quick_server(database_url: str) -> AsyncIterator[LiveServer]:
    """A server whose streams beat every second (O2O_LIVE_HEARTBEAT_SECONDS): the token
    check at each, the idle reload of the cards at every fourth."""
    live = LiveServer(database_url, env={"O2O_LIVE_HEARTBEAT_SECONDS": "1"})
    await asyncio.to_thread(live.start)
    yield live
    await asyncio.to_thread(live.stop)


async def test_a_visit_and_a_voucher(quick_server: LiveServer, world: World) -> None:
    server = quick_server
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
        visit = await till.redeem(card["id"], action="visit")
        got = await events.next("card")
        assert got["card_id"] == card["id"] and got["visits_left"] == card["visits_left"] - 1
        assert got["redemption"]["action"] == "visit"
        await till.call("POST", "/redemptions", till.clerk, {
            "code": voucher["code"], "store_id": till.store, "amount_cents": 8_000})
        got = await events.next("voucher")
        assert got == {"voucher_id": voucher["id"], "status": "redeemed",
                       "store_name": "alpha store 1", "redeemed_at": got["redeemed_at"]}
        assert got["redeemed_at"]

        # A visit's reversal writes no notification: the stream finds it when it reloads
        # the cards, at every fourth quiet heartbeat (here 4 s), with the ping comment.
        await till.call("POST", f"/redemptions/{visit['id']}/reverse", till.manager, {},
                        want=200)
        got = await events.next("card", timeout=10)
        assert got["visits_left"] == card["visits_left"]
        assert got["redemption"]["action"] == "reversal"
        for _ in range(40):  # the ping follows the change in the same beat
            if events.comments:
                break
            await asyncio.sleep(0.05)
        assert events.comments and events.comments[0].startswith(": ping")


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


async def test_the_ticket_stays_out_of_the_log(database_url: str, world: World,
                                               tmp_path: Path) -> None:
    """And a server holding a stream stops promptly: told to stop, it ends its streams
    (``end``, reason shutdown) rather than wait for them."""
    log_file = tmp_path / "server.log"
    live = LiveServer(database_url, log_file=log_file, log_level="debug")
    await asyncio.to_thread(live.start)
    member = world.headers(world.a.members[0])
    try:
        ticket = await _ticket(live.base_url, member)
        async with stream(live.base_url, ticket):
            pass
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
            await http.get(f"{API}/me/events", params={"ticket": ticket})  # used: 401
        async with stream(live.base_url, await _ticket(live.base_url, member)) as events:
            started = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(live.stop))
            # The stream ends at once (not after uvicorn's 5 s wait for requests in flight).
            assert await events.next("end", timeout=3) == {"reason": "shutdown"}
            await stopping
            assert time.monotonic() - started < 3
    finally:
        await asyncio.to_thread(live.stop)
    log = log_file.read_text(errors="replace")
    assert "/me/events" in log
    assert ticket not in log and ticket.split(".")[0] not in log
    assert "ticket=[redacted]" in log


async def test_a_forged_or_expired_ticket_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before any query: the signature, the shape and the expiry."""
    member = Principal(kind="member", id=uuid.uuid4(), chain_id=uuid.uuid4(), role="member")
    tickets = Tickets("a-secret-key-of-enough-length-0123456789")
    token_exp = int(time.time()) + 3600
    ticket = tickets.issue(member, uuid.uuid4().hex, 0, token_exp).ticket
    body, signature = ticket.split(".")
    forged_body = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(
            str(member.id).encode(), str(uuid.uuid4()).encode())).decode().rstrip("=")
    other_key = Tickets("another-secret-key-of-enough-length-0123").issue(
        member, "jti", 0, token_exp).ticket
    revocations = Revocations()
    for bad in (f"{forged_body}.{signature}", other_key, "a.b", "...", ticket + "x"):
        with pytest.raises(InvalidTicket):
            await tickets.spend(bad, revocations)
    monkeypatch.setattr("app.live.time.time", lambda: 10**11)  # long after its 60 s
    with pytest.raises(InvalidTicket):
        await tickets.spend(ticket, revocations)
    # A ticket of a token that expires before the ticket does: refused from then on.
    monkeypatch.setattr("app.live.time.time", lambda: token_exp + 0.5)
    late = tickets.issue(member, uuid.uuid4().hex, 0, token_exp).ticket
    with pytest.raises(InvalidTicket):
        await tickets.spend(late, revocations)


# --- the stream's end: the token, its age, the server's stop ---------------------------

def _member_token(world: World, member: Principal, *, seconds: int) -> dict[str, str]:
    """A member's bearer token that expires in ``seconds``."""
    token = world.app.state.runtime.auth.jwt.create_token(
        identifier=str(member.id), token_expiration=timedelta(seconds=seconds),
        token_issuer=ISSUER, token_unique_jwt_id=uuid.uuid4().hex,
        token_extras={"kind": "member", "role": "member", "chain_id": str(member.chain_id),
                      "store_ids": [], "ver": 0})
    return {"Authorization": f"Bearer {token}"}


async def test_a_logout_ends_the_stream(quick_server: LiveServer, world: World,
                                        client: httpx.AsyncClient) -> None:
    """The ticket carries the token's id: a logout ends the streams it opened (at once in
    the process that logged out), and a ticket asked for before is refused after."""
    base = quick_server.base_url
    member = world.a.members[0]
    headers = _member_token(world, member, seconds=3600)
    spare = await _ticket(base, headers)
    async with stream(base, await _ticket(base, headers)) as events:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            out = await http.post(f"{API}/auth/logout", headers=headers)
            assert out.status_code == 204, out.text
        started = time.monotonic()
        assert await events.next("end", timeout=4) == {"reason": "revoked"}
        await asyncio.wait_for(events.closed.wait(), 2)
        assert time.monotonic() - started < 3
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        late = await http.get(f"{API}/me/events", params={"ticket": spare})
    assert (late.status_code, late.json()["code"]) == (401, "invalid_ticket")

    # Logged out through another process (the test's app): PostgreSQL tells the server at
    # once; on SQLite it finds out at a heartbeat, once its remembered verdict is old.
    headers = _member_token(world, member, seconds=3600)
    async with stream(base, await _ticket(base, headers)) as events:
        out = await client.post(f"{API}/auth/logout", headers=headers)
        assert out.status_code == 204, out.text
        assert await events.next("end", timeout=10) == {"reason": "revoked"}
        await asyncio.wait_for(events.closed.wait(), 2)


async def test_the_stream_ends_with_its_token(server: LiveServer, world: World) -> None:
    """A stream lives no longer than the token it was opened with: the page asks for a
    new ticket then (with a fresh token, or is logged out)."""
    base = server.base_url
    headers = _member_token(world, world.a.members[0], seconds=4)
    async with stream(base, await _ticket(base, headers)) as events:
        started = time.monotonic()
        assert await events.next("end", timeout=8) == {"reason": "expired"}
        await asyncio.wait_for(events.closed.wait(), 2)
        assert time.monotonic() - started < 6


async def test_a_stream_lives_at_most_thirty_minutes() -> None:
    member = Principal(kind="member", id=uuid.uuid4(), chain_id=uuid.uuid4(), role="member")
    week = int(time.time()) + 7 * 24 * 3600
    stream_ = live._Stream(live.Grant(member, "jti", 0, week))
    assert stream_.ends_at == pytest.approx(time.time() + live.MAX_STREAM_S, abs=2)
    soon = int(time.time()) + 60
    assert live._Stream(live.Grant(member, "jti", 0, soon)).ends_at == soon


# --- load bounds ------------------------------------------------------------------------

async def test_tickets_are_rate_limited(client: httpx.AsyncClient, world: World) -> None:
    member = world.headers(world.a.members[0])
    for _ in range(live.TICKETS_PER_MEMBER.max_hits):
        ok = await client.post(f"{API}/me/events/ticket", headers=member)
        assert ok.status_code == 201, ok.text
    over = await client.post(f"{API}/me/events/ticket", headers=member)
    assert (over.status_code, over.json()["code"]) == (429, "rate_limited")
    # Another member is counted apart.
    other = await client.post(f"{API}/me/events/ticket",
                              headers=world.headers(world.a.members[1]))
    assert other.status_code == 201


async def test_a_full_server_refuses_streams(client: httpx.AsyncClient, world: World,
                                             app: Litestar,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A process holds at most MAX_STREAMS_TOTAL streams (503 too_many_streams), and a
    stream counts only while its body runs: a response never sent takes no place."""
    monkeypatch.setattr(live, "MAX_STREAMS_TOTAL", 2)
    hub = live.LiveHub(app.state.runtime.auth.revocations)
    app.state["live_hub"] = hub
    members = world.a.members

    def grant(member: Principal) -> live.Grant:
        return live.Grant(member, uuid.uuid4().hex, 0, int(time.time()) + 3600)

    # A body never iterated (the client went away first): nothing counted, nothing leaks.
    never = live._events(hub, grant(members[0]))
    assert hub.total == 0
    del never
    # A body that ran and was closed: its place is free again.
    body = live._events(hub, grant(members[0]))
    ready = await anext(body)
    assert ready.event == "ready" and hub.total == 1
    await body.aclose()
    assert hub.total == 0

    bodies = [live._events(hub, grant(m)) for m in (members[0], world.b.members[0])]
    for running in bodies:
        await anext(running)
    assert hub.total == 2
    headers = world.headers(members[1])
    ticket = (await client.post(f"{API}/me/events/ticket", headers=headers)).json()["ticket"]
    full = await client.get(f"{API}/me/events", params={"ticket": ticket})
    assert (full.status_code, full.json()["code"]) == (503, "too_many_streams")
    for running in bodies:
        await running.aclose()
    assert hub.total == 0
    if hub._task is not None:  # the tail ends with the last stream
        await asyncio.wait_for(hub._task, 5)


# --- the outbox tail --------------------------------------------------------------------

async def test_the_tail_drops_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """More rows than a page (here 3), rows sharing a created_at, other members' rows in
    between, and a row committed late (its created_at 30 s before the last look): every row
    of a member with a stream reaches it, once."""
    monkeypatch.setattr(live, "PAGE", 3)
    mine, theirs = world.a.members[0], world.a.members[1]
    hub = live.LiveHub()
    stream_ = live._Stream(live.Grant(mine, "jti", 0, int(time.time()) + 3600))
    hub._streams[mine.id] = {stream_}  # registered by hand: no tail task
    await hub._look()
    stream_.rows.clear()  # (whatever building the world wrote)

    async def write(member: Principal, n: int, at: datetime) -> uuid.UUID:
        row = outbox.notification(notify_events.CARD_ISSUED, chain_id=member.chain_id,
                                  member_id=member.id, data={"card_name": f"Card {n}"})
        row["created_at"] = at
        async with write_transaction():
            await notify_repo.emit(row)
        return row["id"]

    now = utcnow()
    same = now - timedelta(seconds=1)
    expected = []
    for n in range(8):
        at = same if n in (2, 3, 4, 5) else now - timedelta(milliseconds=900 - n * 10)
        expected.append(await write(mine, n, at))
        await write(theirs, n, at)
    await hub._look()
    assert sorted(r["id"] for r in stream_.rows) == sorted(expected)
    assert {r["member_id"] for r in stream_.rows} == {mine.id}
    assert stream_.rows[0]["event"] == notify_events.CARD_ISSUED
    stream_.rows.clear()

    late = await write(mine, 99, utcnow() - timedelta(seconds=30))
    await hub._look()
    assert [r["id"] for r in stream_.rows] == [late]
    stream_.rows.clear()
    await hub._look()  # read again within the look-back, sent once
    assert stream_.rows == []


async def test_the_outbox_has_its_time_index(world: World, engine_name: str) -> None:
    """The tail reads core_notification by created_at: through an index (migration)."""
    if engine_name == "sqlite":
        rows = await Notification.raw(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'core_notification'").run()
    else:
        rows = await Notification.raw(
            "SELECT indexname AS name FROM pg_indexes "
            "WHERE tablename = 'core_notification'").run()
    assert "core_notification_created_at" in {r["name"] for r in rows}


async def test_the_heartbeat_check_asks_only_when_needed() -> None:
    """At each heartbeat a stream asks whether its token still stands: from the process's
    memory (Revocations.allows); while the process hears every change (PostgreSQL's LISTEN)
    and none came, not at all. A change heard of makes every stream ask at once."""

    class Counting(Revocations):
        def __init__(self) -> None:
            super().__init__()
            self.asked, self.answer = 0, True

        async def allows(self, jti: str, subject: uuid.UUID, version: int,
                         expires_at: float) -> bool:
            self.asked += 1
            return self.answer

    revocations = Counting()
    hub = live.LiveHub(revocations)
    member = Principal(kind="member", id=uuid.uuid4(), chain_id=uuid.uuid4(), role="member")
    stream_ = live._Stream(live.Grant(member, "jti", 0, int(time.time()) + 3600))
    hub._streams[member.id] = {stream_}
    assert await hub.allowed(stream_) and await hub.allowed(stream_)
    assert revocations.asked == 2  # SQLite, or LISTEN down: the memory each time
    revocations.listening = True
    assert await hub.allowed(stream_) and revocations.asked == 2  # nothing announced
    revocations.forget_token("someone-else")
    hub._heard_of_revocations()
    assert stream_.recheck and stream_.changed.is_set()
    revocations.answer = False
    assert not await hub.allowed(stream_) and revocations.asked == 3


async def test_the_last_ledger_entry(client: httpx.AsyncClient, world: World) -> None:
    """What a card event names as its redemption: the card's newest ledger entry only."""
    till = Till(world, "", client)
    card = await till.card("stored_value")
    for amount in (10_000, 2_500):
        await till.call("POST", f"/cards/{card['id']}/top-ups", till.clerk,
                        {"amount_cents": amount, "store_id": till.store})
    last = await cards_public.last_card_entry(till.member, uuid.UUID(card["id"]))
    assert last is not None and (last.kind, last.delta_cents) == ("top_up", 2_500)
    assert last.balance_after_cents == 12_500
    with pytest.raises(NotFound):  # another member's card
        await cards_public.last_card_entry(world.a.members[1], uuid.UUID(card["id"]))
