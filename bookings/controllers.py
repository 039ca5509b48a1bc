"""HTTP endpoints of the bookings domain: parse, guard, call one service function, return."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.core import idempotency
from app.core.auth import ANYONE, MEMBERS, PUBLIC, STAFF
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey, Offset, RuntimeDep
from bookings import service
from bookings.schemas import AvailabilityOut, BookingCreate, BookingOut, Complete, Reschedule
from bookings.service import MAX_LIST


class BookingController(Controller):
    path = "/bookings"
    tags = ["bookings"]

    @post("", guards=[ANYONE], summary="Book a slot (members; staff for a member)",
          responses=problems(404),
          description="Honours Idempotency-Key. 409 slot_unavailable when the slot is "
                      "gone or never existed; no resource is ever booked past capacity.")
    async def create(self, data: JSONBody[BookingCreate], principal: Caller,
                     runtime: RuntimeDep, request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[BookingOut]:
        # A retry is answered before the check: the slot it took is no longer free.
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda prepared: service.create_booking(principal, data, runtime.signer,
                                                    *prepared),
            check=lambda: service.prepare_booking(principal, data))

    @get("/{booking_id:uuid}", guards=[ANYONE], summary="One booking")
    async def read(self, booking_id: FromPath[uuid.UUID], principal: Caller,
                   runtime: RuntimeDep) -> BookingOut:
        return await service.get_booking(principal, booking_id, runtime.signer)

    @post("/{booking_id:uuid}/cancel", guards=[ANYONE], status_code=HTTP_200_OK,
          responses=problems(409),
          summary="Cancel (members until the store's cut-off; staff any time)")
    async def cancel(self, booking_id: FromPath[uuid.UUID], principal: Caller,
                     runtime: RuntimeDep) -> BookingOut:
        return await service.cancel(principal, booking_id, runtime.signer)

    @post("/{booking_id:uuid}/reschedule", guards=[ANYONE], status_code=HTTP_200_OK,
          summary="Move to a new start; the old slot is freed only if the new one is had",
          description="Honours Idempotency-Key.")
    async def reschedule(self, booking_id: FromPath[uuid.UUID], data: JSONBody[Reschedule],
                         principal: Caller, runtime: RuntimeDep,
                         request: Request[Any, Any, Any],
                         idempotency_key: IdempotencyKey = None) -> Response[BookingOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda prepared: service.reschedule(principal, runtime.signer, *prepared),
            check=lambda: service.prepare_reschedule(principal, booking_id, data),
            status_code=HTTP_200_OK)

    @post("/{booking_id:uuid}/check-in", guards=[STAFF], status_code=HTTP_200_OK,
          responses=problems(409),
          summary="Check the guest in (also done by scanning the booking's code)")
    async def check_in(self, booking_id: FromPath[uuid.UUID], principal: Caller,
                       runtime: RuntimeDep) -> BookingOut:
        return await service.check_in_by_id(principal, booking_id, runtime.signer)

    @post("/{booking_id:uuid}/complete", guards=[STAFF], status_code=HTTP_200_OK,
          summary="Complete the visit, redeeming the attached card or voucher",
          description="Honours Idempotency-Key.")
    async def complete(self, booking_id: FromPath[uuid.UUID], principal: Caller,
                       runtime: RuntimeDep, request: Request[Any, Any, Any],
                       data: JSONBody[Complete | None] = None,
                       idempotency_key: IdempotencyKey = None) -> Response[BookingOut]:
        body = data or Complete()
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, body),
            lambda: service.complete(principal, booking_id, body, runtime.signer),
            status_code=HTTP_200_OK)

    @post("/{booking_id:uuid}/no-show", guards=[STAFF], status_code=HTTP_200_OK,
          responses=problems(409),
          summary="Mark a guest who did not come (after the start)",
          description="Honours Idempotency-Key (it may use up a card's visit): a retry "
                      "gets the first answer, not 409.")
    async def no_show(self, booking_id: FromPath[uuid.UUID], principal: Caller,
                      runtime: RuntimeDep, request: Request[Any, Any, Any],
                      idempotency_key: IdempotencyKey = None) -> Response[BookingOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda: service.no_show(principal, booking_id, runtime.signer),
            status_code=HTTP_200_OK)


class MyBookingsController(Controller):
    path = "/me/bookings"
    tags = ["bookings"]

    @get("", guards=[MEMBERS], summary="The member's bookings, latest start first")
    async def list_(self, principal: Caller, runtime: RuntimeDep,
                    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIST)] = 50,
                    offset: Offset = 0) -> list[BookingOut]:
        return await service.my_bookings(principal, limit, offset, runtime.signer)


class StoreBookingsController(Controller):
    path = "/stores"
    tags = ["bookings"]

    @get("/{store_id:uuid}/availability", opt=PUBLIC, cache=False,
         summary="Free slots of a local day (no login needed)")
    async def availability(
        self, store_id: FromPath[uuid.UUID], service_id: FromQuery[uuid.UUID],
        date_: Annotated[date, QueryParameter(name="date")],
        party_size: Annotated[int, QueryParameter(ge=1, le=100)] = 1,
    ) -> AvailabilityOut:
        return await service.availability(store_id, service_id, date_, party_size)

    @get("/{store_id:uuid}/bookings", guards=[STAFF],
         summary="The store's bookings starting on a local date (default today)")
    async def day(self, store_id: FromPath[uuid.UUID], principal: Caller, runtime: RuntimeDep,
                  date_: Annotated[date | None, QueryParameter(name="date")] = None,
                  ) -> list[BookingOut]:
        return await service.store_day(principal, store_id, date_, runtime.signer)


class MemberBookingsController(Controller):
    path = "/members"
    tags = ["bookings"]

    @get("/{member_id:uuid}/bookings", guards=[STAFF],
         summary="A member's bookings, latest start first (staff)",
         description="Operators: every store of the chain; managers and clerks: the "
                     "stores they cover. A member the caller may not see is 404.")
    async def list_(self, member_id: FromPath[uuid.UUID], principal: Caller,
                    runtime: RuntimeDep,
                    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIST)] = 50,
                    offset: Offset = 0) -> list[BookingOut]:
        return await service.member_bookings(principal, member_id, limit, offset,
                                             runtime.signer)


CONTROLLERS = [BookingController, MyBookingsController, StoreBookingsController,
               MemberBookingsController]
