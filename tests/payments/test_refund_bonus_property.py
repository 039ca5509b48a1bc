"""Refunds of one order interleaved with reverts (CLOSED, a final refusal), payouts after
a revert, charges and other top-ups, at the level of ``payments.refunds``' rules
(``refundable``, ``bonus_back``) and the order's running figures as ``reserve`` and
``_finish`` / ``_success_after_revert`` keep them (review i19, F5). Whatever the order:
the order's refunds never take back more bonus than it brought, never more paid money
than it paid, and no fen is created or lost on the card. (The cards-level property of
every move lives in tests/cards/test_money_property.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.refunds import bonus_back, refundable


@dataclass
class World:
    amount: int  # A
    bonus: int  # B
    paid: int  # the card's paid money
    card_bonus: int  # the card's bonus money
    refunded: int = 0
    refunding: int = 0
    bonus_taken: int = 0  # the order's bonus_refunded_cents
    open: list[tuple[int, int]] = field(default_factory=list)
    failed: list[tuple[int, int]] = field(default_factory=list)
    paid_in: int = 0
    paid_out: int = 0
    bonus_in: int = 0
    bonus_out: int = 0
    exact: bool = True  # no revert, no short card: the floor of the share holds exactly

    def order(self) -> Any:
        return {"amount_cents": self.amount, "refunded_cents": self.refunded,
                "refunding_cents": self.refunding}

    def ask(self, part: int) -> None:  # reserve
        most = refundable(self.order(), self.paid)
        amount = min(most, max(1, most * part // 100))
        if amount <= 0:
            return
        after = self.refunded + self.refunding + amount
        bonus = bonus_back(self.amount, self.bonus, self.bonus_taken, after, self.card_bonus)
        if bonus < self.bonus * after // self.amount - self.bonus_taken:
            self.exact = False  # the card was short of bonus money
        self.paid -= amount
        self.card_bonus -= bonus
        self.paid_out += amount
        self.bonus_out += bonus
        self.refunding += amount
        self.bonus_taken += bonus
        self.open.append((amount, bonus))

    def succeed(self, i: int) -> None:  # _finish(success)
        if self.open:
            amount, _ = self.open.pop(i % len(self.open))
            self.refunded += amount
            self.refunding -= amount

    def revert(self, i: int) -> None:  # _finish(failed): refund_reverted
        if self.open:
            amount, bonus = self.open.pop(i % len(self.open))
            self.refunding -= amount
            self.bonus_taken -= bonus
            self.paid += amount
            self.card_bonus += bonus
            self.paid_in += amount
            self.bonus_in += bonus
            self.failed.append((amount, bonus))
            self.exact = False

    def paid_after_revert(self, i: int) -> None:  # _success_after_revert
        if not self.failed:
            return
        amount, _ = self.failed.pop(i % len(self.failed))
        room = self.amount - self.refunded - self.refunding
        if amount > room:
            return  # WeChat Pay never refunds more than the payment
        taken = max(0, min(amount, self.paid, room))
        after = self.refunded + self.refunding + amount
        bonus = bonus_back(self.amount, self.bonus, self.bonus_taken, after, self.card_bonus)
        self.refunded += amount
        self.bonus_taken += bonus
        self.paid -= taken
        self.card_bonus -= bonus
        self.paid_out += taken
        self.bonus_out += bonus

    def charge(self, part: int) -> None:  # proportional, floor to paid
        total = self.paid + self.card_bonus
        c = total * part // 100
        if c <= 0:
            return
        from_paid = c * self.paid // total
        self.paid -= from_paid
        self.card_bonus -= c - from_paid
        self.paid_out += from_paid
        self.bonus_out += c - from_paid
        self.exact = False

    def top_up(self, paid: int, bonus: int) -> None:  # another order, at the counter or online
        self.paid += paid
        self.card_bonus += bonus
        self.paid_in += paid
        self.bonus_in += bonus


STEPS = st.lists(st.tuples(st.sampled_from(
    ["ask", "ask", "succeed", "revert", "paid_after_revert", "charge", "top_up"]),
    st.integers(0, 100), st.integers(0, 5000)), max_size=30)


@settings(max_examples=400, deadline=None)
@given(amount=st.integers(1, 100_000), bonus=st.integers(0, 20_000),
       other_paid=st.integers(0, 50_000), other_bonus=st.integers(0, 5_000), steps=STEPS)
def test_refunds_with_reverts_never_take_more_than_the_order_brought(
        amount: int, bonus: int, other_paid: int, other_bonus: int,
        steps: list[tuple[str, int, int]]) -> None:
    w = World(amount=amount, bonus=bonus, paid=amount + other_paid,
              card_bonus=bonus + other_bonus)
    w.paid_in, w.bonus_in = amount + other_paid, bonus + other_bonus
    for step, n, m in steps:
        if step == "top_up":
            w.top_up(m, m // 10)
        else:
            getattr(w, step)(n)
        # The order: never more bonus back than it brought, never more paid than it paid.
        assert 0 <= w.bonus_taken <= w.bonus
        assert 0 <= w.refunded + w.refunding <= w.amount
        if w.exact:  # no revert, no charge, the card never short: exactly the floor
            assert w.bonus_taken == w.bonus * (w.refunded + w.refunding) // w.amount
        # The card: no fen created or lost, never negative.
        assert w.paid >= 0 and w.card_bonus >= 0
        assert w.paid == w.paid_in - w.paid_out
        assert w.card_bonus == w.bonus_in - w.bonus_out


def test_the_reviewers_sequence() -> None:
    """500.00 + 50.00: refund 0.01, refund 499.99, the first CLOSED, refund 0.01 again:
    5000 fen of bonus back in all (was 5001)."""
    w = World(amount=50000, bonus=5000, paid=80000, card_bonus=6000)
    w.paid_in, w.bonus_in = 80000, 6000
    first = bonus_back(50000, 5000, 0, 1, 6000)
    w.refunding, w.bonus_taken, w.card_bonus = 1, first, 6000 - first
    second = bonus_back(50000, 5000, w.bonus_taken, 50000, w.card_bonus)
    w.refunding, w.bonus_taken = 50000, w.bonus_taken + second
    w.refunding -= 1  # the first CLOSED (its bonus: 0)
    w.bonus_taken -= first
    w.refunded, w.refunding = 49999, 0  # the second paid out
    third = bonus_back(50000, 5000, w.bonus_taken, 50000, 10**9)
    assert (first, second, third) == (0, 5000, 0)
