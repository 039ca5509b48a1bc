"""A member's dynamic card code (kind C) at the clerk's scan: charge, visit or earn, the
code spent once with the card's move. Also the card half of a booking's completion and
no-show (``use_card``)."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from datetime import datetime
from typing import Any

from app.core import events as feed
from app.core.auth import Principal
from app.core.codes.errors import InvalidCode
from app.core.codes.format import CodeKind
from app.core.db import atomic_statement, is_unique_violation, write_transaction
from app.core.errors import AppError, NotFound, ValidationError
from app.core.notify import events, outbox
from app.core.notify.rows import NewNotification
from cards import ledger
from cards import repository as repo
from cards.errors import (
    CardInactive,
    CodeUsed,
    InsufficientBalance,
    NoVisitsLeft,
    WrongCardKind,
)
from cards.redemption import (
    Scan,
    ScanHandler,
    redemption_event,
    redemption_out,
    redemption_row,
)
from cards.rows import CardRow, RedemptionRow, TemplateRow
from cards.schemas import PreviewCard, PreviewOut, RedemptionOut
from cards.service import (
    KIND_CARD,
    card_event,
    card_out,
    check_usable_at,
    effective_status,
    moved_card,
    require_store,
    store_data,
)
from stores import service as stores
from stores.rows import StoreRow

CardCheck = tuple[CardRow, TemplateRow, str, int | None]
"""The card and its template as read, the action and its amount as checked."""


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class CardScans:
    """Charge, visit or earn with a member's dynamic card code."""

    async def _load(self, scan: Scan) -> tuple[CardRow, TemplateRow]:
        found = await repo.card_and_template(scan.verified.payload.object_id,
                                             scan.principal.chain_id)
        if found is None:
            raise InvalidCode("the code names no card of this chain")
        card, template = found
        check_usable_at(card, template, scan.store_id, scan.now)
        return card, template

    async def preview(self, scan: Scan) -> PreviewOut:
        card, template = await self._load(scan)
        self._check_write(scan, card, template, await _spent(scan.code))
        member = await stores.get_member(scan.principal, card["member"])
        parts = [f"{template['name']} · No. {card['number']}"]
        if template["kind"] == "stored_value":
            parts.append(f"balance ¥{card['balance_cents'] / 100:.2f}")
        if template["kind"] == "times":
            parts.append(f"{card['visits_left']} visits left")
        if card["tier"]:
            pct = ledger.discount_percent(card["tier"], template["tiers"])
            parts.append(f"tier {card['tier']}" + (f" ({pct}% off)" if pct else ""))
        parts.append(f"{card['points']} points")
        return PreviewOut(kind="card", object_id=card["id"], member=member,
                          summary=", ".join(parts), card=preview_card(card, template, scan.now),
                          default_action=VISIT_ACTION[template["kind"]])  # type: ignore[arg-type]

    async def check(self, scan: Scan) -> CardCheck:
        card, template = await self._load(scan)
        return card, template, *_checked_action(scan.body.action, scan.body.amount_cents)

    async def write(self, scan: Scan, checked: CardCheck) -> RedemptionOut:
        return await self._spend(scan, *checked)

    @staticmethod
    def _check_write(scan: Scan, card: CardRow, template: TemplateRow,
                     spent: bool) -> None:
        """What the write would answer, for the preview: the very rules the write runs,
        in its order: the action and amount (``_checked_action``), then a code used
        before, then the card's figures (``_card_move``, which computes without writing).
        A preview without an action (the clerk picks it after seeing the card) stops at
        the code."""
        checked = None
        if scan.body.action is not None:
            checked = _checked_action(scan.body.action, scan.body.amount_cents)
        if spent:
            raise CodeUsed()
        if checked is not None:
            _card_move(scan.principal, scan.store, card, template, *checked, scan.now,
                       uuid.uuid4())

    async def _spend(self, scan: Scan, card: CardRow, template: TemplateRow,
                     action: str, amount: int | None) -> RedemptionOut:
        """The code spent once and the card moved, in one step (``repo.move_card``). A
        code used before answers ``code_used`` ahead of what the card's figures say."""
        spent = code_hash(scan.code)
        try:
            return await _apply_to_card(scan.principal, scan.store, card, template, action,
                                        amount, scan.now, spent_code=spent)
        except CodeUsed:
            raise
        except AppError:
            if await repo.code_spent(spent):
                raise CodeUsed() from None
            raise

    async def reverse(self, redemption: RedemptionRow, principal: Principal,
                      now: datetime) -> None:
        entry = await repo.ledger_entry_for(redemption["id"])
        card = await repo.lock_card(redemption["object_id"])
        assert entry is not None and card is not None
        template = await repo.get_template(card["template"], principal.chain_id)
        assert template is not None
        # The exact split of the entry undone: paid money back as paid, bonus as bonus.
        undone = await ledger.append(card, ledger.Delta("reversal", cents=-entry["delta_cents"],
                                                        bonus_cents=-entry["delta_bonus_cents"],
                                                        points=-entry["delta_points"],
                                                        visits=-entry["delta_visits"]),
                                     tiers=template["tiers"], now=now,
                                     store_id=redemption["store"], staff_id=principal.staff_id,
                                     redemption_id=redemption["id"])
        after = moved_card(card, template, undone)
        if after["tier"] != card["tier"]:  # the points taken back crossed a threshold
            await repo.insert_events([card_event(
                feed.types.CARD_UPDATED, card_out(after, now), chain_id=principal.chain_id,
                store_id=redemption["store"])])
        if undone["delta_cents"]:
            store = await stores.chain_store(redemption["store"], principal.chain_id)
            await outbox.emit(events.BALANCE_CHANGED, chain_id=principal.chain_id,
                              member_id=card["member"], store_id=redemption["store"],
                              data={"card_name": template["name"], "reason": "reversal",
                                    "delta_cents": undone["delta_cents"],
                                    "balance_cents": undone["balance_after_cents"],
                                    **store_data(store)},
                              dedupe_key=f"ledger:{undone['id']}")


def _checked_action(action: str | None, amount: int | None) -> tuple[str, int | None]:
    if action is None:
        raise ValidationError("action", "a card code needs action charge, visit or earn")
    if action in ("charge", "earn") and not amount:
        raise ValidationError("amount_cents", f"{action} needs amount_cents > 0")
    if action == "visit" and amount is not None:
        raise ValidationError("amount_cents", "a visit takes no amount")
    return action, amount


# What a visit takes from each kind of card when nobody says otherwise.
VISIT_ACTION = {"times": "visit", "stored_value": "charge", "membership": "earn"}


async def use_card(principal: Principal, store: StoreRow, card_id: uuid.UUID,
                   action: str | None, amount: int | None, now: datetime, *,
                   price_cents: int = 0) -> RedemptionOut:
    """Charge, visit or earn on a card without a scanned code (a booking being completed),
    with the same checks and ledger entry as a scan. Without ``action``, the card kind's
    visit action; a charge or earn without ``amount`` takes ``price_cents``. Atomic by
    itself; joins the caller's write transaction (the booking's completion)."""
    card = await repo.get_card(card_id, principal.chain_id)
    if card is None:
        raise NotFound("no such card")
    template = await repo.get_template(card["template"], principal.chain_id)
    assert template is not None
    require_store(template["store_ids"], store["id"], "card")
    action = action or VISIT_ACTION[template["kind"]]
    if action in ("charge", "earn") and amount is None:
        amount = price_cents
    checked, amount = _checked_action(action, amount)
    return await _apply_to_card(principal, store, card, template, checked, amount, now)


# A move is computed from the card as read and written only if the card is still there
# (compare-and-set on its ledger sequence): no lock, one statement. A card that moved
# meanwhile is read again; one that keeps moving (many tills charging one card at once)
# is moved under its row lock instead, where writers queue and each one wins in turn.
OPTIMISTIC_ATTEMPTS = 2


async def _apply_to_card(principal: Principal, store: StoreRow, read: CardRow,
                         template: TemplateRow, action: str, amount: int | None,
                         now: datetime, *, spent_code: str | None = None) -> RedemptionOut:
    """Charge, visit or earn on the card ``read`` (its row as read), with the ledger
    entry, the redemption and its notification, all or nothing; the code whose hash is
    ``spent_code`` is spent in the same step. Atomic by itself: it needs no transaction
    and joins the caller's."""
    redemption_id = uuid.uuid4()
    card = read
    for attempt in range(OPTIMISTIC_ATTEMPTS + 1):
        locked = attempt == OPTIMISTIC_ATTEMPTS
        async with write_transaction() if locked else contextlib.nullcontext():
            if attempt:
                fresh = await (repo.lock_card if locked else repo.card_row)(read["id"])
                assert fresh is not None
                card = fresh
            move, row, note = _card_move(principal, store, card, template, action, amount,
                                         now, redemption_id)
            out = redemption_out(row)
            spent = None if spent_code is None else {
                "code_hash": spent_code, "redemption_id": redemption_id, "created_at": now}
            moved = await _write_move(move, row, note, spent,
                                      _move_events(principal, card, template, move, out, now))
        if moved:
            return out
    # Under the row lock the compare-and-set cannot lose; refuse rather than fork.
    raise RuntimeError(f"card {read['id']} moved under a held lock")


def _move_events(principal: Principal, card: CardRow, template: TemplateRow,
                 move: ledger.Move, out: RedemptionOut,
                 now: datetime) -> list[feed.NewEvent]:
    """The feed's events of a card's move: redemption.created (the redemption as the
    scan answers it), and card.updated when the points moved the card to another tier."""
    events = [redemption_event(feed.types.REDEMPTION_CREATED, principal.chain_id, out)]
    if move.figures["tier"] != card["tier"]:
        events.append(card_event(feed.types.CARD_UPDATED,
                                 card_out(moved_card(card, template, move.entry), now),
                                 chain_id=principal.chain_id, store_id=out.store_id))
    return events


async def _write_move(move: ledger.Move, row: RedemptionRow, note: NewNotification,
                      spent: dict[str, Any] | None, events: list[feed.NewEvent]) -> bool:
    """One statement on PostgreSQL, outside a transaction or in the locked attempt's."""
    try:
        async with atomic_statement():
            return await repo.move_card(move.card_id, move.expected_seq, move.figures,
                                        move.entry, row, note, spent, events)
    except Exception as exc:
        if spent is not None and is_unique_violation(exc):
            raise CodeUsed() from None
        raise


def _card_move(principal: Principal, store: StoreRow, card: CardRow, template: TemplateRow,
               action: str, amount: int | None, now: datetime,
               redemption_id: uuid.UUID) -> tuple[ledger.Move, RedemptionRow, NewNotification]:
    """The rules of a charge, visit or earn on the card as read: its ledger move, its
    redemption row and its notification (nothing written)."""
    store_id = store["id"]
    status = effective_status(card, now)
    if status != "active":
        raise CardInactive(f"the card is {status}")
    discount = charged = 0
    if action == "charge":
        assert amount is not None
        if template["kind"] != "stored_value":
            raise WrongCardKind("only stored-value cards can be charged")
        pct = ledger.discount_percent(card["tier"], template["tiers"])
        discount = amount * pct // 100
        charged = amount - discount
        if card["balance_cents"] < charged:
            raise InsufficientBalance(
                f"balance ¥{card['balance_cents'] / 100:.2f} < charge ¥{charged / 100:.2f}")
        bonus = card.get("bonus_balance_cents", 0)
        _, from_bonus = ledger.charge_split(charged, card["balance_cents"] - bonus, bonus,
                                            template["bonus_policy"])
        delta = ledger.Delta("charge", cents=-charged, bonus_cents=-from_bonus,
                             points=charged // 100 * template["points_per_yuan"])
    elif action == "visit":
        if template["kind"] != "times":
            raise WrongCardKind("only times cards have visits")
        if (card["visits_left"] or 0) < 1:
            raise NoVisitsLeft()
        delta = ledger.Delta("visit", visits=-1)
    else:
        assert amount is not None
        if template["points_per_yuan"] <= 0:
            raise WrongCardKind("this card does not earn points")
        delta = ledger.Delta("earn", points=amount // 100 * template["points_per_yuan"])
    move = ledger.next_move(card, delta, tiers=template["tiers"], now=now, store_id=store_id,
                            staff_id=principal.staff_id, redemption_id=redemption_id)
    entry = move.entry
    row = redemption_row(principal, "card", card, store_id, now, redemption_id=redemption_id,
                         action=action, amount=amount, discount=discount, charged=charged,
                         points_earned=delta.points, entry=entry)
    # A charge is told as the balance it changed; a visit or points as a redemption.
    if action == "charge":
        note = outbox.notification(
            events.BALANCE_CHANGED, chain_id=principal.chain_id, member_id=card["member"],
            store_id=store_id, data={"card_name": template["name"], "reason": "charge",
                                     "delta_cents": -charged,
                                     "balance_cents": entry["balance_after_cents"],
                                     **store_data(store)},
            dedupe_key=f"redemption:{redemption_id}")
    else:
        note = outbox.notification(
            events.REDEEMED, chain_id=principal.chain_id, member_id=card["member"],
            store_id=store_id, data={"item": template["name"], "amount_cents": amount,
                                     "visits_left": entry["visits_after"],
                                     **store_data(store)},
            dedupe_key=f"redemption:{redemption_id}")
    return move, row, note


async def _spent(code: str) -> bool:
    return await repo.code_spent(code_hash(code))


SCAN_HANDLERS: dict[CodeKind, ScanHandler[Any]] = {KIND_CARD: CardScans()}
"""What this module adds to the scan endpoint (registered by create_app)."""


def card_actions(template: TemplateRow) -> list[str]:
    """The actions a card of this template accepts (``_card_move``'s rules by kind)."""
    actions = {"times": ["visit"], "stored_value": ["charge"], "membership": []}[
        template["kind"]]
    return actions + (["earn"] if template["points_per_yuan"] > 0 else [])


def preview_card(card: CardRow, template: TemplateRow, now: datetime) -> PreviewCard:
    return PreviewCard(
        id=card["id"], number=card["number"], kind=template["kind"],
        template_name=template["name"], balance_cents=card["balance_cents"],
        points=card["points"], visits_left=card["visits_left"], tier=card["tier"],
        discount_percent=ledger.discount_percent(card["tier"], template["tiers"]),
        status=effective_status(card, now),  # type: ignore[arg-type]
        actions=card_actions(template),  # type: ignore[arg-type]
        paid_balance_cents=card["balance_cents"] - card.get("bonus_balance_cents", 0),
        bonus_balance_cents=card.get("bonus_balance_cents", 0))
