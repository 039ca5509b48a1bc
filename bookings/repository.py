"""Every query of the bookings domain. No rules here: callers decide what a row means."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.db import (
    InsertRow,
    Sql,
    current_engine,
    for_update,
    is_sqlite,
    json_column,
    select_list,
)
from bookings.rows import BookableRow, BookingRow, BookingView, HoldRow
from bookings.tables import Booking
from stores.rows import ServiceRow, StoreRow
from stores.tables import Service, Store

# Columns to write: a whole row to insert, some columns to update (a row type fits too).
Values = Mapping[str, Any]
# Statuses in which a booking holds its resource.
HOLDING = ("confirmed", "checked_in", "completed")
# The longest a booking can hold a resource (service at most 24 h plus buffer at most
# 4 h): lets the overlap query bound start_at from both sides and use its index.
LONGEST_HOLD = timedelta(hours=28)

# The statements of availability and of taking a slot are plain SQL (app.core.db.Sql):
# Piccolo built the joined ones slower than the database ran them (profiled).
_SERVICE = Sql(f"SELECT {select_list(Service, 's')} FROM service s "  # noqa: S608
               "WHERE s.id = {} AND s.store = {}")
_BOOKABLE = Sql(
    "SELECT r.id AS id, r.name AS name, r.capacity AS capacity, r.hours AS hours "
    "FROM resource_service rs JOIN resource r ON r.id = rs.resource "
    "WHERE rs.service = {} AND r.store = {} AND r.active = {} ORDER BY r.created_at, r.id")
_STORE_BY_ID = Sql(f"SELECT {select_list(Store, 's')} FROM store s "  # noqa: S608
                   "WHERE s.id = {}")
# What a reader of a booking sees beside its own columns: the names (store, service,
# resource, member), the store's zone and cut-off, and the redemption its completion made.
_VIEW_SQL = (
    "st.name AS store_name, st.timezone AS timezone, "
    "st.cancel_cutoff_minutes AS cancel_cutoff_minutes, sv.name AS service_name, "
    "r.name AS resource_name, m.name AS member_name, m.phone AS member_phone, "
    "rd.kind AS rd_kind, rd.action AS rd_action, rd.amount_cents AS rd_amount_cents, "
    "rd.charged_cents AS rd_charged_cents, rd.discount_cents AS rd_discount_cents, "
    "rd.visits_left AS rd_visits_left, rd.balance_after_cents AS rd_balance_after_cents, "
    "rd.points_after AS rd_points_after, rd.reversed_at AS rd_reversed_at "
    "FROM booking b JOIN store st ON st.id = b.store JOIN service sv ON sv.id = b.service "
    "JOIN resource r ON r.id = b.resource JOIN member m ON m.id = b.member "
    "LEFT JOIN redemption rd ON rd.id = b.redemption ")
_BOOKING = Sql(f"SELECT {select_list(Booking, 'b')}, {_VIEW_SQL}"
               "WHERE b.id = {} AND b.chain = {}")
_INSERT_BOOKING = InsertRow(Booking)
_HOLDING_SQL = ", ".join(f"'{s}'" for s in HOLDING)


@cache
def _holds_sql(resources: int, exclude: bool) -> Sql:
    ids = ", ".join("{}" for _ in range(resources))
    return Sql(
        "SELECT b.id AS id, b.resource AS resource, b.start_at AS start_at, "  # noqa: S608
        f"b.block_end_at AS block_end_at, b.party_size AS party_size FROM booking b "
        f"WHERE b.resource IN ({ids}) AND b.start_at < {{}} AND b.start_at > {{}} "
        f"AND b.block_end_at > {{}} AND b.status IN ({_HOLDING_SQL})"
        + (" AND b.id <> {}" if exclude else ""))


@cache
def _lock_resources_sql(resources: int) -> Sql:
    ids = ", ".join("{}" for _ in range(resources))
    return Sql(f"SELECT r.id AS id FROM resource r WHERE r.id IN ({ids}) "  # noqa: S608
               "ORDER BY r.id FOR UPDATE")



_BOOKING_COLUMNS = (
    *Booking.all_columns(),
    Booking.store.name.as_alias("store_name"),
    Booking.store.timezone.as_alias("timezone"),
    Booking.store.cancel_cutoff_minutes.as_alias("cancel_cutoff_minutes"),
    Booking.service.name.as_alias("service_name"),
    Booking.resource.name.as_alias("resource_name"),
    Booking.member.name.as_alias("member_name"),
    Booking.member.phone.as_alias("member_phone"),
    Booking.redemption.kind.as_alias("rd_kind"),
    Booking.redemption.action.as_alias("rd_action"),
    Booking.redemption.amount_cents.as_alias("rd_amount_cents"),
    Booking.redemption.charged_cents.as_alias("rd_charged_cents"),
    Booking.redemption.discount_cents.as_alias("rd_discount_cents"),
    Booking.redemption.visits_left.as_alias("rd_visits_left"),
    Booking.redemption.balance_after_cents.as_alias("rd_balance_after_cents"),
    Booking.redemption.points_after.as_alias("rd_points_after"),
    Booking.redemption.reversed_at.as_alias("rd_reversed_at"),
)


async def get_service(store_id: uuid.UUID, service_id: uuid.UUID) -> ServiceRow | None:
    return cast("ServiceRow | None", await _SERVICE.first(service_id, store_id))


async def bookable_resources(store_id: uuid.UUID, service_id: uuid.UUID) -> list[BookableRow]:
    """The store's active resources that perform the service, in one query."""
    rows = await _BOOKABLE.rows(service_id, store_id, True)
    for row in rows:
        row["hours"] = json_column(row["hours"])
    return cast("list[BookableRow]", rows)


async def holds_overlapping(resource_ids: Sequence[uuid.UUID], start: datetime,
                            end: datetime, exclude: uuid.UUID | None = None) -> list[HoldRow]:
    """Holding bookings of the resources that overlap [start, end), in one query."""
    if not resource_ids:
        return []
    statement = _holds_sql(len(resource_ids), exclude is not None)
    args: list[Any] = [*resource_ids, end, start - LONGEST_HOLD, start]
    if exclude is not None:
        args.append(exclude)
    return cast("list[HoldRow]", await statement.rows(*args))


async def insert_booking(values: Values) -> None:
    await _INSERT_BOOKING.run(values)


async def get_booking(booking_id: uuid.UUID, chain_id: uuid.UUID) -> BookingView | None:
    return cast("BookingView | None", await _BOOKING.first(booking_id, chain_id))


async def lock_booking(booking_id: uuid.UUID) -> BookingRow | None:
    return cast("BookingRow | None", await for_update(
        Booking.select().where(Booking.id == booking_id)).first().run())


async def move_status(booking_id: uuid.UUID, from_statuses: Sequence[str],
                      values: Values) -> bool:
    """Conditional update: True only for the caller that found the booking in one of
    ``from_statuses`` (two clerks pressing "complete" at once: one wins)."""
    rows = await Booking.update(**values).where(
        (Booking.id == booking_id) & Booking.status.is_in(list(from_statuses))
    ).returning(Booking.id).run()
    return bool(rows)


async def member_bookings(member_id: uuid.UUID, limit: int, offset: int,
                          store_ids: Sequence[uuid.UUID] | None = None) -> list[BookingView]:
    """A member's bookings, latest start first; only at ``store_ids`` when given."""
    where: Combinable = Booking.member == member_id
    if store_ids is not None:
        if not store_ids:
            return []
        where = where & Booking.store.is_in(list(store_ids))
    return cast("list[BookingView]", await Booking.select(*_BOOKING_COLUMNS).where(
        where).order_by(Booking.start_at, ascending=False).order_by(
        Booking.id).limit(limit).offset(offset).run())


async def store_bookings(store_id: uuid.UUID, start: datetime,
                         end: datetime) -> list[BookingView]:
    """Bookings of a store starting in [start, end), in order of start."""
    return cast("list[BookingView]", await Booking.select(*_BOOKING_COLUMNS).where(
        (Booking.store == store_id) & (Booking.start_at >= start) & (Booking.start_at < end)
    ).order_by(Booking.start_at).order_by(Booking.id).run())


async def get_store(store_id: uuid.UUID) -> StoreRow | None:
    """A store by id alone: availability is public (a booking page before any login)."""
    row = await _STORE_BY_ID.first(store_id)
    if row is not None:
        row["opening_hours"] = json_column(row["opening_hours"])
    return cast("StoreRow | None", row)


async def lock_resources(resource_ids: Sequence[uuid.UUID]) -> None:
    """Lock the resources in id order (one order for every caller: no deadlocks). SQLite
    needs no lock: its IMMEDIATE write transaction already serialises every writer."""
    if resource_ids and not is_sqlite(current_engine()):
        await _lock_resources_sql(len(resource_ids)).rows(*sorted(resource_ids))


async def move_booking(booking_id: uuid.UUID, values: Values) -> None:
    await Booking.update(**values).where(Booking.id == booking_id).run()
