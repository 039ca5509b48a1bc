"""Paid and bonus money on stored-value cards (issue 19, decision 049): the template's
top-up options and bonus policy, the split of a charge and of its reversal, the public
API the payments domain moves money with, and verify-ledger catching a forged split."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from app.core.db import write_transaction
from app.core.errors import AppError
from cards import public
from cards.ledger import verify_all
from cards.tables import Card, LedgerEntry
from tests.cards.conftest import API, Cards
from tests.cards.events_feed import (
    settled_feed,  # noqa: F401 - an autouse fixture
    written,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def _ledger(cards: Cards, card_id: str) -> list[dict[str, Any]]:
    response = await cards.client.get(f"{API}/cards/{card_id}/ledger",
                                      headers=cards.world.headers(cards.world.a.operator))
    assert response.status_code == 200, response.text
    return list(response.json())


async def _prepaid(cards: Cards, policy: str = "proportional") -> tuple[dict[str, Any],
                                                                          dict[str, Any]]:
    template = await cards.template(
        name="Prepaid", kind="stored_value", bonus_policy=policy,
        top_up_options=[{"amount_cents": 50_000, "bonus_cents": 5_000},
                        {"amount_cents": 10_000, "bonus_cents": 0}])
    return template, await cards.issue(template["id"])


async def _online_top_up(chain_id: uuid.UUID, card_id: str, paid: int, bonus: int,
                         order_id: uuid.UUID | None = None) -> uuid.UUID:
    order_id = order_id or uuid.uuid4()
    async with write_transaction():
        await public.credit_top_up(chain_id, uuid.UUID(card_id), paid_cents=paid,
                                   bonus_cents=bonus, order_id=order_id, now=NOW)
    return order_id


async def test_template_takes_and_answers_top_up_options_and_policy(cards: Cards) -> None:
    template, card = await _prepaid(cards, "paid_first")
    assert template["bonus_policy"] == "paid_first"
    assert template["top_up_options"] == [{"amount_cents": 10_000, "bonus_cents": 0},
                                          {"amount_cents": 50_000, "bonus_cents": 5_000}]
    read = await cards.client.get(f"{API}/card-templates/{template['id']}",
                                  headers=cards.world.headers(cards.world.a.operator))
    assert read.json()["top_up_options"] == template["top_up_options"]
    plain = await cards.template(name="Plain", kind="stored_value")
    assert (plain["top_up_options"], plain["bonus_policy"]) == ([], "proportional")
    assert (card["balance_cents"], card["paid_balance_cents"],
            card["bonus_balance_cents"]) == (0, 0, 0)


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "membership", "top_up_options": [{"amount_cents": 100, "bonus_cents": 0}]},
     "top_up_options"),
    ({"kind": "stored_value", "top_up_options": [{"amount_cents": 100, "bonus_cents": 0},
                                                 {"amount_cents": 100, "bonus_cents": 5}]},
     "top_up_options"),
    ({"kind": "stored_value", "top_up_options": [{"amount_cents": 0, "bonus_cents": 0}]},
     None),
    ({"kind": "stored_value", "top_up_options": [{"amount_cents": 100, "bonus_cents": -1}]},
     None),
    ({"kind": "stored_value", "top_up_options": [{"amount_cents": 100 * (n + 1),
                                                  "bonus_cents": 0} for n in range(13)]},
     None),
    ({"kind": "stored_value", "bonus_policy": "bonus_first"}, None),
])
async def test_template_refuses_bad_top_up_options(cards: Cards, body: dict[str, Any],
                                                   field: str | None) -> None:
    response = await cards.client.post(f"{API}/card-templates", json={"name": "X", **body},
                                       headers=cards.world.headers(cards.world.a.operator))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
    if field is not None:
        assert field in response.text


async def test_twelve_options_are_allowed(cards: Cards) -> None:
    options = [{"amount_cents": 100 * (n + 1), "bonus_cents": n} for n in range(12)]
    template = await cards.template(name="Many", kind="stored_value", top_up_options=options)
    assert template["top_up_options"] == options


async def test_an_existing_template_takes_new_top_up_terms(cards: Cards) -> None:
    """PATCH /card-templates/{id} (operators): how a chain turns online top-up on for a
    template it already has; checked exactly as at creation; other kinds refused."""
    template = await cards.template(name="Old prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    await cards.top_up(card["id"], 3_000)
    url = f"{API}/card-templates/{template['id']}"
    operator = cards.world.headers(cards.world.a.operator)
    options = [{"amount_cents": 50_000, "bonus_cents": 5_000},
               {"amount_cents": 10_000, "bonus_cents": 0}]
    changed = await cards.client.patch(url, json={"top_up_options": options},
                                       headers=operator)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["top_up_options"], changed.json()["bonus_policy"]) == \
        (sorted(options, key=lambda o: o["amount_cents"]), "proportional")
    policy = await cards.client.patch(url, json={"bonus_policy": "paid_first"},
                                      headers=operator)
    assert (policy.json()["bonus_policy"], len(policy.json()["top_up_options"])) == \
        ("paid_first", 2)
    read = await cards.client.get(url, headers=operator)
    assert read.json() == policy.json()
    terms = await public.top_up_terms(cards.world.a.id, uuid.UUID(card["id"]))
    assert terms is not None and terms.options == [(10_000, 0), (50_000, 5_000)]
    assert (await cards.card(card["id"]))["balance_cents"] == 3_000  # money untouched
    for body in ({"top_up_options": [options[0], options[0]]},
                 {"top_up_options": [{"amount_cents": 0, "bonus_cents": 0}]},
                 {"bonus_policy": "bonus_first"}, {"name": "renamed"}):
        bad = await cards.client.patch(url, json=body, headers=operator)
        assert (bad.status_code, bad.json()["code"]) == (400, "validation_error"), body
    off = await cards.client.patch(url, json={"top_up_options": []}, headers=operator)
    assert off.json()["top_up_options"] == []
    times = await cards.template(name="Ten visits", kind="times", initial_visits=10)
    wrong = await cards.client.patch(f"{API}/card-templates/{times['id']}",
                                     json={"bonus_policy": "paid_first"}, headers=operator)
    assert (wrong.status_code, wrong.json()["code"]) == (409, "wrong_card_kind")
    other = await cards.client.patch(url, json={"bonus_policy": "paid_first"},
                                     headers=cards.world.headers(cards.world.b.operator))
    assert other.status_code == 404
    clerk = await cards.client.patch(url, json={"bonus_policy": "paid_first"},
                                     headers=cards.world.headers(
                                         cards.world.a.staff["alpha-clerk1"]))
    assert clerk.status_code == 403


@pytest.mark.parametrize(("policy", "paid_part", "bonus_part"), [
    # paid 10000, bonus 3000, charge 1001: 1001 * 10000 // 13000 = 770 paid, 231 bonus
    ("proportional", 770, 231),
    ("paid_first", 1001, 0),
])
async def test_charge_splits_by_policy_and_reversal_gives_the_split_back(
        cards: Cards, policy: str, paid_part: int, bonus_part: int) -> None:
    _, card = await _prepaid(cards, policy)
    await _online_top_up(cards.world.a.id, card["id"], 10_000, 3_000)
    charge = await cards.redeem(await cards.code(card["id"]), action="charge", amount=1_001)
    assert charge.status_code == 201, charge.text
    after = await cards.card(card["id"])
    assert (after["balance_cents"], after["paid_balance_cents"],
            after["bonus_balance_cents"]) == (11_999, 10_000 - paid_part, 3_000 - bonus_part)
    entries = await _ledger(cards, card["id"])
    assert [(e["kind"], e["delta_cents"], e["delta_paid_cents"], e["delta_bonus_cents"])
            for e in entries] == [("issue", 0, 0, 0), ("top_up", 10_000, 10_000, 0),
                                  ("top_up_bonus", 3_000, 0, 3_000),
                                  ("charge", -1_001, -paid_part, -bonus_part)]
    manager = cards.world.headers(cards.world.a.staff["alpha-manager"])
    undo = await cards.client.post(f"{API}/redemptions/{charge.json()['id']}/reverse",
                                   headers=manager)
    assert undo.status_code == 200, undo.text
    back = (await _ledger(cards, card["id"]))[-1]
    assert (back["kind"], back["delta_paid_cents"], back["delta_bonus_cents"]) == (
        "reversal", paid_part, bonus_part)
    after = await cards.card(card["id"])
    assert (after["paid_balance_cents"], after["bonus_balance_cents"]) == (10_000, 3_000)


async def test_charge_of_everything_takes_every_fen_of_both(cards: Cards) -> None:
    _, card = await _prepaid(cards)
    await _online_top_up(cards.world.a.id, card["id"], 333, 7)
    assert (await cards.redeem(await cards.code(card["id"]), action="charge",
                               amount=340)).status_code == 201
    after = await cards.card(card["id"])
    assert (after["paid_balance_cents"], after["bonus_balance_cents"]) == (0, 0)


async def test_counter_top_up_is_paid_money(cards: Cards) -> None:
    _, card = await _prepaid(cards)
    entry = (await cards.top_up(card["id"], 2_500)).json()
    assert (entry["delta_cents"], entry["delta_paid_cents"], entry["delta_bonus_cents"]) == (
        2_500, 2_500, 0)
    after = await cards.card(card["id"])
    assert (after["paid_balance_cents"], after["bonus_balance_cents"]) == (2_500, 0)


async def test_public_api_moves_money_and_tells_the_feed(cards: Cards) -> None:
    chain = cards.world.a.id
    template, card = await _prepaid(cards)
    card_id = uuid.UUID(card["id"])
    terms = await public.top_up_terms(chain, card_id)
    assert terms is not None and terms.usable
    assert (terms.card_id, terms.chain_id, terms.template_name) == (card_id, chain, "Prepaid")
    assert terms.member_id == cards.world.a.members[0].id
    assert terms.options == [(10_000, 0), (50_000, 5_000)]
    assert await public.top_up_terms(cards.world.b.id, card_id) is None
    assert await public.top_up_terms(chain, uuid.uuid4()) is None

    order = uuid.uuid4()
    async with write_transaction():
        assert await public.lock_stored_value(card_id) == public.StoredValue(0, 0)
        bonus = await public.credit_top_up(chain, card_id, paid_cents=50_000,
                                           bonus_cents=5_000, order_id=order, now=NOW)
        assert await public.lock_stored_value(card_id) == public.StoredValue(50_000, 5_000)
    ledger = await _ledger(cards, card["id"])
    paid = next(e for e in ledger if e["kind"] == "top_up")
    assert (paid["delta_cents"], paid["delta_paid_cents"], paid["delta_bonus_cents"],
            paid["balance_after_cents"], paid["store_id"], paid["staff_id"]) == (
        50_000, 50_000, 0, 50_000, None, None)
    assert (bonus.kind, bonus.delta_cents, bonus.delta_bonus_cents,
            bonus.balance_after_cents) == ("top_up_bonus", 5_000, 5_000, 55_000)
    # One top-up, one event: the card as it stands after both entries.
    topped = await written("card.topped_up", card_id)
    assert len(topped) == 1
    data = topped[0]["data"]
    assert data["ledger_entry"] == paid
    assert data["bonus_ledger_entry"] == msgspec.to_builtins(bonus)
    assert {k: v for k, v in data.items()
            if k not in ("ledger_entry", "bonus_ledger_entry")} == await cards.card(card["id"])
    assert (data["balance_cents"], data["paid_balance_cents"],
            data["bonus_balance_cents"]) == (55_000, 50_000, 5_000)
    assert topped[0]["store_id"] is None

    # A refund of 20000 of the 50000: the bonus share 5000 * 20000 // 50000 = 2000.
    taken = public.refund_bonus(50_000, 5_000, 0, 20_000, 5_000)
    assert taken == 2_000
    async with write_transaction():
        refund = await public.move_stored_value(chain, card_id, "refund", paid_cents=-20_000,
                                                bonus_cents=-taken, order_id=order, now=NOW)
    assert (refund.delta_cents, refund.delta_paid_cents, refund.delta_bonus_cents) == (
        -22_000, -20_000, -2_000)
    async with write_transaction():
        await public.move_stored_value(chain, card_id, "refund_reverted", paid_cents=20_000,
                                       bonus_cents=taken, order_id=order, now=NOW)
    assert [e["data"]["ledger_entry"]["kind"]
            for e in await written("card.updated", card_id)] == ["refund", "refund_reverted"]
    after = await cards.card(card["id"])
    assert (after["paid_balance_cents"], after["bonus_balance_cents"]) == (50_000, 5_000)
    rows = await LedgerEntry.select(LedgerEntry.kind, LedgerEntry.order_id).where(
        LedgerEntry.card == card_id).order_by(LedgerEntry.seq).run()
    assert [r["order_id"] for r in rows] == [None, order, order, order, order]

    # Refusals: more than the card holds, a card of another chain, a card not stored-value,
    # signs that do not fit the kind; and the caller's transaction is required.
    async with write_transaction():
        with pytest.raises(AppError) as refused:
            await public.move_stored_value(chain, card_id, "refund", paid_cents=-50_001,
                                           bonus_cents=0, order_id=order, now=NOW)
    assert refused.value.code == "insufficient_balance"
    async with write_transaction():
        with pytest.raises(AppError) as refused:
            await public.move_stored_value(cards.world.b.id, card_id, "refund_reverted",
                                           paid_cents=1, bonus_cents=0, order_id=order,
                                           now=NOW)
    assert refused.value.code == "not_found"
    times = await cards.template(name="Visits", kind="times", initial_visits=3)
    times_card = await cards.issue(times["id"])
    async with write_transaction():
        with pytest.raises(AppError) as refused:
            await public.move_stored_value(chain, uuid.UUID(times_card["id"]),
                                           "refund_reverted", paid_cents=1, bonus_cents=0,
                                           order_id=order, now=NOW)
    assert refused.value.code == "wrong_card_kind"
    assert not (await public.top_up_terms(chain, uuid.UUID(times_card["id"]))).usable  # type: ignore[union-attr]
    async with write_transaction():
        with pytest.raises(AppError) as refused:
            await public.credit_top_up(cards.world.b.id, card_id, paid_cents=1,
                                       bonus_cents=0, order_id=order, now=NOW)
    assert refused.value.code == "not_found"
    async with write_transaction():
        with pytest.raises(AppError) as refused:
            await public.credit_top_up(chain, uuid.UUID(times_card["id"]), paid_cents=1,
                                       bonus_cents=1, order_id=order, now=NOW)
    assert refused.value.code == "wrong_card_kind"
    for paid_cents, bonus_cents in ((0, 1), (-1, 0), (1, -1)):
        async with write_transaction():
            with pytest.raises(ValueError):
                await public.credit_top_up(chain, card_id, paid_cents=paid_cents,
                                           bonus_cents=bonus_cents, order_id=order, now=NOW)
    with pytest.raises(AssertionError):
        await public.credit_top_up(chain, card_id, paid_cents=1, bonus_cents=0,
                                   order_id=order, now=NOW)
    # a top-up is credit_top_up's, never a move
    for kind, paid_cents, bonus_cents in (("top_up", 1, 0), ("top_up_bonus", 0, 1),
                                          ("refund", 1, 0), ("refund_reverted", -1, 0),
                                          ("charge", 1, 0), ("refund", 0, 0)):
        async with write_transaction():
            with pytest.raises(ValueError):
                await public.move_stored_value(chain, card_id, kind, paid_cents=paid_cents,
                                               bonus_cents=bonus_cents, order_id=order,
                                               now=NOW)
    with pytest.raises(AssertionError):
        await public.lock_stored_value(card_id)
    assert template["id"]


async def test_an_online_top_up_without_bonus_is_one_entry_and_one_event(
        cards: Cards) -> None:
    _, card = await _prepaid(cards)
    card_id = uuid.UUID(card["id"])
    order = uuid.uuid4()
    async with write_transaction():
        entry = await public.credit_top_up(cards.world.a.id, card_id, paid_cents=10_000,
                                           bonus_cents=0, order_id=order, now=NOW)
    assert (entry.kind, entry.delta_paid_cents, entry.delta_bonus_cents,
            entry.balance_after_cents) == ("top_up", 10_000, 0, 10_000)
    assert [e["kind"] for e in await _ledger(cards, card["id"])
            if e["kind"].startswith("top_up")] == ["top_up"]
    topped = await written("card.topped_up", card_id)
    assert len(topped) == 1 and "bonus_ledger_entry" not in topped[0]["data"]
    assert topped[0]["data"] == {**await cards.card(card["id"]),
                                 "ledger_entry": msgspec.to_builtins(entry)}
    assert (await verify_all())[1] == []


async def test_frozen_card_is_not_usable_for_a_top_up(cards: Cards) -> None:
    _, card = await _prepaid(cards)
    operator = cards.world.headers(cards.world.a.operator)
    assert (await cards.client.post(f"{API}/cards/{card['id']}/freeze",
                                    headers=operator)).status_code == 200
    terms = await public.top_up_terms(cards.world.a.id, uuid.UUID(card["id"]))
    assert terms is not None and not terms.usable


async def test_verify_ledger_catches_a_forged_split(cards: Cards) -> None:
    _, card = await _prepaid(cards)
    card_id = uuid.UUID(card["id"])
    await cards.top_up(card["id"], 1_000)  # an entry that carries no split: paid = delta
    await _online_top_up(cards.world.a.id, card["id"], 2_000, 500)
    assert (await verify_all())[1] == []

    # Paid money called bonus on the plain entry: paid + bonus no longer = delta.
    await LedgerEntry.update({LedgerEntry.delta_paid_cents: 900}).where(
        (LedgerEntry.card == card_id) & (LedgerEntry.kind == "top_up")
        & LedgerEntry.order_id.is_null()).run()
    problems = (await verify_all())[1]
    assert [p.problem for p in problems] == ["entry 2 splits paid and bonus wrong"]
    await LedgerEntry.update({LedgerEntry.delta_paid_cents: 1_000}).where(
        (LedgerEntry.card == card_id) & (LedgerEntry.kind == "top_up")
        & LedgerEntry.order_id.is_null()).run()

    # A consistent forgery of a hashed entry (bonus moved to paid): its hash breaks.
    await LedgerEntry.update({LedgerEntry.delta_paid_cents: 100,
                              LedgerEntry.delta_bonus_cents: 400}).where(
        (LedgerEntry.card == card_id) & (LedgerEntry.kind == "top_up_bonus")).run()
    problems = (await verify_all())[1]
    assert [p.problem for p in problems] == ["entry 4 was altered"]
    await LedgerEntry.update({LedgerEntry.delta_paid_cents: 0,
                              LedgerEntry.delta_bonus_cents: 500}).where(
        (LedgerEntry.card == card_id) & (LedgerEntry.kind == "top_up_bonus")).run()

    # The card row's bonus money changed by hand.
    await Card.update({Card.bonus_balance_cents: 0}).where(Card.id == card_id).run()
    problems = (await verify_all())[1]
    assert [p.problem for p in problems] == ["card figures differ from its ledger"]
    await Card.update({Card.bonus_balance_cents: 500}).where(Card.id == card_id).run()
    assert (await verify_all())[1] == []
