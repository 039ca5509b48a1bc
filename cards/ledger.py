"""The card ledger: append-only, hash-chained, and the only way a card's figures change.

Each entry's ``hash`` is sha256(prev_hash ‖ canonical entry); the card row carries the
last sequence number and hash. :func:`append` writes the entry and the card's new figures
in the caller's write transaction, guarded by a compare-and-set on the sequence, so the
card's columns always equal the sum of its ledger. :func:`verify_all` recomputes both.
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
    kind: str  # issue | top_up | charge | visit | earn | reversal | adjust
    cents: int = 0
    points: int = 0
    visits: int = 0


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers (stable across engines and Python versions)."""
    def text(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return value

    fields = ("card", "seq", "kind", "delta_cents", "delta_points", "delta_visits",
              "balance_after_cents", "points_after", "visits_after", "store_id", "staff_id",
              "redemption_id", "created_at")
    return json.dumps({f: text(entry[f]) for f in fields}, sort_keys=True,
                      separators=(",", ":")).encode()


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
              redemption_id: uuid.UUID | None) -> Move:
    """The entry that follows ``card`` (its row as read) for ``delta``; writes nothing."""
    visits_after = None if card["visits_left"] is None else card["visits_left"] + delta.visits
    entry: LedgerRow = {
        "id": uuid.uuid4(), "card": card["id"], "seq": card["ledger_seq"] + 1,
        "kind": delta.kind, "delta_cents": delta.cents, "delta_points": delta.points,
        "delta_visits": delta.visits,
        "balance_after_cents": card["balance_cents"] + delta.cents,
        "points_after": card["points"] + delta.points, "visits_after": visits_after,
        "store_id": store_id, "staff_id": staff_id, "redemption_id": redemption_id,
        "created_at": now, "prev_hash": card["ledger_hash"] or GENESIS, "hash": "",
    }
    if entry["balance_after_cents"] < 0 or entry["points_after"] < 0 or (
            visits_after is not None and visits_after < 0):
        raise ValueError("a ledger entry may never take a card below zero")
    entry["hash"] = chain_hash(entry["prev_hash"], entry)
    figures: CardFigures = {
        "balance_cents": entry["balance_after_cents"],
        "points": entry["points_after"],
        "visits_left": visits_after,
        "tier": tier_for(entry["points_after"], tiers),
        "ledger_seq": entry["seq"],
        "ledger_hash": entry["hash"],
    }
    return Move(card["id"], card["ledger_seq"], entry, figures)


async def append(card: CardRow, delta: Delta, *, tiers: list[TierRow],
                 now: datetime, store_id: uuid.UUID | None, staff_id: uuid.UUID | None,
                 redemption_id: uuid.UUID | None) -> LedgerRow:
    """Append one entry for ``card`` (a row read under lock) and move its figures."""
    assert in_write_transaction(), "ledger entries are written inside a write transaction"
    move = next_move(card, delta, tiers=tiers, now=now, store_id=store_id,
                     staff_id=staff_id, redemption_id=redemption_id)
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
        prev, cents, points, visits = GENESIS, 0, 0, None
        for expected_seq, entry in enumerate(entries, start=1):
            if entry["seq"] != expected_seq:
                problems.append(Mismatch(card["id"], f"entry {expected_seq} missing"))
                break
            if entry["prev_hash"] != prev or chain_hash(prev, entry) != entry["hash"]:
                problems.append(Mismatch(card["id"], f"entry {entry['seq']} was altered"))
                break
            prev = entry["hash"]
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
            elif (card["balance_cents"], card["points"], card["visits_left"]) != (
                    cents, points, visits):
                problems.append(Mismatch(card["id"], "card figures differ from its ledger"))
    return len(cards), problems
