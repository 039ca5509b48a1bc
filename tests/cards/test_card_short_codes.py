"""A card's short code (issue 17, decision 038): the 12 digits beside the dynamic QR,
as dynamic as it, spending the same code; never a voucher's; rate-limited like them.
Also the card preview's figures and the action the till opens on."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from app.core import throttle
from app.core.codes.format import CodeKind
from app.core.runtime import Runtime
from cards import repository as repo
from cards import service as card_service
from cards import vouchers
from cards.tables import Campaign, CardShortCode, Voucher
from tests.cards.conftest import API, Cards

GOLD = [{"name": "Silver", "min_points": 100, "discount_percent": 5},
        {"name": "Gold", "min_points": 1000, "discount_percent": 10}]


def _now() -> datetime:
    return datetime.now(UTC)


async def _code(cards: Cards, card_id: str, member_index: int = 0) -> dict[str, Any]:
    response = await cards.client.get(
        f"{API}/cards/{card_id}/code",
        headers=cards.world.headers(cards.world.a.members[member_index]))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _clerk(cards: Cards, name: str = "alpha-clerk1") -> dict[str, str]:
    return cards.world.headers(cards.world.a.staff[name])


async def _typed(cards: Cards, short_code: str, *, preview: bool = False, store: int = 0,
                 **extra: Any) -> httpx.Response:
    body = {"store_id": str(cards.world.a.stores[store]), "short_code": short_code, **extra}
    url = f"{API}/redemptions" + ("/preview" if preview else "")
    return await cards.client.post(url, json=body, headers=_clerk(cards))


async def test_short_code_is_the_dynamic_code_in_digits(cards: Cards) -> None:
    template = await cards.template(name="Ten cuts", kind="times", initial_visits=10)
    card = await cards.issue(template["id"])
    fresh = await _code(cards, card["id"])
    short = fresh["short_code"]
    assert len(short) == 12 and short.isdigit() and short.startswith("9")
    assert short != card["number"]

    preview = await _typed(cards, short, preview=True)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["kind"] == "card" and body["object_id"] == card["id"]
    assert body["card"]["visits_left"] == 10 and body["default_action"] == "visit"

    used = await _typed(cards, short, action="visit")
    assert used.status_code == 201, used.text
    assert used.json()["visits_left"] == 9
    # Using the digits spent the QR's code: it is one code.
    again = await cards.redeem(fresh["code"], action="visit")
    assert again.status_code == 409 and again.json()["code"] == "code_used"
    assert (await _typed(cards, short, action="visit")).json()["code"] == "code_used"

    # And the other way round: the QR used, its digits are spent too.
    other = await _code(cards, card["id"])
    assert other["short_code"] != short and other["code"] != fresh["code"]
    assert (await cards.redeem(other["code"], action="visit")).status_code == 201
    late = await _typed(cards, other["short_code"], action="visit")
    assert late.status_code == 409 and late.json()["code"] == "code_used"
    assert (await cards.card(card["id"]))["visits_left"] == 8


async def test_expired_unknown_and_foreign_short_codes(cards: Cards) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    runtime: Runtime = cards.world.app.state.runtime
    gone = (_now() - timedelta(minutes=5)).replace(microsecond=0)
    expired = await runtime.signer.sign(cards.world.a.id, CodeKind.CARD,
                                        uuid.UUID(card["id"]), gone)
    assert await repo.insert_card_short_code("912345678901", cards.world.a.id,
                                             uuid.UUID(card["id"]), expired, gone)
    for preview in (True, False):
        answer = await _typed(cards, "912345678901", preview=preview, action="charge",
                              amount_cents=100)
        assert answer.status_code == 410 and answer.json()["code"] == "code_expired"
    unknown = await _typed(cards, "900000000000", preview=True)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"

    # Another chain's clerk never reaches this chain's card codes.
    live = await _code(cards, card["id"])
    beta = cards.world.b
    foreign = await cards.client.post(
        f"{API}/redemptions/preview",
        json={"store_id": str(beta.stores[0]), "short_code": live["short_code"]},
        headers=cards.world.headers(beta.staff["beta-clerk1"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"

    # A day after expiry the digits are forgotten: not found.
    await CardShortCode.update({CardShortCode.expires_at: _now() - timedelta(days=2)}).where(
        CardShortCode.short_code == "912345678901").run()
    await card_service.purge_code_expiries()
    forgotten = await _typed(cards, "912345678901", preview=True)
    assert forgotten.status_code == 404
    assert (await _typed(cards, live["short_code"], preview=True)).status_code == 200


async def test_card_short_codes_never_meet_a_voucher(cards: Cards) -> None:
    assert all(not vouchers._short_code().startswith("9") for _ in range(2000))
    template = await cards.template(name="Member", kind="membership", points_per_yuan=1)
    card = await cards.issue(template["id"])
    # A voucher from before the rule may start with 9: no card code is ever handed it.
    campaign_id = uuid.uuid4()
    await Campaign.insert(Campaign(
        id=campaign_id, chain=cards.world.a.id, name="Old", kind="cash", value_cents=500,
        total_quantity=10, valid_from=_now() - timedelta(days=1),
        valid_until=_now() + timedelta(days=1))).run()
    await Voucher.insert(Voucher(
        id=uuid.uuid4(), chain=cards.world.a.id, campaign=campaign_id,
        member=cards.world.a.members[0].id, code="O2O1-old", short_code="955555555555",
        valid_until=_now() + timedelta(days=1))).run()
    taken = await repo.insert_card_short_code("955555555555", cards.world.a.id,
                                              uuid.UUID(card["id"]), "x", _now())
    assert taken is False
    draws = iter(["955555555555", "966666666666"])
    original = card_service._draw_card_short_code
    card_service._draw_card_short_code = lambda: next(draws)  # type: ignore[assignment]
    try:
        fresh = await _code(cards, card["id"])
    finally:
        card_service._draw_card_short_code = original  # type: ignore[assignment]
    assert fresh["short_code"] == "966666666666"
    # Two live card codes never share digits either.
    again = iter(["966666666666", "977777777777"])
    card_service._draw_card_short_code = lambda: next(again)  # type: ignore[assignment]
    try:
        second = await _code(cards, card["id"])
    finally:
        card_service._draw_card_short_code = original  # type: ignore[assignment]
    assert second["short_code"] == "977777777777"


async def test_card_short_code_misses_are_rate_limited(
        cards: Cards, monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = time.time()
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: frozen))
    template = await cards.template(name="Ten cuts", kind="times", initial_visits=10)
    card = await cards.issue(template["id"])
    live = await _code(cards, card["id"])
    guesses = (f"9{n:011d}" for n in range(10**6) if f"9{n:011d}" != live["short_code"])
    for _ in range(20):
        miss = await _typed(cards, next(guesses), action="visit")
        assert miss.status_code == 404, miss.text
    blocked = await _typed(cards, next(guesses), preview=True)
    assert blocked.status_code == 429 and blocked.json()["code"] == "rate_limited"
    right = await _typed(cards, live["short_code"], action="visit")
    assert right.status_code == 429
    assert (await cards.redeem(live["code"], action="visit")).status_code == 201


async def _preview(cards: Cards, code: str) -> dict[str, Any]:
    response = await cards.client.post(
        f"{API}/redemptions/preview", headers=_clerk(cards),
        json={"store_id": str(cards.world.a.stores[0]), "code": code})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_preview_gives_the_card_and_its_natural_action(cards: Cards) -> None:
    times = await cards.template(name="Ten cuts", kind="times", initial_visits=10)
    prepaid = await cards.template(name="Prepaid", kind="stored_value", points_per_yuan=1,
                                   tiers=GOLD)
    member = await cards.template(name="Member", kind="membership")
    times_card = await cards.issue(times["id"])
    prepaid_card = await cards.issue(prepaid["id"])
    member_card = await cards.issue(member["id"])
    assert (await cards.top_up(prepaid_card["id"], 200_000)).status_code == 201
    assert (await cards.redeem(await cards.code(prepaid_card["id"]), action="charge",
                               amount=150_000)).status_code == 201

    seen = await _preview(cards, await cards.code(times_card["id"]))
    assert seen["default_action"] == "visit"
    assert seen["card"] == {
        "id": times_card["id"], "number": times_card["number"], "kind": "times",
        "template_name": "Ten cuts", "balance_cents": 0, "points": 0, "visits_left": 10,
        "tier": None, "discount_percent": 0, "status": "active", "actions": ["visit"],
        "paid_balance_cents": 0, "bonus_balance_cents": 0}
    assert seen["summary"]  # kept for the contract

    seen = await _preview(cards, await cards.code(prepaid_card["id"]))
    assert seen["default_action"] == "charge"
    card = seen["card"]
    assert card["kind"] == "stored_value" and card["tier"] == "Gold"
    assert card["discount_percent"] == 10 and card["balance_cents"] == 50_000
    assert card["points"] == 1_500 and card["actions"] == ["charge", "earn"]
    assert (card["paid_balance_cents"], card["bonus_balance_cents"]) == (50_000, 0)

    seen = await _preview(cards, await cards.code(member_card["id"]))
    assert seen["default_action"] == "earn" and seen["card"]["actions"] == []
    assert seen["card"]["kind"] == "membership" and seen["card"]["visits_left"] is None
