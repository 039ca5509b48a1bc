"""The prepaid liability (issue 19): ``GET /stats/liability?date=`` is the money held on the
chain's cards at the end of that local date (the chain's zone, its first store's), paid
and bonus apart, and the cards holding any. Checked against the ledger replayed card by
card (each card's last entry before the instant), never against the stats' own sums, on
a history with entries one second either side of local midnights, refunds that empty a
card, counter top-ups and till charges that split paid and bonus money.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.stats import service as stats_service
from app.stats.tables import StoreDay
from cards.tables import Card, LedgerEntry
from tests.world import World

API = "/api/v1"
HOME = ZoneInfo("Asia/Shanghai")  # the world's stores


def local(day: date, hhmmss: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmmss), HOME)


async def move(chain_id: uuid.UUID, card: str, kind: str, moment: datetime, paid: int,
               bonus: int) -> None:
    """An online top-up order's move: ``top_up`` (its paid and bonus money, one credit),
    ``refund`` or ``refund_reverted``."""
    from cards.public import credit_top_up, move_stored_value

    async with write_transaction():
        if kind == "top_up":
            await credit_top_up(chain_id, uuid.UUID(card), paid_cents=paid, bonus_cents=bonus,
                                order_id=uuid.uuid4(), now=moment)
        else:
            await move_stored_value(chain_id, uuid.UUID(card), kind, paid_cents=paid,
                                    bonus_cents=bonus, order_id=uuid.uuid4(), now=moment)


async def replayed(chain_id: uuid.UUID, end: datetime) -> dict[str, int]:
    """What the chain's cards held at ``end``: each card's last entry before it."""
    cards = [c["id"] for c in await Card.select(Card.id).where(Card.chain == chain_id).run()]
    rows = await LedgerEntry.select(
        LedgerEntry.card, LedgerEntry.seq, LedgerEntry.created_at,
        LedgerEntry.balance_after_cents, LedgerEntry.bonus_after_cents).where(
        LedgerEntry.card.is_in(cards or [uuid.uuid4()])).order_by(LedgerEntry.seq).run()
    last: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row["created_at"] < end:
            last[row["card"]] = row
    return {"paid_cents": sum(r["balance_after_cents"] - r["bonus_after_cents"]
                              for r in last.values()),
            "bonus_cents": sum(r["bonus_after_cents"] for r in last.values()),
            "cards": sum(1 for r in last.values() if r["balance_after_cents"] > 0)}


async def liability(client: httpx.AsyncClient, world: World, day: date | str,
                    who: Principal | None = None) -> httpx.Response:
    return await client.get(f"{API}/stats/liability", params={"date": str(day)},
                            headers=world.headers(who or world.a.operator))


async def test_the_liability_is_the_ledger_replayed(client: httpx.AsyncClient,
                                                    world: World) -> None:
    alpha = world.a
    op = world.headers(alpha.operator)

    async def post(path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        response = await client.post(f"{API}{path}", json=body, headers=headers or op)
        assert response.status_code == 201, response.text
        return response.json()

    template = (await post("/card-templates", {"name": "Prepaid", "kind": "stored_value"}))["id"]
    cards = [(await post("/cards", {"template_id": template, "member_id": str(m.id),
                                    "store_id": str(alpha.stores[0])}))["id"]
             for m in alpha.members]
    today = utcnow().astimezone(HOME).date()
    d = [today - timedelta(days=n) for n in range(6, -1, -1)]  # d[0] six days ago .. d[6]
    a, b = cards
    # Card a: topped up online on d[1], one second before local midnight, and again at
    # midnight itself (the next day's); half refunded on d[3].
    await move(alpha.id, a, "top_up", local(d[1], "23:59:59"), 10_000, 1_000)
    await move(alpha.id, a, "top_up", local(d[2], "00:00:00"), 5_000, 0)
    await move(alpha.id, a, "refund", local(d[3], "10:00:00"), -5_000, -500)
    # Card b: topped up on d[2], emptied by a refund on d[4], the refund failed on d[5].
    await move(alpha.id, b, "top_up", local(d[2], "12:00:00"), 3_000, 300)
    await move(alpha.id, b, "refund", local(d[4], "00:00:01"), -3_000, -300)
    await move(alpha.id, b, "refund_reverted", local(d[5], "23:59:00"), 3_000, 300)
    # Today, now: a counter top-up of paid money, and a till charge from card a (paid and
    # bonus money in the template's proportions).
    topped = await client.post(f"{API}/cards/{b}/top-ups", headers=op, json={
        "amount_cents": 2_000, "store_id": str(alpha.stores[0])})
    assert topped.status_code == 201, topped.text
    code = (await client.get(f"{API}/cards/{a}/code",
                             headers=world.headers(alpha.members[0]))).json()["code"]
    charged = await client.post(f"{API}/redemptions", headers=op, json={
        "code": code, "store_id": str(alpha.stores[0]), "action": "charge",
        "amount_cents": 3_333})
    assert charged.status_code == 201, charged.text

    for day in [d[0] - timedelta(days=1), *d, today + timedelta(days=1)]:
        response = await liability(client, world, day)
        assert response.status_code == 200, response.text
        end = datetime.combine(day + timedelta(days=1), time.min, HOME)
        assert response.json() == {"date": day.isoformat(), **await replayed(alpha.id, end)}
    # The figures the history implies, by hand: the midnight top-up counts on d[2].
    assert (await liability(client, world, d[1])).json() == {
        "date": d[1].isoformat(), "paid_cents": 10_000, "bonus_cents": 1_000, "cards": 1}
    assert (await liability(client, world, d[4])).json() == {
        "date": d[4].isoformat(), "paid_cents": 10_000, "bonus_cents": 500, "cards": 1}
    assert (await liability(client, world, d[5])).json()["cards"] == 2
    # A date still to come: what the cards hold now. Before the chain: nothing.
    held = await Card.select(Card.balance_cents, Card.bonus_balance_cents).where(
        Card.chain == alpha.id).run()
    future = (await liability(client, world, today + timedelta(days=400))).json()
    assert (future["paid_cents"] + future["bonus_cents"], future["bonus_cents"],
            future["cards"]) == (sum(c["balance_cents"] for c in held),
                                 sum(c["bonus_balance_cents"] for c in held),
                                 sum(1 for c in held if c["balance_cents"] > 0))
    assert future["paid_cents"] + future["bonus_cents"] == (
        10_000 + 1_000 + 5_000 - 5_500) + (3_300 + 2_000) - 3_333
    assert (await liability(client, world, "2001-01-01")).json() == {
        "date": "2001-01-01", "paid_cents": 0, "bonus_cents": 0, "cards": 0}
    # Another chain's cards are not ours.
    assert (await liability(client, world, today, world.b.operator)).json()["cards"] == 0

    # On PostgreSQL, a rebuild from the ledger gives the buckets the folds wrote.
    async with write_transaction():
        folded = await money_buckets()
        await stats_service.rebuild(None)
    assert await money_buckets() == folded


async def money_buckets() -> list[dict[str, Any]]:
    from app.core.db import current_engine, is_sqlite

    if is_sqlite(current_engine()):
        return []
    buckets = await StoreDay.raw(
        "SELECT * FROM stats_money WHERE paid_cents <> 0 OR bonus_cents <> 0 OR cards <> 0 "
        "OR online_top_ups <> 0 OR refunded_paid_cents <> 0 OR refunded_bonus_cents <> 0 "
        "ORDER BY chain_id, at").run()
    days = await StoreDay.raw(
        "SELECT * FROM stats_money_day WHERE paid_cents <> 0 OR bonus_cents <> 0 "
        "OR cards <> 0 ORDER BY chain_id, day").run()
    assert buckets and days
    return [*buckets, *days]


async def test_who_may_ask_and_which_dates(client: httpx.AsyncClient, world: World) -> None:
    alpha = world.a
    today = utcnow().astimezone(HOME).date().isoformat()
    assert (await client.get(f"{API}/stats/liability", params={"date": today})).status_code \
        == 401
    for who in (alpha.staff["alpha-manager"], alpha.staff["alpha-clerk1"], alpha.members[0]):
        refused = await liability(client, world, today, who)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), who.role
    # Each refusal names the parameter as the client sent it: `date`.
    for bad in ("2026-02-30", "2026-13-40", "yesterday", "1999-12-31", "2101-01-01", ""):
        response = await liability(client, world, bad)
        assert (response.status_code, response.json()["code"]) == (400, "validation_error"), bad
        assert [e["field"] for e in response.json()["errors"]] == ["date"], response.json()
    missing = await client.get(f"{API}/stats/liability", headers=world.headers(alpha.operator))
    assert (missing.status_code, missing.json()["code"]) == (400, "validation_error")
    assert [e["field"] for e in missing.json()["errors"]] == ["date"]


async def test_online_top_ups_are_the_chains(client: httpx.AsyncClient, world: World) -> None:
    """An online top-up counts in the whole chain's figures (paid and bonus apart) and in
    no store's; a counter top-up is paid money at its store."""
    alpha = world.a
    op = world.headers(alpha.operator)
    template = (await client.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value"})).json()["id"]
    card = (await client.post(f"{API}/cards", headers=op, json={
        "template_id": template, "member_id": str(alpha.members[0].id),
        "store_id": str(alpha.stores[0])})).json()["id"]
    now = utcnow()
    await move(alpha.id, card, "top_up", now, 50_000, 5_000)
    await move(alpha.id, card, "refund", now, -10_000, -1_000)
    counter = await client.post(f"{API}/cards/{card}/top-ups", headers=op, json={
        "amount_cents": 7_000, "store_id": str(alpha.stores[1])})
    assert counter.status_code == 201, counter.text
    today = now.astimezone(HOME).date().isoformat()
    span = {"from": today, "to": today}

    async def top_ups(**params: str) -> dict[str, int]:
        response = await client.get(f"{API}/stats/overview", headers=op,
                                    params={**span, **params})
        assert response.status_code == 200, response.text
        return dict(response.json()["top_ups"])

    # amount = the money the top-ups put on cards: paid (57000) + bonus (5000)
    assert await top_ups() == {"count": 2, "amount_cents": 62_000, "paid_cents": 57_000,
                               "bonus_cents": 5_000, "refunded_paid_cents": 10_000,
                               "refunded_bonus_cents": 1_000}
    nothing = {"count": 0, "amount_cents": 0, "paid_cents": 0, "bonus_cents": 0,
               "refunded_paid_cents": 0, "refunded_bonus_cents": 0}
    assert await top_ups(store_id=str(alpha.stores[0])) == nothing
    assert await top_ups(store_id=str(alpha.stores[1])) == {
        **nothing, "count": 1, "amount_cents": 7_000, "paid_cents": 7_000}
    series: dict[str, dict[str | None, int]] = defaultdict(dict)
    for metric in ("top_ups", "top_up_amount", "top_up_paid", "top_up_bonus"):
        for store in (None, str(alpha.stores[1])):
            response = await client.get(f"{API}/stats/timeseries", headers=op, params={
                **span, "metric": metric, **({"store_id": store} if store else {})})
            assert response.status_code == 200, response.text
            series[metric][store] = response.json()["points"][0]["value"]
    assert series == {"top_ups": {None: 2, str(alpha.stores[1]): 1},
                      "top_up_amount": {None: 62_000, str(alpha.stores[1]): 7_000},
                      "top_up_paid": {None: 57_000, str(alpha.stores[1]): 7_000},
                      "top_up_bonus": {None: 5_000, str(alpha.stores[1]): 0}}


async def test_racing_moves_and_folds_leave_the_liability_exact(
        client: httpx.AsyncClient, world: World, engine_name: str) -> None:
    """Online top-ups on ten cards at once, with folds running between them (PostgreSQL's
    queue): the liability is the ledger replayed, and a rebuild changes nothing."""
    alpha = world.a
    op = world.headers(alpha.operator)
    template = (await client.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value"})).json()["id"]
    members = [(await client.post(f"{API}/members", headers=op, json={
        "name": f"Racer {n}", "phone": f"1393333{n:04d}"})).json()["id"] for n in range(10)]
    cards = [(await client.post(f"{API}/cards", headers=op, json={
        "template_id": template, "member_id": m})).json()["id"] for m in members]

    async def top_up(card: str, n: int) -> None:
        now = utcnow()
        await move(alpha.id, card, "top_up", now, 1_000 + n, n + 1)

    async def folds() -> None:
        for _ in range(5):
            await stats_service.fold_queue(wait=False)
            await asyncio.sleep(0)

    await asyncio.gather(*(top_up(c, n) for n, c in enumerate(cards * 3)), folds())
    today = utcnow().astimezone(HOME).date()
    end = datetime.combine(today + timedelta(days=1), time.min, HOME)
    expected = {"date": today.isoformat(), **await replayed(alpha.id, end)}
    assert expected["cards"] == 10
    assert expected["paid_cents"] == sum(1_000 + n for n in range(30))
    assert (await liability(client, world, today)).json() == expected
    if engine_name == "postgres":
        async with write_transaction():
            folded = await money_buckets()
            await stats_service.rebuild(alpha.id)
        assert await money_buckets() == folded
    assert (await liability(client, world, today)).json() == expected
