"""The clerk's scan: one endpoint for every signed code, dispatched by the code's kind.

Cards are handled here. Vouchers and bookings register their own :class:`ScanHandler`
at start-up (``register``), so this module never imports a later domain.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.errors import InvalidCode
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner, VerifiedCode
from app.core.db import is_unique_violation, write_transaction
from app.core.errors import NotFound, ValidationError
from cards import ledger
from cards import repository as repo
from cards.errors import (
    AlreadyReversed,
    CardInactive,
    CodeUsed,
    InsufficientBalance,
    NoVisitsLeft,
    ReversalWindowClosed,
    WrongCardKind,
    WrongStore,
)
from cards.schemas import PreviewOut, RedeemIn, RedemptionOut
from cards.service import KIND_CARD, effective_status, template_allows_store
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


class ScanHandler(Protocol):
    async def preview(self, scan: Scan) -> PreviewOut: ...

    async def redeem(self, scan: Scan) -> RedemptionOut:
        """Runs inside the caller's write transaction."""

    async def reverse(self, redemption: dict[str, Any], principal: Principal,
                      now: datetime) -> None:
        """Undo the effect of ``redemption`` (already marked reversed), same transaction."""


_handlers: dict[CodeKind, ScanHandler] = {}
ShortCodeResolver = Callable[[Principal, str], Awaitable[str]]
_short_code_resolver: list[ShortCodeResolver] = []


def register(kind: CodeKind, handler: ScanHandler) -> None:
    _handlers[kind] = handler


def register_short_codes(resolver: ShortCodeResolver) -> None:
    """The voucher domain turns a typed 12-digit short code into its signed code."""
    _short_code_resolver[:] = [resolver]


def redemption_out(row: dict[str, Any]) -> RedemptionOut:
    return RedemptionOut(
        id=row["id"], kind=row["kind"], action=row["action"], object_id=row["object_id"],
        store_id=row["store"], staff_id=row["staff"], amount_cents=row["amount_cents"],
        discount_cents=row["discount_cents"], charged_cents=row["charged_cents"],
        balance_after_cents=row["balance_after_cents"], visits_left=row["visits_left"],
        points_after=row["points_after"], created_at=row["created_at"],
        reversed_at=row["reversed_at"])


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def _scan(principal: Principal, body: RedeemIn, signer: CodeSigner) -> tuple[
        Scan, ScanHandler]:
    store = await stores.visible_store(principal, body.store_id)
    if (body.code is None) == (body.short_code is None):
        raise ValidationError("code", "give exactly one of code and short_code")
    if body.short_code is not None:
        if not _short_code_resolver:
            raise NotFound("no such short code")
        code = await _short_code_resolver[0](principal, body.short_code)
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


async def redeem(principal: Principal, body: RedeemIn, signer: CodeSigner) -> RedemptionOut:
    """Runs inside the caller's write transaction (see app.core.idempotency.run)."""
    scan, handler = await _scan(principal, body, signer)
    async with write_transaction():
        return await handler.redeem(scan)


async def reverse(principal: Principal, redemption_id: uuid.UUID) -> RedemptionOut:
    now = utcnow()
    row = await repo.get_redemption(redemption_id, principal.chain_id)
    if row is None or not principal.covers_store(row["store"]):
        raise NotFound("no such redemption")
    if row["reversed_at"] is not None:
        raise AlreadyReversed(f"reversed at {row['reversed_at'].isoformat()}")
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
                         end: date | None) -> list[RedemptionOut]:
    """The store's day sheet: redemptions between two local dates, inclusive."""
    store = await stores.visible_store(principal, store_id)
    zone = ZoneInfo(store["timezone"])
    today = utcnow().astimezone(zone).date()
    first, last = start or today, end or start or today
    if last < first:
        raise ValidationError("to", "must not be before from")
    if (last - first).days > 92:
        raise ValidationError("to", "at most 92 days at once")
    lower = datetime.combine(first, time.min, zone)
    upper = datetime.combine(last + timedelta(days=1), time.min, zone)
    return [redemption_out(r) for r in await repo.list_redemptions(store_id, lower, upper)]


# --- cards ------------------------------------------------------------------------------

class CardScans:
    """Charge, visit or earn with a member's dynamic card code."""

    async def _load(self, scan: Scan) -> tuple[dict[str, Any], dict[str, Any]]:
        card = await repo.get_card(scan.verified.payload.object_id, scan.principal.chain_id)
        if card is None:
            raise InvalidCode("the code names no card of this chain")
        template = await repo.get_template(card["template"], scan.principal.chain_id)
        assert template is not None
        if not template_allows_store(template, scan.store_id):
            raise WrongStore("this card is not valid at this store")
        status = effective_status(card, scan.now)
        if status != "active":
            raise CardInactive(f"the card is {status}")
        return card, template

    async def preview(self, scan: Scan) -> PreviewOut:
        card, template = await self._load(scan)
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
        if await _spent(scan.code):
            raise CodeUsed()
        return PreviewOut(kind="card", object_id=card["id"], member=member,
                          summary=", ".join(parts))

    async def redeem(self, scan: Scan) -> RedemptionOut:
        body = scan.body
        _, template = await self._load(scan)
        action = body.action
        if action is None:
            raise ValidationError("action", "a card code needs action charge, visit or earn")
        amount = body.amount_cents
        if action in ("charge", "earn") and not amount:
            raise ValidationError("amount_cents", f"{action} needs amount_cents > 0")
        redemption_id = uuid.uuid4()
        try:
            await repo.spend_code(code_hash(scan.code), redemption_id, scan.now)
        except Exception as exc:
            if is_unique_violation(exc):
                raise CodeUsed() from None
            raise
        card = await repo.lock_card(scan.verified.payload.object_id)
        assert card is not None
        status = effective_status(card, scan.now)
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
        entry = await ledger.append(card, delta, tiers=template["tiers"], now=scan.now,
                                    store_id=scan.store_id, staff_id=scan.principal.id,
                                    redemption_id=redemption_id)
        row = {
            "id": redemption_id, "chain": scan.principal.chain_id, "kind": "card",
            "action": action, "object_id": card["id"], "member_id": card["member"],
            "store": scan.store_id, "staff": scan.principal.id, "amount_cents": amount,
            "discount_cents": discount, "charged_cents": charged,
            "points_earned": delta.points, "balance_after_cents": entry["balance_after_cents"],
            "visits_left": entry["visits_after"], "points_after": entry["points_after"],
            "created_at": scan.now, "reversed_at": None, "reversed_by": None,
        }
        await repo.insert_redemption(row)
        return redemption_out(row)

    async def reverse(self, redemption: dict[str, Any], principal: Principal,
                      now: datetime) -> None:
        entry = await repo.ledger_entry_for(redemption["id"])
        card = await repo.lock_card(redemption["object_id"])
        assert entry is not None and card is not None
        template = await repo.get_template(card["template"], principal.chain_id)
        assert template is not None
        await ledger.append(card, ledger.Delta("reversal", cents=-entry["delta_cents"],
                                               points=-entry["delta_points"],
                                               visits=-entry["delta_visits"]),
                            tiers=template["tiers"], now=now, store_id=redemption["store"],
                            staff_id=principal.id, redemption_id=redemption["id"])


def _discount_percent(tier: str | None, tiers: list[dict[str, Any]]) -> int:
    for candidate in tiers:
        if candidate["name"] == tier:
            return int(candidate["discount_percent"])
    return 0


async def _spent(code: str) -> bool:
    return await repo.code_spent(code_hash(code))


register(KIND_CARD, CardScans())
