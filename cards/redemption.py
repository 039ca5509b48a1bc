"""The clerk's scan: one endpoint for every signed code, dispatched by the code's kind.

Each kind's handler lives beside its domain (``cards.card_scans``, ``cards.voucher_scans``,
``bookings.scans``) and is registered by the composition root (``create_app`` builds the
:class:`ScanHandlers` the endpoints are given), so this module imports none of them and
cards never imports bookings. Offline uploads are ``cards.sync``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from litestar import Response

from app.core import idempotency
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.errors import InvalidCode
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner, VerifiedCode
from app.core.db import write_transaction
from app.core.errors import NotFound, ValidationError
from app.core.throttle import Limit
from cards import repository as repo
from cards.errors import AlreadyReversed, ReversalWindowClosed
from cards.rows import LedgerRow
from cards.rows import RedemptionRow as RedemptionRow  # the door: ScanHandler.reverse's row
from cards.schemas import (
    PreviewOut,
    RedeemIn,
    RedemptionListOut,
    RedemptionOut,
    ReversalRefusal,
)
from cards.service import card_code_of_short_code
from stores import service as stores
from stores.rows import StoreRow

REVERSAL_WINDOW = timedelta(hours=24)
_KIND_OF = {"card": CodeKind.CARD, "voucher": CodeKind.VOUCHER, "booking": CodeKind.BOOKING}


@dataclass(frozen=True, slots=True)
class Scan:
    principal: Principal
    store: StoreRow
    code: str
    verified: VerifiedCode
    body: RedeemIn
    now: datetime

    @property
    def store_id(self) -> uuid.UUID:
        return self.store["id"]


C = TypeVar("C")


class ScanHandler(Protocol[C]):
    """What one kind of code does at the till. ``check`` and ``write`` are the two steps
    of :func:`app.core.idempotency.once`: the reads and checks (outside any transaction;
    on SQLite, outside the write lock), then the write, which opens its own write
    transaction or joins the caller's (the one that stores an Idempotency-Key's answer
    with it) and re-checks under its conditional update or lock whatever may have
    changed since."""

    async def preview(self, scan: Scan) -> PreviewOut: ...

    async def check(self, scan: Scan) -> C: ...

    async def write(self, scan: Scan, checked: C) -> RedemptionOut: ...

    async def reverse(self, redemption: RedemptionRow, principal: Principal,
                      now: datetime) -> None:
        """Undo the effect of ``redemption`` (already marked reversed), same transaction."""


class ScanHandlers:
    """The handler of each kind of code, built once by the composition root from what
    each domain exposes (its ``SCAN_HANDLERS``)."""

    __slots__ = ("_by_kind",)

    def __init__(self, *parts: Mapping[CodeKind, ScanHandler[Any]]) -> None:
        self._by_kind: dict[CodeKind, ScanHandler[Any]] = {}
        for part in parts:
            self._by_kind.update(part)

    def of(self, kind: CodeKind) -> ScanHandler[Any]:
        handler = self._by_kind.get(kind)
        if handler is None:
            raise InvalidCode("unknown code kind")
        return handler


# Misses on typed short codes: 12 digits must not be guessable by trying.
SHORT_CODE_MISSES_PER_CLERK = Limit("short-code-clerk", max_hits=20, window_s=600)
SHORT_CODE_MISSES_PER_STORE = Limit("short-code-store", max_hits=60, window_s=600)


async def code_of_short_code(principal: Principal, store_id: uuid.UUID,
                             short_code: str) -> str:
    clerk, store = str(principal.id), str(store_id)
    await SHORT_CODE_MISSES_PER_CLERK.check(clerk)
    await SHORT_CODE_MISSES_PER_STORE.check(store)
    row = await repo.voucher_by_short_code(short_code, principal.chain_id)
    if row is not None:
        return str(row["code"])
    # A card's short code stands for its dynamic code, expired or not (the verify that
    # follows answers code_expired) until it is purged a day later (decision 038).
    card_code = await card_code_of_short_code(short_code, principal.chain_id)
    if card_code is not None:
        return card_code
    await SHORT_CODE_MISSES_PER_CLERK.hit(clerk)
    await SHORT_CODE_MISSES_PER_STORE.hit(store)
    raise NotFound("no voucher or card has this short code")


class Staffer(Protocol):
    """Who records a redemption: a chain's staff member or API key (a :class:`Principal`
    at the till; a clerk of the large demo's generator, bench/demo_large.py). The row's
    ``staff`` is ``staff_id``: None for a key (never a key's id in a staff column)."""

    @property
    def staff_id(self) -> uuid.UUID | None: ...

    @property
    def chain_id(self) -> uuid.UUID: ...


def redemption_row(staff: Staffer, kind: str, subject: Mapping[str, Any],
                   store_id: uuid.UUID, at: datetime, *, redemption_id: uuid.UUID | None = None,
                   action: str | None = None, amount: int | None = None, discount: int = 0,
                   charged: int = 0, points_earned: int = 0,
                   entry: LedgerRow | None = None, recorded_at: datetime | None = None,
                   client_ref: str | None = None) -> RedemptionRow:
    """The redemption row of every kind: ``subject`` is the card, voucher or booking
    redeemed (its id and member), ``entry`` a card's ledger entry (the figures after),
    ``at`` the time of use and ``recorded_at`` the server's time of the write (default
    ``at``; later for an offline scan)."""
    return {
        "id": redemption_id or uuid.uuid4(), "chain": staff.chain_id, "kind": kind,
        "action": action, "object_id": subject["id"], "member_id": subject["member"],
        "store": store_id, "staff": staff.staff_id, "amount_cents": amount,
        "discount_cents": discount, "charged_cents": charged, "points_earned": points_earned,
        "balance_after_cents": None if entry is None else entry["balance_after_cents"],
        "visits_left": None if entry is None else entry["visits_after"],
        "points_after": None if entry is None else entry["points_after"],
        "created_at": recorded_at or at, "redeemed_at": at, "reversed_at": None,
        "reversed_by": None, "client_ref": client_ref,
    }


def redemption_out(row: RedemptionRow) -> RedemptionOut:
    return RedemptionOut(
        id=row["id"], kind=row["kind"], action=row["action"], object_id=row["object_id"],
        store_id=row["store"], staff_id=row["staff"], amount_cents=row["amount_cents"],
        discount_cents=row["discount_cents"], charged_cents=row["charged_cents"],
        balance_after_cents=row["balance_after_cents"], visits_left=row["visits_left"],
        points_after=row["points_after"], created_at=row["created_at"],
        reversed_at=row["reversed_at"], recorded_at=row["created_at"],
        redeemed_at=row["redeemed_at"] or row["created_at"],
        offline=row["client_ref"] is not None)


async def _scan(handlers: ScanHandlers, principal: Principal, body: RedeemIn,
                signer: CodeSigner) -> tuple[Scan, ScanHandler[Any]]:
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
    handler = handlers.of(verified.payload.kind)
    return Scan(principal, store, code, verified, body, now), handler


async def preview(handlers: ScanHandlers, principal: Principal, body: RedeemIn,
                  signer: CodeSigner) -> PreviewOut:
    scan, handler = await _scan(handlers, principal, body, signer)
    return await handler.preview(scan)


@dataclass(frozen=True, slots=True)
class _Checked:
    """A scan its handler checked, ready to write."""

    scan: Scan
    handler: ScanHandler[Any]
    checked: Any

    async def write(self) -> RedemptionOut:
        return await self.handler.write(self.scan, self.checked)


async def redeem(handlers: ScanHandlers, principal: Principal, body: RedeemIn,
                 signer: CodeSigner, call: idempotency.Call) -> Response[Any]:
    """Redeem once per Idempotency-Key (``idempotency.once``): a retry of a finished
    request is answered before the code is looked at again (a card's code may be past
    its 60 s by then). The code is resolved and verified outside any transaction, so a
    short-code miss is counted even though the request fails."""

    async def check() -> _Checked:
        scan, handler = await _scan(handlers, principal, body, signer)
        return _Checked(scan, handler, await handler.check(scan))

    return await idempotency.once(call, _Checked.write, check=check)


async def reverse(handlers: ScanHandlers, principal: Principal,
                  redemption_id: uuid.UUID) -> RedemptionOut:
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
    handler = handlers.of(_KIND_OF[row["kind"]])
    async with write_transaction():
        if not await repo.mark_reversed(redemption_id, now, principal.staff_id):
            raise AlreadyReversed()
        await handler.reverse(row, principal, now)
    updated = await repo.get_redemption(redemption_id, principal.chain_id)
    assert updated is not None
    return redemption_out(updated)


async def list_for_store(principal: Principal, store_id: uuid.UUID, start: date | None,
                         end: date | None, limit: int, offset: int) -> list[RedemptionListOut]:
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
    return await _day_sheet(principal, rows)


def reversal_refusal(principal: Principal, row: RedemptionRow,
                     now: datetime) -> ReversalRefusal | None:
    """Why the caller may not reverse the redemption (the rules of :func:`reverse` and
    its MANAGERS guard), or None when they may."""
    if row["reversed_at"] is not None:
        return "already_reversed"
    if principal.role not in ("operator", "manager") or not principal.covers_store(row["store"]):
        return "role"
    if now - row["created_at"] > REVERSAL_WINDOW:
        return "too_late"
    return None


async def _day_sheet(principal: Principal,
                     rows: list[RedemptionRow]) -> list[RedemptionListOut]:
    """The rows with the member, the card or campaign the till words them with, and
    whether the caller may reverse each (issue 17)."""
    now = utcnow()
    members = await stores.chain_members(
        principal.chain_id, [r["member_id"] for r in rows if r["member_id"] is not None])
    cards = await repo.cards_named([r["object_id"] for r in rows if r["kind"] == "card"])
    vouchers = await repo.vouchers_named(
        [r["object_id"] for r in rows if r["kind"] == "voucher"])
    out = []
    for row in rows:
        base = redemption_out(row)
        member = members.get(row["member_id"]) if row["member_id"] is not None else None
        card = cards.get(row["object_id"]) if row["kind"] == "card" else None
        voucher = vouchers.get(row["object_id"]) if row["kind"] == "voucher" else None
        refusal = reversal_refusal(principal, row, now)
        out.append(RedemptionListOut(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            member_id=row["member_id"],
            member_name=(member["name"] or None) if member is not None else None,
            member_phone_tail=stores.phone_tail(member["phone"]) if member is not None else None,
            card_number=card["number"] if card else None,
            card_kind=card["kind"] if card else None,
            template_name=card["template_name"] if card else None,
            campaign_name=voucher["campaign_name"] if voucher else None,
            campaign_kind=voucher["kind"] if voucher else None,
            reversible=refusal is None, not_reversible_reason=refusal))
    return out


