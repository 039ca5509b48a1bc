"""The card ledger: append-only, hash-chained, and the only way a card's figures change.

Each entry's ``hash`` is sha256(prev_hash ‖ canonical entry); the card row carries the
last sequence number and hash. :func:`append` writes the entry and the card's new figures
in the caller's write transaction, guarded by a compare-and-set on the sequence, so the
card's columns always equal the sum of its ledger. :func:`verify_all` recomputes both.

Money is paid or bonus money (decision 049): each entry splits its ``delta_cents`` into
``delta_paid_cents`` and ``delta_bonus_cents`` and keeps the card's bonus money after it
(``bonus_after_cents``); :func:`charge_split` and :func:`refund_bonus` round, in fen.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from app.core.db import in_write_transaction
from cards import repository as repo
from cards.rows import CardRow, LedgerRow, TierRow

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Delta:
    """What one entry moves. ``cents`` is the whole move of money; ``bonus_cents`` the
    part of it that is bonus money, the rest (``paid_cents``) paid money."""

    # issue | top_up | charge | visit | earn | reversal | adjust | opening_balance |
    # top_up_bonus | refund | refund_reverted
    kind: str
    cents: int = 0
    points: int = 0
    visits: int = 0
    bonus_cents: int = 0

    @property
    def paid_cents(self) -> int:
        return self.cents - self.bonus_cents


# --- splitting money between paid and bonus (decision 049), integer fen only -------------

PROPORTIONAL = "proportional"
PAID_FIRST = "paid_first"


def charge_split(charged: int, paid: int, bonus: int, policy: str) -> tuple[int, int]:
    """(paid part, bonus part) of a charge of ``charged`` from a card holding ``paid`` and
    ``bonus`` money (``charged <= paid + bonus``). ``proportional``: the paid part is the
    floor of its share, so the remainder fen comes from bonus money (never more than the
    card holds: ``charged - floor(charged * paid / total) <= bonus``). ``paid_first``:
    paid money first, then bonus money."""
    if charged < 0 or paid < 0 or bonus < 0 or charged > paid + bonus:
        raise ValueError("a charge takes between 0 and the card's balance")
    if policy == PAID_FIRST:
        from_paid = min(charged, paid)
    elif policy == PROPORTIONAL:
        from_paid = charged * paid // (paid + bonus) if charged else 0
    else:
        raise ValueError(f"unknown bonus policy {policy!r}")
    return from_paid, charged - from_paid


def refund_bonus(order_amount: int, order_bonus: int, refunded_before: int,
                 refunded_after: int, card_bonus: int) -> int:
    """The bonus money a refund takes back (a positive number of fen) when it brings the
    order's refunded paid money from ``refunded_before`` to ``refunded_after``: the floor
    of the cumulative share of the order's bonus, minus what the earlier refunds took by
    the same rule, never more than the card's bonus money. Over refunds adding up to the
    whole order it takes back exactly the order's bonus (while the card holds it)."""
    if not 0 <= refunded_before <= refunded_after <= order_amount or order_amount <= 0:
        raise ValueError("refunds add up to at most the order's amount")
    share = (order_bonus * refunded_after // order_amount
             - order_bonus * refunded_before // order_amount)
    return max(0, min(card_bonus, share))


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers (stable across engines and Python versions)."""
    def text(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return value

    fields = _SPLIT_FIELDS if carries_split(entry) else _FIELDS
    return json.dumps({f: text(entry[f]) for f in fields}, sort_keys=True,
                      separators=(",", ":")).encode()


_FIELDS = ("card", "seq", "kind", "delta_cents", "delta_points", "delta_visits",
           "balance_after_cents", "points_after", "visits_after", "store_id", "staff_id",
           "redemption_id", "created_at")
_SPLIT_FIELDS = (*_FIELDS, "delta_paid_cents", "delta_bonus_cents", "bonus_after_cents",
                 "order_id")


def carries_split(entry: Mapping[str, Any]) -> bool:
    """Whether the entry's hash covers the paid/bonus fields: only when it carries any
    (bonus money moved or held, or a top-up order), so every hash written before them
    still verifies, and an entry without them is fully determined (paid = delta,
    checked by :func:`verify_all`)."""
    return bool(entry.get("delta_bonus_cents") or entry.get("bonus_after_cents")
                or entry.get("order_id") is not None)


def chain_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(entry)).hexdigest()


def discount_percent(tier: str | None, tiers: list[TierRow]) -> int:
    """The tier's discount on a charge (0 without a tier, or for a tier no longer listed)."""
    for candidate in tiers:
        if candidate["name"] == tier:
            return int(candidate["discount_percent"])
    return 0


def tier_for(points: int, tiers: list[TierRow]) -> str | None:
    """The highest tier whose threshold the points reach."""
    best: TierRow | None = None
    for tier in tiers:
        if points >= tier["min_points"] and (best is None
                                             or tier["min_points"] >= best["min_points"]):
            best = tier
    return None if best is None else str(best["name"])


class CardFigures(TypedDict):
    """The columns of a card row that a ledger entry moves (repo.set_card_figures)."""

    balance_cents: int
    bonus_balance_cents: int
    points: int
    visits_left: int | None
    tier: str | None
    ledger_seq: int
    ledger_hash: str


@dataclass(frozen=True, slots=True)
class Move:
    """One ledger entry for a card and the figures it leaves on the card row, valid only
    while the card is still at ``expected_seq`` (the compare-and-set that writes it)."""

    card_id: uuid.UUID
    expected_seq: int
    entry: LedgerRow
    figures: CardFigures


def next_move(card: CardRow, delta: Delta, *, tiers: list[TierRow],
              now: datetime, store_id: uuid.UUID | None, staff_id: uuid.UUID | None,
              redemption_id: uuid.UUID | None, order_id: uuid.UUID | None = None) -> Move:
    """The entry that follows ``card`` (its row as read) for ``delta``; writes nothing."""
    visits_after = None if card["visits_left"] is None else card["visits_left"] + delta.visits
    bonus_after = card.get("bonus_balance_cents", 0) + delta.bonus_cents
    entry: LedgerRow = {
        "id": uuid.uuid4(), "card": card["id"], "seq": card["ledger_seq"] + 1,
        "kind": delta.kind, "delta_cents": delta.cents, "delta_points": delta.points,
        "delta_visits": delta.visits,
        "balance_after_cents": card["balance_cents"] + delta.cents,
        "points_after": card["points"] + delta.points, "visits_after": visits_after,
        "store_id": store_id, "staff_id": staff_id, "redemption_id": redemption_id,
        "created_at": now, "prev_hash": card["ledger_hash"] or GENESIS, "hash": "",
        "delta_paid_cents": delta.paid_cents, "delta_bonus_cents": delta.bonus_cents,
        "bonus_after_cents": bonus_after, "order_id": order_id,
    }
    if entry["balance_after_cents"] < 0 or entry["points_after"] < 0 or (
            visits_after is not None and visits_after < 0) or bonus_after < 0 or (
            bonus_after > entry["balance_after_cents"]):
        raise ValueError("a ledger entry may never take a card below zero")
    entry["hash"] = chain_hash(entry["prev_hash"], entry)
    figures: CardFigures = {
        "balance_cents": entry["balance_after_cents"],
        "bonus_balance_cents": bonus_after,
        "points": entry["points_after"],
        "visits_left": visits_after,
        "tier": tier_for(entry["points_after"], tiers),
        "ledger_seq": entry["seq"],
        "ledger_hash": entry["hash"],
    }
    return Move(card["id"], card["ledger_seq"], entry, figures)


async def append(card: CardRow, delta: Delta, *, tiers: list[TierRow],
                 now: datetime, store_id: uuid.UUID | None, staff_id: uuid.UUID | None,
                 redemption_id: uuid.UUID | None,
                 order_id: uuid.UUID | None = None) -> LedgerRow:
    """Append one entry for ``card`` (a row read under lock) and move its figures."""
    assert in_write_transaction(), "ledger entries are written inside a write transaction"
    move = next_move(card, delta, tiers=tiers, now=now, store_id=store_id,
                     staff_id=staff_id, redemption_id=redemption_id, order_id=order_id)
    await repo.insert_ledger_entry(move.entry)
    if not await repo.set_card_figures(move.card_id, move.expected_seq, move.figures):
        # the row lock makes this impossible; refuse rather than fork the chain
        raise RuntimeError(f"card {card['id']} moved under a held lock")
    return move.entry


@dataclass(frozen=True, slots=True)
class Mismatch:
    card_id: uuid.UUID
    problem: str


async def verify_all() -> tuple[int, list[Mismatch]]:
    """Recompute every card's chain and totals; returns (cards checked, mismatches)."""
    problems: list[Mismatch] = []
    cards = await repo.all_cards()
    for card in cards:
        # Entries past the card row we read were appended since: judge them next run.
        entries = [e for e in await repo.card_ledger(card["id"])
                   if e["seq"] <= card["ledger_seq"]]
        prev, cents, points, visits, bonus = GENESIS, 0, 0, None, 0
        for expected_seq, entry in enumerate(entries, start=1):
            if entry["seq"] != expected_seq:
                problems.append(Mismatch(card["id"], f"entry {expected_seq} missing"))
                break
            if entry["prev_hash"] != prev or chain_hash(prev, entry) != entry["hash"]:
                problems.append(Mismatch(card["id"], f"entry {entry['seq']} was altered"))
                break
            prev = entry["hash"]
            if entry["delta_paid_cents"] + entry["delta_bonus_cents"] != entry["delta_cents"]:
                problems.append(Mismatch(card["id"],
                                         f"entry {entry['seq']} splits paid and bonus wrong"))
                break
            bonus += entry["delta_bonus_cents"]
            if entry["bonus_after_cents"] != bonus or not (
                    0 <= bonus <= entry["balance_after_cents"]):
                problems.append(Mismatch(card["id"], f"entry {entry['seq']} bonus drifts"))
                break
            cents += entry["delta_cents"]
            points += entry["delta_points"]
            if entry["visits_after"] is not None:
                visits = (visits or 0) + entry["delta_visits"]
            if (entry["balance_after_cents"], entry["points_after"], entry["visits_after"]) != (
                    cents, points, visits):
                problems.append(Mismatch(card["id"], f"entry {entry['seq']} totals drift"))
                break
        else:
            if not entries:
                problems.append(Mismatch(card["id"], "card has no ledger"))
            elif card["ledger_hash"] != prev or card["ledger_seq"] != len(entries):
                problems.append(Mismatch(card["id"], "card's last hash is not its ledger's"))
            elif (card["balance_cents"], card["points"], card["visits_left"],
                  card.get("bonus_balance_cents", 0)) != (cents, points, visits, bonus):
                problems.append(Mismatch(card["id"], "card figures differ from its ledger"))
    return len(cards), problems
