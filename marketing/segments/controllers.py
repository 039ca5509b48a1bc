"""HTTP endpoints of segments: parse, guard, call one service function, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from app.core.auth import MANAGERS
from app.core.openapi import problems
from app.core.params import Caller, Offset
from marketing.segments import service
from marketing.segments.schemas import (
    MembersOut,
    PreviewIn,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
)

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="at most this many members")]

_SCOPE = ("Operators: the whole chain; a manager: their stores' members only (registered "
          "at one of their stores, or with a visit there).")
_FILTERS = ("Filters (all optional, AND-ed; dates are the chain's local days, _after "
            "inclusive, _before exclusive): last_visit_before, last_visit_after, "
            "joined_after, joined_before, visits_min, visits_max, spend_min_cents, "
            "spend_max_cents (within the last window_days, 1-730, default 90), tiers, "
            "card_template_ids, store_ids (visited in the window), birthday_month, "
            "has_phone. A visit is a non-reversed redemption; spend its charged_cents. "
            "An unknown filter is a 400 validation_error naming it.")


class SegmentController(Controller):
    path = "/segments"
    tags = ["marketing"]

    @post("/preview", guards=[MANAGERS], status_code=HTTP_200_OK, responses=problems(400),
          summary="How many members the filters pick, and the first 50",
          description=_FILTERS + " " + _SCOPE)
    async def preview(self, data: JSONBody[PreviewIn], principal: Caller) -> MembersOut:
        return await service.preview(principal, data)

    @post("", guards=[MANAGERS], responses=problems(400), summary="Save a segment",
          description="Saved as filters, evaluated whenever it is used. " + _FILTERS)
    async def create(self, data: JSONBody[SegmentIn], principal: Caller) -> SegmentOut:
        return await service.create_segment(principal, data)

    @get("", guards=[MANAGERS], summary="The chain's segments, newest first")
    async def list_(self, principal: Caller) -> list[SegmentOut]:
        return await service.list_segments(principal)

    @get("/{segment_id:uuid}", guards=[MANAGERS], responses=problems(404),
         summary="One segment")
    async def read(self, segment_id: FromPath[uuid.UUID], principal: Caller) -> SegmentOut:
        return await service.get_segment(principal, segment_id)

    @patch("/{segment_id:uuid}", guards=[MANAGERS], responses=problems(400, 403, 404),
           summary="Rename a segment or change its filters",
           description="Operators, or the manager who made it.")
    async def update(self, segment_id: FromPath[uuid.UUID], data: JSONBody[SegmentPatch],
                     principal: Caller) -> SegmentOut:
        return await service.update_segment(principal, segment_id, data)

    @delete("/{segment_id:uuid}", guards=[MANAGERS], responses=problems(403, 404),
            summary="Delete a segment", description="Operators, or the manager who made it.")
    async def remove(self, segment_id: FromPath[uuid.UUID], principal: Caller) -> None:
        await service.delete_segment(principal, segment_id)

    @get("/{segment_id:uuid}/members", guards=[MANAGERS], responses=problems(404),
         summary="The segment's members now, a page at a time (by member id)",
         description="count: every matching member; visits and spend_cents within the "
                     "segment's window. " + _SCOPE)
    async def members(self, segment_id: FromPath[uuid.UUID], principal: Caller,
                      limit: Limit = 50, offset: Offset = 0) -> MembersOut:
        return await service.segment_members(principal, segment_id, limit, offset)

    @get("/{segment_id:uuid}/export.csv", guards=[MANAGERS], media_type="text/csv",
         responses=problems(404), summary="The segment's members now (CSV, streamed)",
         description="Columns: " + ", ".join(service.EXPORT_HEADER) + ". Text that would "
                     "start a spreadsheet formula gets a leading apostrophe. " + _SCOPE)
    async def export_csv(self, segment_id: FromPath[uuid.UUID], principal: Caller) -> Stream:
        return Stream(await service.export_csv(principal, segment_id), media_type="text/csv",
                      headers={"Content-Disposition":
                               f'attachment; filename="o2o-segment-{segment_id}.csv"',
                               "Cache-Control": "no-store"})


CONTROLLERS = [SegmentController]
