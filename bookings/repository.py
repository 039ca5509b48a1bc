"""Every query of the bookings domain. No rules here: callers decide what a row means."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from app.core.db import for_update
from bookings.tables import Booking
from stores.tables import Resource, ResourceService, Service, Store

Row = dict[str, Any]
# Statuses in which a booking holds its resource.
HOLDING = ("confirmed", "checked_in", "completed")
# The longest a booking can hold a resource (service at most 24 h plus buffer at most
# 4 h): lets the overlap query bound start_at from both sides and use its index.
LONGEST_HOLD = timedelta(hours=28)

_BOOKING_COLUMNS = (
    *Booking.all_columns(),
    Booking.store.name.as_alias("store_name"),
    Booking.store.timezone.as_alias("timezone"),
    Booking.service.name.as_alias("service_name"),
    Booking.resource.name.as_alias("resource_name"),
)


async def get_service(store_id: uuid.UUID, service_id: uuid.UUID) -> Row | None:
    return await Service.select().where(
        (Service.id == service_id) & (Service.store == store_id)).first().run()


async def bookable_resources(store_id: uuid.UUID, service_id: uuid.UUID) -> list[Row]:
    """The store's active resources that perform the service, in one query."""
    link = ResourceService.resource
    rows = await ResourceService.select(
        link.id.as_alias("id"), link.name.as_alias("name"),
        link.capacity.as_alias("capacity"), link.hours.as_alias("hours"),
    ).where(
        (ResourceService.service == service_id) & (link.store == store_id)
        & (link.active == True)  # noqa: E712 - a SQL comparison
    ).order_by(link.created_at).order_by(link.id).output(load_json=True).run()
    return rows


async def holds_overlapping(resource_ids: Sequence[uuid.UUID], start: datetime,
                            end: datetime, exclude: uuid.UUID | None = None) -> list[Row]:
    """Holding bookings of the resources that overlap [start, end), in one query."""
    if not resource_ids:
        return []
    query = Booking.select(Booking.id, Booking.resource, Booking.start_at,
                           Booking.block_end_at, Booking.party_size).where(
        Booking.resource.is_in(list(resource_ids))
        & (Booking.start_at < end) & (Booking.start_at > start - LONGEST_HOLD)
        & (Booking.block_end_at > start) & Booking.status.is_in(list(HOLDING)))
    if exclude is not None:
        query = query.where(Booking.id != exclude)
    return await query.run()


async def insert_booking(values: Row) -> None:
    await Booking.insert(Booking(**values)).run()


async def get_booking(booking_id: uuid.UUID, chain_id: uuid.UUID) -> Row | None:
    return await Booking.select(*_BOOKING_COLUMNS).where(
        (Booking.id == booking_id) & (Booking.chain == chain_id)).first().run()


async def lock_booking(booking_id: uuid.UUID) -> Row | None:
    row: Row | None = await for_update(
        Booking.select().where(Booking.id == booking_id)).first().run()
    return row


async def move_status(booking_id: uuid.UUID, from_statuses: Sequence[str],
                      values: Row) -> bool:
    """Conditional update: True only for the caller that found the booking in one of
    ``from_statuses`` (two clerks pressing "complete" at once: one wins)."""
    rows = await Booking.update(**values).where(
        (Booking.id == booking_id) & Booking.status.is_in(list(from_statuses))
    ).returning(Booking.id).run()
    return bool(rows)


async def member_bookings(member_id: uuid.UUID, limit: int, offset: int) -> list[Row]:
    return await Booking.select(*_BOOKING_COLUMNS).where(Booking.member == member_id).order_by(
        Booking.start_at, ascending=False).order_by(Booking.id).limit(limit).offset(
        offset).run()


async def store_bookings(store_id: uuid.UUID, start: datetime, end: datetime) -> list[Row]:
    """Bookings of a store starting in [start, end), in order of start."""
    return await Booking.select(*_BOOKING_COLUMNS).where(
        (Booking.store == store_id) & (Booking.start_at >= start) & (Booking.start_at < end)
    ).order_by(Booking.start_at).order_by(Booking.id).run()


async def get_store(store_id: uuid.UUID) -> Row | None:
    """A store by id alone: availability is public (a booking page before any login)."""
    return await Store.select().where(Store.id == store_id).output(load_json=True).first().run()


async def lock_resources(resource_ids: Sequence[uuid.UUID]) -> None:
    """Lock the resources in id order (one order for every caller: no deadlocks)."""
    await for_update(Resource.select(Resource.id).where(
        Resource.id.is_in(list(resource_ids))).order_by(Resource.id)).run()


async def move_booking(booking_id: uuid.UUID, values: Row) -> None:
    await Booking.update(**values).where(Booking.id == booking_id).run()
