"""Review of automations (issue 20) as an analyst would use them: changing an automation
mid-way (days_before, campaign), a reversal of the n-th visit, and the birthday sweep's
query plan over a chain's members."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest

from app.core.db import Sql, current_engine, is_sqlite, write_transaction
from cards.tables import Voucher
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


async def _patch(shop: Shop, automation: dict[str, str], **body: object) -> None:
    response = await shop.client.patch(f"{API}/automations/{automation['id']}", json=body,
                                       headers=shop.operator)
    assert response.status_code == 200, response.text


async def test_raising_days_before_reaches_the_birthdays_now_in_range(
        shop: Shop, test_clock: MovingClock) -> None:
    """An operator moves a birthday automation from "on the day" to "a week before": the
    birthdays of the coming week are now due (their week-before day is today or past),
    not skipped for a year because the sweep had already done today."""
    in3 = await shop.member("In 3 days", date(1990, 3, 8))
    in7 = await shop.member("In 7 days", date(1990, 3, 12))
    in8 = await shop.member("In 8 days", date(1990, 3, 13))
    test_clock.set(utc(2027, 3, 5, 2))  # 5 March in Shanghai
    automation = await shop.automation("birthday")
    await tick(shop.world)
    assert await occurrences(automation) == []
    await _patch(shop, automation, params={"days_before": 7})
    await tick(shop.world)
    assert await occurrences(automation) == sorted([(in3, "2027", "issued"),
                                                    (in7, "2027", "issued")])
    # Back to "on the day": nothing twice, and the next birthdays still come.
    await _patch(shop, automation, params={"days_before": 0})
    test_clock.set(utc(2027, 3, 13, 2))
    await tick(shop.world)
    assert await occurrences(automation) == sorted([(in3, "2027", "issued"),
                                                    (in7, "2027", "issued"),
                                                    (in8, "2027", "issued")])


async def test_a_member_who_joins_on_their_birthday_gets_it_that_day(
        shop: Shop, test_clock: MovingClock) -> None:
    """Joining at the counter on one's birthday is common: the day was swept at midnight,
    but the member registered at ten is still due (and once)."""
    test_clock.set(utc(2027, 3, 9, 17))  # 10 March, 01:00 in Shanghai
    automation = await shop.automation("birthday", days_before=2)
    await tick(shop.world)
    assert await occurrences(automation) == []
    test_clock.set(utc(2027, 3, 10, 2))  # 10:00
    today = await shop.member("Joins today", date(1990, 3, 10))
    in2 = await shop.member("Birthday in 2 days", date(1990, 3, 12))
    in3 = await shop.member("Birthday in 3 days", date(1990, 3, 13))
    past = await shop.member("Birthday yesterday", date(1990, 3, 9))
    await tick(shop.world)
    due = sorted([(today, "2027", "issued"), (in2, "2027", "issued")])
    assert await occurrences(automation) == due
    test_clock.set(utc(2027, 3, 10, 3))
    await tick(shop.world)
    test_clock.set(utc(2027, 3, 10, 17))  # 11 March: the 13th is two days ahead
    await tick(shop.world)
    assert await occurrences(automation) == sorted([*due, (in3, "2027", "issued")])
    assert past not in {m for m, _, _ in await occurrences(automation)}


async def test_a_new_campaign_takes_the_next_occurrences_only(
        shop: Shop, test_clock: MovingClock) -> None:
    first = await shop.member("First")
    second = await shop.member("Second")
    automation = await shop.automation("welcome")
    test_clock.set(utc(2027, 1, 5, 1))
    await shop.card(first)
    await tick(shop.world)
    other = await shop.campaign(name="Welcome ¥5", value_cents=500)
    await _patch(shop, automation, campaign_id=other)
    await tick(shop.world)
    test_clock.set(utc(2027, 1, 5, 2))
    await shop.card(second)
    await tick(shop.world)
    rows = await Voucher.select(Voucher.member, Voucher.campaign).where(
        Voucher.source_id == uuid.UUID(automation["id"])).run()
    assert sorted((r["member"], str(r["campaign"])) for r in rows) == sorted(
        [(first, shop.campaign_id), (second, other)])


async def test_a_reversed_nth_visit_is_not_a_visit(shop: Shop,
                                                   test_clock: MovingClock) -> None:
    member = await shop.member("Regular")
    automation = await shop.automation("nth_visit", n=2)
    test_clock.set(utc(2027, 1, 5, 1))
    await shop.visit(member)
    second = await shop.visit(member)
    manager = shop.world.headers(shop.world.a.staff["alpha-manager"])
    reversed_ = await shop.client.post(f"{API}/redemptions/{second}/reverse",
                                       headers=manager)
    assert reversed_.status_code == 200, reversed_.text
    await tick(shop.world)
    assert await occurrences(automation) == []
    test_clock.set(utc(2027, 1, 5, 2))
    await shop.visit(member)
    await tick(shop.world)
    assert await occurrences(automation) == [(member, "visit:2", "issued")]


async def test_the_birthday_sweep_reads_an_index_not_every_member(shop: Shop) -> None:
    """One automation's daily birthday sweep over a chain of 100,000 members must not read
    each of them: its query is answered from an index on the birth month and day."""
    if is_sqlite(current_engine()):
        pytest.skip("PostgreSQL's plan")
    from marketing.automations import repository as repo
    sql = repo._BIRTHDAYS["postgres"]
    async with write_transaction():
        await Sql("SET LOCAL enable_seqscan = off").rows()
        rows = await Sql("EXPLAIN " + sql.text).rows(
            shop.world.a.id, 3, 10, 10, repo.NIL, uuid.uuid4(), "2027", 500)
    plan = "\n".join(str(next(iter(r.values()))) for r in rows)
    assert "member_chain_birthday" in plan, plan
