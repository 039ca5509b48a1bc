"""Refunds of online top-ups in sandbox mode (finished at once, without WeChat Pay): how
much paid money may go back, the bonus taken back with it, 409s, Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from payments.refunds import bonus_back
from tests.payments.followup_world import Pay, events_of, ledger_verifies
from tests.world import World


@pytest.fixture
async def pay(client: httpx.AsyncClient, world: World) -> Pay:
    return Pay(client, world)


def test_bonus_back_parts_add_up_to_the_floor_of_the_share() -> None:
    # bonus_back(A, B, bonus taken so far, refunded after, card bonus).
    # 300 paid with 10 bonus, refunded in three parts: 3.33 + 3.33 + 3.34.
    taken, parts = 0, []
    for after in (10000, 20000, 30000):
        parts.append(bonus_back(30000, 1000, taken, after, 10**9))
        taken += parts[-1]
    assert parts == [333, 333, 334] and sum(parts) == 1000
    # Odd parts of an odd order: together always B * R // A, never more than the card holds.
    for cut in range(1, 997, 37):
        first = bonus_back(997, 101, 0, cut, 10**9)
        second = bonus_back(997, 101, first, 997, 10**9)
        assert first + second == 101
    assert bonus_back(50000, 5000, 0, 50000, 1200) == 1200
    assert bonus_back(10000, 0, 0, 10000, 500) == 0
    # Taken already past the share (a refund failed after a later one): nothing more.
    assert bonus_back(50000, 5000, 5000, 50000, 10**9) == 0
    assert bonus_back(50000, 5000, 5000, 49999, 10**9) == 0


async def test_full_refund_takes_the_bonus_back(pay: Pay) -> None:
    card = await pay.card()
    order = await pay.paid_order(card, 50000)
    assert await pay.money(card) == (50000, 5000)

    response = await pay.refund(order["id"])
    assert response.status_code == 202, response.text
    refund = response.json()
    assert refund["order_id"] == order["id"]
    assert (refund["amount_cents"], refund["bonus_cents"]) == (50000, 5000)
    assert refund["status"] == "success" and refund["finished_at"] is not None
    assert refund["out_refund_no"].startswith("R") and len(refund["out_refund_no"]) == 32

    assert await pay.money(card) == (0, 0)
    after = await pay.order(order["id"])
    assert after["status"] == "refunded" and after["refunded_cents"] == 50000
    entry = (await pay.ledger(card))[-1]
    assert entry["kind"] == "refund"
    assert (entry["delta_paid_cents"], entry["delta_bonus_cents"]) == (-50000, -5000)
    assert len(await events_of(order["id"], "top_up_order.refunded")) == 1
    # Nothing more to give back.
    again = await pay.refund(order["id"], 1)
    assert again.status_code == 409 and again.json()["code"] == "order_not_refundable"
    await ledger_verifies()


async def test_partial_refunds_take_the_bonus_in_proportion(pay: Pay) -> None:
    card = await pay.card()
    order = await pay.paid_order(card, 30000)  # 300 with 10 bonus
    bonuses = []
    for n in range(3):
        response = await pay.refund(order["id"], 10000, reason=f"part {n}")
        assert response.status_code == 202, response.text
        bonuses.append(response.json()["bonus_cents"])
        state = await pay.order(order["id"])
        assert state["refunded_cents"] == 10000 * (n + 1)
        assert state["status"] == ("refunded" if n == 2 else "partially_refunded")
    assert bonuses == [333, 333, 334]
    assert await pay.money(card) == (0, 0)
    await ledger_verifies()


async def test_refund_is_limited_to_the_unspent_paid_money(pay: Pay) -> None:
    card = await pay.card()
    order = await pay.paid_order(card, 50000)  # 500 paid + 50 bonus
    await pay.charge(card, 27500)  # proportional: 250 paid and 25 bonus spent
    assert await pay.money(card) == (25000, 2500)

    too_much = await pay.refund(order["id"], 25001)
    assert too_much.status_code == 409, too_much.text
    assert too_much.json()["code"] == "refund_exceeds_unspent"
    assert too_much.json()["refundable_cents"] == 25000
    assert await pay.money(card) == (25000, 2500)  # refused: nothing moved

    response = await pay.refund(order["id"])  # all that is left
    assert response.status_code == 202, response.text
    assert (response.json()["amount_cents"], response.json()["bonus_cents"]) == (25000, 2500)
    assert await pay.money(card) == (0, 0)
    state = await pay.order(order["id"])
    assert state["status"] == "partially_refunded" and state["refunded_cents"] == 25000
    nothing = await pay.refund(order["id"])
    assert nothing.status_code == 409 and nothing.json()["code"] == "refund_exceeds_unspent"
    await ledger_verifies()


async def test_refund_of_another_order_never_takes_this_ones_money(pay: Pay) -> None:
    card = await pay.card()
    first = await pay.paid_order(card, 10000)
    await pay.paid_order(card, 10000)
    assert (await pay.refund(first["id"], 10000)).status_code == 202
    # The first order's 100 went back: asking it again is more than it paid.
    again = await pay.refund(first["id"], 1)
    assert again.status_code == 409
    assert await pay.money(card) == (10000, 0)


async def test_idempotency_key_and_racing_refunds(pay: Pay) -> None:
    card = await pay.card()
    order = await pay.paid_order(card, 50000)
    key = uuid.uuid4().hex
    first = await pay.refund(order["id"], 20000, key=key)
    replay = await pay.refund(order["id"], 20000, key=key)
    assert first.status_code == replay.status_code == 202
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert await pay.money(card) == (30000, 3000)
    # Two refunds of 200 at once for 300 left: one wins, one is refused; never both.
    answers = await asyncio.gather(pay.refund(order["id"], 20000),
                                   pay.refund(order["id"], 20000))
    assert sorted(a.status_code for a in answers) == [202, 409]
    assert await pay.money(card) == (10000, 1000)
    await ledger_verifies()


async def test_unpaid_order_and_other_chains_cannot_be_refunded(pay: Pay,
                                                               world: World) -> None:
    card = await pay.card()
    order = await pay.place(card, 10000)
    pending = await pay.refund(order["id"])
    assert pending.status_code == 409 and pending.json()["code"] == "order_not_refundable"
    paid = await pay.sandbox_pay(order["id"])
    other = await pay.client.post(f"/api/v1/top-up-orders/{paid['id']}/refund",
                                  json={"reason": "x"}, headers=world.headers(world.b.operator))
    assert other.status_code == 404
    manager = await pay.client.post(
        f"/api/v1/top-up-orders/{paid['id']}/refund", json={"reason": "x"},
        headers=world.headers(world.a.staff["alpha-manager"]))
    assert manager.status_code == 403
    bad = await pay.refund(paid["id"], 0)
    assert bad.status_code == 400
