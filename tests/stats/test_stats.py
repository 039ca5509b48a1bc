"""Operator stats, cross-checked figure by figure against what the test itself did through
the API (issue 7, "The bar"): members, cards, top-ups, redemptions (one reversed, two
synced on either side of a local midnight that is not UTC midnight), vouchers and
bookings in every status, at stores in three time zones (UTC+8, +14 and -11, so "today"
differs between them whatever the hour). The expected figures come from a small model of
those operations (``Did``), never from the stats code.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.stats import repository as stats_repo
from app.stats import service as stats_service
from app.stats.tables import StoreDay
from cards.tables import Voucher
from tests.world import World

API = "/api/v1"
ALL_DAY = [{"weekday": d, "open": "00:00", "close": "24:00"} for d in range(7)]
EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- the model: what the test did, and the figures it implies ---------------------------

@dataclass
class Did:
    zones: dict[uuid.UUID, ZoneInfo]
    home: ZoneInfo  # the chain's first store's zone
    members: list[tuple[uuid.UUID | None, datetime]] = field(default_factory=list)
    joined: dict[uuid.UUID, tuple[uuid.UUID | None, datetime]] = field(default_factory=dict)
    cards: list[tuple[uuid.UUID | None, datetime]] = field(default_factory=list)
    # store (None: online, the chain's), at, paid, bonus
    top_ups: list[tuple[uuid.UUID | None, datetime, int, int]] = field(default_factory=list)
    refunds: list[tuple[datetime, int, int]] = field(default_factory=list)  # taken back
    # store, at, member, kind, value (charged + discount), reversed
    redemptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    vouchers: list[datetime] = field(default_factory=list)
    # id -> store, start, member, status, service
    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)
    member_months: dict[uuid.UUID, date] = field(default_factory=dict)

    def day(self, store: uuid.UUID | None, moment: datetime) -> date:
        return moment.astimezone(self.zones[store] if store else self.home).date()

    def activity(self, stores: Iterable[uuid.UUID]) -> list[tuple[uuid.UUID, uuid.UUID, date]]:
        """(store, member, local day) of each non-reversed redemption and each booking."""
        wanted = set(stores)
        rows = [(r["store"], r["member"], self.day(r["store"], r["at"]))
                for r in self.redemptions.values() if not r["reversed"] and r["store"] in wanted]
        rows += [(b["store"], b["member"], self.day(b["store"], b["start"]))
                 for b in self.bookings.values() if b["store"] in wanted]
        return rows

    def per_store_day(self, store: uuid.UUID, day: date) -> dict[str, int]:
        """The CSV row of one store and day."""
        def on(s: uuid.UUID | None, moment: datetime) -> bool:
            return s == store and self.day(s, moment) == day
        live = [r for r in self.redemptions.values()
                if not r["reversed"] and on(r["store"], r["at"])]
        books = [b for b in self.bookings.values() if on(b["store"], b["start"])]
        return {
            "new_members": sum(1 for s, t in self.members if on(s, t)),
            "active_members": len({m for s, m, d in self.activity([store]) if d == day}),
            "cards_issued": sum(1 for s, t in self.cards if on(s, t)),
            "redemptions": len(live),
            "redemption_value_cents": sum(r["value"] for r in live),
            "vouchers_redeemed": sum(1 for r in live if r["kind"] == "voucher"),
            "top_ups": sum(1 for s, t, _, _ in self.top_ups if on(s, t)),
            "top_up_amount_cents": sum(a for s, t, a, _ in self.top_ups if on(s, t)),
            "bookings": len(books),
            "bookings_completed": sum(1 for b in books if b["status"] == "completed"),
            "bookings_cancelled": sum(1 for b in books if b["status"] == "cancelled"),
            "bookings_no_show": sum(1 for b in books if b["status"] == "no_show"),
        }

    def cohorts(self, stores: list[uuid.UUID], whole_chain: bool,
                months: list[date]) -> list[dict[str, Any]]:
        """Members by joining month, and how many were active each month at ``stores``
        (for a store's view: those who joined there)."""
        cohort = {m: self.day(s, t).replace(day=1) for m, (s, t) in self.joined.items()
                  if whole_chain or s in stores}
        active: dict[date, set[uuid.UUID]] = defaultdict(set)
        for _, member, day in self.activity(stores):
            if member in cohort:
                active[day.replace(day=1)].add(member)
        result = []
        for n, month in enumerate(months):
            size = sum(1 for c in cohort.values() if c == month)
            counts = [sum(1 for m in active[later] if cohort[m] == month)
                      for later in months[n:]]
            result.append({"month": month.strftime("%Y-%m"), "members": size, "activity": [
                {"month": later.strftime("%Y-%m"), "active": count,
                 "rate": round(count / size, 4) if size else 0.0}
                for later, count in zip(months[n:], counts, strict=True)]})
        return result

    def overview(self, stores: list[uuid.UUID], whole_chain: bool, first: date,
                 last: date, active_cards: int) -> dict[str, Any]:
        home = self.home if whole_chain else self.zones[stores[0]]

        def inside(store: uuid.UUID | None, moment: datetime) -> bool:
            if store is None:
                return whole_chain and first <= moment.astimezone(home).date() <= last
            return store in stores and first <= self.day(store, moment) <= last

        def joined_by(store: uuid.UUID | None, moment: datetime) -> bool:
            if store is None:
                return whole_chain and moment.astimezone(home).date() <= last
            return store in stores and self.day(store, moment) <= last

        live = [r for r in self.redemptions.values()
                if not r["reversed"] and inside(r["store"], r["at"])]
        books = [b for b in self.bookings.values() if inside(b["store"], b["start"])]
        days: dict[uuid.UUID, set[date]] = defaultdict(set)
        for _, member, day in self.activity(stores):
            if first <= day <= last:
                days[member].add(day)
        repeat = sum(1 for d in days.values() if len(d) > 1)
        status = {s: sum(1 for b in books if b["status"] == s)
                  for s in ("completed", "cancelled", "no_show", "checked_in")}
        issued = sum(1 for t in self.vouchers if first <= t.astimezone(home).date() <= last)
        redeemed = sum(1 for r in live if r["kind"] == "voucher")
        outcomes = status["completed"] + status["no_show"] + status["checked_in"]
        return {
            "members": {"total": sum(1 for s, t in self.members if joined_by(s, t)),
                        "new": sum(1 for s, t in self.members if inside(s, t)),
                        "active": len(days), "repeat": repeat,
                        "repeat_rate": round(repeat / len(days), 4) if days else 0.0},
            "cards": {"issued": sum(1 for s, t in self.cards if inside(s, t)),
                      "active": active_cards},
            "vouchers": {"issued": issued, "redeemed": redeemed,
                         "redemption_rate": round(redeemed / issued, 4) if issued else 0.0},
            "redemptions": {"count": len(live), "value_cents": sum(r["value"] for r in live),
                            "by_kind": {k: sum(1 for r in live if r["kind"] == k)
                                        for k in ("card", "voucher", "booking")}},
            "top_ups": {"count": sum(1 for s, t, _, _ in self.top_ups if inside(s, t)),
                        "amount_cents": sum(a + b for s, t, a, b in self.top_ups
                                            if inside(s, t)),
                        "paid_cents": sum(a for s, t, a, _ in self.top_ups if inside(s, t)),
                        "bonus_cents": sum(b for s, t, _, b in self.top_ups if inside(s, t)),
                        "refunded_paid_cents": sum(a for t, a, _ in self.refunds
                                                   if inside(None, t)),
                        "refunded_bonus_cents": sum(b for t, _, b in self.refunds
                                                    if inside(None, t))},
            "bookings": {"total": len(books), **status,
                         "no_show_rate": round(status["no_show"] / outcomes, 4)
                         if outcomes else 0.0},
        }


# --- doing things through the API -------------------------------------------------------

@dataclass
class Shop:
    client: httpx.AsyncClient
    world: World
    did: Did
    stores: dict[str, uuid.UUID] = field(default_factory=dict)  # S1, S2, E, W
    services: dict[str, str] = field(default_factory=dict)
    members: dict[str, Principal] = field(default_factory=dict)
    phones: int = 0

    @property
    def op(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    def as_(self, principal: Principal) -> dict[str, str]:
        return self.world.headers(principal)

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None,
                   status: int = 201) -> Any:
        response = await self.client.post(f"{API}{path}", json=body, headers=headers or self.op)
        assert response.status_code == status, response.text
        return response.json()

    async def get(self, path: str, headers: dict[str, str] | None = None, /,
                  **params: Any) -> httpx.Response:
        return await self.client.get(f"{API}{path}", headers=headers or self.op,
                                     params=params)

    async def store(self, name: str, zone: str) -> uuid.UUID:
        store = await self.post("/stores", {"name": name, "timezone": zone,
                                            "opening_hours": ALL_DAY})
        store_id = uuid.UUID(store["id"])
        service = await self.post(f"/stores/{store_id}/services", {
            "name": f"Massage {name}", "duration_minutes": 60, "price_cents": 19800})
        await self.post(f"/stores/{store_id}/resources", {
            "name": "Room", "kind": "room", "capacity": 2, "service_ids": [service["id"]]})
        self.stores[name], self.services[name] = store_id, service["id"]
        self.did.zones[store_id] = ZoneInfo(zone)
        return store_id

    async def member(self, name: str, store: str) -> Principal:
        self.phones += 1
        member = await self.post("/members", {"name": name, "phone": f"1391111{self.phones:04d}",
                                              "store_id": str(self.stores[store])})
        principal = Principal(kind="member", id=uuid.UUID(member["id"]),
                              chain_id=self.world.a.id, role="member")
        self.members[name] = principal
        self.did.members.append((self.stores[store], at(member["created_at"])))
        self.did.joined[principal.id] = self.did.members[-1]
        return principal

    async def card(self, template: str, member: Principal, store: str | None) -> str:
        if store is None:
            card = await self.post(f"/card-templates/{template}/claim", {}, self.as_(member))
        else:
            card = await self.post("/cards", {"template_id": template, "member_id": str(member.id),
                                              "store_id": str(self.stores[store])})
        self.did.cards.append((self.stores[store] if store else None, at(card["created_at"])))
        return str(card["id"])

    async def top_up(self, card: str, store: str, cents: int) -> None:
        entry = await self.post(f"/cards/{card}/top-ups",
                                {"amount_cents": cents, "store_id": str(self.stores[store])})
        self.did.top_ups.append((self.stores[store], at(entry["created_at"]), cents, 0))

    async def online(self, card: str, kind: str, moment: datetime, paid: int,
                     bonus: int) -> None:
        """A move of an online top-up order (WeChat Pay) at ``moment``: no store. ``top_up``
        credits its paid and bonus money at once (as a paid order does)."""
        from cards.public import credit_top_up, move_stored_value

        async with write_transaction():
            if kind == "top_up":
                await credit_top_up(self.world.a.id, uuid.UUID(card), paid_cents=paid,
                                    bonus_cents=bonus, order_id=uuid.uuid4(), now=moment)
            else:
                await move_stored_value(self.world.a.id, uuid.UUID(card), kind,
                                        paid_cents=paid, bonus_cents=bonus,
                                        order_id=uuid.uuid4(), now=moment)
        if kind == "top_up":
            self.did.top_ups.append((None, moment, paid, bonus))
        else:  # refund (negative), refund_reverted (positive)
            self.did.refunds.append((moment, -paid, -bonus))

    def redeemed(self, redemption: dict[str, Any], member: Principal) -> str:
        self.did.redemptions[redemption["id"]] = {
            "store": uuid.UUID(redemption["store_id"]), "at": at(redemption["created_at"]),
            "member": member.id, "kind": redemption["kind"], "reversed": False,
            "value": redemption["charged_cents"] + redemption["discount_cents"]}
        return str(redemption["id"])

    async def charge(self, card: str, member: Principal, store: str, cents: int) -> str:
        code = (await self.get(f"/cards/{card}/code", self.as_(member))).json()["code"]
        redemption = await self.post("/redemptions", {
            "code": code, "store_id": str(self.stores[store]), "action": "charge",
            "amount_cents": cents})
        return self.redeemed(redemption, member)

    async def book(self, store: str, member: Principal, start: datetime) -> str:
        booking = await self.post("/bookings", {
            "store_id": str(self.stores[store]), "service_id": self.services[store],
            "start": start.isoformat(), "member_id": str(member.id)})
        self.did.bookings[booking["id"]] = {
            "store": self.stores[store], "start": at(booking["start"]), "member": member.id,
            "status": "confirmed", "service": self.services[store]}
        return str(booking["id"])

    async def move(self, booking: str, action: str, monkeypatch: Any,
                   after_start: timedelta | None = None) -> None:
        import bookings.service as booking_service

        with monkeypatch.context() as patch:
            if after_start is not None:  # the bookings service's clock, as its own tests do
                moment = self.did.bookings[booking]["start"] + after_start
                patch.setattr(booking_service, "utcnow", lambda: moment)
            done = await self.post(f"/bookings/{booking}/{action}", {}, status=200)
        self.did.bookings[booking]["status"] = done["status"]


def local_today(zone: str | ZoneInfo) -> date:
    return utcnow().astimezone(ZoneInfo(str(zone))).date()


async def build(client: httpx.AsyncClient, world: World, monkeypatch: Any) -> Shop:
    alpha = world.a
    zones = {s: ZoneInfo("Asia/Shanghai") for s in alpha.stores}
    shop = Shop(client, world, Did(zones=zones, home=ZoneInfo("Asia/Shanghai")))
    shop.stores.update(S1=alpha.stores[0], S2=alpha.stores[1])
    shop.services["S1"] = str(alpha.services[alpha.stores[0]])
    await shop.store("E", EAST)
    await shop.store("W", WEST)
    # The world's two members joined without a store (as through WeChat).
    wechat = alpha.members
    for member in wechat:
        row = (await shop.get(f"/members/{member.id}")).json()
        shop.did.members.append((None, at(row["created_at"])))
        shop.did.joined[member.id] = shop.did.members[-1]
    m_e = await shop.member("Eve", "E")
    m_w = await shop.member("Walt", "W")
    await shop.member("Sam", "S2")  # joins, never comes back

    template = (await shop.post("/card-templates", {
        "name": "Prepaid", "kind": "stored_value", "points_per_yuan": 1}))["id"]
    card_e = await shop.card(template, m_e, "E")
    card_0 = await shop.card(template, wechat[0], "S1")
    claimed = await shop.card(template, wechat[1], None)  # the chain's own: no store
    await shop.top_up(card_e, "E", 50_000)
    await shop.top_up(card_0, "S1", 20_000)
    await shop.top_up(card_0, "W", 5_000)

    await shop.charge(card_e, m_e, "E", 12_000)
    wrong = await shop.charge(card_e, m_e, "E", 3_000)
    await shop.post(f"/redemptions/{wrong}/reverse", {}, status=200)  # a reversal
    shop.did.redemptions[wrong]["reversed"] = True
    await shop.charge(card_0, wechat[0], "S1", 4_500)
    # Online top-ups (the chain's, no store) either side of the home zone's midnight two
    # days ago, and refunds, one of them failed at WeChat Pay (the money back on the card).
    home_day = local_today("Asia/Shanghai") - timedelta(days=2)
    shanghai = ZoneInfo("Asia/Shanghai")
    before = datetime.combine(home_day, time(23, 50), shanghai)
    after = datetime.combine(home_day + timedelta(days=1), time(0, 10), shanghai)
    await shop.online(claimed, "top_up", before, 10_000, 1_000)
    await shop.online(claimed, "top_up", after, 5_000, 500)
    await shop.online(claimed, "refund", after + timedelta(minutes=10), -2_000, -200)
    await shop.online(claimed, "refund", after + timedelta(minutes=20), -1_000, -100)
    await shop.online(claimed, "refund_reverted", after + timedelta(minutes=30), 1_000, 100)

    now = utcnow()
    campaign = await shop.post("/campaigns", {
        "name": "¥20 off", "kind": "cash", "value_cents": 2_000, "total_quantity": 50,
        "valid_from": (now - timedelta(days=3)).isoformat(),
        "valid_until": (now + timedelta(days=7)).isoformat()})
    issued = (await shop.post(f"/campaigns/{campaign['id']}/issue", {"member_ids": [
        str(m.id) for m in (wechat[0], wechat[1], m_e, m_w)]}))["issued"]
    vouchers = {uuid.UUID(v["member_id"]): v for v in issued}
    rows = await Voucher.select(Voucher.created_at).where(
        Voucher.id.is_in([uuid.UUID(v["id"]) for v in issued])).run()
    shop.did.vouchers += [r["created_at"] for r in rows]
    # Online at W, a bill of ¥100: value = ¥80 charged + ¥20 off.
    shop.redeemed(await shop.post("/redemptions", {
        "code": vouchers[wechat[1].id]["code"], "store_id": str(shop.stores["W"]),
        "amount_cents": 10_000}), wechat[1])
    # Offline at S1 (UTC+8), two days ago: 23:50 and, ten minutes later, 00:10 of the next
    # local day; both on the same UTC day.
    day = local_today("Asia/Shanghai") - timedelta(days=2)
    zone = ZoneInfo("Asia/Shanghai")
    synced = [(wechat[0], datetime.combine(day, time(23, 50), zone)),
              (m_e, datetime.combine(day + timedelta(days=1), time(0, 10), zone))]
    # Each uploaded a minute after its scan (the server's clock set there): a redemption
    # counts on the local day the server recorded it.
    import cards.sync as scans

    results = []
    for n, (m, moment) in enumerate(synced):
        with monkeypatch.context() as patch:
            patch.setattr(scans, "utcnow", lambda moment=moment: moment + timedelta(minutes=1))
            results += (await shop.post("/redemptions/sync", {
                "store_id": str(shop.stores["S1"]), "items": [
                    {"code": vouchers[m.id]["code"], "redeemed_at": moment.isoformat(),
                     "client_ref": f"offline-{n}", "amount_cents": 6_000}]},
                status=200))["results"]
    for result, (member, moment) in zip(results, synced, strict=True):
        assert result["status"] == "accepted", result
        shop.did.redemptions[result["redemption_id"]] = {
            "store": shop.stores["S1"], "at": moment + timedelta(minutes=1),
            "member": member.id, "kind": "voucher", "value": 6_000, "reversed": False}

    def tomorrow(store: str, hhmm: str) -> datetime:
        zone = shop.did.zones[shop.stores[store]]
        hour, minute = map(int, hhmm.split(":"))
        return datetime.combine(local_today(zone) + timedelta(days=1), time(hour, minute), zone)

    # At E (UTC+14) 09:00 is 19:00 UTC of the day before: counted on the local day.
    done = await shop.book("E", m_e, tomorrow("E", "09:00"))
    gone = await shop.book("E", wechat[0], tomorrow("E", "11:00"))
    missed = await shop.book("W", m_w, tomorrow("W", "10:00"))
    here = await shop.book("W", wechat[1], tomorrow("W", "12:00"))
    await shop.book("S1", wechat[0], tomorrow("S1", "10:00"))  # stays confirmed
    await shop.move(gone, "cancel", monkeypatch)
    await shop.move(done, "complete", monkeypatch, timedelta(minutes=50))
    await shop.move(missed, "no-show", monkeypatch, timedelta(minutes=20))
    await shop.move(here, "check-in", monkeypatch, timedelta(minutes=5))
    return shop


def span_of(shop: Shop) -> tuple[date, date]:
    """From three days before the earliest local today to two after the latest."""
    todays = [local_today(z) for z in shop.did.zones.values()]
    return min(todays) - timedelta(days=3), max(todays) + timedelta(days=2)


async def overview(shop: Shop, first: date, last: date, headers: dict[str, str] | None = None,
                   **params: Any) -> dict[str, Any]:
    response = await shop.get("/stats/overview", headers, **{
        "from": first.isoformat(), "to": last.isoformat(), **params})
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert (body.pop("from"), body.pop("to")) == (first.isoformat(), last.isoformat())
    body.pop("store_id")
    return body


async def csv_rows(shop: Shop, first: date, last: date) -> list[dict[str, str]]:
    response = await shop.get("/stats/export.csv", **{"from": first.isoformat(),
                                                      "to": last.isoformat()})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def check_csv(shop: Shop, rows: list[dict[str, str]], first: date, last: date) -> None:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    stores = [shop.stores[s] for s in ("S1", "S2", "E", "W")]
    assert [(r["date"], r["store_id"]) for r in rows] == [
        (d.isoformat(), str(s)) for d in days for s in stores]
    for row in rows:
        expected = shop.did.per_store_day(uuid.UUID(row["store_id"]),
                                          date.fromisoformat(row["date"]))
        assert {k: int(row[k]) for k in expected} == expected, row


# --- the tests --------------------------------------------------------------------------

async def test_every_figure_matches_what_was_done(client: httpx.AsyncClient, world: World,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shop = await build(client, world, monkeypatch)
    did, first, last = shop.did, *span_of(shop)
    all_stores = [shop.stores[s] for s in ("S1", "S2", "E", "W")]
    # Cards active now: all but none frozen; by issuing store for a store's view.
    chain_view = await overview(shop, first, last)
    assert chain_view == did.overview(all_stores, True, first, last, active_cards=3)
    assert chain_view["redemptions"]["count"] == 5  # 6 made, one reversed
    for name, cards in (("E", 1), ("W", 0), ("S1", 1)):
        store = shop.stores[name]
        assert await overview(shop, first, last, store_id=str(store)) == did.overview(
            [store], False, first, last, active_cards=cards), name

    # Around the local midnight at S1: one redemption each side, though one UTC day.
    s1, day = shop.stores["S1"], local_today("Asia/Shanghai") - timedelta(days=2)
    series = await shop.get("/stats/timeseries", metric="redemptions", store_id=str(s1),
                            **{"from": day.isoformat(),
                               "to": (day + timedelta(days=1)).isoformat()})
    assert [p["value"] for p in series.json()["points"]] == [1, 1]
    for one in (day, day + timedelta(days=1)):
        assert await overview(shop, one, one, store_id=str(s1)) == did.overview(
            [s1], False, one, one, active_cards=1)

    # Every metric, every day of the range, zero days included, for the whole chain.
    figure = {"new_members": "new_members", "redemptions": "redemptions",
              "redemption_value": "redemption_value_cents", "bookings": "bookings",
              "top_ups": "top_ups", "top_up_amount": "top_up_amount_cents",
              "top_up_paid": "top_up_amount_cents",
              "cards_issued": "cards_issued", "vouchers_redeemed": "vouchers_redeemed",
              "bookings_no_show": "bookings_no_show"}
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for metric, column in figure.items():
        response = await shop.get("/stats/timeseries", metric=metric, **{
            "from": first.isoformat(), "to": last.isoformat()})
        assert response.status_code == 200, response.text
        expected = [sum(did.per_store_day(s, d)[column] for s in all_stores) for d in days]
        if metric in ("new_members", "cards_issued"):  # and the chain's own, by home days
            own = did.members if metric == "new_members" else did.cards
            expected = [e + sum(1 for s, t in own if s is None and did.day(None, t) == d)
                        for e, d in zip(expected, days, strict=True)]
        if metric in ("top_ups", "top_up_amount", "top_up_paid"):  # online: the chain's
            # the amount is paid + bonus money; top_up_paid the paid part
            def part(paid: int, bonus: int, metric: str = metric) -> int:
                return {"top_ups": 1, "top_up_amount": paid + bonus, "top_up_paid": paid}[metric]

            expected = [e + sum(part(a, b) for s, t, a, b in did.top_ups
                                if s is None and did.day(None, t) == d)
                        for e, d in zip(expected, days, strict=True)]
        assert [p["value"] for p in response.json()["points"]] == expected, metric
        assert [p["date"] for p in response.json()["points"]] == [d.isoformat() for d in days]
    bonus = (await shop.get("/stats/timeseries", metric="top_up_bonus", **{
        "from": first.isoformat(), "to": last.isoformat()})).json()["points"]
    assert [p["value"] for p in bonus] == [
        sum(b for s, t, _, b in did.top_ups if did.day(s, t) == d) for d in days]
    assert chain_view["top_ups"]["bonus_cents"] == 1_500
    assert (chain_view["top_ups"]["refunded_paid_cents"],
            chain_view["top_ups"]["refunded_bonus_cents"]) == (2_000, 200)
    vouchers = (await shop.get("/stats/timeseries", metric="vouchers_issued", **{
        "from": first.isoformat(), "to": last.isoformat()})).json()["points"]
    assert [p["value"] for p in vouchers] == [
        sum(1 for t in did.vouchers if did.day(None, t) == d) for d in days]
    active = (await shop.get("/stats/timeseries", metric="active_members", **{
        "from": first.isoformat(), "to": last.isoformat()})).json()["points"]
    assert [p["value"] for p in active] == [
        len({m for _, m, x in did.activity(all_stores) if x == d}) for d in days]

    check_csv(shop, await csv_rows(shop, first, last), first, last)

    # The manager of S1 sees S1 only, and no other store.
    manager = world.headers(world.a.staff["alpha-manager"])
    assert await overview(shop, first, last, manager) == did.overview(
        [s1], False, first, last, active_cards=1)
    other = await shop.get("/stats/overview", manager, store_id=str(shop.stores["E"]),
                           **{"from": first.isoformat(), "to": last.isoformat()})
    assert (other.status_code, other.json()["code"]) == (404, "not_found")

    # Stores side by side, top services, cohorts.
    compared = (await shop.get("/stats/stores", **{"from": first.isoformat(),
                                                   "to": last.isoformat()})).json()["stores"]
    assert [s["store_id"] for s in compared] == [str(s) for s in all_stores]
    for row in compared:
        mine = did.overview([uuid.UUID(row["store_id"])], False, first, last, 0)
        assert (row["active_members"], row["repeat_members"], row["redemptions"],
                row["redemption_value_cents"], row["bookings_no_show"]) == (
            mine["members"]["active"], mine["members"]["repeat"],
            mine["redemptions"]["count"], mine["redemptions"]["value_cents"],
            mine["bookings"]["no_show"])
    services = (await shop.get("/stats/services", **{"from": first.isoformat(),
                                                     "to": last.isoformat()})).json()
    booked: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in did.bookings.values():
        booked[b["service"]][b["status"]] += 1
        booked[b["service"]]["all"] += 1
    assert {s["service_id"]: (s["bookings"], s["completed"], s["cancelled"], s["no_show"])
            for s in services["services"]} == {
        k: (v["all"], v["completed"], v["cancelled"], v["no_show"]) for k, v in booked.items()}
    assert services["services"][0]["service_id"] == shop.services["E"]  # the one completed
    month = local_today("Asia/Shanghai").replace(day=1)
    months = [month]
    while len(months) < 3:
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    window = {"from": months[0].strftime("%Y-%m"), "to": month.strftime("%Y-%m")}
    cohorts = (await shop.get("/stats/cohorts", **window)).json()["cohorts"]
    assert cohorts == did.cohorts(all_stores, True, months)
    assert sum(c["members"] for c in cohorts) >= 5  # all joined lately
    for name in ("E", "W"):
        store = shop.stores[name]
        theirs = await shop.get("/stats/cohorts", store_id=str(store), **window)
        assert theirs.json()["cohorts"] == did.cohorts([store], False, months), name
    default = (await shop.get("/stats/cohorts")).json()["cohorts"]
    assert len(default) == 12 and default[-1]["month"] == month.strftime("%Y-%m")

    # Rebuilding the rollups from the events (PostgreSQL) changes nothing...
    async with write_transaction():
        await stats_service.rebuild(None)
    assert await overview(shop, first, last) == chain_view
    # ...and a store that changes its time zone has its days counted in the new one.
    moved = await shop.client.patch(f"{API}/stores/{shop.stores['E']}",
                                    json={"timezone": "Asia/Tokyo"}, headers=shop.op)
    assert moved.status_code == 200, moved.text
    did.zones[shop.stores["E"]] = ZoneInfo("Asia/Tokyo")
    first, last = span_of(shop)
    check_csv(shop, await csv_rows(shop, first, last), first, last)
    assert await overview(shop, first, last) == did.overview(all_stores, True, first, last, 3)
    again = await shop.get("/stats/cohorts", store_id=str(shop.stores["E"]), **window)
    assert again.json()["cohorts"] == did.cohorts([shop.stores["E"]], False, months)


async def test_who_may_ask_and_what_a_range_is(client: httpx.AsyncClient,
                                               world: World) -> None:
    alpha, beta = world.a, world.b
    today = local_today("Asia/Shanghai")
    good = {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}

    async def ask(path: str, who: Principal | None, **params: Any) -> httpx.Response:
        headers = world.headers(who) if who else {}
        return await client.get(f"{API}/stats/{path}", headers=headers, params=params)

    for path in ("overview", "export.csv", "stores", "services", "cohorts"):
        assert (await ask(path, None, **good)).status_code == 401
        for who in (alpha.staff["alpha-clerk1"], alpha.members[0]):
            refused = await ask(path, who, **good)
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), path
    # Another chain's store, or a store the manager does not run: 404.
    for who, store in ((alpha.operator, beta.stores[0]),
                       (alpha.staff["alpha-manager"], alpha.stores[1])):
        hidden = await ask("overview", who, store_id=str(store), **good)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")

    def field_of(response: httpx.Response) -> str:
        assert (response.status_code, response.json()["code"]) == (400, "validation_error")
        return str(response.json()["errors"][0]["field"])

    op = alpha.operator
    assert field_of(await ask("overview", op, to=good["to"])) == "from"
    assert field_of(await ask("overview", op, **{**good, "from": "2026-02-30"})) == "from"
    assert field_of(await ask("overview", op, **{"from": good["to"],
                                                 "to": good["from"]})) == "to"
    year = today - timedelta(days=365)  # 366 days with today: the longest range
    assert (await ask("overview", op, **{"from": year.isoformat(),
                                         "to": today.isoformat()})).status_code == 200
    assert field_of(await ask("overview", op, **{
        "from": (year - timedelta(days=1)).isoformat(), "to": today.isoformat()})) == "to"
    assert field_of(await ask("timeseries", op, metric="visits", **good)) == "metric"
    assert field_of(await ask("overview", op, store_id="nope", **good)) == "store_id"
    assert field_of(await ask("cohorts", op, **{"from": "2026-13"})) == "from"
    assert field_of(await ask("cohorts", op, **{"from": "2024-01", "to": "2026-01"})) == "to"
    assert field_of(await ask("services", op, limit="0", **good)) == "limit"
    assert field_of(await ask("export.csv", op, **{**good, "to": "2026-13-40"})) == "to"
    assert field_of(await ask("stores", op, **{"from": good["from"]})) == "to"
    # Zero days are days too: a week of nothing is seven zeros.
    quiet = await ask("timeseries", op, metric="top_ups", **good)
    assert [p["value"] for p in quiet.json()["points"]] == [0] * 7
    header = (await ask("export.csv", op, **good)).text.splitlines()[0]
    assert header.startswith("date,store_id,store_name,new_members,active_members")


async def race_redemptions(client: httpx.AsyncClient, world: World) -> None:
    """Ten new members at the first store; thirty redemptions there at once (three per
    member: the same members' activity rows, the same counter rows), then ten reversals
    at once."""
    alpha = world.a
    op = world.headers(alpha.operator)
    members = []
    for n in range(10):
        member = await client.post(f"{API}/members", headers=op, json={
            "name": f"Racer {n}", "phone": f"1392222{n:04d}", "store_id": str(alpha.stores[0])})
        members.append(member.json()["id"])
    now = utcnow()
    campaign = (await client.post(f"{API}/campaigns", headers=op, json={
        "name": "Race", "kind": "cash", "value_cents": 500, "total_quantity": 100,
        "per_member_limit": 3, "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=1)).isoformat()})).json()
    codes = []
    for _ in range(3):
        issued = await client.post(f"{API}/campaigns/{campaign['id']}/issue", headers=op,
                                   json={"member_ids": members})
        codes += [v["code"] for v in issued.json()["issued"]]

    async def redeem(code: str) -> httpx.Response:
        return await client.post(f"{API}/redemptions", headers=op, json={
            "code": code, "store_id": str(alpha.stores[0]), "amount_cents": 3_000})

    done = await asyncio.gather(*(redeem(c) for c in codes))
    assert [r.status_code for r in done] == [201] * 30
    undone = await asyncio.gather(*(client.post(
        f"{API}/redemptions/{r.json()['id']}/reverse", headers=op) for r in done[::3]))
    assert [r.status_code for r in undone] == [200] * 10


async def test_racing_writes_leave_the_rollups_exact(client: httpx.AsyncClient, world: World,
                                                     engine_name: str) -> None:
    """PostgreSQL's triggers under concurrency (``race_redemptions``): the rollups equal a
    rebuild from the events afterwards."""
    if engine_name == "sqlite":
        pytest.skip("SQLite keeps no rollups: its stats read the events")
    alpha = world.a
    op = world.headers(alpha.operator)
    await race_redemptions(client, world)
    today = local_today("Asia/Shanghai")
    params = {"from": (today - timedelta(days=1)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}
    before = (await client.get(f"{API}/stats/overview", headers=op, params=params)).json()
    assert before["redemptions"] == {"count": 20, "value_cents": 60_000,
                                     "by_kind": {"card": 0, "voucher": 20, "booking": 0}}
    assert before["members"]["active"] == 10
    async with write_transaction():
        await stats_service.rebuild(alpha.id)
    assert (await client.get(f"{API}/stats/overview", headers=op, params=params)).json() \
        == before


# Every rollup of a chain, summed over the shards, without the rows that add up to zero.
_ROLLUPS = (
    f"SELECT store_id, day, {', '.join(f'sum({f})::bigint' for f in stats_repo.FIGURES)} "
    "FROM stats_store_day WHERE store_id IN (SELECT id FROM store WHERE chain = {}) "
    f"GROUP BY 1, 2 HAVING {' OR '.join(f'sum({f}) <> 0' for f in stats_repo.FIGURES)}",
    "SELECT a.scope_id, a.member_id, a.day, a.events, a.prev_day, a.next_day "
    "FROM stats_activity a JOIN member m ON m.id = a.member_id WHERE m.chain = {}",
    "SELECT chain_id, day, sum(active_members) FROM stats_chain_day WHERE chain_id = {} "
    "GROUP BY 1, 2 HAVING sum(active_members) <> 0",
    "SELECT c.scope_id, c.cohort, c.month, sum(c.active) FROM stats_cohort c "
    "WHERE c.scope_id = {} OR c.scope_id IN (SELECT id FROM store WHERE chain = {}) "
    "GROUP BY 1, 2, 3 HAVING sum(c.active) <> 0",
)


async def rollups_of(chain_id: uuid.UUID) -> list[set[tuple[Any, ...]]]:
    found = []
    for query in _ROLLUPS:
        rows = await StoreDay.raw(query, *[chain_id] * query.count("{}")).run()
        found.append({tuple(r.values()) for r in rows})
    return found


async def test_a_fold_in_small_batches_equals_a_rebuild(
        client: httpx.AsyncClient, world: World, engine_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The triggers only queue; folded three rows at a time (a reversal's two rows, a
    member's visits split across batches), the rollups are what a rebuild from the
    events makes of them."""
    if engine_name == "sqlite":
        pytest.skip("SQLite keeps no rollups: its stats read the events")

    async def no_fold(*, wait: bool) -> int:
        return 0

    monkeypatch.setattr(stats_repo, "fold", no_fold)  # housekeeping's and reports' folds
    await race_redemptions(client, world)
    queued = await StoreDay.raw("SELECT count(*) AS n FROM stats_pending").run()
    assert queued[0]["n"] >= 10 + 30 + 10  # members, redemptions, reversals
    folds = 0
    while (await StoreDay.raw("SELECT stats_fold(3, true) AS n").run())[0]["n"] > 0:
        folds += 1
    assert folds >= 17
    folded = await rollups_of(world.a.id)
    assert folded[0] and folded[1] and folded[2] and folded[3]
    async with write_transaction():
        await stats_service.rebuild(world.a.id)
    assert await rollups_of(world.a.id) == folded


async def test_the_large_demo_is_consistent(client: httpx.AsyncClient, world: World,
                                            settings: Any) -> None:
    """`o2o demo --size large`, shrunk: ledgers verify, and the stats (rollups rebuilt
    after the bulk load on PostgreSQL) count exactly the rows it wrote."""
    from bench.demo_large import CHAIN_NAME, seed_large
    from cards.ledger import verify_all
    from cards.tables import Redemption
    from stores import repository as store_repo

    lines = await seed_large(settings.secret_key, scale=0.002)
    assert lines[0].startswith("Large demo chain created")
    assert (await seed_large(settings.secret_key, scale=0.002))[0].startswith(
        "Large demo chain already present")
    checked, problems = await verify_all()
    assert checked > 0 and problems == []
    chain = await store_repo.find_chain_by_name(CHAIN_NAME)
    assert chain is not None
    operator = await client.post(f"{API}/auth/staff/login", json={
        "username": "large-operator", "password": "demo-pass-2026"})
    headers = {"Authorization": f"Bearer {operator.json()['token']}"}
    first = utcnow().date() - timedelta(days=364)
    response = await client.get(f"{API}/stats/overview", headers=headers, params={
        "from": first.isoformat(), "to": (first + timedelta(days=365)).isoformat()})
    assert response.status_code == 200, response.text
    live = 0  # the data starts 400 days back: count each store's part of the range
    for store in await store_repo.list_stores(chain["id"]):
        start = datetime.combine(first, time.min, ZoneInfo(store["timezone"]))
        live += await Redemption.count().where(
            (Redemption.store == store["id"]) & Redemption.reversed_at.is_null()
            & (Redemption.created_at >= start)).run()
    assert response.json()["redemptions"]["count"] == live > 1_000
    assert response.json()["members"]["total"] == 200
