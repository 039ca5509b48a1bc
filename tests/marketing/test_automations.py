"""Automations (issue 20) with a moving clock: birthday, inactive, welcome, n-th visit,
each once per occurrence; the endpoints, their validation and the run log."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import date

import httpx
import pytest

from cards.tables import Voucher
from marketing.automations.tables import Automation
from marketing.automations.worker import celebrated_days
from tests.marketing.automations_helpers import (
    API,
    MovingClock,
    Shop,
    occurrences,
    test_clock,
    tick,
    utc,
)
from tests.world import World

__all__ = ["test_clock"]  # the fixture, used by name


@pytest.fixture
async def shop(client: httpx.AsyncClient, world: World, test_clock: MovingClock) -> Shop:
    made = Shop(client, world)
    made.campaign_id = await made.campaign()
    return made


def test_a_29_february_birthday_is_celebrated_on_28_february_in_a_common_year() -> None:
    assert celebrated_days(date(2027, 2, 28)) == (28, 29)
    assert celebrated_days(date(2028, 2, 28)) == (28, 28)
    assert celebrated_days(date(2028, 2, 29)) == (29, 29)
    assert celebrated_days(date(2027, 3, 1)) == (1, 1)


async def test_endpoints_validate_each_trigger_and_keep_to_the_chain(
        shop: Shop, world: World, client: httpx.AsyncClient) -> None:
    bad = [({"trigger": "inactive", "params": {}}, "params.inactive_days"),
           ({"trigger": "inactive", "params": {"inactive_days": 0}}, "params.inactive_days"),
           ({"trigger": "nth_visit", "params": {"n": 0}}, "params.n"),
           ({"trigger": "birthday", "params": {"days_before": 61}}, "params.days_before"),
           ({"trigger": "birthday", "params": {"n": 3}}, "params.n"),
           ({"trigger": "welcome", "params": {"inactive_days": 3}}, "params.inactive_days")]
    for body, field in bad:
        response = await client.post(f"{API}/automations", json={
            "name": "x", "campaign_id": shop.campaign_id, **body}, headers=shop.operator)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["field"] == field
    unknown = await client.post(f"{API}/automations", json={
        "name": "x", "trigger": "anniversary", "campaign_id": shop.campaign_id},
        headers=shop.operator)
    assert unknown.status_code == 400
    elsewhere = await client.post(f"{API}/automations", json={
        "name": "x", "trigger": "welcome", "campaign_id": shop.campaign_id},
        headers=world.headers(world.b.operator))
    assert elsewhere.status_code == 404
    clerk = await client.post(f"{API}/automations", json={
        "name": "x", "trigger": "welcome", "campaign_id": shop.campaign_id},
        headers=shop.clerk)
    assert clerk.status_code == 403

    made = await shop.automation("birthday")
    assert made["params"] == {"days_before": 0} and made["status"] == "active"
    assert made["notify"] is True and made["campaign_id"] == shop.campaign_id
    other_campaign = await shop.campaign(name="Another")
    patched = await client.patch(f"{API}/automations/{made['id']}", json={
        "name": "Happy birthday", "params": {"days_before": 7}, "notify": False,
        "status": "paused", "campaign_id": other_campaign}, headers=shop.operator)
    assert patched.status_code == 200, patched.text
    assert patched.json() | {"updated_at": None} == made | {
        "name": "Happy birthday", "params": {"days_before": 7}, "notify": False,
        "status": "paused", "campaign_id": other_campaign, "updated_at": None}
    wrong = await client.patch(f"{API}/automations/{made['id']}",
                               json={"params": {"inactive_days": 3}}, headers=shop.operator)
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == \
        "params.inactive_days"
    listed = await client.get(f"{API}/automations", headers=shop.operator)
    assert [a["id"] for a in listed.json()] == [made["id"]]
    theirs = world.headers(world.b.operator)
    assert (await client.get(f"{API}/automations", headers=theirs)).json() == []
    for path in (f"/automations/{made['id']}", f"/automations/{made['id']}/runs"):
        assert (await client.get(API + path, headers=theirs)).status_code == 404
    assert (await client.patch(f"{API}/automations/{made['id']}", json={"name": "y"},
                               headers=theirs)).status_code == 404
    assert await shop.runs(made) == []


async def test_birthday_fires_once_a_year_in_the_chains_zone(shop: Shop,
                                                            test_clock: MovingClock) -> None:
    march = await shop.member("March 10", date(1990, 3, 10))
    leap = await shop.member("Leap day", date(1992, 2, 29))
    feb28 = await shop.member("Feb 28", date(1991, 2, 28))
    automation = await shop.automation("birthday")

    async def at(instant: tuple[int, ...]) -> list[tuple[uuid.UUID, str, str]]:
        test_clock.set(utc(*instant))
        await tick(shop.world)
        return await occurrences(automation)

    # 2027 is a common year: the 29 February birthday is celebrated on the 28th.
    assert await at((2027, 2, 27, 12)) == []
    expected = sorted([(leap, "2027", "issued"), (feb28, "2027", "issued")])
    assert await at((2027, 2, 28, 1)) == expected
    assert await at((2027, 3, 1, 1)) == expected
    # 23:00 on 9 March in Shanghai: not yet. Midnight there is still 9 March in UTC.
    assert await at((2027, 3, 9, 15)) == expected
    expected = sorted([*expected, (march, "2027", "issued")])
    assert await at((2027, 3, 9, 16)) == expected
    assert await at((2027, 3, 10, 12)) == expected
    assert await at((2027, 9, 1)) == expected
    # 2028 is a leap year: 28 February is only the 28th's; the 29th has its own day.
    expected = sorted([*expected, (feb28, "2028", "issued")])
    assert await at((2028, 2, 28, 1)) == expected
    expected = sorted([*expected, (leap, "2028", "issued")])
    assert await at((2028, 2, 29, 1)) == expected
    expected = sorted([*expected, (march, "2028", "issued")])
    assert await at((2028, 3, 10, 1)) == expected
    assert await at((2028, 3, 10, 2)) == expected
    # Each run has its voucher, issued by the automation, with its member's notification.
    runs = await shop.runs(automation)
    assert len(runs) == 6 and all(r["voucher_id"] and r["status"] == "issued" for r in runs)
    vouchers = await Voucher.select(Voucher.member, Voucher.source).where(
        Voucher.source_id == uuid.UUID(automation["id"])).run()
    assert Counter(v["member"] for v in vouchers) == {march: 2, leap: 2, feb28: 2}
    assert {v["source"] for v in vouchers} == {"automation"}
    assert runs[0]["created_at"] >= runs[-1]["created_at"]  # newest first


async def test_birthday_days_before_catches_up_on_upcoming_birthdays(
        shop: Shop, test_clock: MovingClock) -> None:
    soon = await shop.member("In 5 days", date(1990, 3, 10))
    week = await shop.member("In 7 days", date(1990, 3, 12))
    later = await shop.member("In 8 days", date(1990, 3, 13))
    new_year = await shop.member("New year", date(1985, 1, 2))
    test_clock.set(utc(2027, 3, 5, 2))  # 5 March in Shanghai
    automation = await shop.automation("birthday", days_before=7)
    await tick(shop.world)
    # At its start, every birthday of the next 7 days (not one already past).
    assert await occurrences(automation) == sorted([(soon, "2027", "issued"),
                                                    (week, "2027", "issued")])
    test_clock.set(utc(2027, 3, 6, 2))
    await tick(shop.world)
    assert (later, "2027", "issued") in await occurrences(automation)
    # Seven days before a birthday in the next year: that year's occurrence.
    test_clock.set(utc(2027, 12, 26, 2))
    await tick(shop.world)
    assert (new_year, "2028", "issued") in await occurrences(automation)
    assert len(await occurrences(automation)) == 4


async def test_inactive_once_per_spell_and_again_after_a_new_one(
        shop: Shop, test_clock: MovingClock) -> None:
    regular = await shop.member("Regular")
    test_clock.set(utc(2027, 1, 10, 2))
    await shop.visit(regular)
    away = await shop.member("Never came")  # joined 10 January, never visited
    automation = await shop.automation("inactive", inactive_days=30)
    await tick(shop.world)
    # The world's members joined weeks ago and never came: each one spell, from joining.
    base = {(m, o, s) for m, o, s in await occurrences(automation)}
    world_members = {p.id for p in shop.world.a.members}
    assert {m for m, _, _ in base} == world_members
    test_clock.set(utc(2027, 2, 8, 2))  # 29 days after
    await tick(shop.world)
    assert set(await occurrences(automation)) == base
    test_clock.set(utc(2027, 2, 9, 2))  # 30 days after
    await tick(shop.world)
    await tick(shop.world)
    spell1 = {(regular, "2027-01-10", "issued"), (away, "2027-01-10", "issued")}
    assert set(await occurrences(automation)) == base | spell1
    # Back on 15 February, then away again: another spell, another voucher.
    test_clock.set(utc(2027, 2, 15, 2))
    await shop.visit(regular)
    await tick(shop.world)
    test_clock.set(utc(2027, 3, 16, 2))
    await tick(shop.world)
    assert set(await occurrences(automation)) == base | spell1
    test_clock.set(utc(2027, 3, 17, 2))
    await tick(shop.world)
    test_clock.set(utc(2027, 6, 1, 2))
    await tick(shop.world)
    assert set(await occurrences(automation)) == base | spell1 | {
        (regular, "2027-02-15", "issued")}


async def test_welcome_once_on_a_first_card_after_the_start(shop: Shop,
                                                           test_clock: MovingClock) -> None:
    old, fresh = shop.world.a.members[0].id, shop.world.a.members[1].id
    await shop.card(old)  # a card before the automation: not welcomed
    test_clock.set(utc(2027, 1, 6))
    automation = await shop.automation("welcome")
    await shop.card(old, template=1)
    await tick(shop.world)
    assert await occurrences(automation) == []
    test_clock.set(utc(2027, 1, 7))
    await shop.card(fresh)
    newcomer = await shop.member("Newcomer")
    await shop.card(newcomer, template=1)
    await tick(shop.world)
    expected = sorted([(fresh, "welcome", "issued"), (newcomer, "welcome", "issued")])
    assert await occurrences(automation) == expected
    test_clock.set(utc(2027, 1, 8))
    await shop.card(fresh, template=1)
    await tick(shop.world)
    await tick(shop.world)
    assert await occurrences(automation) == expected


async def test_nth_visit_once_for_members_reaching_it_after_the_start(
        shop: Shop, test_clock: MovingClock) -> None:
    early, slow = shop.world.a.members[0].id, shop.world.a.members[1].id
    for minute in range(3):
        test_clock.set(utc(2027, 1, 5, 10, minute))
        await shop.visit(early)  # three visits before: reached 3 already
    await shop.visit(slow)
    automation = await shop.automation("nth_visit", n=3)
    seen = []
    for minute in range(4):
        test_clock.set(utc(2027, 1, 6, 10, minute))
        await shop.visit(slow)
        await shop.visit(early)
        await tick(shop.world)
        seen.append(await occurrences(automation))
    # slow's visits: 2, 3 (fires), 4, 5.
    assert seen[0] == []
    assert seen[1] == seen[2] == seen[3] == [(slow, "visit:3", "issued")]


async def test_refused_issue_is_a_skipped_run_and_paused_does_nothing(
        shop: Shop, client: httpx.AsyncClient, test_clock: MovingClock) -> None:
    one_left = await shop.campaign(name="Last one", total_quantity=1)
    automation = await shop.automation("welcome", campaign_id=one_left)
    first, second = shop.world.a.members[0].id, shop.world.a.members[1].id
    test_clock.set(utc(2027, 1, 5, 1))
    await shop.card(first)
    await shop.card(second)
    await tick(shop.world)
    runs = await shop.runs(automation)
    assert sorted((r["status"], r["skipped_code"]) for r in runs) == [
        ("issued", None), ("skipped", "campaign_sold_out")]
    assert [r["voucher_id"] is None for r in runs if r["status"] == "skipped"] == [True]
    await tick(shop.world)  # the occurrence is taken: not tried again
    assert len(await shop.runs(automation)) == 2

    # Paused: nothing, and no catching up once resumed.
    paused = await shop.automation("welcome")
    response = await client.patch(f"{API}/automations/{paused['id']}",
                                  json={"status": "paused"}, headers=shop.operator)
    assert response.json()["status"] == "paused"
    test_clock.set(utc(2027, 1, 5, 2))
    late = await shop.member("Late")
    await shop.card(late)
    await tick(shop.world)
    assert await occurrences(paused) == []
    test_clock.set(utc(2027, 1, 5, 3))
    await client.patch(f"{API}/automations/{paused['id']}", json={"status": "active"},
                       headers=shop.operator)
    await tick(shop.world)
    assert await occurrences(paused) == []
    test_clock.set(utc(2027, 1, 5, 3, 1))
    later = await shop.member("Later")
    await shop.card(later)
    await tick(shop.world)
    assert await occurrences(paused) == [(later, "welcome", "issued")]


async def test_a_paused_campaign_holds_the_sweep_until_it_can_issue(
        shop: Shop, client: httpx.AsyncClient, test_clock: MovingClock) -> None:
    member = await shop.member("March 10", date(1990, 3, 10))
    automation = await shop.automation("birthday")
    pause = await client.post(f"{API}/campaigns/{shop.campaign_id}/pause",
                              headers=shop.operator)
    assert pause.status_code == 200, pause.text
    test_clock.set(utc(2027, 3, 10, 1))
    await tick(shop.world)
    assert await occurrences(automation) == []
    swept = await Automation.select(Automation.swept_through).first().run()
    assert swept is not None and swept["swept_through"] is None
    await client.post(f"{API}/campaigns/{shop.campaign_id}/resume", headers=shop.operator)
    await tick(shop.world)
    assert await occurrences(automation) == [(member, "2027", "issued")]


async def test_two_sweeps_at_once_issue_once(shop: Shop, test_clock: MovingClock) -> None:
    members = [await shop.member(f"Twin {n}", date(1990, 3, 10)) for n in range(12)]
    automation = await shop.automation("birthday")
    test_clock.set(utc(2027, 3, 10, 1))
    await asyncio.gather(*(tick(shop.world) for _ in range(3)))
    assert await occurrences(automation) == sorted((m, "2027", "issued") for m in members)
    vouchers = await Voucher.count().where(
        Voucher.source_id == uuid.UUID(automation["id"])).run()
    assert vouchers == len(members)
