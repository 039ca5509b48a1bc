"""Crash safety: SIGKILL a real `o2o serve` in the middle of a storm of voucher
redemptions, card charges, top-ups and bookings sent over HTTP from threads; restart it;
then, with plain SQL:

- `o2o verify-ledger` passes (every card's hash chain and totals);
- no voucher is half-redeemed: redeemed <=> exactly one live (not reversed) redemption,
  and that one is the voucher's own; no card code is spent without its charge, nor a
  charge without its ledger entry;
- no resource is booked past its capacity at any instant;
- every answer a client got 201 for is in the database (committed means durable);
- every change that committed has its event in the outbox (same transaction), and every
  due event ends sent, into the member's inbox (sandbox mode), by the restarted server.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar

from app.asgi import create_app
from app.core.codes.format import CodeKind
from stores import service as stores
from stores.schemas import MemberCreate, ResourceCreate
from tests.conftest import TEST_SECRET, LiveServer, make_settings, serving
from tests.hardening.rawdb import fetch
from tests.hardening.seed import tomorrow_at
from tests.world import World, build_world

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]
THREADS = 12
KILL_AFTER_SUCCESSES = 80  # then SIGKILL: well inside the storm
SERVER_ENV = {"O2O_NOTIFY_LEASE_SECONDS": "2", "O2O_NOTIFY_POLL_SECONDS": "0.2",
              "O2O_NOTIFY_RETRY_BASE_SECONDS": "0.5"}


@dataclass
class Storm:
    """What the seeded world offers the storm, and what the clients saw."""

    store: str
    service: str
    resources: list[str]
    members: list[str]
    vouchers: list[str]  # signed codes
    cards: list[str]
    card_codes: list[str]  # signed dynamic codes of those cards, each usable once
    clerk: dict[str, str]
    operator: dict[str, str]
    starts: list[str]
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


async def _seed(app: Litestar, http: httpx.AsyncClient) -> tuple[World, Storm]:
    world = await build_world(app)
    chain = world.a
    op = world.headers(chain.operator)
    store = chain.stores[0]
    table = await stores.create_resource(chain.operator, store, ResourceCreate(
        name="Table for two", kind="table", capacity=2,
        service_ids=[chain.services[store]]))
    members = [str(m.id) for m in chain.members]
    for n in range(28):
        registered = await stores.register_member(chain.operator, MemberCreate(
            name=f"storm member {n}", phone=f"1370000{n:04d}"))
        members.append(str(registered.id))
    now = datetime.now(UTC)
    campaign = (await http.post(f"{API}/campaigns", headers=op, json={
        "name": "¥5 off", "kind": "cash", "value_cents": 500, "total_quantity": 1000,
        "per_member_limit": 10, "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat()})).json()["id"]
    vouchers: list[str] = []
    for _ in range(4):
        issued = await http.post(f"{API}/campaigns/{campaign}/issue", headers=op,
                                 json={"member_ids": members})
        assert issued.status_code == 201, issued.text
        vouchers += [v["code"] for v in issued.json()["issued"]]
    template = (await http.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value"})).json()["id"]
    cards = []
    for member_id in members[:4]:
        card = await http.post(f"{API}/cards", headers=op,
                               json={"template_id": template, "member_id": member_id})
        assert card.status_code == 201, card.text
        cards.append(card.json()["id"])
        topped = await http.post(f"{API}/cards/{cards[-1]}/top-ups", headers=op,
                                 json={"amount_cents": 100_000, "store_id": str(store)})
        assert topped.status_code == 201, topped.text
    signer = app.state.runtime.signer
    card_codes = [await signer.sign(chain.id, CodeKind.CARD, uuid.UUID(card),
                                    now + timedelta(minutes=10, seconds=n))
                  for card in cards for n in range(100)]
    starts = [tomorrow_at(f"{h:02d}:{m:02d}") for h in (10, 11, 12) for m in (0, 15, 30, 45)]
    return world, Storm(
        store=str(store), service=str(chain.services[store]),
        resources=[str(chain.resources[store]), str(table.id)], members=members,
        vouchers=vouchers, cards=cards, card_codes=card_codes,
        clerk=world.headers(chain.staff["alpha-clerk1"]), operator=op, starts=starts)


def _client_loop(base_url: str, storm: Storm, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        while not stop.is_set():
            kind = rng.choice(("redeem", "redeem", "charge", "top_up", "book"))
            try:
                if kind == "redeem":
                    response = http.post(f"{API}/redemptions", headers=storm.clerk, json={
                        "code": rng.choice(storm.vouchers), "store_id": storm.store,
                        "amount_cents": 2000})
                elif kind == "charge":
                    response = http.post(f"{API}/redemptions", headers=storm.clerk, json={
                        "code": rng.choice(storm.card_codes), "store_id": storm.store,
                        "action": "charge", "amount_cents": rng.randint(1, 300)})
                elif kind == "top_up":
                    response = http.post(
                        f"{API}/cards/{rng.choice(storm.cards)}/top-ups", headers=storm.clerk,
                        json={"amount_cents": rng.randint(1, 500), "store_id": storm.store})
                else:
                    response = http.post(f"{API}/bookings", headers=storm.operator, json={
                        "store_id": storm.store, "service_id": storm.service,
                        "start": rng.choice(storm.starts),
                        "resource_id": rng.choice(storm.resources),
                        "member_id": rng.choice(storm.members)})
            except httpx.HTTPError:
                return  # the server is gone
            assert response.status_code < 500, response.text
            if response.status_code == 201:
                with storm.lock:
                    storm.seen.append((kind, response.json()))


def _storm_then_kill(server: LiveServer, storm: Storm) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=_client_loop, args=(server.base_url, storm, n, stop))
               for n in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(storm.seen) < KILL_AFTER_SUCCESSES and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # in the middle: the threads are still firing
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(storm.seen) >= KILL_AFTER_SUCCESSES, "the storm never got going"
    assert {kind for kind, _ in storm.seen} == {"redeem", "charge", "top_up", "book"}


async def _drained(database_url: str, timeout_s: float = 45) -> list[dict[str, Any]]:
    """The outbox once every due row left pending (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await fetch(database_url, "SELECT id, status, due_at, dedupe_key, attempts, "
                                         "last_error FROM core_notification")
        now = datetime.now(UTC)
        if not [r for r in rows if r["status"] == "pending" and _at(r["due_at"]) <= now] \
                or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.3)


def _at(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _verify_ledger(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", "verify-ledger"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_sigkill_mid_storm_loses_nothing_committed(database_url: str) -> None:
    app = create_app(make_settings(database_url, notify_dispatcher=False))
    async with serving(app) as http:
        _, storm = await _seed(app, http)

    first = LiveServer(database_url, env=SERVER_ENV).start()
    try:
        await asyncio.to_thread(_storm_then_kill, first, storm)
    finally:
        first.stop()
    second = LiveServer(database_url, env=SERVER_ENV).start()
    try:
        outbox = await _drained(database_url)
    finally:
        second.stop()

    ledger = _verify_ledger(database_url)
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    assert '"mismatches": 0' in ledger.stdout

    # No voucher half-redeemed.
    vouchers = await fetch(database_url, "SELECT id, status, redemption_id FROM voucher")
    redemptions = await fetch(database_url, "SELECT id, kind, object_id, reversed_at "
                                            "FROM redemption")
    live = Counter(str(r["object_id"]) for r in redemptions
                   if r["kind"] == "voucher" and r["reversed_at"] is None)
    live_id = {str(r["object_id"]): str(r["id"]) for r in redemptions
               if r["kind"] == "voucher" and r["reversed_at"] is None}
    half = [v for v in vouchers
            if (v["status"] == "redeemed") != (live[str(v["id"])] == 1)
            or live[str(v["id"])] > 1
            or (v["status"] == "redeemed" and str(v["redemption_id"]) != live_id[str(v["id"])])]
    assert half == [], half
    assert sum(1 for v in vouchers if v["status"] == "redeemed") > 0

    # No card code spent without its charge, no charge without its ledger entry.
    spent = await fetch(database_url, "SELECT s.code_hash FROM spent_code s LEFT JOIN "
                                      "redemption r ON r.id = s.redemption_id WHERE r.id IS NULL")
    assert spent == [], spent
    unledgered = await fetch(database_url, "SELECT r.id FROM redemption r LEFT JOIN "
                                           "card_ledger e ON e.redemption_id = r.id "
                                           "WHERE r.kind = 'card' AND e.id IS NULL")
    assert unledgered == [], unledgered

    # No resource past its capacity at any instant.
    capacity = {str(r["id"]): r["capacity"]
                for r in await fetch(database_url, "SELECT id, capacity FROM resource")}
    bookings = await fetch(database_url, "SELECT id, resource, start_at, block_end_at, "
                                         "party_size, status FROM booking")
    holding = [b for b in bookings if b["status"] in ("confirmed", "checked_in", "completed")]
    over = []
    for booking in holding:
        at = _at(booking["start_at"])
        taken = sum(b["party_size"] for b in holding if b["resource"] == booking["resource"]
                    and _at(b["start_at"]) <= at < _at(b["block_end_at"]))
        if taken > capacity[str(booking["resource"])]:
            over.append((booking["resource"], at, taken))
    assert over == [], over
    assert holding, "no booking was made"

    # What a client was told was done is there.
    ledger_ids = {str(r["id"]) for r in await fetch(
        database_url, "SELECT id FROM card_ledger WHERE kind = 'top_up'")}
    ids = {"redeem": {str(r["id"]) for r in redemptions}, "top_up": ledger_ids,
           "charge": {str(r["id"]) for r in redemptions if r["kind"] == "card"},
           "book": {str(b["id"]) for b in bookings}}
    lost = [(kind, body["id"]) for kind, body in storm.seen if body["id"] not in ids[kind]]
    assert lost == [], lost

    # Every committed change has its event; every due event was delivered, once, inboxed.
    keys = {r["dedupe_key"] for r in outbox}
    missing = ([f"redemption:{r}" for r in ids["redeem"] if f"redemption:{r}" not in keys]
               + [f"ledger:{e}" for e in ledger_ids if f"ledger:{e}" not in keys]
               + [f"booking:{b}:confirmed" for b in ids["book"]
                  if not any(k.startswith(f"booking:{b}:confirmed:") for k in keys)])
    assert missing == [], missing
    now = datetime.now(UTC)
    undelivered = [r for r in outbox if _at(r["due_at"]) <= now and r["status"] != "sent"]
    assert undelivered == [], undelivered
    inbox = Counter(str(r["notification_id"]) for r in await fetch(
        database_url, "SELECT notification_id FROM core_inbox_message"))
    sent = [str(r["id"]) for r in outbox if r["status"] == "sent"]
    assert [n for n in sent if inbox[n] != 1] == []
