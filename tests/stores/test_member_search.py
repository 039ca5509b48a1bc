"""The operator's members page and the clerk's lookup (issue 17): GET /members searched by
name or phone, card tier or template, last visit; each member with their last visit and
cards count; GET /members/{id}/cards and /vouchers for staff."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cards.tables import Redemption
from tests.world import World

API = "/api/v1"
MEMBERS = f"{API}/members"
GOLD = [{"name": "Gold", "min_points": 1000, "discount_percent": 10}]


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def search(client: httpx.AsyncClient, headers: dict[str, str],
                 **params: Any) -> list[dict[str, Any]]:
    response = await client.get(MEMBERS, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


class Till:
    def __init__(self, client: httpx.AsyncClient, world: World) -> None:
        self.client, self.world = client, world
        self.operator = world.headers(world.a.operator)
        self.clerk = world.headers(world.a.staff["alpha-clerk1"])
        self.store = str(world.a.stores[0])

    async def template(self, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"{API}/card-templates", json=body,
                                          headers=self.operator)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def issue(self, template_id: str, member: int) -> dict[str, Any]:
        response = await self.client.post(f"{API}/cards", headers=self.clerk, json={
            "template_id": template_id, "member_id": str(self.world.a.members[member].id),
            "store_id": self.store})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def use(self, card_id: str, member: int, action: str,
                  amount: int | None = None) -> dict[str, Any]:
        code = await self.client.get(f"{API}/cards/{card_id}/code",
                                     headers=self.world.headers(self.world.a.members[member]))
        body: dict[str, Any] = {"store_id": self.store, "code": code.json()["code"],
                                "action": action}
        if amount is not None:
            body["amount_cents"] = amount
        response = await self.client.post(f"{API}/redemptions", headers=self.clerk, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in rows}


async def test_operator_searches_members(client: httpx.AsyncClient, world: World) -> None:
    till = Till(client, world)
    first, second = (str(m.id) for m in world.a.members)
    everyone = await search(client, till.operator)
    assert ids(everyone) == {first, second}
    assert all(r["last_visit_at"] is None and r["cards_count"] == 0 for r in everyone)

    times = await till.template(name="Ten cuts", kind="times", initial_visits=10)
    prepaid = await till.template(name="Prepaid", kind="stored_value", points_per_yuan=1,
                                  tiers=GOLD)
    cuts = await till.issue(times["id"], 0)
    gold = await till.issue(prepaid["id"], 1)
    top_up = await client.post(f"{API}/cards/{gold['id']}/top-ups", headers=till.clerk,
                               json={"amount_cents": 200_000, "store_id": till.store})
    assert top_up.status_code == 201
    before = datetime.now(UTC)
    visit = await till.use(cuts["id"], 0, "visit")
    await till.use(gold["id"], 1, "charge", 150_000)  # 1500 points: Gold

    rows = {r["id"]: r for r in await search(client, till.operator)}
    assert rows[first]["cards_count"] == 1 and rows[second]["cards_count"] == 1
    seen = datetime.fromisoformat(rows[first]["last_visit_at"])
    assert before - timedelta(seconds=1) <= seen <= datetime.now(UTC)

    # q: a name's part (any case), or a phone's digits.
    assert ids(await search(client, till.operator, q="MEMBER 2")) == {second}
    assert ids(await search(client, till.operator, q="alpha member")) == {first, second}
    assert ids(await search(client, till.operator, q="7002")) == {second}
    assert ids(await search(client, till.operator, q="nobody")) == set()
    # tier and template: a live card.
    assert ids(await search(client, till.operator, tier="Gold")) == {second}
    assert ids(await search(client, till.operator, tier="Silver")) == set()
    assert ids(await search(client, till.operator, template_id=times["id"])) == {first}
    assert ids(await search(client, till.operator, template_id=str(uuid.uuid4()))) == set()
    assert ids(await search(client, till.operator, q="member", tier="Gold")) == {second}

    # Last visit, by the chain's days (Asia/Shanghai): the first member's visit moved back
    # ten days.
    await Redemption.update({Redemption.created_at: datetime.now(UTC) - timedelta(days=10)}
                            ).where(Redemption.id == uuid.UUID(visit["id"])).run()
    today = datetime.now(UTC).astimezone().date()
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    assert ids(await search(client, till.operator, last_visit_before=week_ago)) == {first}
    assert ids(await search(client, till.operator, last_visit_after=week_ago)) == {second}
    long_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    assert ids(await search(client, till.operator, last_visit_after=long_ago,
                            last_visit_before=week_ago)) == {first}
    tomorrow = (today + timedelta(days=2)).isoformat()
    assert ids(await search(client, till.operator, last_visit_before=tomorrow)) == {first,
                                                                                    second}

    # A reversed visit is no visit; a cancelled card is not held, a frozen one is.
    await Redemption.update({Redemption.reversed_at: datetime.now(UTC)}).where(
        Redemption.id == uuid.UUID(visit["id"])).run()
    rows = {r["id"]: r for r in await search(client, till.operator)}
    assert rows[first]["last_visit_at"] is None
    assert ids(await search(client, till.operator, last_visit_before=tomorrow)) == {second}
    assert (await client.post(f"{API}/cards/{cuts['id']}/freeze",
                              headers=till.operator)).status_code == 200
    assert (await client.post(f"{API}/cards/{gold['id']}/cancel",
                              headers=till.operator)).status_code == 200
    rows = {r["id"]: r for r in await search(client, till.operator)}
    assert rows[first]["cards_count"] == 1 and rows[second]["cards_count"] == 0
    assert ids(await search(client, till.operator, tier="Gold")) == set()
    assert ids(await search(client, till.operator, template_id=times["id"])) == set()

    # Paging; another chain sees none of it.
    page = await search(client, till.operator, limit=1, offset=1, q="member")
    assert len(page) == 1
    beta = world.headers(world.b.operator)
    assert ids(await search(client, beta, q="alpha")) == set()
    assert ids(await search(client, beta, template_id=times["id"])) == set()


async def test_who_may_search_and_bad_input(client: httpx.AsyncClient, world: World) -> None:
    till = Till(client, world)
    problem(await client.get(MEMBERS, headers=till.clerk, params={"q": "member"}),
            403, "forbidden")
    problem(await client.get(MEMBERS, headers=till.clerk, params={"tier": "Gold"}),
            403, "forbidden")
    # A clerk's exact lookup carries the new fields too.
    found = await search(client, till.clerk, phone="13800007001")
    assert [r["id"] for r in found] == [str(world.a.members[0].id)]
    assert found[0]["cards_count"] == 0 and found[0]["last_visit_at"] is None
    body = problem(await client.get(MEMBERS, headers=till.operator,
                                    params={"phone": "13800007001", "q": "member"}),
                   400, "validation_error")
    assert "q" in str(body)
    for params in ({"last_visit_after": "2026-13-01"}, {"last_visit_before": "soon"},
                   {"template_id": "nope"}, {"q": ""}, {"q": "   "}, {"limit": 0}):
        problem(await client.get(MEMBERS, headers=till.operator, params=params),
                400, "validation_error")

    # A manager searches their stores' members only.
    outsider = await client.post(MEMBERS, headers=till.operator, json={
        "name": "alpha member far", "phone": "13955550009",
        "store_id": str(world.a.stores[1])})
    assert outsider.status_code == 201
    manager = world.headers(world.a.staff["alpha-manager"])
    operator_sees = ids(await search(client, till.operator, q="alpha member"))
    assert outsider.json()["id"] in operator_sees
    assert outsider.json()["id"] not in ids(await search(client, manager, q="alpha member"))


async def test_staff_see_a_members_cards_and_vouchers(client: httpx.AsyncClient,
                                                      world: World) -> None:
    till = Till(client, world)
    member = world.a.members[0]
    times = await till.template(name="Ten cuts", kind="times", initial_visits=10)
    card = await till.issue(times["id"], 0)
    now = datetime.now(UTC)
    campaign = await client.post(f"{API}/campaigns", headers=till.operator, json={
        "name": "Spring", "kind": "cash", "value_cents": 2000, "total_quantity": 10,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=5)).isoformat()})
    assert campaign.status_code == 201, campaign.text
    claimed = await client.post(f"{API}/campaigns/{campaign.json()['id']}/claim",
                                headers=world.headers(member))
    assert claimed.status_code == 201, claimed.text

    for who in ("alpha-clerk1", "alpha-clerk2", "alpha-manager", "operator"):
        headers = world.headers(world.a.operator if who == "operator"
                                else world.a.staff[who])
        cards = await client.get(f"{MEMBERS}/{member.id}/cards", headers=headers)
        assert cards.status_code == 200, cards.text
        assert [c["id"] for c in cards.json()] == [card["id"]]
        assert cards.json()[0]["kind"] == "times"
        assert cards.json()[0]["template_name"] == "Ten cuts"
        assert cards.json()[0]["visits_left"] == 10
        vouchers = await client.get(f"{MEMBERS}/{member.id}/vouchers", headers=headers)
        assert vouchers.status_code == 200, vouchers.text
        assert [v["id"] for v in vouchers.json()] == [claimed.json()["id"]]
        assert vouchers.json()[0]["campaign_name"] == "Spring"
        # Never the codes: either spends the voucher (only its member shows them).
        assert "code" not in vouchers.json()[0] and "short_code" not in vouchers.json()[0]
        assert vouchers.json()[0]["status"] == "issued" and vouchers.json()[0]["terms"]
    other = await client.get(f"{MEMBERS}/{world.a.members[1].id}/cards", headers=till.clerk)
    assert other.json() == []
    # The same 404s as GET /members/{id}; members use /me/cards.
    for suffix in ("cards", "vouchers"):
        for url, headers in ((f"{MEMBERS}/{member.id}/{suffix}",
                              world.headers(world.b.operator)),
                             (f"{MEMBERS}/{member.id}/{suffix}",
                              world.headers(world.b.staff["beta-clerk1"])),
                             (f"{MEMBERS}/{uuid.uuid4()}/{suffix}", till.operator)):
            problem(await client.get(url, headers=headers), 404, "not_found")
        problem(await client.get(f"{MEMBERS}/{member.id}/{suffix}",
                                 headers=world.headers(member)), 403, "forbidden")
        assert (await client.get(f"{MEMBERS}/{member.id}/{suffix}")).status_code == 401
    mine = await client.get(f"{API}/me/cards", headers=world.headers(member))
    assert mine.json()[0]["kind"] == "times" and mine.json()[0]["template_name"] == "Ten cuts"
