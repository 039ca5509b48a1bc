"""Review of the campaign results (issue 20) in a chain whose zone is not the default: the
range's ends, "came back" and the automation's row follow ``chain.timezone`` (here
America/New_York, UTC-5 in winter), not Shanghai's day nor UTC's."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from app.core.clock import utcnow
from tests.stats.test_campaign_results import Shop
from tests.world import World

API = "/api/v1"
NEW_YORK = ZoneInfo("America/New_York")


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), NEW_YORK)


async def test_results_follow_the_chains_own_zone(client: httpx.AsyncClient,
                                                  world: World) -> None:
    shop = Shop(client, world)
    zoned = await client.patch(f"{API}/chain", json={"timezone": "America/New_York"},
                               headers=shop.op)
    assert zoned.status_code == 200, zoned.text
    people = {}
    for n in range(4):
        member = await shop.post("/members", {"name": f"ny{n}", "phone": f"1396666{n:04d}",
                                              "store_id": str(shop.store)})
        people[f"m{n}"] = uuid.UUID(member["id"])
    d = utcnow().astimezone(NEW_YORK).date() - timedelta(days=45)
    campaign = await shop.campaign("NY ¥20", 2_000)
    vouchers = await shop.issue(campaign, people, {
        "m0": at(d, "00:10"),  # the range's first local minutes: in
        "m1": at(d, "00:00") - timedelta(minutes=20),  # 23:40 the day before: out
        "m2": at(d + timedelta(days=1), "23:50"),  # the last local day (UTC's next): in
        "m3": at(d + timedelta(days=2), "00:05")})  # the day after: out
    # m0 redeems on d at 23:00 (04:00 UTC the next day) and comes back on d+1 at 01:00:
    # the next local day, a return. m2 redeems its voucher after the range (counted),
    # and comes back the same local day (not a return).
    await shop.redeem(vouchers["m0"], 10_000, at(d, "23:00"))
    other = await shop.campaign("NY later", 500)
    later = await shop.issue(other, {"m0": people["m0"], "m2": people["m2"]}, {
        "m0": at(d, "12:00"), "m2": at(d, "12:00")})
    await shop.redeem(later["m0"], 4_000, at(d + timedelta(days=1), "01:00"))
    await shop.redeem(vouchers["m2"], 8_000, at(d + timedelta(days=5), "00:30"))
    await shop.redeem(later["m2"], 3_000, at(d + timedelta(days=5), "23:30"))

    response = await shop.get("/stats/campaigns", **{
        "from": d.isoformat(), "to": (d + timedelta(days=1)).isoformat()})
    assert response.status_code == 200, response.text
    row = {r["campaign_id"]: r for r in response.json()}[campaign]
    assert {k: row[k] for k in ("issued", "redeemed", "redemption_rate", "discount_cents",
                                "bill_cents", "returning_members_30d")} == {
        "issued": 2, "redeemed": 2, "redemption_rate": 1.0, "discount_cents": 4_000,
        "bill_cents": 18_000, "returning_members_30d": 1}, row
    daily = await shop.get(f"/stats/campaigns/{campaign}/daily", **{
        "from": d.isoformat(), "to": (d + timedelta(days=1)).isoformat()})
    assert daily.status_code == 200, daily.text
    assert [(p["issued"], p["redeemed"]) for p in daily.json()["points"]] == [(1, 1), (1, 0)]
