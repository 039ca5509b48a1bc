"""Delivery by real server processes, on both engines: two `o2o serve` processes deliver
each event once, a process killed (SIGKILL) while holding claimed rows loses none of
them, and `o2o worker` delivers alone and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter

import httpx
import pytest

from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.notify import events, outbox
from app.core.settings import Settings
from tests.conftest import ROOT, TEST_SECRET, LiveServer, make_settings
from tests.core.notify.conftest import (
    API,
    APP_ID,
    APP_SECRET,
    TEMPLATES,
    inbox_count,
    rows,
    wait_for,
    wait_settled,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import SUBSCRIBE_SEND, WechatStandIn
from tests.world import World

wechat_server = stand_ins.wechat_server
LEASE_S = 4.0


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    """The test's own app only sets things up: its dispatcher stays off."""
    return make_settings(database_url, wechat_mode="live", wechat_api_base=wechat_server.url,
                         notify_dispatcher=False)


def server_env(wechat: WechatStandIn) -> dict[str, str]:
    return {"O2O_WECHAT_MODE": "live", "O2O_WECHAT_API_BASE": wechat.url,
            "O2O_NOTIFY_POLL_SECONDS": "0.05", "O2O_NOTIFY_RETRY_BASE_SECONDS": "0.05",
            "O2O_WECHAT_TIMEOUT_SECONDS": "1", "O2O_NOTIFY_LEASE_SECONDS": str(LEASE_S)}


async def start(servers: list[LiveServer]) -> None:
    started = await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers),
                                   return_exceptions=True)
    for outcome in started:
        if isinstance(outcome, BaseException):
            raise outcome


async def fans(client: httpx.AsyncClient, world: World, wechat: WechatStandIn,
               count: int) -> list[tuple[uuid.UUID, str]]:
    """The chain's WeChat app configured, and ``count`` members who logged in with WeChat."""
    wechat.add_app(APP_ID, APP_SECRET, templates=set(TEMPLATES.values()))
    response = await client.put(f"{API}/wechat-config", headers=world.headers(world.a.operator),
                                json={"app_id": APP_ID, "app_secret": APP_SECRET,
                                      "templates": TEMPLATES})
    assert response.status_code == 200, response.text
    members = []
    for n in range(count):
        openid = f"oProc_{n:04d}"
        login = await client.post(f"{API}/auth/member/wechat", json={
            "chain_id": str(world.a.id),
            "code": wechat.register_code(openid, app_id=APP_ID)})
        assert login.status_code == 200, login.text
        members.append((uuid.UUID(login.json()["member"]["id"]), openid))
    return members


async def emit_cards(world: World, members: list[tuple[uuid.UUID, str]], first: int,
                     count: int) -> None:
    """``count`` card_issued events, numbered from ``first``, in one transaction."""
    async with write_transaction():
        for n in range(first, first + count):
            member_id, _ = members[n % len(members)]
            await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id, member_id=member_id,
                              data={"card_name": "Prepaid", "card_number": f"N{n:05d}"})


def numbers_sent(wechat: WechatStandIn) -> Counter[str]:
    return Counter(m.data["character_string2"]["value"] for m in wechat.sent())


async def test_two_servers_deliver_each_event_once(client: httpx.AsyncClient, world: World,
                                                   wechat_server: WechatStandIn,
                                                   database_url: str) -> None:
    wechat = wechat_server
    members = await fans(client, world, wechat, 3)
    wechat.slow(SUBSCRIBE_SEND, 0.02, times=None)  # each send takes a moment: overlap
    servers = [LiveServer(database_url, server_env(wechat)) for _ in range(2)]
    try:
        await start(servers)
        await emit_cards(world, members, 0, 60)
        await wait_for(lambda: _sent_at_least(wechat, 20), 30, "the first messages")
        wechat.invalidate_tokens()  # both processes' token is refused from now on
        await emit_cards(world, members, 60, 60)
        await wait_settled(60)
    finally:
        for server in servers:
            server.stop()

    sent = numbers_sent(wechat)
    assert sorted(sent) == [f"N{n:05d}" for n in range(120)]
    assert set(sent.values()) == {1}, "an event was sent twice"
    outbox_rows = await rows()
    assert {(r["status"], r["attempts"]) for r in outbox_rows} == {("sent", 1)}
    senders = {r.headers.get("User-Agent") for r in wechat.requests_to(SUBSCRIBE_SEND)}
    assert len(senders) == 2, f"both processes should have delivered: {senders}"
    assert len(wechat.token_fetches(forced=False)) <= 2  # once per process at most
    assert len(wechat.token_fetches(forced=True)) == 1
    assert wechat.classic_token_calls == 0


async def _sent_at_least(wechat: WechatStandIn, count: int) -> bool:
    return len(wechat.sent()) >= count


async def test_a_killed_server_loses_no_claimed_row(client: httpx.AsyncClient, world: World,
                                                    wechat_server: WechatStandIn,
                                                    database_url: str) -> None:
    wechat = wechat_server
    members = await fans(client, world, wechat, 2)
    wechat.hang(SUBSCRIBE_SEND, 60, times=10)  # the first process's sends never answer
    first = LiveServer(database_url, server_env(wechat))
    second = LiveServer(database_url, server_env(wechat))
    try:
        await start([first])
        await emit_cards(world, members, 0, 10)
        await wait_for(lambda: _requests_at_least(wechat, 10), 20,
                       "the first process to send every claimed row")
        held = await rows()
        assert {(r["status"], r["attempts"]) for r in held} == {("pending", 1)}
        assert len({r["lease_owner"] for r in held}) == 1
        lease_until = max(r["lease_until"] for r in held)
        first.kill()
        await start([second])
        await wait_settled(30)
    finally:
        first.stop()
        second.stop()

    assert sorted(numbers_sent(wechat)) == [f"N{n:05d}" for n in range(10)]
    assert set(numbers_sent(wechat).values()) == {1}
    delivered = await rows()
    assert {(r["status"], r["attempts"], r["lease_owner"]) for r in delivered} == {
        ("sent", 2, None)}
    assert min(r["sent_at"] for r in delivered) >= lease_until  # not before the lease ran out
    for member_id, _ in members:
        assert await inbox_count(member_id) == 5


async def _requests_at_least(wechat: WechatStandIn, count: int) -> bool:
    return len(wechat.requests_to(SUBSCRIBE_SEND)) >= count


async def test_the_worker_command_delivers_and_stops_cleanly(world: World,
                                                              database_url: str) -> None:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET,
           "O2O_ENV": "development", "O2O_WECHAT_MODE": "sandbox",
           "O2O_NOTIFY_POLL_SECONDS": "0.05"}
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        member = world.a.members[0]
        for n in range(5):
            await outbox.emit(events.REDEEMED, chain_id=world.a.id, member_id=member.id,
                              data={"item": f"Voucher {n}", "amount_cents": 100},
                              due_at=utcnow())
        await wait_settled(30)
        assert await inbox_count(member.id) == 5
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        stderr = worker.stderr.read() if worker.stderr else ""
    assert re.search(r"o2o worker: delivering notifications", stderr), stderr
