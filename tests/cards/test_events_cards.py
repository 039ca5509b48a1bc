"""The feed's card.* and redemption.* events (issue 18): each change through the real
HTTP API writes exactly one event of its type, about its object, at its store, whose
``data`` is the object as the API answered it; a refused change writes none, and a
replayed request (Idempotency-Key) writes none again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from app.core.clock import utcnow
from cards.tables import Card
from tests.cards.conftest import API, Cards
from tests.cards.events_feed import one, refuse_events, types, written
from tests.hardening import rawdb

TIERS = [{"name": "Silver", "min_points": 100, "discount_percent": 5}]


def _clerk(cards: Cards) -> dict[str, str]:
    return cards.world.headers(cards.world.a.staff["alpha-clerk1"])


def _operator(cards: Cards) -> dict[str, str]:
    return cards.world.headers(cards.world.a.operator)


def _store(cards: Cards, n: int = 0) -> str:
    return str(cards.world.a.stores[n])


async def test_a_staff_issue_writes_card_issued_once(cards: Cards) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value")
    member = str(cards.world.a.members[0].id)
    body = {"template_id": template["id"], "member_id": member, "store_id": _store(cards)}
    keyed = {**_clerk(cards), "Idempotency-Key": "issue-card-1"}
    first = await cards.client.post(f"{API}/cards", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    again = await cards.client.post(f"{API}/cards", json=body, headers=keyed)
    assert again.headers["idempotent-replayed"] == "true"
    card = first.json()

    event = await one("card.issued", card["id"])
    assert event["store_id"] == _store(cards)
    assert event["data"] == card == await cards.card(card["id"])

    # A second active card of the template is refused: nothing written.
    twin = await cards.client.post(f"{API}/cards", json=body, headers=_clerk(cards))
    assert (twin.status_code, twin.json()["code"]) == (409, "card_exists")
    assert await types() == ["card.issued"]


async def test_a_claim_writes_card_issued_without_a_store(cards: Cards) -> None:
    template = await cards.template(name="Member", kind="membership", points_per_yuan=1)
    claimed = await cards.client.post(
        f"{API}/card-templates/{template['id']}/claim",
        headers=cards.world.headers(cards.world.a.members[1]))
    assert claimed.status_code == 201, claimed.text
    event = await one("card.issued", claimed.json()["id"])
    assert event["store_id"] is None
    assert event["data"] == claimed.json()


async def test_freeze_unfreeze_and_cancel_write_card_updated(cards: Cards) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    answers = []
    for move in ("freeze", "unfreeze", "freeze", "cancel"):
        response = await cards.client.post(f"{API}/cards/{card['id']}/{move}",
                                           headers=_operator(cards))
        assert response.status_code == 200, response.text
        answers.append(response.json())
    # Refused moves (a cancelled card cannot be frozen nor unfrozen) write nothing.
    for move in ("freeze", "unfreeze", "cancel"):
        refused = await cards.client.post(f"{API}/cards/{card['id']}/{move}",
                                          headers=_operator(cards))
        assert refused.status_code == 409, refused.text
    updated = await written("card.updated", card["id"])
    assert [e["data"] for e in updated] == answers
    assert [e["data"]["status"] for e in updated] == ["frozen", "active", "frozen",
                                                      "cancelled"]
    assert {e["store_id"] for e in updated} == {None}
    assert answers[-1] == await cards.card(card["id"])


async def test_an_expiry_written_down_is_card_updated(cards: Cards) -> None:
    """A lapsed card's expiry becomes a stored change when the member is issued a new
    card of the template: that change is card.updated (status expired)."""
    template = await cards.template(name="Month pass", kind="membership", validity_days=30)
    old = await cards.issue(template["id"])
    await Card.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        Card.id == uuid.UUID(old["id"])).run()
    new = await cards.issue(template["id"])
    expired = await one("card.updated", old["id"])
    assert expired["data"]["status"] == "expired"
    assert expired["data"] == await cards.card(old["id"])
    assert (await one("card.issued", new["id"]))["data"] == new
    assert await types() == ["card.issued", "card.updated", "card.issued"]


async def test_a_top_up_writes_card_topped_up_with_its_ledger_entry(cards: Cards) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    keyed = {**_clerk(cards), "Idempotency-Key": "top-up-1"}
    body = {"amount_cents": 30_000, "store_id": _store(cards)}
    first = await cards.client.post(f"{API}/cards/{card['id']}/top-ups", json=body,
                                    headers=keyed)
    assert first.status_code == 201, first.text
    replay = await cards.client.post(f"{API}/cards/{card['id']}/top-ups", json=body,
                                     headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"

    event = await one("card.topped_up", card["id"])
    assert event["store_id"] == _store(cards)
    assert event["data"] == {**await cards.card(card["id"]), "ledger_entry": first.json()}
    assert event["data"]["balance_cents"] == 30_000

    # Over the cap, or on a card that is not stored-value: refused, nothing written.
    over = await cards.top_up(card["id"], 10**9)
    assert over.status_code in (400, 422), over.text
    times = await cards.template(name="10 cuts", kind="times", initial_visits=10)
    other = await cards.issue(times["id"])
    wrong = await cards.top_up(other["id"], 1_000)
    assert wrong.status_code == 409, wrong.text
    assert len(await written("card.topped_up")) == 1


async def _charged(cards: Cards, card: dict[str, Any], amount: int,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await cards.redeem(await cards.code(card["id"]), action="charge",
                                  amount=amount, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_charge_writes_redemption_created_and_a_new_tier_card_updated(
        cards: Cards) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value", points_per_yuan=1,
                                    tiers=TIERS)
    card = await cards.issue(template["id"])
    assert (await cards.top_up(card["id"], 50_000)).status_code == 201

    small = await _charged(cards, card, 5_000)  # 50 points: still no tier
    event = await one("redemption.created", small["id"])
    assert (event["store_id"], event["data"]) == (_store(cards), small)
    assert await written("card.updated") == []

    big = await _charged(cards, card, 6_000)  # 110 points: Silver
    assert (await one("redemption.created", big["id"]))["data"] == big
    tier = await one("card.updated", card["id"])
    assert tier["data"] == await cards.card(card["id"])
    assert (tier["data"]["tier"], tier["store_id"]) == ("Silver", _store(cards))
    # The last two are one statement's on PostgreSQL: their order between them is the
    # database's (they are about different objects; each object's own order holds).
    written_types = await types()
    assert written_types[:3] == ["card.issued", "card.topped_up", "redemption.created"]
    assert sorted(written_types[3:]) == ["card.updated", "redemption.created"]

    # Refused: more than the balance; a code used twice. Nothing written.
    code = await cards.code(card["id"])
    poor = await cards.redeem(code, action="charge", amount=1_000_000)
    assert (poor.status_code, poor.json()["code"]) == (409, "insufficient_balance")
    assert (await cards.redeem(code, action="charge", amount=100)).status_code == 201
    used = await cards.redeem(code, action="charge", amount=100)
    assert (used.status_code, used.json()["code"]) == (409, "code_used")
    assert len(await written("redemption.created")) == 3


async def test_a_replayed_redemption_writes_one_event(cards: Cards) -> None:
    template = await cards.template(name="10 cuts", kind="times", initial_visits=10)
    card = await cards.issue(template["id"])
    code = await cards.code(card["id"])
    keyed = {"Idempotency-Key": "visit-1"}
    first = await cards.redeem(code, action="visit", headers=keyed)
    again = await cards.redeem(code, action="visit", headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert [e["data"] for e in await written("redemption.created")] == [first.json()]


async def test_a_reversal_writes_redemption_reversed_and_the_tier_it_undoes(
        cards: Cards) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value", points_per_yuan=1,
                                    tiers=TIERS)
    card = await cards.issue(template["id"])
    assert (await cards.top_up(card["id"], 50_000)).status_code == 201
    charge = await _charged(cards, card, 20_000)  # Silver
    manager = cards.world.headers(cards.world.a.staff["alpha-manager"])
    keyed = {**manager, "Idempotency-Key": "reverse-1"}
    reversed_ = await cards.client.post(f"{API}/redemptions/{charge['id']}/reverse",
                                        headers=keyed)
    assert reversed_.status_code == 200, reversed_.text
    replay = await cards.client.post(f"{API}/redemptions/{charge['id']}/reverse",
                                     headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    twice = await cards.client.post(f"{API}/redemptions/{charge['id']}/reverse",
                                    headers=manager)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_reversed")

    event = await one("redemption.reversed", charge["id"])
    assert event["store_id"] == _store(cards)
    assert event["data"] == reversed_.json()
    assert event["data"]["reversed_at"] is not None
    tiers = await written("card.updated", card["id"])
    assert [e["data"]["tier"] for e in tiers] == ["Silver", None]
    assert tiers[-1]["data"] == await cards.card(card["id"])


async def test_a_charge_whose_event_fails_moves_nothing(cards: Cards, database_url: str,
                                                        engine_name: str) -> None:
    """The event is a step of the charge's one statement (PostgreSQL) or of its write
    transaction (SQLite): when it fails, the card, its ledger and the redemption stay as
    they were, and the charge goes through once the feed takes rows again."""
    template = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    assert (await cards.top_up(card["id"], 10_000)).status_code == 201
    before = await cards.card(card["id"])
    await refuse_events(database_url, engine_name, True)
    failed = await cards.redeem(await cards.code(card["id"]), action="charge", amount=1_000)
    assert failed.status_code == 500, failed.text
    assert await cards.card(card["id"]) == before
    assert await rawdb.fetch(database_url, "SELECT id FROM redemption") == []
    await refuse_events(database_url, engine_name, False)
    charged = await _charged(cards, card, 1_000)
    assert (await one("redemption.created", charged["id"]))["data"] == charged
    assert (await cards.card(card["id"]))["balance_cents"] == 9_000


async def test_the_feed_answers_what_the_api_answered(cards: Cards) -> None:
    """Through GET /events (the feed a chain's ERP polls): the card's changes in order,
    each with the object as the API answered it; the other chain sees none of them."""
    template = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    top_up = await cards.top_up(card["id"], 20_000)
    assert top_up.status_code == 201, top_up.text
    charge = await _charged(cards, card, 3_000)
    frozen = await cards.client.post(f"{API}/cards/{card['id']}/freeze",
                                     headers=_operator(cards))
    assert frozen.status_code == 200, frozen.text

    feed = await cards.client.get(f"{API}/events", params={"after": 0},
                                  headers=_operator(cards))
    assert feed.status_code == 200, feed.text
    items = feed.json()["items"]
    assert [e["sequence"] for e in items] == list(range(1, len(items) + 1))
    mine = [e for e in items if e["type"].split(".")[0] in ("card", "redemption")]
    assert [(e["type"], e["store_id"]) for e in mine] == [
        ("card.issued", _store(cards)), ("card.topped_up", _store(cards)),
        ("redemption.created", _store(cards)), ("card.updated", None)]
    assert [e["data"] for e in mine] == [
        card, {**mine[1]["data"], "ledger_entry": top_up.json()}, charge, frozen.json()]
    assert mine[1]["data"]["balance_cents"] == 20_000
    other = await cards.client.get(f"{API}/events", params={"after": 0},
                                   headers=cards.world.headers(cards.world.b.operator))
    assert other.status_code == 200, other.text
    assert [e for e in other.json()["items"]
            if e["type"].split(".")[0] in ("card", "redemption")] == []
