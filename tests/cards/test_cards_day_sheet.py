"""The till's day sheet (issue 17): GET /redemptions names each row's member, card or
campaign, and says whether the caller may reverse it and why not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cards.tables import Redemption
from stores.tables import Member
from tests.cards.conftest import API, Cards


async def _sheet(cards: Cards, who: str | None = None, store: int = 0) -> list[dict[str, Any]]:
    principal = cards.world.a.operator if who is None else cards.world.a.staff[who]
    response = await cards.client.get(
        f"{API}/redemptions", params={"store_id": str(cards.world.a.stores[store])},
        headers=cards.world.headers(principal))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_day_sheet_names_and_reversibility(cards: Cards) -> None:
    world = cards.world
    times = await cards.template(name="Ten cuts", kind="times", initial_visits=10)
    card = await cards.issue(times["id"])
    visit = (await cards.redeem(await cards.code(card["id"]), action="visit")).json()
    now = datetime.now(UTC)
    campaign = await cards.client.post(f"{API}/campaigns", headers=world.headers(
        world.a.operator), json={
        "name": "周中 8 折 Weekday", "kind": "discount", "percent_off": 20,
        "total_quantity": 10, "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=5)).isoformat()})
    assert campaign.status_code == 201, campaign.text
    voucher = (await cards.client.post(f"{API}/campaigns/{campaign.json()['id']}/claim",
                                       headers=world.headers(world.a.members[1]))).json()
    used = await cards.client.post(f"{API}/redemptions", headers=world.headers(
        world.a.staff["alpha-clerk1"]), json={"store_id": str(world.a.stores[0]),
                                              "code": voucher["code"], "amount_cents": 10_000})
    assert used.status_code == 201, used.text
    # A nameless member shows the tail of their phone.
    await Member.update({Member.name: ""}).where(Member.id == world.a.members[1].id).run()

    rows = {r["id"]: r for r in await _sheet(cards, "alpha-clerk1")}
    by_card, by_voucher = rows[visit["id"]], rows[used.json()["id"]]
    assert by_card["member_id"] == str(world.a.members[0].id)
    assert by_card["member_name"] == "alpha member 1"
    assert by_card["member_phone_tail"] == "7001"
    assert by_card["card_number"] == card["number"] and by_card["card_kind"] == "times"
    assert by_card["template_name"] == "Ten cuts" and by_card["campaign_name"] is None
    assert by_card["visits_left"] == 9 and by_card["action"] == "visit"
    assert by_voucher["member_name"] is None and by_voucher["member_phone_tail"] == "7002"
    assert by_voucher["campaign_name"] == "周中 8 折 Weekday"
    assert by_voucher["campaign_kind"] == "discount" and by_voucher["card_number"] is None
    # A clerk may not reverse: role.
    assert all(not r["reversible"] and r["not_reversible_reason"] == "role"
               for r in rows.values())

    for who in ("alpha-manager", None):
        rows = {r["id"]: r for r in await _sheet(cards, who)}
        assert all(r["reversible"] and r["not_reversible_reason"] is None
                   for r in rows.values()), who

    # Past 24 h: too late; reversed: already reversed (before any role or time).
    await Redemption.update({Redemption.created_at: now - timedelta(hours=25)}).where(
        Redemption.id == uuid.UUID(used.json()["id"])).run()
    undo = await cards.client.post(f"{API}/redemptions/{visit['id']}/reverse",
                                   headers=world.headers(world.a.staff["alpha-manager"]))
    assert undo.status_code == 200, undo.text
    manager = {r["id"]: r for r in await _sheet(cards, "alpha-manager")}
    assert manager[visit["id"]]["not_reversible_reason"] == "already_reversed"
    assert manager[visit["id"]]["reversible"] is False
    clerk = {r["id"]: r for r in await _sheet(cards, "alpha-clerk1")}
    assert clerk[visit["id"]]["not_reversible_reason"] == "already_reversed"
    # The voucher's row moved to yesterday's sheet (recorded 25 h ago).
    yesterday = await cards.client.get(f"{API}/redemptions", params={
        "store_id": str(world.a.stores[0]),
        "from": (now - timedelta(days=3)).date().isoformat(),
        "to": (now + timedelta(days=1)).date().isoformat()},
        headers=world.headers(world.a.operator))
    late = {r["id"]: r for r in yesterday.json()}[used.json()["id"]]
    assert late["reversible"] is False and late["not_reversible_reason"] == "too_late"
