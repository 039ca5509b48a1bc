"""The top-up storm shared by test_pay_races.py and test_pay_crash.py.

A chain configured for live WeChat Pay against the stand-in, members with stored-value
cards whose template offers top-up options with a bonus, orders placed over HTTP on real
`o2o serve` processes, and a script of what WeChat Pay does with each order (its *fate*,
see :data:`FATES`): paid with a clean notice, duplicated, late, out of order, tampered
first, lying about the amount, lost (only an active query finds it), paid with a
different amount, never paid, expired (closed by the pollers) and paid at the last
moment or not, refunded then notified again. Notices for orders the server never placed
are sent too. Afterwards :func:`check` reads the database with plain SQL
(tests/hardening/rawdb.py) and proves the bar: every paid order credited once, nothing
else credited, anomalies recorded, card balances equal to what was paid and kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.asgi import create_app
from app.core.auth import Principal
from stores import service as stores
from stores.schemas import MemberCreate
from tests.conftest import TEST_SECRET, LiveServer, make_settings, serving
from tests.hardening.notice_proxy import Forwarded
from tests.hardening.rawdb import fetch
from tests.stand_ins.wechatpay import (
    CHINA,
    QUERY,
    SignedNotice,
    WechatPayStandIn,
    merchant_config,
)
from tests.world import build_world

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]
OPTIONS = [(1000, 0), (5000, 300), (10000, 1000), (50000, 8000)]  # (amount, bonus) fen

# What WeChat Pay does with an order. Weights: most orders are paid.
FATES: dict[str, int] = {
    "clean": 4,  # paid, one notice
    "duplicate": 3,  # paid, the notice sent two or three times at once
    "late": 2,  # paid, the notice held back a few seconds (the poller may win)
    "reordered": 2,  # paid, notices of a batch sent in reverse order, later
    "tampered": 2,  # paid, a tampered notice first (401), then a good one
    "lying": 1,  # paid in full, but the notice claims another amount: recorded, then
    #              credited when an active query confirms the real amount
    "lost": 3,  # paid, no notice at first: only an active query (or a re-send) finds it
    "mismatch": 1,  # WeChat Pay's order says another amount: recorded, closed, never credited
    "unpaid": 2,  # never paid
    # Past its 2 h (expires_at moved back before the storm): the pollers close it at
    # WeChat Pay and here, while the member pays at the last moment: ORDERPAID on close,
    # or a notice for a closed order (confirmed by a query): credited either way.
    "expired": 1,
    "expired_unpaid": 1,  # past its 2 h and never paid: closed, at WeChat Pay too
    # Paid, credited, refunded in full by the operator (WeChat Pay ends the refund at once
    # and notices it), then WeChat Pay sends the payment's notice again: nothing re-credited.
    "refunded": 1,
}
PAID = {"clean", "duplicate", "late", "reordered", "tampered", "lying", "lost", "expired",
        "refunded"}
EXPIRED = {"expired", "expired_unpaid"}
UNKNOWN_ORDERS = 3  # notices for orders the server never placed


def server_env(stand_in_url: str, public_url: str) -> dict[str, str]:
    """What every `o2o serve` of the storm runs with: live WeChat Pay against the
    stand-in, a fast poller, no notification or webhook workers (nothing to deliver to,
    and the two cores are for the race)."""
    return {
        "O2O_WECHAT_MODE": "live",
        "O2O_WECHAT_PAY_API_BASE": stand_in_url,
        "O2O_PUBLIC_URL": public_url,
        "O2O_WECHAT_API_BASE": "http://127.0.0.1:9",
        "O2O_NOTIFY_DISPATCHER": "0",
        "O2O_WEBHOOK_WORKER": "0",
        "O2O_PAY_POLLER": "1",
        "O2O_PAY_POLL_SECONDS": "0.2",
        # Every wait of the poller x 0.01: first look 0.15 s after placing, then 0.3 s,
        # 0.6, 1.2, 3, 6, 9 s apart; a claim's lease 0.6 s (shorter than a hung query:
        # the other process looks at the same order meanwhile, on purpose).
        "O2O_PAY_QUERY_SCALE": "0.01",
        "O2O_WECHAT_PAY_TIMEOUT_SECONDS": "1.5",
    }


@dataclass(frozen=True)
class Holder:
    card_id: str
    member_id: str
    headers: dict[str, str]


@dataclass
class Shop:
    chain_id: str
    mchid: str
    holders: list[Holder]
    operator: dict[str, str]


@dataclass(frozen=True)
class Order:
    id: str
    out_trade_no: str
    card_id: str
    amount_cents: int
    bonus_cents: int


@dataclass
class Storm:
    orders: list[Order] = field(default_factory=list)
    fate: dict[str, str] = field(default_factory=dict)  # out_trade_no -> fate
    unknown: list[str] = field(default_factory=list)  # out_trade_nos never placed
    spoiled: set[str] = field(default_factory=set)  # ids of notices that must not verify
    paid_at: dict[str, float] = field(default_factory=dict)  # out_trade_no -> monotonic
    bad_answers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paid(self) -> list[Order]:
        return [o for o in self.orders if self.fate[o.out_trade_no] in PAID]


async def seed(database_url: str, stand_in: WechatPayStandIn, cards: int) -> Shop:
    """A chain with live WeChat Pay configured (the stand-in knows its merchant), and
    ``cards`` members with an openid and a stored-value card each."""
    app = create_app(make_settings(database_url, notify_dispatcher=False,
                                   webhook_worker=False, pay_poller=False))
    async with serving(app) as http:
        world = await build_world(app)
        chain = world.a
        op = world.headers(chain.operator)
        merchant = stand_in.new_merchant()
        config = await http.put(f"{API}/wechat-pay-config", headers=op,
                                json=merchant_config(merchant))
        assert config.status_code == 200, config.text
        template = await http.post(f"{API}/card-templates", headers=op, json={
            "name": "Prepaid", "kind": "stored_value",
            "top_up_options": [{"amount_cents": a, "bonus_cents": b} for a, b in OPTIONS]})
        assert template.status_code == 201, template.text
        holders = []
        for n in range(cards):
            member = await stores.register_member(chain.operator, MemberCreate(
                name=f"payer {n}", phone=f"1391234{n:04d}"))
            await stores.set_openid(member.id, f"o-storm-{n:03d}-{uuid.uuid4().hex[:8]}")
            card = await http.post(f"{API}/cards", headers=op, json={
                "template_id": template.json()["id"], "member_id": str(member.id)})
            assert card.status_code == 201, card.text
            principal = Principal(kind="member", id=member.id, chain_id=chain.id,
                                  role="member")
            holders.append(Holder(card_id=card.json()["id"], member_id=str(member.id),
                                  headers=world.headers(principal)))
    return Shop(chain_id=str(chain.id), mchid=merchant.mchid, holders=holders,
                operator=op)


def place_orders(servers: list[str], shop: Shop, storm: Storm, count: int,
                 seed_: int, threads: int = 6) -> None:
    """``count`` orders placed over HTTP from ``threads`` threads, spread over the
    servers. Every fifth is a double tap: the same Idempotency-Key sent to two servers
    at once, which must place one order."""
    rng = random.Random(seed_)
    plan = [(rng.choice(shop.holders), rng.choice(OPTIONS)[0], n % 5 == 0)
            for n in range(count)]
    chunks = [plan[i::threads] for i in range(threads)]

    def tap(http: httpx.Client, url: str, holder: Holder, key: str, amount: int,
            answers: list[httpx.Response]) -> None:
        answers.append(http.post(f"{url}{API}/cards/{holder.card_id}/top-up-orders",
                                 headers={**holder.headers, "Idempotency-Key": key},
                                 json={"amount_cents": amount}))

    def work(chunk: list[tuple[Holder, int, bool]], offset: int) -> None:
        with httpx.Client(timeout=30) as http:
            for n, (holder, amount, double) in enumerate(chunk):
                key = uuid.uuid4().hex
                targets = servers if double else [servers[(n + offset) % len(servers)]]
                answers: list[httpx.Response] = []
                taps = [threading.Thread(target=tap, args=(http, url, holder, key, amount,
                                                           answers)) for url in targets]
                for thread in taps:
                    thread.start()
                for thread in taps:
                    thread.join()
                placed = {a.json()["id"]: a.json() for a in answers if a.status_code == 201}
                others = [a for a in answers if a.status_code != 201
                          and not (a.status_code == 409
                                   and a.json().get("code") == "idempotency_in_flight")]
                with storm.lock:
                    storm.bad_answers += [f"place: {a.status_code} {a.text[:200]}"
                                          for a in others]
                    if len(placed) > 1:
                        storm.bad_answers.append(f"double tap placed {sorted(placed)}")
                    for body in placed.values():
                        storm.orders.append(Order(
                            id=body["id"], out_trade_no=body["out_trade_no"],
                            card_id=holder.card_id, amount_cents=body["amount_cents"],
                            bonus_cents=body["bonus_cents"]))

    workers = [threading.Thread(target=work, args=(chunk, i)) for i, chunk in
               enumerate(chunks)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)


def assign_fates(storm: Storm, seed_: int) -> None:
    rng = random.Random(seed_)
    names = list(FATES)
    weights = [FATES[n] for n in names]
    for order in storm.orders:
        storm.fate[order.out_trade_no] = rng.choices(names, weights)[0]
    # Every fate at least once, so each path is really exercised.
    for name, order in zip(names, storm.orders, strict=False):
        storm.fate[order.out_trade_no] = name


def drive(stand_in: WechatPayStandIn, shop: Shop, storm: Storm, notify_url: str,
          seed_: int, api_url: str, threads: int = 4) -> None:
    """WeChat Pay's side of the storm: each order meets its fate, from ``threads``
    threads at once (each notice is posted over real HTTP and waited for, like WeChat Pay
    does), while the queries of both processes' pollers meet scripted faults. Late and
    reordered notices are sent at the end, after a pause in which the pollers may win."""
    rng = random.Random(seed_)
    stand_in.auto_refund = "SUCCESS"
    orders = list(storm.orders)
    rng.shuffle(orders)
    held: list[SignedNotice] = []
    reordered: list[SignedNotice] = []

    def fault_queries() -> None:
        """The next query (whichever process asks, about whatever order) fails: spread
        over the storm, so that faults meet paid orders and notices in flight."""
        kind = rng.random()
        if kind < 0.5:
            stand_in.fail(QUERY, "SYSTEM_ERROR")
        elif kind < 0.8:
            stand_in.http_error(QUERY, 500)
        else:
            stand_in.hang(QUERY, seconds=2.5)  # the client gives up after 1.5 s

    def meet(order: Order, fate: str) -> None:
        no = order.out_trade_no
        fault_queries()
        with storm.lock:
            storm.paid_at[no] = time.monotonic()
        if fate == "clean":
            stand_in.pay(no)
        elif fate == "duplicate":
            notice = stand_in.pay(no, notify=False)
            copies = [threading.Thread(target=stand_in.send, args=(notice,))
                      for _ in range(rng.choice((2, 3)))]
            for copy in copies:
                copy.start()
            for copy in copies:
                copy.join()
        elif fate == "late":
            with storm.lock:
                held.append(stand_in.pay(no, notify=False))
        elif fate == "reordered":
            with storm.lock:
                reordered.append(stand_in.pay(no, notify=False))
        elif fate == "tampered":
            bad = stand_in.pay(no, fault="tampered", notify=False)
            with storm.lock:
                storm.spoiled.add(bad.notice_id)
            stand_in.send(bad)
            stand_in.send(stand_in.notice_for(no))
        elif fate == "lying":
            lie = stand_in.pay(no, notice_total=order.amount_cents + 1, notify=False)
            stand_in.send(lie)
        elif fate == "lost":
            stand_in.pay(no, notify=False)  # made, never sent (until the re-sends)
        elif fate == "expired":
            stand_in.pay(no, even_if_closed=True)
        elif fate == "refunded":
            notice = stand_in.pay(no)
            refund_when_paid(api_url, shop, storm, order)
            stand_in.resend(notice)  # the payment told again, after the refund
        elif fate == "mismatch":
            stand_in.order(no).total = order.amount_cents - 1  # WeChat Pay's own amount
            stand_in.pay(no)

    def work(chunk: list[Order]) -> None:
        for order in chunk:
            meet(order, storm.fate[order.out_trade_no])

    workers = [threading.Thread(target=work, args=(orders[i::threads],))
               for i in range(threads)]
    for worker in workers:
        worker.start()
    for n in range(UNKNOWN_ORDERS):
        no = f"X{uuid.uuid4().hex[:20]}{n}"
        stand_in.place(shop.mchid, no, 2000, notify_url)
        storm.unknown.append(no)
        stand_in.pay(no, copies=2)
    for worker in workers:
        worker.join(timeout=120)
    time.sleep(1.5)
    for notice in reversed(reordered):
        stand_in.send(notice)
    for notice in held:
        stand_in.send(notice)


def refund_when_paid(api_url: str, shop: Shop, storm: Storm, order: Order) -> None:
    """The operator refunds all of ``order`` once it is paid here (asked over HTTP)."""
    with httpx.Client(base_url=api_url + API, headers=shop.operator, timeout=30) as http:
        deadline = time.monotonic() + 30
        while http.get(f"/top-up-orders/{order.id}").json()["status"] != "paid":
            if time.monotonic() > deadline:
                with storm.lock:
                    storm.bad_answers.append(f"{order.out_trade_no} never paid to refund")
                return
            time.sleep(0.1)
        answer = http.post(f"/top-up-orders/{order.id}/refund", json={
            "amount_cents": order.amount_cents, "reason": "storm"})
    if answer.status_code != 202:
        with storm.lock:
            storm.bad_answers.append(f"refund: {answer.status_code} {answer.text[:200]}")


def redeliver(stand_in: WechatPayStandIn, storm: Storm, *, include_lost: bool,
              rounds: int = 5) -> None:
    """WeChat Pay's re-sends: every notice made that no server acknowledged (2xx) is sent
    again, signed anew, until acknowledged (a few rounds). ``include_lost``: the notices
    of the "lost" orders too (WeChat Pay keeps re-sending for a day)."""
    lost = {o.out_trade_no for o in storm.orders if storm.fate[o.out_trade_no] == "lost"}
    for _ in range(rounds):
        pending = []
        for notice in list(stand_in.notices):
            if notice.notice_id in storm.spoiled:
                continue
            if not include_lost and notice.resource.get("out_trade_no") in lost:
                continue
            statuses = [d.status for d in stand_in.deliveries_of(notice)]
            if not any(s is not None and 200 <= s < 300 for s in statuses):
                pending.append(notice)
        if not pending:
            return
        for notice in pending:
            stand_in.resend(notice)
        time.sleep(0.5)


def raced(stand_in: WechatPayStandIn, storm: Storm) -> int:
    """How many paid orders both ways saw paid: a notice was acknowledged, and a poller
    asked WeChat Pay about the order after it was paid (so it found it still pending
    here, with WeChat Pay saying SUCCESS, while the notice was on its way or being
    applied). The storm is only worth its name when there are several."""
    queried_after: set[str] = set()
    for request in stand_in.requests_of(QUERY):
        no = request.path.split("/out-trade-no/", 1)[1].split("?", 1)[0]
        if no in storm.paid_at and request.at >= storm.paid_at[no]:
            queried_after.add(no)
    notified = {str(n.resource.get("out_trade_no")) for n in list(stand_in.notices)
                if n.notice_id not in storm.spoiled and stand_in.acknowledged(n)}
    return len(queried_after & notified & {o.out_trade_no for o in storm.paid()})


def notice_answers(stand_in: WechatPayStandIn, storm: Storm) -> list[str]:
    """What is wrong with the servers' answers to notices: a spoiled notice acknowledged,
    or a good one never acknowledged, or a 5xx from a server that was up."""
    wrong = []
    for notice in list(stand_in.notices):
        statuses = [d.status for d in stand_in.deliveries_of(notice)]
        acked = any(s is not None and 200 <= s < 300 for s in statuses)
        if notice.notice_id in storm.spoiled:
            # 401 from a server; 502 (or no answer) from the proxy when it was dead.
            if acked or any(s not in (401, 502, None) for s in statuses):
                wrong.append(f"spoiled {notice.notice_id}: {statuses}")
        elif statuses and not acked:
            wrong.append(f"never acknowledged {notice.resource.get('out_trade_no')}: "
                         f"{statuses}")
    return wrong


async def expire(database_url: str, storm: Storm) -> None:
    """Move the 2 h of the orders fated to expire into the past (their expires_at = their
    created_at): as if the storm happened two hours after they were placed."""
    ids = [o.id for o in storm.orders if storm.fate[o.out_trade_no] in EXPIRED]
    sql = ("UPDATE top_up_order SET expires_at = created_at WHERE id IN ("
           + ", ".join(f"'{i}'" for i in ids) + ")")
    if database_url.startswith("sqlite:"):
        path = "/" + database_url.removeprefix("sqlite:///").lstrip("/")

        def run() -> None:
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn, conn:
                conn.execute(sql)

        await asyncio.to_thread(run)
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def final_status(storm: Storm, order: Order) -> str:
    """What a paid order ends as."""
    return "refunded" if storm.fate[order.out_trade_no] == "refunded" else "paid"


async def wait_credited(database_url: str, storm: Storm, timeout_s: float) -> None:
    """Until every paid order is paid in the database and every expired unpaid one
    closed (or the timeout passed)."""
    want = {(o.id, final_status(storm, o)) for o in storm.paid()} | {
        (o.id, "closed") for o in storm.orders
        if storm.fate[o.out_trade_no] == "expired_unpaid"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await fetch(database_url, "SELECT id, status FROM top_up_order")
        if want <= {(str(r["id"]), r["status"]) for r in rows}:
            return
        await asyncio.sleep(0.3)


def reconcile(database_url: str, stand_in: WechatPayStandIn, shop: Shop) -> dict[str, int]:
    """`o2o pay reconcile` (the third crediting path) for every Beijing date WeChat Pay
    has payments on: the summed summaries."""
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET,
           "O2O_WECHAT_MODE": "live", "O2O_WECHAT_PAY_API_BASE": stand_in.url,
           "O2O_WECHAT_PAY_TIMEOUT_SECONDS": "10"}
    days = sorted({o.success_time.astimezone(CHINA).date()
                   for o in stand_in.paid_orders(shop.mchid).values()
                   if o.success_time is not None})
    total: Counter[str] = Counter()
    for day in days:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "pay", "reconcile", "--chain", shop.chain_id,
             "--date", day.isoformat()], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        total.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return dict(total)


def reconciled_after(database_url: str, stand_in: WechatPayStandIn, shop: Shop,
                     storm: Storm) -> None:
    """Once everything caught up, the day's bill finds every paid order matched and
    nothing left to credit; the unknown and mismatched payments are reported."""
    summary = reconcile(database_url, stand_in, shop)
    mismatched = sum(1 for o in storm.orders if storm.fate[o.out_trade_no] == "mismatch")
    refunds = sum(1 for o in storm.orders if storm.fate[o.out_trade_no] == "refunded")
    assert summary == {"matched": len(storm.paid()) + refunds, "credited_late": 0,
                       "unknown": len(storm.unknown), "amount_mismatch": mismatched,
                       # o2o's two additions (decision 048): nothing contradicts the bill,
                       # nothing credited here is missing from it.
                       "state_mismatch": 0, "missing": 0}, summary


def verify_ledger(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", "verify-ledger"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


async def check(database_url: str, stand_in: WechatPayStandIn, storm: Storm,
                mchid: str) -> None:
    """The bar, read with plain SQL."""
    assert storm.bad_answers == [], storm.bad_answers
    unanswered = notice_answers(stand_in, storm)
    assert unanswered == [], unanswered
    # What WeChat Pay counts as paid is what the storm meant to pay (a sanity check of
    # the script itself).
    assert set(stand_in.paid_orders(mchid)) == (
        {o.out_trade_no for o in storm.paid()} | set(storm.unknown)
        | {o.out_trade_no for o in storm.orders if storm.fate[o.out_trade_no] == "mismatch"})
    orders = {str(r["id"]): r for r in await fetch(
        database_url, "SELECT id, out_trade_no, status, transaction_id, amount_cents, "
                      "bonus_cents, card FROM top_up_order")}
    placed = {o.id for o in storm.orders}
    assert set(orders) == placed, "orders in the database differ from the orders placed"
    entries: dict[str, Counter[str]] = defaultdict(Counter)
    moved: dict[str, list[tuple[str, int, int, int]]] = defaultdict(list)
    for e in await fetch(database_url, "SELECT order_id, kind, delta_cents, "
                                       "delta_paid_cents, delta_bonus_cents FROM card_ledger "
                                       "WHERE order_id IS NOT NULL"):
        entries[str(e["order_id"])][e["kind"]] += 1
        moved[str(e["order_id"])].append((e["kind"], e["delta_cents"], e["delta_paid_cents"],
                                          e["delta_bonus_cents"]))
    wrong: list[tuple[Any, ...]] = []
    for order in storm.orders:
        fate, row = storm.fate[order.out_trade_no], orders[order.id]
        if fate in PAID:
            refunded = fate == "refunded"
            want = Counter({"top_up": 1, **({"top_up_bonus": 1} if order.bonus_cents else {}),
                            **({"refund": 1} if refunded else {})})
            if row["status"] != final_status(storm, order) or entries[order.id] != want:
                wrong.append((fate, order.out_trade_no, row["status"], entries[order.id]))
            total = order.amount_cents + order.bonus_cents
            expected = sorted([("top_up", order.amount_cents, order.amount_cents, 0)]
                              + ([("top_up_bonus", order.bonus_cents, 0, order.bonus_cents)]
                                 if order.bonus_cents else [])
                              + ([("refund", -total, -order.amount_cents, -order.bonus_cents)]
                                 if refunded else []))
            if sorted(moved[order.id]) != expected:
                wrong.append((fate, order.out_trade_no, "moves", moved[order.id]))
        # A payment WeChat Pay itself records at another amount ends its order (closed,
        # anomaly amount_mismatch: decision 047), like an expired one.
        elif (row["status"] != ("closed" if fate in EXPIRED or fate == "mismatch"
                                else "pending")
              or entries[order.id]):
            wrong.append((fate, order.out_trade_no, row["status"], entries[order.id]))
        elif fate == "expired_unpaid" and stand_in.order(order.out_trade_no).state != "CLOSED":
            wrong.append((fate, order.out_trade_no, "not closed at WeChat Pay"))
    assert wrong == [], wrong

    # Card balances are exactly what was paid (the cards started empty).
    paid_total: Counter[str] = Counter()
    bonus_total: Counter[str] = Counter()
    for order in storm.paid():
        if storm.fate[order.out_trade_no] == "refunded":
            continue  # all of it went back
        paid_total[order.card_id] += order.amount_cents
        bonus_total[order.card_id] += order.bonus_cents
    cards = await fetch(database_url, "SELECT id, balance_cents, bonus_balance_cents "
                                      "FROM card")
    off = [(str(c["id"]), c["balance_cents"], c["bonus_balance_cents"]) for c in cards
           if c["balance_cents"] != paid_total[str(c["id"])] + bonus_total[str(c["id"])]
           or c["bonus_balance_cents"] != bonus_total[str(c["id"])]]
    assert off == [], off

    # Mismatched amounts and unknown orders recorded, once each.
    anomalies = await fetch(database_url, "SELECT kind, out_trade_no, transaction_id "
                                          "FROM pay_anomaly")
    counted = Counter((a["kind"], a["out_trade_no"]) for a in anomalies)
    mismatched = [o.out_trade_no for o in storm.orders
                  if storm.fate[o.out_trade_no] in ("mismatch", "lying")]
    missing = ([("amount_mismatch", n) for n in mismatched
                if counted[("amount_mismatch", n)] != 1]
               + [("unknown_order", n) for n in storm.unknown
                  if counted[("unknown_order", n)] != 1])
    assert missing == [], (missing, anomalies)

    # One `top_up_order.paid` event per paid order.
    events = Counter(str(e["object_id"]) for e in await fetch(
        database_url, "SELECT object_id FROM core_event WHERE type = 'top_up_order.paid'"))
    assert events == Counter({o.id: 1 for o in storm.paid()}), events
    # One `card.topped_up` per credited order (its two entries are one top-up), so the
    # feed never shows a card no API call could see.
    topped_up = Counter(str(e["object_id"]) for e in await fetch(
        database_url, "SELECT object_id FROM core_event WHERE type = 'card.topped_up'"))
    want_topped = Counter(str(orders[o.id]["card"]) for o in storm.paid())
    assert topped_up == want_topped, (topped_up, want_topped)
    refund_events = Counter(str(e["object_id"]) for e in await fetch(
        database_url, "SELECT object_id FROM core_event WHERE type = 'top_up_order.refunded'"))
    assert refund_events == Counter({o.id: 1 for o in storm.orders
                                     if storm.fate[o.out_trade_no] == "refunded"}), \
        refund_events
    refunds = await fetch(database_url, 'SELECT "order", status FROM top_up_refund')
    assert sorted((str(r["order"]), r["status"]) for r in refunds) == sorted(
        (o.id, "success") for o in storm.orders if storm.fate[o.out_trade_no] == "refunded")

    # One balance notification per paid order (its dedupe key names the order).
    notified = Counter(str(n["dedupe_key"]).split(":")[1] for n in await fetch(
        database_url, "SELECT dedupe_key FROM core_notification "
                      "WHERE dedupe_key LIKE 'top_up_order:%'"))
    assert notified == Counter({o.id: 1 for o in storm.paid()}), notified

    ledger = verify_ledger(database_url)
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    assert '"mismatches": 0' in ledger.stdout


def start_servers(servers: list[LiveServer]) -> None:
    """Start them at once (each takes a few seconds to come up)."""
    errors: list[BaseException] = []

    def start(server: LiveServer) -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def server_errors(forwarded: list[Forwarded], dead: frozenset[str] = frozenset()
                  ) -> list[Forwarded]:
    """Answers to notices that a server should not give: any 5xx but WeChat Pay's
    "try again" (503 ``FAIL``: a notice for a closed order that WeChat Pay could not
    confirm just then) and the proxy's 502 for a backend in ``dead``."""
    return [f for f in forwarded if f.status >= 500
            and not (f.status == 503 and b'"FAIL"' in f.body)
            and not (f.status == 502 and f.backend in dead)]


def log_problems(log_dir: Path) -> list[str]:
    """Tracebacks in the servers' logs (an unexpected exception anywhere)."""
    problems = []
    for log in sorted(log_dir.glob("server-*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            problems.append(f"{log.name}: {text[text.index('Traceback'):][:3000]}")
    return problems
