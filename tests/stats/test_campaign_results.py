"""Campaign results (issue 20): ``GET /stats/campaigns`` and its CSV and daily series
equal what the test did, on both engines.

Vouchers are issued and redeemed through the API (now), then their instants are moved
into a past the test chooses (the stats read the instants, and the API cannot act in
the past): issues either side of the range's local midnights in the chain's zone
(Asia/Shanghai, UTC+8, so a local day is not a UTC day), a reversed redemption, members
who come back on the 30th local day after their redemption (counted), on the 31st (not),
on the same day (the same visit: not), and through a booking check-in (counted; a
cancelled booking is not a visit).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core.auth import Principal
from app.core.clock import utcnow
from bookings.tables import Booking
from cards.tables import Redemption, Voucher
from tests.world import World

API = "/api/v1"
HOME = ZoneInfo("Asia/Shanghai")


def local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), HOME)


class Shop:
    def __init__(self, client: httpx.AsyncClient, world: World) -> None:
        self.client, self.world = client, world
        self.op = world.headers(world.a.operator)
        self.store = world.a.stores[0]

    async def post(self, path: str, body: Any, status: int = 201) -> Any:
        response = await self.client.post(f"{API}{path}", json=body, headers=self.op)
        assert response.status_code == status, response.text
        return response.json()

    async def get(self, path: str, who: Principal | None = None, /, **params: Any) -> Any:
        headers = self.world.headers(who) if who else self.op
        return await self.client.get(f"{API}{path}", headers=headers, params=params)

    async def campaign(self, name: str, value: int) -> str:
        now = utcnow()
        return str((await self.post("/campaigns", {
            "name": name, "kind": "cash", "value_cents": value, "total_quantity": 100,
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_until": (now + timedelta(days=60)).isoformat()}))["id"])

    async def issue(self, campaign: str, members: dict[str, uuid.UUID],
                    when: dict[str, datetime]) -> dict[str, dict[str, Any]]:
        """Issue to each member, then move each voucher's issue to ``when[name]``."""
        issued = (await self.post(f"/campaigns/{campaign}/issue", {
            "member_ids": [str(m) for m in members.values()]}))["issued"]
        by_member = {uuid.UUID(v["member_id"]): v for v in issued}
        vouchers = {name: by_member[member] for name, member in members.items()}
        for name, voucher in vouchers.items():
            await Voucher.update({Voucher.created_at: when[name]}).where(
                Voucher.id == uuid.UUID(voucher["id"])).run()
        return vouchers

    async def redeem(self, voucher: dict[str, Any], bill: int, at: datetime,
                     reverse: bool = False) -> dict[str, Any]:
        done = await self.post("/redemptions", {
            "code": voucher["code"], "store_id": str(self.store), "amount_cents": bill})
        if reverse:
            await self.post(f"/redemptions/{done['id']}/reverse", {}, status=200)
        await Redemption.update({Redemption.created_at: at}).where(
            Redemption.id == uuid.UUID(done["id"])).run()
        return dict(done)

    async def booking(self, member: uuid.UUID, monkeypatch: pytest.MonkeyPatch,
                      action: str, moved_to: datetime, hour: str) -> None:
        """A booking tomorrow, checked in (or cancelled), then moved to ``moved_to``."""
        import bookings.service as booking_service

        start = local(utcnow().astimezone(HOME).date() + timedelta(days=1), hour)
        booking = await self.post("/bookings", {
            "store_id": str(self.store), "service_id": str(self.world.a.services[self.store]),
            "start": start.isoformat(), "member_id": str(member)})
        with monkeypatch.context() as patch:
            patch.setattr(booking_service, "utcnow", lambda: start + timedelta(minutes=5))
            await self.post(f"/bookings/{booking['id']}/{action}", {}, status=200)
        moved: dict[Any, Any] = {Booking.start_at: moved_to,
                                 Booking.end_at: moved_to + timedelta(minutes=45)}
        if action == "check-in":
            moved[Booking.checked_in_at] = moved_to
        await Booking.update(moved).where(Booking.id == uuid.UUID(booking["id"])).run()


async def test_campaign_results_equal_what_was_done(client: httpx.AsyncClient, world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shop = Shop(client, world)
    names = ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]
    people = {}
    for n, name in enumerate(names):
        member = await shop.post("/members", {"name": name, "phone": f"1397777{n:04d}",
                                              "store_id": str(shop.store)})
        people[name] = uuid.UUID(member["id"])
    d = utcnow().astimezone(HOME).date() - timedelta(days=40)  # the range: d, d+1
    day = [d + timedelta(days=n) for n in range(40)]

    a = await shop.campaign("¥20 off", 2_000)
    b = await shop.campaign("=HYPERLINK(\"x\")", 1_000)  # a name that is a formula
    c = await shop.campaign("Never issued", 500)
    va = await shop.issue(a, people, {
        "m0": local(day[0], "00:10"), "m1": local(day[1], "09:00"),
        "m2": local(day[0], "09:00"), "m3": local(day[0], "10:00"),
        "m6": local(day[0], "12:00"),
        "m4": local(day[0], "00:00") - timedelta(minutes=10),  # the day before: out
        "m5": local(day[2], "00:05")})  # the day after: out
    b_members = {k: people[k] for k in ("m0", "m1", "m2", "m6")}
    vb = await shop.issue(b, b_members, dict.fromkeys(b_members, local(day[0], "08:00")))

    # Campaign A: redeemed by m0, m1, m2, m6 (in the range), m4 (issued before it), and
    # m3 reversed.
    await shop.redeem(va["m0"], 10_000, local(day[1], "10:00"))
    await shop.redeem(va["m1"], 6_000, local(day[1], "23:30"))
    await shop.redeem(va["m2"], 5_000, local(day[1], "00:30"))
    await shop.redeem(va["m6"], 3_000, local(day[0], "13:00"))
    await shop.redeem(va["m4"], 7_000, local(day[0], "11:00"))
    await shop.redeem(va["m3"], 9_999, local(day[2], "12:00"), reverse=True)
    # Campaign B, the later visits: m0 the same day as its A (not a return); m1 on the
    # 31st local day after its A (not: within 31 x 24 h and on the 30th UTC day);
    # m2 on the 30th local day (a return: more than 30 x 24 h, the 31st UTC day);
    # m6 the same day, nine hours later (not).
    await shop.redeem(vb["m0"], 8_000, local(day[1], "10:05"))
    await shop.redeem(vb["m1"], 8_000, local(day[32], "00:30"))
    await shop.redeem(vb["m2"], 8_000, local(day[31], "23:30"))
    await shop.redeem(vb["m6"], 8_000, local(day[0], "21:00"))
    # m0 comes back through a booking checked in four days later (a return for A and
    # B); m6's booking is cancelled (no visit).
    await shop.booking(people["m0"], monkeypatch, "check-in", local(day[5], "10:00"),
                       "10:00")
    await shop.booking(people["m6"], monkeypatch, "cancel", local(day[3], "10:00"),
                       "14:00")

    span = {"from": day[0].isoformat(), "to": day[1].isoformat()}
    response = await shop.get("/stats/campaigns", **span)
    assert response.status_code == 200, response.text
    got = {row["campaign_id"]: row for row in response.json()}
    assert set(got) == {a, b}  # C neither issued nor was valid in the range
    assert got[a] == {
        "campaign_id": a, "name": "¥20 off", "issued": 5, "redeemed": 4,
        "redemption_rate": 0.8, "discount_cents": 8_000, "bill_cents": 24_000,
        "returning_members_30d": 2}  # m0 (booking) and m2 (30th day)
    assert got[b] == {
        "campaign_id": b, "name": "=HYPERLINK(\"x\")", "issued": 4, "redeemed": 4,
        "redemption_rate": 1.0, "discount_cents": 4_000, "bill_cents": 32_000,
        "returning_members_30d": 1}  # m0 (booking)

    # One local day: the range's edges are the chain's midnights, not UTC's.
    first = {r["campaign_id"]: r for r in (await shop.get(
        "/stats/campaigns", **{"from": day[0].isoformat(),
                               "to": day[0].isoformat()})).json()}
    assert (first[a]["issued"], first[a]["redeemed"]) == (4, 3)  # m0, m2, m3, m6

    # The chain's zone decides the days (chain.timezone): in UTC, m0's issue (00:10 in
    # Shanghai) falls on the day before.
    moved = await client.patch(f"{API}/chain", json={"timezone": "UTC"}, headers=shop.op)
    assert moved.status_code == 200, moved.text
    utc = {r["campaign_id"]: r for r in (await shop.get(
        "/stats/campaigns", **{"from": day[0].isoformat(),
                               "to": day[0].isoformat()})).json()}
    assert utc[a]["issued"] == 3  # m2, m3, m6
    await client.patch(f"{API}/chain", json={"timezone": "Asia/Shanghai"}, headers=shop.op)

    # Up to today: every voucher, and C (valid now) with zeros; equal to the campaign's
    # own results (GET /campaigns/{id}/results, decision 036).
    today = utcnow().astimezone(HOME).date()
    whole = {r["campaign_id"]: r for r in (await shop.get(
        "/stats/campaigns", **{"from": (d - timedelta(days=5)).isoformat(),
                               "to": today.isoformat()})).json()}
    assert whole[c] == {"campaign_id": c, "name": "Never issued", "issued": 0, "redeemed": 0,
                        "redemption_rate": 0.0, "discount_cents": 0, "bill_cents": 0,
                        "returning_members_30d": 0}
    for campaign in (a, b):
        own = (await shop.get(f"/campaigns/{campaign}/results")).json()
        mine = whole[campaign]
        assert {k: mine[k] for k in ("issued", "redeemed", "redemption_rate",
                                     "discount_cents", "bill_cents")} == {
            k: own[k] for k in ("issued", "redeemed", "redemption_rate", "discount_cents",
                                "bill_cents")}
    assert whole[a]["issued"] == 7 and whole[a]["redeemed"] == 5

    # The CSV: the same rows, the formula defused.
    text = (await shop.get("/stats/campaigns.csv", **span)).text
    rows = {r["campaign_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[b]["name"] == "'=HYPERLINK(\"x\")"
    assert rows[a] == {"campaign_id": a, "name": "¥20 off", "issued": "5", "redeemed": "4",
                       "redemption_rate": "0.8000", "discount_cents": "8000",
                       "bill_cents": "24000", "returning_members_30d": "2"}

    # The chart: per local day, vouchers issued and redemptions made (m3's reversed).
    daily = (await shop.get(f"/stats/campaigns/{a}/daily", **{
        "from": (d - timedelta(days=1)).isoformat(), "to": day[2].isoformat()})).json()
    assert [(p["date"], p["issued"], p["redeemed"]) for p in daily["points"]] == [
        ((d - timedelta(days=1)).isoformat(), 1, 0), (day[0].isoformat(), 4, 2),
        (day[1].isoformat(), 1, 3), (day[2].isoformat(), 1, 0)]


async def test_who_may_ask(client: httpx.AsyncClient, world: World) -> None:
    alpha, beta = world.a, world.b
    today = utcnow().astimezone(HOME).date().isoformat()
    span = {"from": today, "to": today}
    campaign = str((await client.post(f"{API}/campaigns", headers=world.headers(
        beta.operator), json={
        "name": "Beta's", "kind": "cash", "value_cents": 100, "total_quantity": 1,
        "valid_from": utcnow().isoformat(),
        "valid_until": (utcnow() + timedelta(days=1)).isoformat()})).json()["id"])
    paths = ["/stats/campaigns", "/stats/campaigns.csv", "/stats/automations", "/stats/jobs",
             "/stats/referrals",
             f"/stats/campaigns/{campaign}/daily"]
    for path in paths:
        assert (await client.get(f"{API}{path}", params=span)).status_code == 401
        for who in (alpha.staff["alpha-manager"], alpha.staff["alpha-clerk1"],
                    alpha.members[0]):
            refused = await client.get(f"{API}{path}", params=span,
                                       headers=world.headers(who))
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), path
    op = world.headers(alpha.operator)
    hidden = await client.get(f"{API}/stats/campaigns/{campaign}/daily", params=span,
                              headers=op)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    # Beta's campaign is not in alpha's list.
    assert (await client.get(f"{API}/stats/campaigns", params=span, headers=op)).json() == []
    bad = await client.get(f"{API}/stats/campaigns", headers=op,
                           params={"from": today, "to": "2020-01-01"})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "to")


async def test_results_per_automation_and_job(client: httpx.AsyncClient, world: World) -> None:
    """Vouchers an automation or a job issued (``source``/``source_id``) are grouped by
    their source; every one counts in its campaign's figures too."""
    from app.core.db import write_transaction
    from app.core.runtime import Runtime
    from app.stats.results import voucher_results
    from cards import public

    shop = Shop(client, world)
    chain = world.a.id
    campaign = await shop.campaign("Birthday ¥10", 1_000)
    members = [m.id for m in world.a.members]
    for n in range(2):
        members.append(uuid.UUID((await shop.post("/members", {
            "name": f"s{n}", "phone": f"1398888{n:04d}"}))["id"]))
    runtime: Runtime = world.app.state.runtime
    signer = runtime.signer
    birthday = uuid.UUID((await shop.post("/automations", {
        "name": "Birthday week", "trigger": "birthday", "params": {"days_before": 3},
        "campaign_id": campaign, "status": "paused"}))["id"])
    winback, job = uuid.uuid4(), uuid.uuid4()  # one no longer known: its campaign's name
    given: dict[str, Any] = {}
    async with write_transaction():
        for name, member, source, source_id in (
                ("b0", members[0], "automation", birthday),
                ("b1", members[1], "automation", birthday),
                ("w2", members[2], "automation", winback),
                ("j3", members[3], "job", job)):
            given[name] = await public.issue_voucher(
                chain, uuid.UUID(campaign), member, signer=signer, source=source,
                source_id=source_id, notify=False)
    await shop.redeem({"code": given["b0"].code}, 5_000, utcnow())
    await shop.redeem({"code": given["j3"].code}, 2_500, utcnow())

    today = utcnow().astimezone(HOME).date().isoformat()
    span = {"from": today, "to": today}

    def figures(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["campaign_id"], row["name"], row["issued"], row["redeemed"],
                row["redemption_rate"], row["discount_cents"], row["bill_cents"],
                row["returning_members_30d"])

    autos = (await shop.get("/stats/automations", **span)).json()
    assert {row["source_id"]: figures(row) for row in autos} == {
        str(birthday): (campaign, "Birthday week", 2, 1, 0.5, 1_000, 5_000, 0),
        str(winback): (campaign, "Birthday ¥10", 1, 0, 0.0, 0, 0, 0)}
    jobs = (await shop.get("/stats/jobs", **span)).json()
    assert [(row["source_id"], *figures(row)) for row in jobs] == [
        (str(job), campaign, "Birthday ¥10", 1, 1, 1.0, 1_000, 2_500, 0)]
    everything = {r["campaign_id"]: r for r in (await shop.get("/stats/campaigns",
                                                                 **span)).json()}
    assert (everything[campaign]["issued"], everything[campaign]["redeemed"]) == (4, 2)
    # The service, for one automation.
    day = utcnow().astimezone(HOME).date()
    one = await voucher_results(chain, first=day, last=day, source="automation",
                                source_id=birthday, by_source=True)
    assert list(one) == [(uuid.UUID(campaign), birthday)]
    assert (one[(uuid.UUID(campaign), birthday)].issued,
            one[(uuid.UUID(campaign), birthday)].redeemed) == (2, 1)


async def test_referral_figures(client: httpx.AsyncClient, world: World) -> None:
    """Two friends sign in through a member's link; one visits (both sides rewarded, by
    the referral's sweep), the referrer spends the reward; the figures say so."""
    from app.core.runtime import Runtime
    from marketing.referral.worker import tick
    from marketing.tick import Tick

    shop = Shop(client, world)
    mine, theirs, visit = [await shop.campaign(n, 1_000) for n in ("Thanks", "Welcome", "Hi")]
    response = await client.put(f"{API}/referral-program", headers=shop.op, json={
        "referrer_campaign_id": mine, "invitee_campaign_id": theirs, "status": "active"})
    assert response.status_code == 200, response.text
    referrer = world.a.members[0]
    code = (await shop.get("/me/referral", referrer)).json()["code"]
    friends = []
    for n in range(2):  # the second friend never comes
        login = await client.post(f"{API}/auth/member/wechat", json={
            "chain_id": str(world.a.id), "code": f"sandbox:friend-{n}", "referral_code": code})
        assert login.status_code == 200, login.text
        friends.append(uuid.UUID(login.json()["member"]["id"]))
    hello = await shop.issue(visit, {"f": friends[0]}, {"f": utcnow()})
    await shop.redeem(hello["f"], 5_000, utcnow())
    runtime: Runtime = world.app.state.runtime
    await tick(Tick(signer=runtime.signer, now=utcnow(), settings=runtime.settings))
    vouchers = (await shop.get("/me/vouchers", referrer)).json()
    reward = next(v for v in vouchers if v["campaign_id"] == mine)
    await shop.redeem(reward, 4_000, utcnow())

    today = utcnow().astimezone(HOME).date().isoformat()
    response = await shop.get("/stats/referrals", **{"from": today, "to": today})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "from": today, "to": today, "invited": 2, "pending": 1, "rewarded": 1, "refused": 0,
        "referrer_vouchers": {"issued": 1, "redeemed": 1, "redemption_rate": 1.0,
                              "discount_cents": 1_000, "bill_cents": 4_000,
                              "returning_members_30d": 0},
        "invitee_vouchers": {"issued": 1, "redeemed": 0, "redemption_rate": 0.0,
                             "discount_cents": 0, "bill_cents": 0,
                             "returning_members_30d": 0}}
    # Another day: nothing.
    yesterday = (utcnow().astimezone(HOME).date() - timedelta(days=1)).isoformat()
    empty = (await shop.get("/stats/referrals", **{"from": yesterday, "to": yesterday})).json()
    assert (empty["invited"], empty["referrer_vouchers"]["issued"]) == (0, 0)
