"""The rules of bookings: availability, taking a slot without overbooking, the lifecycle.

Taking a slot: validate outside any transaction (reads only), then in the write
transaction lock the candidate resources (PostgreSQL ``FOR UPDATE``; SQLite's immediate
transaction already serialises writers), read the holding bookings that overlap, and
insert only if the party still fits at every instant. On PostgreSQL an exclusion
constraint backs this up for capacity-1 resources.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from app.core import events as feed
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner
from app.core.db import is_exclusion_violation, savepoint, write_transaction
from app.core.errors import AppError, Forbidden, NotFound, ValidationError
from bookings import notices
from bookings import repository as repo
from bookings.errors import InvalidState, NotCancellable, SlotUnavailable, VoucherNotHeld
from bookings.rows import BookableRow, BookingView, HoldRow
from bookings.schemas import (
    AvailabilityOut,
    BookingCreate,
    BookingOut,
    BookingRedemption,
    ChangeRefusal,
    Complete,
    Reschedule,
    SlotOut,
    SlotResource,
)
from bookings.slots import Bookable, Hold, fits, free_slots, local_day_bounds, on_grid
from cards import public as cards
from cards.errors import VoucherGifting
from stores import service as stores
from stores.rows import ServiceRow, StoreRow

# A clerk may check a guest in (or complete the visit) from this long before the start.
EARLY_ARRIVAL = timedelta(hours=1)
MAX_LIST = 200


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated request for a slot, ready for the write transaction."""

    store: StoreRow
    service: ServiceRow
    candidates: list[Bookable]
    start: datetime
    end: datetime
    block_end: datetime
    party_size: int

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.store["timezone"])


# --- rendering --------------------------------------------------------------------------

def cancellable_until(row: BookingView) -> datetime:
    """The last instant a member may still cancel or move the booking: its start minus
    the store's cut-off. Staff have no cut-off."""
    return row["start_at"] - timedelta(minutes=row["cancel_cutoff_minutes"])


def change_rights(row: BookingView, is_staff: bool,
                  now: datetime) -> tuple[bool, bool, ChangeRefusal | None]:
    """(may cancel, may reschedule, why not) for a caller: the rules cancel and
    reschedule enforce, told ahead so a page never offers a button that can only fail."""
    cancel_statuses = ("confirmed", "checked_in") if is_staff else ("confirmed",)
    can_cancel = row["status"] in cancel_statuses
    can_move = row["status"] == "confirmed"
    reason: ChangeRefusal | None = None
    if not (can_cancel and can_move):
        reason = "status"
    elif not is_staff and now > cancellable_until(row):
        can_cancel = can_move = False
        reason = "cutoff_passed"
    return can_cancel, can_move, reason


def _redemption(row: BookingView) -> BookingRedemption | None:
    if row["redemption"] is None or row["rd_kind"] is None:
        return None
    return BookingRedemption(
        id=row["redemption"], kind=row["rd_kind"], action=row["rd_action"],
        amount_cents=row["rd_amount_cents"], charged_cents=row["rd_charged_cents"] or 0,
        discount_cents=row["rd_discount_cents"] or 0, visits_left=row["rd_visits_left"],
        balance_after_cents=row["rd_balance_after_cents"],
        points_after=row["rd_points_after"], reversed_at=row["rd_reversed_at"])


async def booking_out(row: BookingView, signer: CodeSigner,
                      principal: Principal) -> BookingOut:
    """The booking as a person reads it: times in the store's zone; the signed check-in
    code while the booking is still to come (it expires when the service ends); what the
    caller may still change."""
    code = None
    if row["status"] == "confirmed":
        code = await signer.sign(row["chain"], CodeKind.BOOKING, row["id"], row["end_at"])
    return _booking_out(row, code, principal.is_staff, utcnow())


async def emit_booking(event_type: str, row: BookingView, now: datetime) -> None:
    """Write the feed's event about the booking ``row`` (as it is after the change) in
    the caller's write transaction: the booking as staff read it, without its check-in
    code (a code checks the guest in: it is the member's to show, not the feed's)."""
    out = _booking_out(row, None, True, now)
    await feed.emit(event_type, chain_id=row["chain"], object_id=row["id"],
                    store_id=row["store"], data=msgspec.to_builtins(out))


def _booking_out(row: BookingView, code: str | None, is_staff: bool,
                 now: datetime) -> BookingOut:
    zone = ZoneInfo(row["timezone"])
    can_cancel, can_move, reason = change_rights(row, is_staff, now)
    return BookingOut(
        id=row["id"], status=row["status"], store_id=row["store"], service_id=row["service"],
        resource_id=row["resource"], start=row["start_at"].astimezone(zone),
        end=row["end_at"].astimezone(zone), party_size=row["party_size"],
        member_id=row["member"], code=code, store_name=row["store_name"],
        service_name=row["service_name"], resource_name=row["resource_name"],
        card_id=row["card"], voucher_id=row["voucher"], redemption_id=row["redemption"],
        note=row["note"], created_at=row["created_at"], cancelled_at=row["cancelled_at"],
        checked_in_at=row["checked_in_at"], completed_at=row["completed_at"],
        no_show_at=row["no_show_at"],
        cancellable_until=cancellable_until(row).astimezone(zone), can_cancel=can_cancel,
        can_reschedule=can_move, cannot_change_reason=reason,
        any_resource=row["any_resource"], member_name=row["member_name"] or None,
        member_phone_tail=stores.phone_tail(row["member_phone"]), redemption=_redemption(row))


async def _emit_after(event_type: str, principal: Principal, booking_id: uuid.UUID,
                      now: datetime) -> BookingView:
    """The booking as a change left it, read in the change's write transaction, and the
    feed's event about it written there."""
    row = await repo.get_booking(booking_id, principal.chain_id)
    assert row is not None
    await emit_booking(event_type, row, now)
    return row


async def _reload(principal: Principal, booking_id: uuid.UUID,
                  signer: CodeSigner) -> BookingOut:
    row = await repo.get_booking(booking_id, principal.chain_id)
    assert row is not None
    return await booking_out(row, signer, principal)


# --- availability -----------------------------------------------------------------------

def _bookable(rows: Sequence[BookableRow]) -> list[Bookable]:
    return [Bookable(id=r["id"], capacity=r["capacity"], hours=r["hours"]) for r in rows]


def _holds_by_resource(rows: Sequence[HoldRow]) -> dict[Any, list[Hold]]:
    holds: dict[Any, list[Hold]] = {}
    for row in rows:
        holds.setdefault(row["resource"], []).append(
            Hold(row["start_at"], row["block_end_at"], row["party_size"]))
    return holds


def _earliest(store: StoreRow, now: datetime) -> datetime:
    return now + timedelta(minutes=store["booking_lead_minutes"])


def _horizon_end(store: StoreRow, now: datetime) -> datetime:
    """The first instant past the booking horizon: the end of the horizon's last day."""
    zone = ZoneInfo(store["timezone"])
    last_day = now.astimezone(zone).date() + timedelta(days=store["booking_horizon_days"])
    return local_day_bounds(last_day, zone)[1]


async def _public_store_service(store_id: uuid.UUID,
                                service_id: uuid.UUID) -> tuple[StoreRow, ServiceRow]:
    store = await repo.get_store(store_id)
    service = await repo.get_service(store_id, service_id) if store else None
    if store is None or service is None or not service["active"]:
        raise NotFound("no such store or service")
    return store, service


async def availability(store_id: uuid.UUID, service_id: uuid.UUID, day: date,
                       party_size: int) -> AvailabilityOut:
    """Free slots of a local day: four queries whatever the number of resources and
    bookings (store, service, resources, the day's holds)."""
    if not 2000 <= day.year <= 2100:  # year 1 or 9999 overflows the local day's bounds
        raise ValidationError("date", "must be a date between 2000 and 2100")
    store, service = await _public_store_service(store_id, service_id)
    zone = ZoneInfo(store["timezone"])
    now = utcnow()
    cutoff = timedelta(minutes=store["cancel_cutoff_minutes"])
    out = AvailabilityOut(store_id=store_id, service_id=service_id, date=day.isoformat(),
                          timezone=store["timezone"], party_size=party_size,
                          cancel_cutoff_minutes=store["cancel_cutoff_minutes"], slots=[])
    first, after = local_day_bounds(day, zone)
    earliest = max(_earliest(store, now), first)
    if earliest >= after or first >= _horizon_end(store, now):
        return out
    rows = await repo.bookable_resources(store_id, service_id)
    names = {r["id"]: r["name"] for r in rows}
    resources = [r for r in _bookable(rows) if r.capacity >= party_size]
    duration = timedelta(minutes=service["duration_minutes"])
    buffer = timedelta(minutes=service["buffer_minutes"])
    holds = _holds_by_resource(await repo.holds_overlapping(
        [r.id for r in resources], first, after + duration + buffer))
    for slot in free_slots(day=day, zone=zone, earliest=earliest,
                           store_hours=store["opening_hours"], resources=resources,
                           holds=holds, duration=duration, buffer=buffer, seats=party_size):
        until = slot.start - cutoff
        out.slots.append(SlotOut(start=slot.start.astimezone(zone),
                                 end=slot.end.astimezone(zone),
                                 resource_ids=slot.resource_ids,
                                 resources=[SlotResource(id=r, name=names[r])
                                            for r in slot.resource_ids],
                                 cancellable_until=until.astimezone(zone),
                                 inside_cutoff=now > until))
    return out


# --- taking a slot ----------------------------------------------------------------------

async def _plan(store: StoreRow, service_id: uuid.UUID, start: datetime,
                party_size: int, resource_id: uuid.UUID | None,
                now: datetime) -> Plan:
    """Check a wanted start against the grid, the lead time, the horizon and the store's
    hours, and find the resources that could take it. Reads only."""
    service = await repo.get_service(store["id"], service_id)
    if service is None or not service["active"]:
        raise NotFound("no such service at this store")
    zone = ZoneInfo(store["timezone"])
    start = start.astimezone(UTC)
    end = start + timedelta(minutes=service["duration_minutes"])
    block_end = end + timedelta(minutes=service["buffer_minutes"])
    if not on_grid(start, zone):
        raise SlotUnavailable("starts are on the quarter hour, store time")
    if start < _earliest(store, now):
        raise SlotUnavailable("this start is in the past or inside the store's lead time")
    if start >= _horizon_end(store, now):
        raise SlotUnavailable("this start is beyond the store's booking horizon")
    candidates = _bookable(await repo.bookable_resources(store["id"], service_id))
    if resource_id is not None:
        candidates = [c for c in candidates if c.id == resource_id]
        if not candidates:
            raise SlotUnavailable("this resource does not offer the service here")
    candidates = [c for c in candidates if c.capacity >= party_size]
    if not candidates:
        raise SlotUnavailable("no resource here takes a party of this size")
    return Plan(store=store, service=service, candidates=candidates, start=start, end=end,
                block_end=block_end, party_size=party_size)


async def _take(plan: Plan, exclude: uuid.UUID | None = None) -> Bookable:
    """Inside the write transaction: lock the candidates, pick the first that still has
    room for the party over the whole block. Raises SlotUnavailable."""
    ids = sorted(c.id for c in plan.candidates)  # one lock order: no deadlocks
    await repo.lock_resources(ids)
    holds = _holds_by_resource(await repo.holds_overlapping(ids, plan.start, plan.block_end,
                                                            exclude=exclude))
    for candidate in plan.candidates:
        if fits(candidate, plan.store["opening_hours"], holds.get(candidate.id, []),
                plan.start, plan.end, plan.block_end, plan.party_size, plan.zone):
            return candidate
    raise SlotUnavailable("the slot is taken or outside opening hours")


async def _member_for(principal: Principal, body: BookingCreate) -> uuid.UUID:
    if not principal.is_staff:
        if body.member_id is not None and body.member_id != principal.id:
            raise ValidationError("member_id", "members book for themselves")
        return principal.id
    if body.member_id is None:
        raise ValidationError("member_id", "staff book for a member: give member_id")
    member = await stores.get_member(principal, body.member_id)
    return member.id


def _check_attachment(body: BookingCreate) -> None:
    if body.card_id is not None and body.voucher_id is not None:
        raise ValidationError("voucher_id", "attach a card or a voucher, not both")


async def prepare_booking(principal: Principal, body: BookingCreate) -> tuple[
        Plan, uuid.UUID]:
    """Every check that needs no lock, outside the write transaction."""
    member_id = await _member_for(principal, body)
    store = await stores.visible_store(principal, body.store_id)
    plan = await _plan(store, body.service_id, body.start, body.party_size,
                       body.resource_id, utcnow())
    # An attached card or voucher must plausibly pay for the visit when it comes.
    _check_attachment(body)
    await cards.payable(principal, member_id, body.store_id,
                        price_cents=plan.service["price_cents"], at=plan.start,
                        card_id=body.card_id, voucher_id=body.voucher_id)
    return plan, member_id


async def create_booking(principal: Principal, body: BookingCreate, signer: CodeSigner,
                         plan: Plan, member_id: uuid.UUID) -> BookingOut:
    """The write of a booking that :func:`prepare_booking` checked, in one transaction
    (joining the one that stores an Idempotency-Key's answer)."""
    async with write_transaction():
        return await _create_booking(principal, body, plan, member_id, signer)


async def _create_booking(principal: Principal, body: BookingCreate, plan: Plan,
                          member_id: uuid.UUID, signer: CodeSigner) -> BookingOut:
    resource = await _take(plan)
    now = utcnow()
    booking_id = uuid.uuid4()
    # No savepoint: an overlap refused here fails the whole transaction, which the
    # refusal leaves at once (the idempotency record is written in a fresh one).
    try:
        await repo.insert_booking({
            "id": booking_id, "chain": principal.chain_id, "store": plan.store["id"],
            "service": plan.service["id"], "resource": resource.id, "member": member_id,
            "start_at": plan.start, "end_at": plan.end, "block_end_at": plan.block_end,
            "party_size": plan.party_size, "status": "confirmed",
            "exclusive": resource.capacity == 1,
            "any_resource": body.resource_id is None, "card": body.card_id,
            "voucher": body.voucher_id, "note": (body.note or "").strip(),
            "booked_by": principal.staff_id,
            "created_at": now, "updated_at": now,
        })
    except Exception as exc:
        if is_exclusion_violation(exc):  # the PostgreSQL backstop caught an overlap
            raise SlotUnavailable("the slot was just taken") from None
        raise
    row = await repo.get_booking(booking_id, principal.chain_id)
    assert row is not None
    await notices.confirmed(row, plan.store["reminder_minutes"])
    await emit_booking(feed.types.BOOKING_CREATED, row, now)
    return await booking_out(row, signer, principal)


# --- reading ----------------------------------------------------------------------------

async def visible_booking(principal: Principal, booking_id: uuid.UUID) -> BookingView:
    """Members see their own bookings, staff those of the stores they cover. Else 404."""
    row = await repo.get_booking(booking_id, principal.chain_id)
    if row is None:
        raise NotFound("no such booking")
    if principal.is_staff and not principal.covers_store(row["store"]):
        raise NotFound("no such booking")
    if not principal.is_staff and row["member"] != principal.id:
        raise NotFound("no such booking")
    return row


async def get_booking(principal: Principal, booking_id: uuid.UUID,
                      signer: CodeSigner) -> BookingOut:
    return await booking_out(await visible_booking(principal, booking_id), signer, principal)


async def my_bookings(principal: Principal, limit: int, offset: int,
                      signer: CodeSigner) -> list[BookingOut]:
    rows = await repo.member_bookings(principal.id, min(limit, MAX_LIST), offset)
    return [await booking_out(r, signer, principal) for r in rows]


async def member_bookings(principal: Principal, member_id: uuid.UUID, limit: int,
                          offset: int, signer: CodeSigner) -> list[BookingOut]:
    """A member's bookings as staff see them (the clerk's lookup, the operator's members
    page): 404 for a member the caller may not see, as GET /members/{id}; managers and
    clerks see the bookings at the stores they cover, operators all."""
    _staff_only(principal)
    await stores.get_member(principal, member_id)
    store_ids = None if principal.is_operator else sorted(principal.store_ids)
    rows = await repo.member_bookings(member_id, min(limit, MAX_LIST), offset, store_ids)
    return [await booking_out(r, signer, principal) for r in rows]


async def store_day(principal: Principal, store_id: uuid.UUID, day: date | None,
                    signer: CodeSigner) -> list[BookingOut]:
    """The clerk's day sheet: bookings starting on a local date (default today)."""
    store = await stores.visible_store(principal, store_id)
    zone = ZoneInfo(store["timezone"])
    day = day or utcnow().astimezone(zone).date()
    if not 2000 <= day.year <= 2100:
        raise ValidationError("date", "must be a date between 2000 and 2100")
    first, after = local_day_bounds(day, zone)
    return [await booking_out(r, signer, principal)
            for r in await repo.store_bookings(store_id, first, after)]


# --- the lifecycle ----------------------------------------------------------------------

async def cancel(principal: Principal, booking_id: uuid.UUID,
                 signer: CodeSigner) -> BookingOut:
    """A member may cancel a confirmed booking until the store's cut-off; staff any time
    before it is completed."""
    row = await visible_booking(principal, booking_id)
    now = utcnow()
    allowed: tuple[str, ...] = ("confirmed", "checked_in") if principal.is_staff else (
        "confirmed",)
    if row["status"] not in allowed:
        raise InvalidState(f"a {row['status']} booking cannot be cancelled")
    if not principal.is_staff:
        _before_cutoff(row, now)
    async with write_transaction():
        if not await repo.move_status(booking_id, allowed, {
                "status": "cancelled", "cancelled_at": now, "updated_at": now}):
            raise InvalidState("the booking changed meanwhile")
        await notices.cancelled(row)
        after = await _emit_after(feed.types.BOOKING_CANCELLED, principal, booking_id, now)
    return await booking_out(after, signer, principal)


def _before_cutoff(row: BookingView, now: datetime) -> None:
    cutoff = cancellable_until(row)
    if now > cutoff:
        zone = ZoneInfo(row["timezone"])
        raise NotCancellable(
            f"changes are possible until {cutoff.astimezone(zone).isoformat()}; "
            "please call the store")


async def prepare_reschedule(principal: Principal, booking_id: uuid.UUID,
                             body: Reschedule) -> tuple[BookingView, Plan]:
    row = await visible_booking(principal, booking_id)
    if row["status"] != "confirmed":
        raise InvalidState(f"a {row['status']} booking cannot be moved")
    now = utcnow()
    if not principal.is_staff:
        _before_cutoff(row, now)
    store = await stores.visible_store(principal, row["store"])
    # A booking made for "any" stylist may move to another one; a named one stays named.
    wanted = body.resource_id or (None if row["any_resource"] else row["resource"])
    plan = await _plan(store, row["service"], body.start, row["party_size"], wanted, now)
    if wanted is None:  # try the current resource first: the guest may like them
        plan.candidates.sort(key=lambda c: c.id != row["resource"])
    return row, plan


async def reschedule(principal: Principal, signer: CodeSigner, row: BookingView,
                     plan: Plan) -> BookingOut:
    """Move a booking atomically: the new slot is taken (ignoring the booking's own hold)
    and the old one freed in one transaction, or nothing changes."""
    async with write_transaction():
        return await _move(principal, row, plan, signer)


async def _move(principal: Principal, row: BookingView, plan: Plan,
                signer: CodeSigner) -> BookingOut:
    locked = await repo.lock_booking(row["id"])
    assert locked is not None
    if locked["status"] != "confirmed":
        raise InvalidState(f"a {locked['status']} booking cannot be moved")
    resource = await _take(plan, exclude=row["id"])
    now = utcnow()
    try:  # no savepoint, as in create_booking
        await repo.move_booking(row["id"], {
            "resource": resource.id, "start_at": plan.start, "end_at": plan.end,
            "block_end_at": plan.block_end, "exclusive": resource.capacity == 1,
            "updated_at": now})
    except Exception as exc:
        if is_exclusion_violation(exc):
            raise SlotUnavailable("the slot was just taken") from None
        raise
    after = await repo.get_booking(row["id"], principal.chain_id)
    assert after is not None
    await notices.moved(row, after, plan.store["reminder_minutes"])
    await emit_booking(feed.types.BOOKING_RESCHEDULED, after, now)
    return await booking_out(after, signer, principal)


def _staff_only(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("requires staff of the booking's store")


def _arrival_window(row: BookingView, now: datetime) -> None:
    if now < row["start_at"] - EARLY_ARRIVAL:
        raise InvalidState("too early: the booking starts at "
                           f"{row['start_at'].astimezone(ZoneInfo(row['timezone'])).isoformat()}")


def check_in_allowed(row: BookingView, now: datetime) -> None:
    """Whether the booking ``row`` may be checked in at ``now``: the rule shared by the
    check-in and the scan's preview, so that a preview never says yes where the check-in
    says no."""
    if row["status"] != "confirmed":
        raise InvalidState(f"the booking is {row['status']}")
    _arrival_window(row, now)
    if now > row["end_at"]:
        raise InvalidState("the booked time is over: mark it completed or no-show")


async def check_in(principal: Principal, booking_id: uuid.UUID,
                   now: datetime) -> BookingView:
    """Confirmed → checked_in, from an hour before the start until the service ends.
    Runs in the caller's write transaction; returns the booking as it was."""
    _staff_only(principal)
    row = await visible_booking(principal, booking_id)
    check_in_allowed(row, now)
    if not await repo.move_status(booking_id, ("confirmed",), {
            "status": "checked_in", "checked_in_at": now, "updated_at": now}):
        raise InvalidState("the booking changed meanwhile")
    await _emit_after(feed.types.BOOKING_CHECKED_IN, principal, booking_id, now)
    return row


async def check_in_by_id(principal: Principal, booking_id: uuid.UUID,
                         signer: CodeSigner) -> BookingOut:
    async with write_transaction():
        await check_in(principal, booking_id, utcnow())
    return await _reload(principal, booking_id, signer)


async def complete(principal: Principal, booking_id: uuid.UUID, body: Complete,
                   signer: CodeSigner) -> BookingOut:
    """Confirmed or checked in → completed, redeeming the attached card or voucher in the
    same transaction: if the payment fails (no visits left...) nothing changes."""
    _staff_only(principal)
    row = await visible_booking(principal, booking_id)
    now = utcnow()
    _arrival_window(row, now)
    if row["card"] is None and row["voucher"] is None and body.action is not None:
        raise ValidationError("action", "no card is attached to this booking")
    store = await stores.chain_store(row["store"], principal.chain_id)
    assert store is not None
    # Read before the write lock: the price only fills in an amount nobody gave.
    service = await repo.get_service(row["store"], row["service"])
    price = 0 if service is None else service["price_cents"]
    async with write_transaction():
        locked = await repo.lock_booking(booking_id)
        assert locked is not None
        if locked["status"] not in ("confirmed", "checked_in"):
            raise InvalidState(f"the booking is {locked['status']}")
        redemption_id = None
        if row["card"] is not None or row["voucher"] is not None:
            redemption_id = await _pay_attached(principal, row, store, now, body, price)
        await repo.move_status(booking_id, ("confirmed", "checked_in"), {
            "status": "completed", "completed_at": now, "updated_at": now,
            "redemption": redemption_id})
        await notices.settled(row)
        after = await _emit_after(feed.types.BOOKING_COMPLETED, principal, booking_id, now)
    return await booking_out(after, signer, principal)


async def _pay_attached(principal: Principal, row: BookingView, store: StoreRow,
                        now: datetime, body: Complete, price: int) -> uuid.UUID:
    """The completion's payment with the attached card or voucher (its redemption's id).
    A voucher the member has given away since booking answers 409 with what the clerk
    can do, not cards' 404 (which only says it is not the member's)."""
    try:
        return (await cards.pay(principal, store, now, card_id=row["card"],
                                voucher_id=row["voucher"], action=body.action,
                                amount=body.amount_cents, price_cents=price,
                                member_id=row["member"])).id
    except VoucherGifting:
        raise VoucherGifting(
            "the member is giving this booking's voucher to a friend: it cannot pay until "
            "the member cancels the gift (or it expires, within 24 h); or cancel the "
            "booking and take the payment at the till",
            voucher_id=str(row["voucher"])) from None
    except NotFound:
        if row["voucher"] is None:
            raise
        # The booking's voucher is in the chain (it was the member's when booked), so a
        # 404 here means it now belongs to someone else: the friend's, never spent here.
        raise VoucherNotHeld(
            "the member gave this booking's voucher to another member since booking, so "
            "it cannot pay for this visit: cancel the booking and take the payment at the "
            "till (or book again without the voucher)",
            voucher_id=str(row["voucher"])) from None


async def no_show(principal: Principal, booking_id: uuid.UUID,
                  signer: CodeSigner) -> BookingOut:
    """Confirmed → no_show once the start has passed. If the store says so, the attached
    times card loses one visit (best effort: a card that cannot pay does not block)."""
    _staff_only(principal)
    row = await visible_booking(principal, booking_id)
    now = utcnow()
    if now < row["start_at"]:
        raise InvalidState("the booking has not started yet")
    store = await stores.chain_store(row["store"], principal.chain_id)
    assert store is not None
    async with write_transaction():
        if not await repo.move_status(booking_id, ("confirmed",), {
                "status": "no_show", "no_show_at": now, "updated_at": now}):
            raise InvalidState(f"the booking is {row['status']}")
        await notices.settled(row)
        if store["no_show_consumes_visit"] and row["card"] is not None:
            try:
                async with savepoint():
                    penalty = await cards.pay(principal, store, now, card_id=row["card"],
                                              action="visit")
                    await repo.move_status(booking_id, ("no_show",),
                                           {"redemption": penalty.id})
            except AppError:
                pass  # not a times card, or nothing left: the no-show stands alone
        after = await _emit_after(feed.types.BOOKING_NO_SHOW, principal, booking_id, now)
    return await booking_out(after, signer, principal)
