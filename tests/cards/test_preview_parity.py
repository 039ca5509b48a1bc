"""The preview answers what the scan would (issue 15, items 5 and 11): POST
/redemptions/preview takes the redemption's own body, and for every refusal of the write
the preview gives the same status and code, changing nothing. (Bookings: in
tests/bookings/test_bookings.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.cards.conftest import API, Cards


def clerk(cards: Cards) -> dict[str, str]:
    return cards.world.headers(cards.world.a.staff["alpha-clerk1"])


def body(cards: Cards, **values: Any) -> dict[str, Any]:
    return {"store_id": str(cards.world.a.stores[0]), **values}


async def preview(cards: Cards, **values: Any) -> httpx.Response:
    return await cards.client.post(f"{API}/redemptions/preview", json=body(cards, **values),
                                   headers=clerk(cards))


async def redeem(cards: Cards, **values: Any) -> httpx.Response:
    return await cards.client.post(f"{API}/redemptions", json=body(cards, **values),
                                   headers=clerk(cards))


def answer(response: httpx.Response) -> tuple[int, str | None]:
    code = response.json().get("code") if response.status_code >= 400 else None
    return response.status_code, code


async def same_refusal(cards: Cards, expected: tuple[int, str], **values: Any) -> None:
    """The preview refuses like the write, then the write refuses, and the preview again."""
    first = await preview(cards, **values)
    assert answer(first) == expected, first.text
    written = await redeem(cards, **values)
    assert answer(written) == expected, written.text
    assert answer(await preview(cards, **values)) == expected


async def test_card_preview_refuses_what_the_charge_refuses(cards: Cards) -> None:
    prepaid = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(prepaid["id"])
    assert (await cards.top_up(card["id"], 1_000)).status_code == 201
    code = await cards.code(card["id"])
    # Was 200 (the preview looked at the card only); the charge answers 409.
    await same_refusal(cards, (409, "insufficient_balance"), code=code, action="charge",
                       amount_cents=5_000)
    await same_refusal(cards, (409, "wrong_card_kind"), code=code, action="visit")
    await same_refusal(cards, (400, "validation_error"), code=code, action="charge")
    # Without an action the preview tells what the card is (the clerk picks the action).
    plain = await preview(cards, code=code)
    assert plain.status_code == 200, plain.text
    assert plain.json()["kind"] == "card" and "10.00" in plain.json()["summary"]
    fits = await preview(cards, code=code, action="charge", amount_cents=800)
    assert fits.status_code == 200, fits.text
    assert (await cards.card(card["id"]))["balance_cents"] == 1_000  # changed nothing
    assert (await redeem(cards, code=code, action="charge", amount_cents=800)).status_code == 201
    await same_refusal(cards, (409, "code_used"), code=code, action="charge", amount_cents=100)


async def test_times_card_preview_refuses_a_visit_the_card_does_not_have(cards: Cards) -> None:
    times = await cards.template(name="Ten cuts", kind="times", initial_visits=1)
    card = await cards.issue(times["id"])
    assert (await redeem(cards, code=await cards.code(card["id"]), action="visit")).status_code \
        == 201
    await same_refusal(cards, (409, "no_visits_left"), code=await cards.code(card["id"]),
                       action="visit")


async def test_voucher_preview_refuses_what_the_spend_refuses(cards: Cards) -> None:
    operator = cards.world.headers(cards.world.a.operator)
    now = datetime.now(UTC)

    async def voucher(**campaign: Any) -> dict[str, Any]:
        created = await cards.client.post(f"{API}/campaigns", headers=operator, json={
            "name": "Spring", "total_quantity": 10, "valid_from": now.isoformat(),
            "valid_until": (now + timedelta(days=3)).isoformat(), **campaign})
        assert created.status_code == 201, created.text
        claimed = await cards.client.post(f"{API}/campaigns/{created.json()['id']}/claim",
                                          headers=cards.world.headers(cards.world.a.members[0]))
        assert claimed.status_code == 201, claimed.text
        return dict(claimed.json())

    spend = await voucher(kind="cash", value_cents=2_000, min_spend_cents=8_800)
    await same_refusal(cards, (409, "min_spend_not_met"), code=spend["code"],
                       amount_cents=5_000)
    await same_refusal(cards, (400, "validation_error"), code=spend["code"], amount_cents=0)
    # By short code, through the body: nothing of the code goes into the URL.
    await same_refusal(cards, (409, "min_spend_not_met"), short_code=spend["short_code"],
                       amount_cents=100)
    percent = await voucher(kind="discount", percent_off=10)
    await same_refusal(cards, (400, "validation_error"), code=percent["code"], amount_cents=0)
    ok = await preview(cards, code=spend["code"], amount_cents=9_000)
    assert ok.status_code == 200, ok.text
    assert (ok.json()["kind"], ok.json()["object_id"]) == ("voucher", spend["id"])
    assert (await redeem(cards, code=spend["code"], amount_cents=9_000)).status_code == 201
    await same_refusal(cards, (409, "already_redeemed"), code=spend["code"],
                       amount_cents=9_000)


async def test_post_preview_checks_its_body_like_the_redemption(cards: Cards) -> None:
    for bad in ({}, {"code": "x", "short_code": "123456789012"}, {"short_code": "12"},
                {"code": "O2O1AAAA", "surprise": 1}):
        response = await preview(cards, **bad)
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == "validation_error"
    member = await cards.client.post(f"{API}/redemptions/preview", json=body(cards, code="x"),
                                     headers=cards.world.headers(cards.world.a.members[0]))
    assert member.status_code == 403
