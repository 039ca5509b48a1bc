"""`o2o demo`'s four weeks of history (app/demo_history.py): the dashboard's charts have
weeks of bars at both stores, the stats agree with a recount of the rows (and, on
PostgreSQL, with the rollups rebuilt from scratch), every card's hash-chained ledger
verifies and sums to its figures, and two runs give the same figures."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.asgi import create_app
from app.core.clock import utcnow
from app.demo import MEMBERS, PASSWORD
from app.demo_history import DAYS, ZONE, Planner
from app.demo_history import MEMBERS as HISTORY_MEMBERS
from bookings.tables import Booking
from cards import ledger
from cards.tables import Card, LedgerEntry, Redemption
from stores.tables import Member, Store
from tests.app.test_cli import o2o
from tests.conftest import fresh_database, make_settings, serving

API = "/api/v1"
# Per store: the metric of /stats/timeseries and what a recount of the rows gives.
PER_STORE = ("redemptions", "redemption_value", "bookings", "bookings_completed",
             "bookings_cancelled", "bookings_no_show", "top_ups", "top_up_amount",
             "new_members", "cards_issued", "vouchers_redeemed")
CHAIN_METRICS = ("redemptions", "redemption_value", "bookings", "top_ups", "new_members",
                 "active_members", "cards_issued", "vouchers_issued", "vouchers_redeemed",
                 "bookings_completed", "bookings_cancelled", "bookings_no_show")


def history_days() -> tuple[date, date]:
    today = utcnow().astimezone(ZONE).date()
    return today - timedelta(days=DAYS), today - timedelta(days=1)


@dataclass
class Seeded:
    url: str
    chain_id: str
    stdout: str


def run_demo(url: str) -> Seeded:
    result = o2o(url, "demo")
    assert result.returncode == 0, result.stderr
    chain_id = result.stdout.split("chain_id: ")[1].split()[0]
    return Seeded(url, chain_id, result.stdout)


@pytest.fixture
def demo(database_url: str) -> Seeded:
    return run_demo(database_url)


async def _token(http: httpx.AsyncClient, username: str = "demo-operator") -> dict[str, str]:
    login = await http.post(f"{API}/auth/staff/login",
                            json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


async def _get(http: httpx.AsyncClient, token: dict[str, str], path: str,
               **params: Any) -> Any:
    response = await http.get(API + path, headers=token, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _series(http: httpx.AsyncClient, token: dict[str, str], metric: str,
                  store_id: str | None = None) -> dict[date, int]:
    first, last = history_days()
    params: dict[str, Any] = {"metric": metric, "from": first.isoformat(),
                              "to": last.isoformat()}
    if store_id:
        params["store_id"] = store_id
    body = await _get(http, token, "/stats/timeseries", **params)
    return {date.fromisoformat(p["date"]): p["value"] for p in body["points"]}


# --- a recount of the rows, by the stores' local days -----------------------------------

async def recount(chain_id: str) -> dict[tuple[str, str], dict[date, int]]:
    """(store id, metric) -> local day -> figure, from the event rows alone."""
    chain = uuid.UUID(chain_id)
    zones = {r["id"]: ZoneInfo(r["timezone"]) for r in await Store.select(
        Store.id, Store.timezone).where(Store.chain == chain).run()}
    figures: dict[tuple[str, str], dict[date, int]] = defaultdict(lambda: defaultdict(int))

    def add(store: Any, at: datetime, metric: str, value: int = 1) -> None:
        store_id = uuid.UUID(str(store))
        figures[(str(store_id), metric)][at.astimezone(zones[store_id]).date()] += value

    for r in await Redemption.select().where(Redemption.chain == chain).run():
        if r["reversed_at"] is None:
            add(r["store"], r["created_at"], "redemptions")
            add(r["store"], r["created_at"], "redemption_value",
                r["charged_cents"] + r["discount_cents"])
            if r["kind"] == "voucher":
                add(r["store"], r["created_at"], "vouchers_redeemed")
    for b in await Booking.select().where(Booking.chain == chain).run():
        add(b["store"], b["start_at"], "bookings")
        if b["status"] in ("completed", "cancelled", "no_show"):
            add(b["store"], b["start_at"], f"bookings_{b['status']}")
    for e in await LedgerEntry.select().where(
            (LedgerEntry.kind == "top_up") & LedgerEntry.store_id.is_in(list(zones))).run():
        add(e["store_id"], e["created_at"], "top_ups")
        add(e["store_id"], e["created_at"], "top_up_amount", e["delta_cents"])
    for m in await Member.select().where(
            (Member.chain == chain) & Member.registered_store.is_not_null()).run():
        add(m["registered_store"], m["created_at"], "new_members")
    for c in await Card.select().where(
            (Card.chain == chain) & Card.issued_store.is_not_null()).run():
        add(c["issued_store"], c["created_at"], "cards_issued")
    return figures


async def _store_ids(http: httpx.AsyncClient, token: dict[str, str]) -> list[str]:
    return [s["id"] for s in await _get(http, token, "/stores")]


# --- the tests --------------------------------------------------------------------------

async def test_history_fills_the_dashboard_at_both_stores(demo: Seeded) -> None:
    first, last = history_days()
    span = {"from": first.isoformat(), "to": last.isoformat()}
    async with serving(create_app(make_settings(demo.url))) as http:
        token = await _token(http)
        for metric, days in (("redemptions", DAYS - 2), ("bookings", DAYS - 4),
                             ("redemption_value", DAYS - 2), ("top_ups", DAYS // 2),
                             ("active_members", DAYS - 2), ("new_members", 10),
                             ("vouchers_redeemed", DAYS // 2)):
            series = await _series(http, token, metric)
            assert len(series) == DAYS
            busy = [d for d, v in series.items() if v > 0]
            assert len(busy) >= days, (metric, series)
        stores = (await _get(http, token, "/stats/stores", **span))["stores"]
        assert len(stores) == 2
        for store in stores:
            assert store["redemptions"] > 50, store
            assert store["bookings"] > 20 and store["bookings_completed"] > 0, store
            assert store["bookings_cancelled"] + store["bookings_no_show"] > 0, store
            assert store["top_ups"] > 0 and store["members_new"] > 0, store
            assert store["repeat_members"] > 0, store
        overview = await _get(http, token, "/stats/overview", **span)
        assert overview["redemptions"]["by_kind"]["card"] > 0
        assert overview["redemptions"]["by_kind"]["voucher"] > 0
        assert 0 < overview["vouchers"]["redeemed"] <= overview["vouchers"]["issued"]
        services = (await _get(http, token, "/stats/services", **span))["services"]
        assert {s["store_id"] for s in services if s["bookings"]} == {
            s["store_id"] for s in stores}
        cohorts = (await _get(http, token, "/stats/cohorts", **{
            "from": first.strftime("%Y-%m"),
            "to": utcnow().astimezone(ZONE).strftime("%Y-%m")}))["cohorts"]
        assert sum(c["members"] for c in cohorts) == len(MEMBERS) + len(HISTORY_MEMBERS)
        joined_in = {c["month"] for c in cohorts if c["members"]}
        assert first.strftime("%Y-%m") in joined_in
        # Members joined on different days: the cohorts' members joined on many days.
        members = await _get(http, token, "/members", limit=100)
        assert len({m["created_at"][:10] for m in members}) >= 10
        # Today is today's demo: nothing of the history happened today.
        today = utcnow().astimezone(ZONE).date()
        today_series = await _get(http, token, "/stats/timeseries", metric="redemptions",
                                  **{"from": today.isoformat(), "to": today.isoformat()})
        assert today_series["points"][0]["value"] == 0


async def test_the_stats_match_a_recount_of_the_rows(demo: Seeded,
                                                     engine_name: str) -> None:
    async with serving(create_app(make_settings(demo.url))) as http:
        token = await _token(http)
        expected = await recount(demo.chain_id)
        stores = await _store_ids(http, token)
        seen = {}
        for store in stores:
            for metric in PER_STORE:
                series = await _series(http, token, metric, store)
                want = expected.get((store, metric), {})
                assert series == {d: want.get(d, 0) for d in series}, (store, metric)
                seen[(store, metric)] = series
        chain_series = {m: await _series(http, token, m) for m in CHAIN_METRICS}
        for metric in ("redemptions", "bookings", "top_ups", "redemption_value"):
            assert chain_series[metric] == {
                d: sum(seen[(s, metric)][d] for s in stores) for d in chain_series[metric]}
    if engine_name == "postgres":  # the rollups the triggers kept = the rollups rebuilt
        rebuilt = o2o(demo.url, "stats", "rebuild", "--chain", demo.chain_id)
        assert rebuilt.returncode == 0, rebuilt.stderr
        async with serving(create_app(make_settings(demo.url))) as http:
            token = await _token(http)
            for store in stores:
                for metric in PER_STORE:
                    assert await _series(http, token, metric, store) == seen[(store, metric)]
            for metric, series in chain_series.items():
                assert await _series(http, token, metric) == series, metric


async def test_every_demo_card_s_ledger_verifies_and_sums_to_its_figures(
        demo: Seeded) -> None:
    verified = o2o(demo.url, "verify-ledger")
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["mismatches"] == 0 and report["cards_checked"] >= 40
    async with serving(create_app(make_settings(demo.url))):
        cards = await Card.select().where(Card.chain == uuid.UUID(demo.chain_id)).run()
        assert len(cards) == report["cards_checked"]
        for card in cards:
            entries = await LedgerEntry.select().where(LedgerEntry.card == card["id"]).order_by(
                LedgerEntry.seq).run()
            assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
            assert card["balance_cents"] == sum(e["delta_cents"] for e in entries)
            assert card["points"] == sum(e["delta_points"] for e in entries)
            if card["visits_left"] is not None:
                assert card["visits_left"] == sum(e["delta_visits"] for e in entries)
            prev = ledger.GENESIS
            for entry in entries:
                assert entry["prev_hash"] == prev
                assert ledger.chain_hash(prev, entry) == entry["hash"]
                prev = entry["hash"]
            assert card["ledger_hash"] == prev
            # In the order of time, as they happened.
            stamps = [e["created_at"] for e in entries]
            assert stamps == sorted(stamps)
        # 王芳's cards are today's demo, untouched by the history.
        wang = await Member.select(Member.id).where(
            (Member.chain == uuid.UUID(demo.chain_id)) & (Member.name == MEMBERS[0][0])
        ).first().run()
        assert wang is not None
        hers = [c for c in cards if c["member"] == wang["id"]]
        assert sorted((c["balance_cents"], c["visits_left"]) for c in hers) == [
            (0, 10), (50_000, None)]


# --- determinism ------------------------------------------------------------------------

async def _figures(seeded: Seeded) -> dict[str, Any]:
    """What the dashboard and the cards show, without ids or times of day."""
    first, last = history_days()
    span = {"from": first.isoformat(), "to": last.isoformat()}
    async with serving(create_app(make_settings(seeded.url))) as http:
        token = await _token(http)
        figures: dict[str, Any] = {
            m: sorted((d.toordinal() - first.toordinal(), v)
                      for d, v in (await _series(http, token, m)).items())
            for m in CHAIN_METRICS}
        overview = await _get(http, token, "/stats/overview", **span)
        figures["overview"] = {k: v for k, v in overview.items() if k not in ("from", "to")}
        stores = (await _get(http, token, "/stats/stores", **span))["stores"]
        figures["stores"] = [{k: v for k, v in s.items() if k != "store_id"} for s in stores]
        chain = uuid.UUID(seeded.chain_id)
        figures["cards"] = sorted(
            (c["balance_cents"], c["points"], c["visits_left"] or -1, c["tier"] or "")
            for c in await Card.select().where(Card.chain == chain).run())
        figures["members"] = sorted((m["name"], m["phone"]) for m in await Member.select(
            Member.name, Member.phone).where(Member.chain == chain).run())
    return figures


@pytest.fixture
async def second_url(engine_name: str, request: pytest.FixtureRequest,
                     tmp_path: Path) -> AsyncIterator[str]:
    """Another fresh database of the same engine (as ``database_url`` makes them)."""
    async with fresh_database(engine_name, request, tmp_path, stem="second") as url:
        yield url


async def test_two_runs_give_the_same_figures_and_a_rerun_changes_nothing(
        demo: Seeded, second_url: str) -> None:
    first = await _figures(demo)
    assert first["overview"]["redemptions"]["count"] > 0
    again = run_demo(demo.url)
    assert "already present" in again.stdout and again.chain_id == demo.chain_id
    assert await _figures(demo) == first
    other = run_demo(second_url)
    assert await _figures(other) == first


def test_the_plan_is_the_same_each_time() -> None:
    """The planner alone (no database): the same setup and day give the same rows, but for
    the ids the rows are given."""
    from app.demo_history import CampaignSetup, ServiceSetup, Setup, StoreSetup, TemplateSetup

    ids = iter(uuid.UUID(int=n) for n in range(1, 1000))
    tiers = [{"name": "Silver", "min_points": 500, "discount_percent": 5}]
    window = (utcnow() - timedelta(days=40), utcnow().replace(hour=0) - timedelta(hours=9))
    setup = Setup(
        chain_id=next(ids), manager_id=next(ids),
        stores=[StoreSetup(next(ids), next(ids),
                           [ServiceSetup(next(ids), 45, 8800, 15),
                            ServiceSetup(next(ids), 120, 38800, 15),
                            ServiceSetup(next(ids), 30, 4800, 0)],
                           [next(ids) for _ in range(3)]) for _ in range(2)],
        prepaid=TemplateSetup(next(ids), "stored_value", 1, tiers, None, None),  # type: ignore[arg-type]
        times=TemplateSetup(next(ids), "times", 0, [], 10, 365),
        membership=TemplateSetup(next(ids), "membership", 2, tiers, None, None),  # type: ignore[arg-type]
        thank_you=CampaignSetup(next(ids), "cash", 3000, None, None, 15000, *window),
        member_day=CampaignSetup(next(ids), "discount", None, 15, 6000, 0, *window))
    now = utcnow()

    def shape(planner: Planner) -> Any:
        history = planner.plan()
        return ([(r["kind"], r["action"], r["amount_cents"], r["charged_cents"],
                  r["discount_cents"], r["created_at"], r["reversed_at"] is not None)
                 for r in history.redemptions],
                [(b["status"], b["start_at"], b["service"]) for b in history.bookings],
                [(e["kind"], e["delta_cents"], e["delta_points"], e["created_at"])
                 for e in history.entries],
                [(m["name"], m["created_at"]) for m in history.members],
                len(history.vouchers), sorted(history.issued.values()))

    assert shape(Planner(setup, now)) == shape(Planner(setup, now))
    # ...but never the short codes of its vouchers: one still issued is spendable by its
    # digits, so no two installs share them.
    first, second = (Planner(setup, now).plan().vouchers for _ in range(2))
    issued = [(a["short_code"], b["short_code"]) for a, b in zip(first, second, strict=True)
              if a["status"] == "issued"]
    assert issued and all(a != b for a, b in issued)
    assert all(len(a) == 12 and a.isdigit() and a[0] != "9" for a, _ in issued)
