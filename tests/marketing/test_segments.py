"""Segments (issue 20), checked against an independent model of the same rows.

The members, cards and redemptions are written as rows (redemptions in a shuffled order,
some reversed when written, some reversed afterwards, some older than any window), so
PostgreSQL's trigger takes its rare paths too (a visit stamped before the member's last,
a recount after a reversal, the trimming of old visits). The expected members of each
filter combination come from the test's own records, in Python, by local dates (never
from the segments' SQL); a seeded loop draws the combinations.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from cards.tables import Card, CardTemplate, Redemption
from marketing.segments import service
from marketing.segments.schemas import PreviewIn, SegmentFilters
from marketing.segments.tables import Segment
from stores.tables import Member
from tests.world import World

API = "/api/v1"
ZONE = ZoneInfo("Asia/Shanghai")  # the chain's zone (the default)
TIERS = ("Silver", "Gold")


@dataclass
class Visit:
    member: uuid.UUID
    store: uuid.UUID
    at: datetime
    charged: int
    reversed: bool = False
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class Shop:
    """What the test wrote: the model the expectations are computed from."""

    chain_id: uuid.UUID
    stores: list[uuid.UUID]
    now: datetime
    members: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    cards: list[dict[str, Any]] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    templates: list[uuid.UUID] = field(default_factory=list)


def local(at: datetime) -> date:
    return at.astimezone(ZONE).date()


async def build(world: World, seed: int = 20) -> Shop:
    rng = random.Random(seed)
    alpha = world.a
    now = utcnow()
    shop = Shop(chain_id=alpha.id, stores=list(alpha.stores), now=now)
    for name in ("Prepaid", "Times"):
        template_id = uuid.uuid4()
        await CardTemplate.insert(CardTemplate(
            id=template_id, chain=alpha.id, name=name, kind="stored_value",
            tiers=[{"name": t, "min_points": 100 * (i + 1), "discount_percent": 5}
                   for i, t in enumerate(TIERS)])).run()
        shop.templates.append(template_id)
    for member in alpha.members:  # the world's two: registered, never visiting
        row = await Member.select().where(Member.id == member.id).first().run()
        assert row is not None
        shop.members[member.id] = row
    today = local(now)
    for n in range(36):
        joined = now - timedelta(days=rng.choice([1, 5, 29, 30, 31, 89, 90, 91, 200, 800]),
                                 minutes=rng.randrange(1440))
        phone = rng.choice([None, "", f"1390000{n:04d}"])
        row = {"id": uuid.uuid4(), "chain": alpha.id,
               "name": rng.choice([f"Member {n}", f"=HYPERLINK(\"x\") {n}"]),
               "phone": phone, "phone_verified": False,
               "birthday": rng.choice([None, date(1992, rng.randint(1, 12), 28)]),
               "registered_store": rng.choice([None, *alpha.stores]), "created_at": joined}
        await Member.insert(Member(**row)).run()
        shop.members[row["id"]] = row
        for template_id in rng.sample(shop.templates, rng.randint(0, 2)):
            card = {"id": uuid.uuid4(), "chain": alpha.id, "template": template_id,
                    "member": row["id"], "number": f"8{n:04d}{len(shop.cards):06d}",
                    "status": rng.choice(["active", "active", "frozen", "cancelled"]),
                    "tier": rng.choice([None, *TIERS]),
                    "expires_at": rng.choice([None, now + timedelta(days=3),
                                              now - timedelta(days=3)]),
                    "created_at": joined}
            await Card.insert(Card(**card)).run()
            shop.cards.append(card)
        for _ in range(rng.choice([0, 1, 2, 3, 6])):
            ago = rng.choice([0, 1, 6, 7, 29, 30, 31, 89, 90, 120, 400, 760, 900])
            day = today - timedelta(days=ago)
            # Some exactly at a local midnight (a window's first instant), some just before.
            clock = rng.choice([time(0, 0), time(12, 30), time(23, 59, 59, 999999)])
            at = min(datetime.combine(day, clock, ZONE).astimezone(UTC), now)
            shop.visits.append(Visit(member=row["id"], store=rng.choice(alpha.stores), at=at,
                                     charged=rng.choice([0, 1500, 4800, 12800]),
                                     reversed=rng.random() < 0.1))
    rng.shuffle(shop.visits)  # the trigger sees visits out of order
    for visit in shop.visits:
        await Redemption.insert(Redemption(
            id=visit.id, chain=alpha.id, kind="card", object_id=uuid.uuid4(),
            member_id=visit.member, store=visit.store, amount_cents=visit.charged,
            charged_cents=visit.charged, created_at=visit.at,
            reversed_at=visit.at + timedelta(minutes=5) if visit.reversed else None)).run()
    for visit in rng.sample(shop.visits, 5):  # reversed afterwards: a recount
        if not visit.reversed:
            visit.reversed = True
            await Redemption.update({Redemption.reversed_at: now}).where(
                Redemption.id == visit.id).run()
    return shop


# --- the model --------------------------------------------------------------------------

def expected(shop: Shop, f: SegmentFilters,
             scope: frozenset[uuid.UUID] | None = None) -> dict[uuid.UUID, tuple[int, int]]:
    """member id -> (visits, spend) in the window, for every member the filters pick."""
    today = local(shop.now)
    first = today - timedelta(days=f.window - 1)
    picked = {}
    for member_id, m in shop.members.items():
        mine = [v for v in shop.visits if v.member == member_id and not v.reversed]
        window = [v for v in mine if local(v.at) >= first]
        last = max((local(v.at) for v in mine), default=None)
        visits, spend = len(window), sum(v.charged for v in window)
        live = [c for c in shop.cards if c["member"] == member_id and c["status"] == "active"
                and (c["expires_at"] is None or c["expires_at"] > shop.now)]
        joined = local(m["created_at"])
        checks = [
            f.last_visit_after is None or (last is not None and last >= f.last_visit_after),
            f.last_visit_before is None or (last is not None and last < f.last_visit_before),
            f.joined_after is None or joined >= f.joined_after,
            f.joined_before is None or joined < f.joined_before,
            f.visits_min is None or visits >= f.visits_min,
            f.visits_max is None or visits <= f.visits_max,
            f.spend_min_cents is None or spend >= f.spend_min_cents,
            f.spend_max_cents is None or spend <= f.spend_max_cents,
            f.tiers is None or any(c["tier"] in f.tiers for c in live),
            f.card_template_ids is None or any(c["template"] in f.card_template_ids
                                               for c in live),
            f.store_ids is None or any(v.store in f.store_ids for v in window),
            f.birthday_month is None or (m["birthday"] is not None
                                         and m["birthday"].month == f.birthday_month),
            f.has_phone is None or bool(m["phone"]) == f.has_phone,
            scope is None or m["registered_store"] in scope
            or any(v.store in scope for v in mine),
        ]
        if all(checks):
            picked[member_id] = (visits, spend)
    return picked


def draw(rng: random.Random, shop: Shop) -> dict[str, Any]:
    """A random combination of filters, as JSON."""
    today = local(shop.now)

    def day() -> str:
        return (today - timedelta(days=rng.choice([0, 1, 7, 30, 31, 90, 365, 800]))).isoformat()

    choices: dict[str, Any] = {
        "last_visit_before": day, "last_visit_after": day, "joined_after": day,
        "joined_before": day,
        "visits_min": lambda: rng.randint(0, 3), "visits_max": lambda: rng.randint(1, 6),
        "spend_min_cents": lambda: rng.choice([0, 1, 1500, 6000]),
        "spend_max_cents": lambda: rng.choice([6000, 20000, 100000]),
        "window_days": lambda: rng.choice([1, 7, 30, 90, 365, 730]),
        "tiers": lambda: rng.sample(TIERS, rng.randint(1, 2)),
        "card_template_ids": lambda: [str(t) for t in rng.sample(shop.templates,
                                                                 rng.randint(1, 2))],
        "store_ids": lambda: [str(s) for s in rng.sample(shop.stores, rng.randint(1, 2))],
        "birthday_month": lambda: rng.randint(1, 12),
        "has_phone": lambda: rng.random() < 0.5,
    }
    filters = {name: make() for name, make in choices.items() if rng.random() < 0.3}
    for low, high in (("visits_min", "visits_max"), ("spend_min_cents", "spend_max_cents")):
        if low in filters and high in filters and filters[low] > filters[high]:
            filters[low], filters[high] = filters[high], filters[low]
    return filters


async def check(principal: Principal, shop: Shop, raw: dict[str, Any],
                scope: frozenset[uuid.UUID] | None = None) -> int:
    f = service.parse_filters(raw)
    want = expected(shop, f, scope)
    assert await service.member_ids(principal, f, now=shop.now) == sorted(want), raw
    page = await service.preview(principal, PreviewIn(filters=raw), now=shop.now)
    assert page.count == len(want), raw
    assert [(m.id, m.visits, m.spend_cents) for m in page.members] == \
        [(i, *want[i]) for i in sorted(want)][:50], raw
    return len(want)


async def test_filters_match_an_independent_model(client: httpx.AsyncClient,
                                                  world: World, engine_name: str) -> None:
    shop = await build(world)
    rng = random.Random(2026)
    sizes = [await check(world.a.operator, shop, {})]
    assert sizes[0] == len(shop.members)
    for _ in range(60):
        sizes.append(await check(world.a.operator, shop, draw(rng, shop)))
    # The loop picked something and not everything, often.
    assert sum(0 < s < len(shop.members) for s in sizes) >= 20
    # Each filter alone, at its edges.
    today = local(shop.now)
    for raw in ({"visits_max": 0}, {"visits_min": 1, "window_days": 1},
                {"window_days": 730, "visits_min": 1}, {"store_ids": [str(shop.stores[1])]},
                {"last_visit_after": (today - timedelta(days=30)).isoformat()},
                {"last_visit_before": (today - timedelta(days=30)).isoformat()},
                {"joined_before": (today - timedelta(days=90)).isoformat()},
                {"has_phone": False}, {"tiers": ["Gold"]}, {"birthday_month": 2}):
        await check(world.a.operator, shop, raw)
    # A manager: their store's members only, whatever the filters.
    manager = world.a.staff["alpha-manager"]
    for _ in range(15):
        await check(manager, shop, draw(rng, shop), scope=manager.store_ids)
    # Chain beta sees none of alpha's members.
    assert (await service.preview(world.b.operator, PreviewIn(filters={}))).count == \
        len(world.b.members)


async def test_the_rollup_equals_a_rebuild_after_racing_writes(
        client: httpx.AsyncClient, world: World, engine_name: str) -> None:
    """PostgreSQL's trigger under concurrency (one member's visits written at once on many
    connections, stamped in any order, some reversed at once): the rollup is what a
    rebuild from the redemptions makes; a bulk load with ``o2o.stats_off`` marks it stale
    and the next segment query rebuilds it."""
    if engine_name == "sqlite":
        pytest.skip("SQLite keeps no rollup: segments read the redemptions")
    shop = await build(world, seed=7)
    member = next(iter(shop.members))
    base = shop.now - timedelta(hours=3)

    async def visit(n: int) -> None:
        await Redemption.insert(Redemption(
            id=uuid.uuid4(), chain=shop.chain_id, kind="voucher", object_id=uuid.uuid4(),
            member_id=member, store=shop.stores[n % 2], charged_cents=100 + n,
            created_at=base + timedelta(seconds=(n * 7919) % 40))).run()

    await asyncio.gather(*(visit(n) for n in range(40)))
    ids = [r["id"] for r in await Redemption.select(Redemption.id).where(
        Redemption.member_id == member).limit(10).run()]
    await asyncio.gather(*(Redemption.update({Redemption.reversed_at: utcnow()}).where(
        Redemption.id == i).run() for i in ids))
    kept = await rollup()
    assert await service.rebuild(None)
    rebuilt = await rollup()
    assert rebuilt == kept
    # A bulk load: the trigger only marks the rollup stale.
    engine = Segment._meta.db
    async with engine.transaction():
        await Segment.raw("SET LOCAL o2o.stats_off = 'on'").run()
        await visit(99)
    assert await Segment.raw("SELECT id FROM segment_stale").run()
    f = service.parse_filters({"window_days": 1, "visits_min": 31})
    assert await service.member_ids(world.a.operator, f) == [member]  # 30 kept + the load
    assert not await Segment.raw("SELECT id FROM segment_stale").run()
    # Inside a caller's transaction (an issuing job's), the scan's planner settings end
    # with it: the caller's next statements plan as before.
    planner = ("SELECT current_setting('enable_nestloop') AS n, "
               "current_setting('work_mem') AS w, current_setting('jit') AS j")
    async with write_transaction():
        before = await Segment.raw(planner).run()
        assert await service.member_ids(world.a.operator, f) == [member]
        assert await Segment.raw(planner).run() == before


async def rollup() -> dict[uuid.UUID, tuple[Any, ...]]:
    """PostgreSQL's rollup, member by member, in a canonical form: visits at one instant
    may sit in either order (the trigger's arrival, the rebuild's id order), so each
    instant with the running spend after it and the stores of its visits."""
    rows = await Segment.raw("SELECT * FROM segment_visits").run()
    found = {}
    for r in rows:
        instants: dict[datetime, tuple[int, list[str]]] = {}
        for at, spend, store in zip(r["at"], r["spend"], r["stores"], strict=True):
            instants[at] = (spend, sorted([*instants.get(at, (0, []))[1], str(store)]))
        found[r["member_id"]] = (r["chain_id"], instants, r["last_at"], r["base_spend"],
                                 sorted(map(str, r["visited"])))
    return found


async def test_saved_segments_pages_and_csv(client: httpx.AsyncClient, world: World) -> None:
    shop = await build(world, seed=3)
    op = world.headers(world.a.operator)
    filters = {"window_days": 730, "visits_min": 0}
    made = await client.post(f"{API}/segments", headers=op,
                             json={"name": " Everyone ", "filters": filters})
    assert made.status_code == 201, made.text
    segment = made.json()
    assert segment["name"] == "Everyone" and segment["filters"] == filters
    assert (await client.get(f"{API}/segments", headers=op)).json() == [segment]
    assert (await client.get(f"{API}/segments/{segment['id']}", headers=op)).json() == segment
    everyone = sorted(str(m) for m in shop.members)
    seen, offset = [], 0
    while True:
        page = (await client.get(f"{API}/segments/{segment['id']}/members", headers=op,
                                 params={"limit": 7, "offset": offset})).json()
        assert page["count"] == len(everyone)
        if not page["members"]:
            break
        seen += [m["id"] for m in page["members"]]
        offset += 7
    assert seen == everyone
    exported = await client.get(f"{API}/segments/{segment['id']}/export.csv", headers=op)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["member_id"] for r in rows] == everyone
    assert list(rows[0]) == list(service.EXPORT_HEADER)
    for row in rows:  # a name that would be a formula is quoted as text
        name = str(shop.members[uuid.UUID(row["member_id"])]["name"])
        assert row["name"] == ("'" + name if name.startswith("=") else name)
    assert any(r["name"].startswith("'=") for r in rows)
    want = expected(shop, service.parse_filters(filters))
    assert {uuid.UUID(r["member_id"]): (int(r["visits"]), int(r["spend_cents"]))
            for r in rows} == want
    # Renamed, refiltered, deleted; another chain's operator sees none of it.
    patched = await client.patch(f"{API}/segments/{segment['id']}", headers=op,
                                 json={"name": "Phones", "filters": {"has_phone": True}})
    assert patched.status_code == 200 and patched.json()["filters"] == {"has_phone": True}
    beta = world.headers(world.b.operator)
    for path in ("", "/members", "/export.csv"):
        assert (await client.get(f"{API}/segments/{segment['id']}{path}",
                                 headers=beta)).status_code == 404
    assert (await client.get(f"{API}/segments", headers=beta)).json() == []
    manager = world.headers(world.a.staff["alpha-manager"])
    assert (await client.delete(f"{API}/segments/{segment['id']}",
                                headers=manager)).status_code == 403
    assert (await client.delete(f"{API}/segments/{segment['id']}",
                                headers=op)).status_code == 204
    assert (await client.get(f"{API}/segments/{segment['id']}", headers=op)).status_code == 404


async def test_who_may_ask_and_what_a_filter_is(client: httpx.AsyncClient,
                                                world: World) -> None:
    alpha = world.a
    op = world.headers(alpha.operator)

    async def preview(filters: Any, headers: dict[str, str] = op) -> httpx.Response:
        return await client.post(f"{API}/segments/preview", headers=headers,
                                 json={"filters": filters})

    ok = await preview({})
    assert ok.status_code == 200 and ok.json()["count"] == len(alpha.members)
    assert set(ok.json()["members"][0]) == {
        "id", "name", "phone", "birthday", "joined_at", "registered_store_id",
        "last_visit_at", "visits", "spend_cents"}
    for who in (alpha.staff["alpha-clerk1"], alpha.members[0]):
        assert (await preview({}, world.headers(who))).status_code == 403
    other_store = str(world.b.stores[0])
    for filters, field_name in (
            ({"favourite_colour": "red"}, "filters.favourite_colour"),
            ({"window_days": 0}, "filters.window_days"),
            ({"window_days": 731}, "filters.window_days"),
            ({"birthday_month": 13}, "filters.birthday_month"),
            ({"visits_min": 3, "visits_max": 2}, "filters.visits_min"),
            ({"spend_min_cents": -1}, "filters.spend_min_cents"),
            ({"tiers": []}, "filters.tiers"),
            ({"store_ids": [other_store]}, "filters.store_ids"),
            ({"card_template_ids": [str(uuid.uuid4())]}, "filters.card_template_ids"),
            ({"joined_after": "2026-13-01"}, "filters.joined_after"),
            ({"has_phone": "yes"}, "filters.has_phone"),
            ({"visits_min": "2"}, "filters.visits_min")):
        answer = await preview(filters)
        assert answer.status_code == 400, (filters, answer.text)
        body = answer.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["field"] == field_name, body
    assert (await client.post(f"{API}/segments", headers=op,
                              json={"name": "  ", "filters": {}})).status_code == 400
    assert (await client.post(f"{API}/segments", headers=op,
                              json={"name": "x", "filters": {"nope": 1}})).status_code == 400
    assert (await client.get(f"{API}/segments/{uuid.uuid4()}/members", headers=op,
                             params={"limit": 0})).status_code == 400
