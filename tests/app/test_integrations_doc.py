"""docs/integrations.md's two programs, run as printed against a real o2o server.

The page promises a chain's developers a webhook receiver and an event-feed poller that
work. Each is taken out of the page (the fenced ``python`` block after its
``<!-- example: NAME -->`` marker), written to a file and run as its own process with
the settings the page names in the environment, against ``o2o serve`` on a fresh
database, on both engines: o2o signs and delivers every event of a card's life to the
receiver, which verifies each signature with ``standardwebhooks`` and processes each once
(a delivery sent again with the retry button is recognised by its ``webhook-id``); the
poller, with an API key of scope ``events:read``, prints every event of the feed in
sequence order and, run again, processes nothing twice. Nothing here is faked: the server
is a real process, the receiver a real HTTP server on loopback (development settings let
o2o call ``http`` and private addresses).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import TEST_SECRET, LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "integrations.md"
API = "/api/v1"
OPERATOR, PASSWORD = "integration-operator", "integration-pass-2026"
_EXAMPLE = re.compile(r"^<!-- example: (\w+) -->\n```python\n(.*?)^```", re.M | re.S)
DELIVERY_WAIT_S = 60.0  # first delivery: the server's worker picks it up within seconds


def examples() -> dict[str, str]:
    """The page's marked programs by name."""
    return {name: code for name, code in _EXAMPLE.findall(DOC.read_text())}


def test_the_page_holds_both_programs() -> None:
    found = examples()
    assert set(found) == {"receiver", "poller"}, "a marked example went missing"
    for name, code in found.items():
        compile(code, f"docs/integrations.md:{name}", "exec")
    receiver = found["receiver"]
    assert "from standardwebhooks.webhooks import Webhook" in receiver
    assert "webhook-id" in receiver  # dedupes on it
    # "a 30-line receiver": short enough to read at a glance.
    assert len(receiver.strip().splitlines()) <= 40


# --- the programs as processes ----------------------------------------------------------

class Program:
    """One of the page's programs running as a process; its stdout lines as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))
            self.changed.set()

    def words(self, first: str) -> list[list[str]]:
        return [line.split()[1:] for line in self.lines if line.split()[:1] == [first]]

    async def wait_for(self, done: Callable[[], bool], what: str,
                       timeout: float = DELIVERY_WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.proc.returncode is not None:
                raise AssertionError(f"the program exited ({self.proc.returncode}) before "
                                     f"{what}:\n" + "\n".join(self.lines))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout:g} s; output:\n"
                                     + "\n".join(self.lines))
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))


@contextlib.asynccontextmanager
async def program(path: Path, env: dict[str, str]) -> AsyncIterator[Program]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(path), cwd=path.parent, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    running = Program(proc)
    try:
        yield running
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        await running.task


async def run_to_end(path: Path, env: dict[str, str], timeout: float = 60) -> list[str]:
    """Run a program that ends by itself; its output lines (it must exit 0)."""
    async with program(path, env) as running:
        await asyncio.wait_for(running.proc.wait(), timeout)
        await running.task
        assert running.proc.returncode == 0, "\n".join(running.lines)
        return running.lines


async def listening(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on {port} after {timeout:g} s")
        await asyncio.sleep(0.1)


# --- the server and the chain -----------------------------------------------------------

@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    live = LiveServer(database_url, env={"O2O_WEBHOOK_ALLOW_HTTP": "1",
                                         "O2O_WEBHOOK_ALLOW_PRIVATE": "1"},
                      log_file=tmp_path / "server.log")
    await asyncio.to_thread(live.start)
    yield live
    await asyncio.to_thread(live.stop)


async def create_operator(database_url: str) -> str:
    """`o2o create-operator`, as a chain starts; the chain's id."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "create-operator", "--chain", "Integration Chain",
        "--username", OPERATOR, "--password", PASSWORD, cwd=ROOT,
        env={**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return str(json.loads(out)["chain_id"])


class Chain:
    """The chain's operator over HTTP, as its own systems' developer would do it."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, want: int = 201) -> Any:
        response = await self.http.request(method, f"{API}{path}", json=body,
                                           headers=self.headers)
        assert response.status_code == want, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    async def feed(self) -> list[dict[str, Any]]:
        """Every event of the chain's feed so far, read as the operator."""
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self.call("GET", f"/events?after={after}&limit=100", want=200)
            if not page["items"]:
                return events
            events.extend(page["items"])
            after = page["next_after"]


@pytest.fixture
async def chain(server: LiveServer, database_url: str) -> AsyncIterator[Chain]:
    await create_operator(database_url)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        login = await http.post(f"{API}/auth/staff/login",
                                json={"username": OPERATOR, "password": PASSWORD})
        assert login.status_code == 200, login.text
        yield Chain(http, login.json()["token"])


async def card_life(chain: Chain, store_id: str, template_id: str,
                    member_id: str) -> dict[str, Any]:
    """Issue a stored-value card and top it up twice: three events of one card."""
    card: dict[str, Any] = await chain.call("POST", "/cards", {"template_id": template_id,
                                                                "member_id": member_id})
    for amount in (10_000, 25_000):
        await chain.call("POST", f"/cards/{card['id']}/top-ups",
                         {"amount_cents": amount, "store_id": store_id})
    return card


# --- the test ---------------------------------------------------------------------------

async def test_the_receiver_and_the_poller_work_as_printed(
        server: LiveServer, chain: Chain, tmp_path: Path) -> None:
    code = examples()
    receiver_py, poller_py = tmp_path / "receiver.py", tmp_path / "poller.py"
    receiver_py.write_text(code["receiver"])
    poller_py.write_text(code["poller"])

    # The receiver first: an endpoint for everything, pointing at the page's program,
    # so that every event of the chain is delivered to it.
    port = free_port()
    endpoint = await chain.call("POST", "/webhook-endpoints", {
        "url": f"http://127.0.0.1:{port}/o2o/webhooks", "events": ["*"],
        "description": "docs/integrations.md receiver"})
    assert endpoint["secret"].startswith("whsec_")
    receiver_env = {"O2O_WEBHOOK_SECRET": endpoint["secret"], "PORT": str(port),
                    "RECEIVER_DB": str(tmp_path / "received.sqlite3")}
    async with program(receiver_py, receiver_env) as receiver:
        await listening(port)
        await refuses_forgeries(port, receiver)

        hours = [{"weekday": d, "open": "00:00", "close": "24:00"} for d in range(7)]
        store = await chain.call("POST", "/stores", {"name": "Integration Store",
                                                     "timezone": "Asia/Shanghai",
                                                     "opening_hours": hours})
        template = await chain.call("POST", "/card-templates", {
            "name": "Integration Card", "kind": "stored_value", "points_per_yuan": 1})
        member = await chain.call("POST", "/members", {
            "name": "王芳", "phone": "13800000001", "store_id": store["id"]})
        card = await card_life(chain, store["id"], template["id"], member["id"])
        feed = await chain.feed()
        card_events = [e for e in feed if e["data"].get("id") == card["id"]]
        assert [e["type"] for e in card_events] == [
            "card.issued", "card.topped_up", "card.topped_up"]
        assert member["id"] in {e["data"]["id"] for e in feed if e["type"] == "member.created"}

        # Every event of the feed arrives, verified, and is processed once.
        await receiver.wait_for(
            lambda: {w[0] for w in receiver.words("verified")} >= {e["id"] for e in feed},
            "delivery of every event")
        processed = receiver.words("processed")
        sequences = [int(w[0]) for w in processed]
        assert len(sequences) == len(set(sequences)), "an event was processed twice"
        by_sequence = {e["sequence"]: e for e in feed}
        for sequence, kind, object_id in processed:
            event = by_sequence[int(sequence)]
            assert (kind, object_id) == (event["type"], event["data"]["id"])
        # One object's events arrive in sequence order.
        card_order = [int(s) for s, _, object_id in processed if object_id == card["id"]]
        assert card_order == sorted(card_order) == [e["sequence"] for e in card_events]
        verified = {w[0] for w in receiver.words("verified")}
        assert {by_sequence[s]["id"] for s in sequences} == verified

        # The retry button sends a delivered event again: same webhook-id, not re-processed.
        # The receiver has the event before the worker records its 200: wait for that.
        again = None
        for _ in range(100):
            deliveries = await chain.call(
                "GET", f"/webhook-endpoints/{endpoint['id']}/deliveries?status=delivered",
                want=200)
            again = next((d for d in deliveries if d["event_id"] == card_events[-1]["id"]),
                         None)
            if again is not None:
                break
            await asyncio.sleep(0.1)
        assert again is not None, "the last card event was never recorded as delivered"
        await chain.call("POST", f"/webhook-endpoints/{endpoint['id']}/deliveries/"
                                 f"{again['id']}/retry", {}, want=202)
        await receiver.wait_for(lambda: [again["event_id"]] in receiver.words("duplicate"),
                                "the duplicate delivery")
        assert len(receiver.words("processed")) == len(processed)

    # The poller: an API key that may read the feed, and nothing else.
    key = await chain.call("POST", "/api-keys", {"name": "docs poller",
                                                 "scopes": ["events:read"]})
    poller_env = {"O2O_API": f"{server.base_url}{API}", "O2O_API_KEY": key["key"],
                  "POLLER_DB": str(tmp_path / "poller.sqlite3"), "POLL_ONCE": "1"}
    first = [line.split() for line in await run_to_end(poller_py, poller_env)]
    assert all(words[0] == "processed" for words in first), first
    assert [(int(s), kind, object_id) for _, s, kind, object_id in first] == [
        (e["sequence"], e["type"], e["data"]["id"]) for e in feed]
    assert [int(w[1]) for w in first] == sorted({int(w[1]) for w in first})

    # Run again: nothing new, nothing processed twice.
    assert await run_to_end(poller_py, poller_env) == []

    # One more change: the next run processes that event only.
    await chain.call("POST", f"/cards/{card['id']}/top-ups",
                     {"amount_cents": 5_000, "store_id": store["id"]})
    third = [line.split() for line in await run_to_end(poller_py, poller_env)]
    assert [(w[2], w[3]) for w in third] == [("card.topped_up", card["id"])]
    assert int(third[0][1]) > max(e["sequence"] for e in feed)


async def refuses_forgeries(port: int, receiver: Program) -> None:
    """The receiver answers 400 to a body whose signature is not ours: signed with
    another secret, or with the right headers but a changed body."""
    body = json.dumps({"id": "forged", "sequence": 1, "type": "card.topped_up",
                       "timestamp": "2026-12-06T00:00:00+00:00", "data": {"id": "x"}})
    stranger = Webhook("whsec_" + base64.b64encode(b"s" * 32).decode())
    now = int(time.time())
    signature = stranger.sign("forged", datetime.fromtimestamp(now, UTC), body)
    headers = {"webhook-id": "forged", "webhook-timestamp": str(now),
               "webhook-signature": signature, "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"http://127.0.0.1:{port}/o2o/webhooks", content=body,
                                 headers=headers)
        assert answer.status_code == 400
        unsigned = await http.post(f"http://127.0.0.1:{port}/o2o/webhooks", content=body,
                                   headers={"content-type": "application/json"})
        assert unsigned.status_code == 400
    assert receiver.words("processed") == [] and receiver.words("verified") == []

