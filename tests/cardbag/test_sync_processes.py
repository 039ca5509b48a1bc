"""The bar of issue 21, with real server processes on both engines: a storm of top-ups,
charges and reversals sent to two `o2o serve` processes while their syncs push to the
WeChat stand-in (slow, and busy now and then); one process is killed (SIGKILL) in the
middle of it and an `o2o worker` joins the survivor. At the end every card's figures in the
stand-in equal o2o's, and each card's updates arrived in its ledger's order with none
missing (a kill may send one twice: absolute figures, harmless). The WeChat card is
made through the API and the cards go into the bags by WeChat's encrypted pushes to the
callback, as in production. Starts processes:
XDIST group "processes"."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from app.core.settings import Settings
from cardbag.tables import BagCard
from cards.tables import Card, LedgerEntry
from stores import service as stores
from stores.schemas import MemberCreate
from tests.conftest import ROOT, TEST_SECRET, LiveServer, make_settings
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import MEMBERCARD_UPDATEUSER, WechatStandIn
from tests.world import World

from .sync_world import API, Bag, make_real_bag

wechat_server = stand_ins.wechat_server
CARDS = 5
ROUNDS = 4  # each: top-up, charge, charge, reversal of the first charge
LEASE_S = 3.0


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    """The test's own app only sets things up: its sync stays off."""
    return make_settings(database_url, wechat_mode="live", wechat_api_base=wechat_server.url,
                         notify_dispatcher=False, webhook_worker=False, cardbag_sync=False,
                         marketing_runner=False, pay_poller=False)


def server_env(wechat: WechatStandIn) -> dict[str, str]:
    return {"O2O_WECHAT_MODE": "live", "O2O_WECHAT_API_BASE": wechat.url,
            "O2O_WECHAT_TIMEOUT_SECONDS": "1", "O2O_CARDBAG_POLL_SECONDS": "0.05",
            "O2O_CARDBAG_LEASE_SECONDS": str(LEASE_S), "O2O_CARDBAG_SWEEP_SECONDS": "2",
            "O2O_CARDBAG_RETRY_BASE_SECONDS": "0.05", "O2O_CARDBAG_BATCH": "3",
            "O2O_NOTIFY_DISPATCHER": "0", "O2O_WEBHOOK_WORKER": "0", "O2O_PAY_POLLER": "0",
            "O2O_MARKETING_RUNNER": "0"}


@pytest.fixture
def servers(database_url: str, wechat_server: WechatStandIn,
            tmp_path: Path) -> Iterator[list[LiveServer]]:
    made = [LiveServer(database_url, server_env(wechat_server), tmp_path / f"server{n}.log")
            for n in range(2)]
    yield made
    for server in made:
        server.stop()


@pytest.fixture
def worker(database_url: str, wechat_server: WechatStandIn,
           tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Starts an `o2o worker` (the sync without HTTP) when called."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET,
               "O2O_ENV": "development", **server_env(wechat_server)}
        with (tmp_path / "worker.log").open("ab") as log:
            started.append(subprocess.Popen([sys.executable, "-m", "app.cli", "worker"],
                                            cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT))
    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def members(world: World, count: int) -> None:
    for n in range(len(world.a.members), count):
        member = await stores.register_member(world.a.operator, MemberCreate(
            name=f"storm member {n}", phone=f"1390000{n:04d}"))
        world.a.members.append(Principal(kind="member", id=member.id, chain_id=world.a.id,
                                         role="member"))


class Till:
    """The storm's requests, to whichever server is named."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clerk = world.headers(world.a.staff["alpha-clerk1"])
        self.manager = world.headers(world.a.staff["alpha-manager"])
        self.store = str(world.a.stores[0])

    async def top_up(self, http: httpx.AsyncClient, card: dict[str, Any], cents: int) -> None:
        response = await http.post(f"{API}/cards/{card['id']}/top-ups", headers=self.clerk,
                                   json={"amount_cents": cents, "store_id": self.store})
        assert response.status_code == 201, response.text

    async def charge(self, http: httpx.AsyncClient, card: dict[str, Any], member: Principal,
                     cents: int) -> str:
        code = await http.get(f"{API}/cards/{card['id']}/code",
                              headers=self.world.headers(member))
        assert code.status_code == 200, code.text
        response = await http.post(f"{API}/redemptions", headers=self.clerk, json={
            "code": code.json()["code"], "action": "charge", "amount_cents": cents,
            "store_id": self.store})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def reverse(self, http: httpx.AsyncClient, redemption_id: str) -> None:
        response = await http.post(f"{API}/redemptions/{redemption_id}/reverse",
                                   headers=self.manager)
        assert response.status_code == 200, response.text


async def wait_until(check: Any, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting: {what}")


async def all_activated() -> bool:
    rows = await BagCard.select(BagCard.activated_at, BagCard.dirty).run()
    return len(rows) == CARDS and all(r["activated_at"] and not r["dirty"] for r in rows)


async def all_synced() -> bool:
    rows = await BagCard.select(BagCard.card_id, BagCard.synced_seq, BagCard.dirty).run()
    seqs = {r["id"]: r["ledger_seq"] for r in await Card.select(Card.id, Card.ledger_seq).run()}
    return all(not r["dirty"] and r["synced_seq"] == seqs[r["card_id"]] for r in rows)


async def both_leasing() -> bool:
    rows = await BagCard.select(BagCard.lease_owner).where(
        BagCard.lease_owner.is_not_null()).run()
    return len({r["lease_owner"] for r in rows}) >= 2


def _update_key(update: dict[str, Any]) -> tuple[Any, ...]:
    return update["balance"], update["bonus"], update.get("record_balance")


async def test_storm_on_two_processes_and_a_kill(client: httpx.AsyncClient, world: World,
                                                 wechat_server: WechatStandIn,
                                                 servers: list[LiveServer],
                                                 worker: Callable[[], None]) -> None:
    bag: Bag = await make_real_bag(client, world, wechat_server)
    await members(world, CARDS)
    cards = [await bag.card(n) for n in range(CARDS)]
    till = Till(world)
    for card in cards:
        await till.top_up(client, card, 50_000)
        await bag.put_in_bag(card)
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
    await wait_until(all_activated, 30, "every card activated")
    activated_at_seq = {r["card_id"]: r["synced_seq"] for r in
                        await BagCard.select(BagCard.card_id, BagCard.synced_seq).run()}

    # WeChat slow (every sync is mid-call when the kill comes) and busy now and then.
    wechat_server.slow(MEMBERCARD_UPDATEUSER, 0.15, times=None)
    wechat_server.fail(MEMBERCARD_UPDATEUSER, -1, times=3)
    https = [httpx.AsyncClient(base_url=s.base_url, timeout=30) for s in servers]
    live = [https[0], https[1]]

    def pick(k: int) -> httpx.AsyncClient:
        return live[k % len(live)]

    async def storm(n: int, card: dict[str, Any]) -> None:
        # A request in flight to the killed process may or may not have happened: the
        # ledger says which, and the storm goes on (the comparison is with the ledger).
        member = world.a.members[n]
        for r in range(ROUNDS):
            with contextlib.suppress(httpx.TransportError):
                first = await till.charge(pick(n + r), card, member, 1_000 + n)
                await till.top_up(pick(n + r + 1), card, 2_000 + 100 * r)
                await till.charge(pick(n + r), card, member, 300 + r)
                await till.reverse(pick(n + r + 1), first)

    async def kill_midway() -> None:
        await wait_until(_some_updates(wechat_server, CARDS * 2), 60, "updates flowing")
        # Both processes hold a card's lease (so the one killed is mid-sync).
        await wait_until(both_leasing, 60, "both processes syncing")
        servers[0].kill()
        live.remove(https[0])
        worker()  # `o2o worker` syncs too: it and the surviving server share the rest

    try:
        await asyncio.gather(kill_midway(), *(storm(n, c) for n, c in enumerate(cards)))
        await wait_until(all_synced, 90, "every card synced")
    finally:
        for http in https:
            await http.aclose()

    for card in cards:
        now = await bag.cards.card(card["id"])
        shown = bag.in_wechat(card)
        assert shown is not None
        assert (shown["bonus"], shown["balance"]) == (now["points"], now["balance_cents"])
        assert shown["custom_field_value1"] == now["tier"]
        # Every entry after the activation, in the ledger's order, none missing; a kill
        # may repeat the one in flight.
        entries = await LedgerEntry.select().where(
            (LedgerEntry.card == uuid.UUID(card["id"]))
            & (LedgerEntry.seq > activated_at_seq[uuid.UUID(card["id"])])
        ).order_by(LedgerEntry.seq).run()
        expected = [(e["balance_after_cents"], e["points_after"]) for e in entries
                    if e["delta_cents"] or e["delta_points"]]
        received: list[tuple[Any, ...]] = []
        for update in shown["updates"]:
            if not received or _update_key(update) != received[-1]:
                received.append(_update_key(update))
        assert [(b, p) for b, p, _ in received] == expected


def _some_updates(wechat: WechatStandIn, count: int) -> Any:
    async def check() -> bool:
        return len(wechat.card_updates) >= count
    return check
