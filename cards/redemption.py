"""The clerk's scan: one endpoint for every signed code, dispatched by the code's kind.

Cards are handled here. Vouchers and bookings register their own :class:`ScanHandler`
at start-up (``register``), so this module never imports a later domain.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from litestar import Response

from app.core import idempotency
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.errors import CodeExpired, InvalidCode
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner, VerifiedCode
from app.core.db import is_unique_violation, write_transaction
from app.core.errors import AppError, NotFound, ValidationError
from app.core.notify import events, outbox
from app.core.throttle import Limit
from cards import ledger
from cards import repository as repo
from cards.errors import (
    AlreadyRedeemed,
    AlreadyReversed,
    CampaignInactive,
    CardInactive,
    CodeUsed,
    InsufficientBalance,
    MinSpendNotMet,
    NotSupportedOffline,
    NoVisitsLeft,
    OfflineWindowExceeded,
    ReversalWindowClosed,
    VoucherRevoked,
    WrongCardKind,
    WrongStore,
)
from cards.schemas import PreviewOut, RedeemIn, RedemptionOut, SyncIn, SyncItem, SyncOut, SyncResult
from cards.service import KIND_CARD, effective_status, store_data, template_allows_store
from cards.vouchers import benefit
from stores import repository as store_repo
from stores import service as stores

REVERSAL_WINDOW = timedelta(hours=24)
_KIND_OF = {"card": CodeKind.CARD, "voucher": CodeKind.VOUCHER, "booking": CodeKind.BOOKING}


@dataclass(frozen=True, slots=True)
class Scan:
    principal: Principal
    store: dict[str, Any]
    code: str
    verified: VerifiedCode
    body: RedeemIn
    now: datetime

    @property
    def store_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.store["id"]))


Write = Callable[[], Awaitable[RedemptionOut]]


class ScanHandler(Protocol):
    async def preview(self, scan: Scan) -> PreviewOut: ...

    async def prepare(self, scan: Scan) -> Write:
        """Reads and checks, outside any transaction (on SQLite, outside the write lock);
        returns the writing step, which opens its own write transaction or joins the
        caller's (the one that stores an Idempotency-Key's answer with it). The step
        re-checks under its conditional update or lock whatever may have changed since."""

    async def redeem(self, scan: Scan) -> RedemptionOut:
        """Prepare and write at once; joins the caller's write transaction (offline sync,
        a booking's completion)."""

    async def reverse(self, redemption: dict[str, Any], principal: Principal,
                      now: datetime) -> None:
        """Undo the effect of ``redemption`` (already marked reversed), same transaction."""


_handlers: dict[CodeKind, ScanHandler] = {}
# Misses on typed short codes: 12 digits must not be guessable by trying.
SHORT_CODE_MISSES_PER_CLERK = Limit("short-code-clerk", max_hits=20, window_s=600)
SHORT_CODE_MISSES_PER_STORE = Limit("short-code-store", max_hits=60, window_s=600)


def register(kind: CodeKind, handler: ScanHandler) -> None:
    """Later domains (bookings) add the kinds of code they own at start-up."""
    _handlers[kind] = handler


async def code_of_short_code(principal: Principal, store_id: uuid.UUID,
                             short_code: str) -> str:
    clerk, store = str(principal.id), str(store_id)
    await SHORT_CODE_MISSES_PER_CLERK.check(clerk)
    await SHORT_CODE_MISSES_PER_STORE.check(store)
    row = await repo.voucher_by_short_code(short_code, principal.chain_id)
    if row is None:
        await SHORT_CODE_MISSES_PER_CLERK.hit(clerk)
        await SHORT_CODE_MISSES_PER_STORE.hit(store)
        raise NotFound("no voucher has this short code")
    return str(row["code"])


def redemption_out(row: dict[str, Any]) -> RedemptionOut:
    return RedemptionOut(
        id=row["id"], kind=row["kind"], action=row["action"], object_id=row["object_id"],
        store_id=row["store"], staff_id=row["staff"], amount_cents=row["amount_cents"],
        discount_cents=row["discount_cents"], charged_cents=row["charged_cents"],
        balance_after_cents=row["balance_after_cents"], visits_left=row["visits_left"],
        points_after=row["points_after"], created_at=row["created_at"],
        reversed_at=row["reversed_at"], recorded_at=row["created_at"],
        redeemed_at=row.get("redeemed_at") or row["created_at"],
        offline=row.get("client_ref") is not None)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def _scan(principal: Principal, body: RedeemIn, signer: CodeSigner) -> tuple[
        Scan, ScanHandler]:
    store = await stores.till_store(principal, body.store_id)
    if (body.code is None) == (body.short_code is None):
        raise ValidationError("code", "give exactly one of code and short_code")
    if body.short_code is not None:
        code = await code_of_short_code(principal, body.store_id, body.short_code)
    else:
        assert body.code is not None
        code = body.code.strip()
    now = utcnow()
    verified = await signer.verify(code, now=now, chain_id=principal.chain_id)
    handler = _handlers.get(verified.payload.kind)
    if handler is None:
        raise InvalidCode("unknown code kind")
    return Scan(principal, store, code, verified, body, now), handler


async def preview(principal: Principal, body: RedeemIn, signer: CodeSigner) -> PreviewOut:
    scan, handler = await _scan(principal, body, signer)
    return await handler.preview(scan)


async def redeem(principal: Principal, body: RedeemIn, signer: CodeSigner, *,
                 idempotency_key: str | None, request_hash: str) -> Response[RedemptionOut]:
    """Resolve and verify the code first (outside any transaction, so a short-code miss
    is counted even though the request fails), then redeem once per Idempotency-Key. A
    retry of a finished request is answered before the code is looked at again."""
    stored = await idempotency.stored_answer(principal.caller_key, idempotency_key,
                                             request_hash)
    if stored is not None:
        return stored
    scan, handler = await _scan(principal, body, signer)
    return await idempotency.run(caller=principal.caller_key, key=idempotency_key,
                                 request_hash=request_hash,
                                 prepare=lambda: handler.prepare(scan))


async def reverse(principal: Principal, redemption_id: uuid.UUID) -> RedemptionOut:
    now = utcnow()
    row = await repo.get_redemption(redemption_id, principal.chain_id)
    if row is None or not principal.covers_store(row["store"]):
        raise NotFound("no such redemption")
    if row["reversed_at"] is not None:
        raise AlreadyReversed(f"reversed at {row['reversed_at'].isoformat()}")
    # From the server's record of it (created_at), never from the time a scanner claims:
    # an offline scan synced late can still be undone for a whole day after it arrived.
    if now - row["created_at"] > REVERSAL_WINDOW:
        raise ReversalWindowClosed()
    handler = _handlers[_KIND_OF[row["kind"]]]
    async with write_transaction():
        if not await repo.mark_reversed(redemption_id, now, principal.id):
            raise AlreadyReversed()
        await handler.reverse(row, principal, now)
    updated = await repo.get_redemption(redemption_id, principal.chain_id)
    assert updated is not None
    return redemption_out(updated)


async def list_for_store(principal: Principal, store_id: uuid.UUID, start: date | None,
                         end: date | None, limit: int, offset: int) -> list[RedemptionOut]:
    """The store's day sheet: redemptions recorded between two local dates, inclusive,
    oldest first, a page at a time. Keyed on the server's time of the write (like the
    stats), so a day once over never changes; an offline scan shows under the day it was
    uploaded, with the time its scanner claims beside it (``redeemed_at``, ``offline``)."""
    store = await stores.visible_store(principal, store_id)
    zone = ZoneInfo(store["timezone"])
    today = utcnow().astimezone(zone).date()
    first, last = start or today, end or start or today
    for name, day in (("from", first), ("to", last)):
        if not 2000 <= day.year <= 2100:
            raise ValidationError(name, "must be a date between 2000 and 2100")
    if last < first:
        raise ValidationError("to", "must not be before from")
    if (last - first).days > 92:
        raise ValidationError("to", "at most 92 days at once")
    lower = datetime.combine(first, time.min, zone)
    upper = datetime.combine(last + timedelta(days=1), time.min, zone)
    rows = await repo.list_redemptions(store_id, lower, upper, limit=limit, offset=offset)
    return [redemption_out(r) for r in rows]


# --- cards ------------------------------------------------------------------------------

class CardScans:
    """Charge, visit or earn with a member's dynamic card code."""

    async def _load(self, scan: Scan) -> tuple[dict[str, Any], dict[str, Any]]:
        found = await repo.card_and_template(scan.verified.payload.object_id,
                                             scan.principal.chain_id)
        if found is None:
            raise InvalidCode("the code names no card of this chain")
        card, template = found
        if not template_allows_store(template, scan.store_id):
            raise WrongStore("this card is not valid at this store")
        status = effective_status(card, scan.now)
        if status != "active":
            raise CardInactive(f"the card is {status}")
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
            pct = _discount_percent(card["tier"], template["tiers"])
            parts.append(f"tier {card['tier']}" + (f" ({pct}% off)" if pct else ""))
        parts.append(f"{card['points']} points")
        return PreviewOut(kind="card", object_id=card["id"], member=member,
                          summary=", ".join(parts))

    async def redeem(self, scan: Scan) -> RedemptionOut:
        return await (await self.prepare(scan))()

    async def prepare(self, scan: Scan) -> Write:
        card, template = await self._load(scan)
        action, amount = _checked_action(scan.body.action, scan.body.amount_cents)
        return lambda: self._spend(scan, card, template, action, amount)

    @staticmethod
    def _check_write(scan: Scan, card: dict[str, Any], template: dict[str, Any],
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

    async def _spend(self, scan: Scan, card: dict[str, Any], template: dict[str, Any],
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

    async def reverse(self, redemption: dict[str, Any], principal: Principal,
                      now: datetime) -> None:
        entry = await repo.ledger_entry_for(redemption["id"])
        card = await repo.lock_card(redemption["object_id"])
        assert entry is not None and card is not None
        template = await repo.get_template(card["template"], principal.chain_id)
        assert template is not None
        undone = await ledger.append(card, ledger.Delta("reversal", cents=-entry["delta_cents"],
                                                        points=-entry["delta_points"],
                                                        visits=-entry["delta_visits"]),
                                     tiers=template["tiers"], now=now,
                                     store_id=redemption["store"], staff_id=principal.id,
                                     redemption_id=redemption["id"])
        if undone["delta_cents"]:
            store = await store_repo.get_store(redemption["store"], principal.chain_id)
            await outbox.emit(events.BALANCE_CHANGED, chain_id=principal.chain_id,
                              member_id=card["member"], store_id=redemption["store"],
                              data={"card_name": template["name"], "reason": "reversal",
                                    "delta_cents": undone["delta_cents"],
                                    "balance_cents": undone["balance_after_cents"],
                                    **store_data(store)},
                              dedupe_key=f"ledger:{undone['id']}")


def _discount_percent(tier: str | None, tiers: list[dict[str, Any]]) -> int:
    for candidate in tiers:
        if candidate["name"] == tier:
            return int(candidate["discount_percent"])
    return 0


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


async def use_card(principal: Principal, store: dict[str, Any], card_id: uuid.UUID,
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
    if not template_allows_store(template, store["id"]):
        raise WrongStore("this card is not valid at this store")
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


async def _apply_to_card(principal: Principal, store: dict[str, Any], read: dict[str, Any],
                         template: dict[str, Any], action: str, amount: int | None,
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
            spent = None if spent_code is None else {
                "code_hash": spent_code, "redemption_id": redemption_id, "created_at": now}
            try:
                moved = await repo.move_card(move.card_id, move.expected_seq, move.figures,
                                             move.entry, row, note, spent)
            except Exception as exc:
                if spent is not None and is_unique_violation(exc):
                    raise CodeUsed() from None
                raise
        if moved:
            return redemption_out(row)
    # Under the row lock the compare-and-set cannot lose; refuse rather than fork.
    raise RuntimeError(f"card {read['id']} moved under a held lock")


def _card_move(principal: Principal, store: dict[str, Any], card: dict[str, Any],
               template: dict[str, Any], action: str, amount: int | None, now: datetime,
               redemption_id: uuid.UUID) -> tuple[ledger.Move, dict[str, Any], dict[str, Any]]:
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
        pct = _discount_percent(card["tier"], template["tiers"])
        discount = amount * pct // 100
        charged = amount - discount
        if card["balance_cents"] < charged:
            raise InsufficientBalance(
                f"balance ¥{card['balance_cents'] / 100:.2f} < charge ¥{charged / 100:.2f}")
        delta = ledger.Delta("charge", cents=-charged,
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
                            staff_id=principal.id, redemption_id=redemption_id)
    entry = move.entry
    row = {
        "id": redemption_id, "chain": principal.chain_id, "kind": "card",
        "action": action, "object_id": card["id"], "member_id": card["member"],
        "store": store_id, "staff": principal.id, "amount_cents": amount,
        "discount_cents": discount, "charged_cents": charged,
        "points_earned": delta.points, "balance_after_cents": entry["balance_after_cents"],
        "visits_left": entry["visits_after"], "points_after": entry["points_after"],
        "created_at": now, "redeemed_at": now, "reversed_at": None, "reversed_by": None,
    }
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


register(KIND_CARD, CardScans())


# --- vouchers ---------------------------------------------------------------------------

class VoucherScans:
    """A campaign voucher at the till: store, time, min spend, then spent exactly once."""

    async def _load(self, scan: Scan, at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        found = await repo.voucher_and_campaign(scan.verified.object_id,
                                                scan.principal.chain_id)
        if found is None:
            raise InvalidCode("the code names no voucher of this chain")
        voucher, campaign = found
        return await self.usable(voucher, scan.principal, scan.store_id, at, campaign)

    async def usable(self, voucher: dict[str, Any], principal: Principal,
                     store_id: uuid.UUID, at: datetime,
                     campaign: dict[str, Any] | None = None) -> tuple[
            dict[str, Any], dict[str, Any]]:
        """The voucher and its campaign if it can be spent at ``store_id`` at ``at``."""
        if campaign is None:
            campaign = await repo.get_campaign(voucher["campaign"], principal.chain_id)
        assert campaign is not None
        if voucher["status"] == "revoked":
            raise VoucherRevoked()
        if voucher["status"] == "redeemed":
            raise await _already_redeemed(voucher, principal)
        if voucher["valid_until"] < at or voucher["status"] == "expired":
            raise CodeExpired(f"the voucher expired at {voucher['valid_until'].isoformat()}")
        if at < campaign["valid_from"]:
            raise CampaignInactive("the voucher is not valid yet")
        allowed = campaign["store_ids"]
        if allowed is not None and str(store_id) not in allowed:
            raise WrongStore("this voucher is not valid at this store")
        return voucher, campaign

    @staticmethod
    def _discount(campaign: dict[str, Any], bill: int | None) -> int:
        """The money off a bill, or the refusal the spend answers (shared with the
        preview)."""
        if bill == 0:
            raise ValidationError("amount_cents", "a bill of 0 would spend the voucher for "
                                                  "nothing; leave it out for a gift")
        if campaign["min_spend_cents"] and (bill or 0) < campaign["min_spend_cents"]:
            raise MinSpendNotMet(
                f"minimum spend ¥{campaign['min_spend_cents'] / 100:.2f}, "
                f"bill ¥{(bill or 0) / 100:.2f}")
        if campaign["kind"] == "cash":
            value = int(campaign["value_cents"])
            return value if bill is None else min(value, bill)
        if campaign["kind"] == "discount":
            if bill is None:
                raise ValidationError("amount_cents", "a discount voucher needs the bill")
            discount = bill * int(campaign["percent_off"]) // 100
            cap = campaign["max_discount_cents"]
            return discount if cap is None else min(discount, int(cap))
        return 0  # gift or service: the item itself, no money off

    async def preview(self, scan: Scan) -> PreviewOut:
        voucher, campaign = await self._load(scan, scan.now)
        if scan.body.amount_cents is not None:
            # The bill's rules, as the spend runs them; without a bill (the clerk has not
            # typed it yet) the preview stops at the voucher's own rules.
            self._discount(campaign, scan.body.amount_cents)
        member = await stores.get_member(scan.principal, voucher["member"])
        what = benefit(campaign)
        spend = (f", min spend ¥{campaign['min_spend_cents'] / 100:.2f}"
                 if campaign["min_spend_cents"] else "")
        return PreviewOut(kind="voucher", object_id=voucher["id"], member=member,
                          summary=f"{campaign['name']}: {what}{spend}")

    async def prepare(self, scan: Scan) -> Write:
        voucher, campaign = await self._load(scan, scan.now)
        # The spend re-checks the one thing that can change meanwhile: the status.
        return lambda: self.spend(voucher, campaign, scan.principal, scan.store,
                                  scan.body.amount_cents, scan.now)

    async def redeem(self, scan: Scan, at: datetime | None = None,
                     client_ref: str | None = None) -> RedemptionOut:
        """Judged at ``at`` (an offline scan's claimed time; default the scan's), recorded
        at the scan's own time."""
        at = at or scan.now
        voucher, campaign = await self._load(scan, at)
        return await self.spend(voucher, campaign, scan.principal, scan.store,
                                scan.body.amount_cents, at, client_ref, recorded_at=scan.now)

    async def spend(self, voucher: dict[str, Any], campaign: dict[str, Any],
                    principal: Principal, store: dict[str, Any], bill: int | None,
                    at: datetime, client_ref: str | None = None, *,
                    recorded_at: datetime | None = None) -> RedemptionOut:
        """Spend a voucher that :meth:`usable` accepted, exactly once (conditional update),
        with its redemption and notification. Atomic by itself (``repo.redeem_voucher``):
        it joins the caller's write transaction if one is open and needs none. ``at`` is
        when it was used (the voucher's ``redeemed_at``), ``recorded_at`` the server's
        time of the write (default ``at``)."""
        store_id = store["id"]
        discount = self._discount(campaign, bill)
        redemption_id = uuid.uuid4()
        row = {
            "id": redemption_id, "chain": principal.chain_id, "kind": "voucher",
            "action": None, "object_id": voucher["id"], "member_id": voucher["member"],
            "store": store_id, "staff": principal.id, "amount_cents": bill,
            "discount_cents": discount, "charged_cents": max((bill or 0) - discount, 0),
            "points_earned": 0, "balance_after_cents": None, "visits_left": None,
            "points_after": None, "created_at": recorded_at or at, "redeemed_at": at,
            "reversed_at": None, "reversed_by": None, "client_ref": client_ref,
        }
        note = outbox.notification(
            events.REDEEMED, chain_id=principal.chain_id, member_id=voucher["member"],
            store_id=store_id, data={"item": campaign["name"], "amount_cents": discount,
                                     "at": at.isoformat(), **store_data(store)},
            dedupe_key=f"redemption:{redemption_id}")
        if not await repo.redeem_voucher(voucher["id"], row, note):
            # Someone redeemed (or revoked) it between our read and our write.
            fresh = await repo.get_voucher(voucher["id"], principal.chain_id)
            assert fresh is not None
            if fresh["status"] == "revoked":
                raise VoucherRevoked()
            raise await _already_redeemed(fresh, principal)
        return redemption_out(row)

    async def reverse(self, redemption: dict[str, Any], principal: Principal,
                      now: datetime) -> None:
        if not await repo.unredeem_voucher(redemption["object_id"], redemption["id"]):
            raise AlreadyReversed("the voucher is no longer redeemed by this redemption")


async def _already_redeemed(voucher: dict[str, Any], principal: Principal) -> AlreadyRedeemed:
    """409 that says when and where, as a clerk at the counter needs it."""
    store = await store_repo.get_store(voucher["redeemed_store"], principal.chain_id) \
        if voucher["redeemed_store"] else None
    where = store["name"] if store else "another store"
    when = voucher["redeemed_at"]
    return AlreadyRedeemed(
        f"redeemed at {where} on {when.isoformat() if when else 'an earlier scan'}",
        redeemed_at=when.isoformat() if when else None,
        store_id=str(voucher["redeemed_store"]) if voucher["redeemed_store"] else None)


VOUCHERS = VoucherScans()
register(CodeKind.VOUCHER, VOUCHERS)


# --- offline sync -----------------------------------------------------------------------

# How far ahead of the server a scanner's clock may run. A phone or tablet kept by NTP is
# off by seconds; two minutes covers a sloppy one. It must stay small: a redeemed_at in
# the future would be judged at a time that has not come (a campaign not started yet).
SYNC_CLOCK_SKEW = timedelta(minutes=2)


async def sync(principal: Principal, body: SyncIn, signer: CodeSigner) -> SyncOut:
    """Redemptions a scanner made offline, each judged on its own and at its own time,
    inside the chain's offline window."""
    await stores.visible_store(principal, body.store_id)
    window = await stores.offline_window(principal.chain_id)
    results: list[SyncResult] = []
    for item in body.items:
        results.append(await _sync_one(principal, body.store_id, item, signer, window))
    return SyncOut(results=results)


async def _sync_one(principal: Principal, store_id: uuid.UUID, item: SyncItem,
                    signer: CodeSigner, window: timedelta) -> SyncResult:
    ref = item.client_ref
    receipt = await repo.sync_receipt(principal.chain_id, ref)
    if receipt is not None:
        return SyncResult(client_ref=ref, status="duplicate",
                          redemption_id=receipt["redemption_id"], code=receipt["code"])
    try:
        redemption = await _sync_redeem(principal, store_id, item, signer, window)
    except AlreadyRedeemed as err:
        twin = await repo.sync_receipt(principal.chain_id, ref)
        if twin is not None:  # the same item, uploaded by a concurrent retry, won
            return SyncResult(client_ref=ref, status="duplicate",
                              redemption_id=twin["redemption_id"], code=twin["code"])
        outcome = SyncResult(client_ref=ref, status="conflict", code=err.code,
                             detail=err.detail,
                             redeemed_at=_parse_time(err.extra.get("redeemed_at")),
                             store_id=_parse_uuid(err.extra.get("store_id")))
    except AppError as err:
        outcome = SyncResult(client_ref=ref, status="rejected", code=err.code, detail=err.detail)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        return await _sync_one(principal, store_id, item, signer, window)  # a racing replay won
    else:
        return SyncResult(client_ref=ref, status="accepted", redemption_id=redemption.id)
    try:
        async with write_transaction():
            await repo.insert_sync_receipt({"chain": principal.chain_id, "client_ref": ref,
                                            "store": store_id, "status": outcome.status,
                                            "code": outcome.code, "created_at": utcnow()})
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        twin = await repo.sync_receipt(principal.chain_id, ref)
        assert twin is not None
        return SyncResult(client_ref=ref, status="duplicate",
                          redemption_id=twin["redemption_id"], code=twin["code"])
    return outcome


def _inside_window(at: datetime, now: datetime, window: timedelta) -> None:
    """The scanner's word is trusted only inside the window: not older than it, not ahead
    of the server by more than a clock's skew."""
    if at > now + SYNC_CLOCK_SKEW:
        raise OfflineWindowExceeded(
            f"redeemed_at {_when(at)} is ahead of the server's time ({_when(now)}): "
            "check the scanner's clock")
    if at < now - window:
        raise OfflineWindowExceeded(
            f"redeemed_at {_when(at)} is older than the chain's offline window "
            f"({_minutes(window)}): it could be uploaded until {_when(at + window)}")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _minutes(window: timedelta) -> str:
    minutes = int(window.total_seconds()) // 60
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


async def _sync_redeem(principal: Principal, store_id: uuid.UUID, item: SyncItem,
                       signer: CodeSigner, window: timedelta) -> RedemptionOut:
    """Judge one offline item at its own time; accepted means redeemed and receipted.

    The rule: ``redeemed_at`` inside the chain's window (``_inside_window``); the code
    valid at ``redeemed_at`` (its signed not_after, then the voucher's own record: status,
    valid_until, the campaign's start, the store); and the upload within the window after
    the code's end. The last one follows from the first two (redeemed_at >= now - window
    and redeemed_at <= the end) and is checked anyway, so that it holds whatever else
    changes. The redemption is recorded now: the day sheet, the stats and the reversal
    window count from the upload, never from the scanner's clock."""
    now, at = utcnow(), item.redeemed_at
    if at.tzinfo is None:
        raise ValidationError("redeemed_at", "needs an offset")
    _inside_window(at, now, window)
    verified = await signer.verify(item.code.strip(), now=at, chain_id=principal.chain_id)
    if now - verified.payload.expires_at > window:
        raise OfflineWindowExceeded(
            f"the code ended at {_when(verified.payload.expires_at)}, longer ago "
            f"than the chain's offline window ({_minutes(window)})")
    if verified.kind != CodeKind.VOUCHER:
        raise NotSupportedOffline()
    body = RedeemIn(store_id=store_id, code=item.code, action=item.action,
                    amount_cents=item.amount_cents)
    scan = Scan(principal, await stores.visible_store(principal, store_id), item.code,
                verified, body, now)
    async with write_transaction():
        redemption = await VOUCHERS.redeem(scan, at=at, client_ref=item.client_ref)
        await repo.insert_sync_receipt({"chain": principal.chain_id,
                                        "client_ref": item.client_ref, "store": store_id,
                                        "status": "accepted", "redemption_id": redemption.id,
                                        "created_at": now})
    return redemption


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _parse_uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if isinstance(value, str) else None
