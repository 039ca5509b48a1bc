"""HTTP endpoints of automations: parse, guard, call one service function, return."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from app.core import idempotency
from app.core.auth import OPERATORS
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey, Offset
from marketing.automations import service
from marketing.automations.schemas import (
    AutomationIn,
    AutomationOut,
    AutomationPatch,
    AutomationRunOut,
)

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="at most this many runs")]


class AutomationController(Controller):
    path = "/automations"
    tags = ["marketing"]

    @post("", guards=[OPERATORS], status_code=HTTP_201_CREATED, responses=problems(400, 404),
          summary="Create an automation (birthday, inactive, welcome, nth_visit)",
          description="Issues the campaign by itself, at most once per member per "
                      "occurrence (a birthday per year, a spell of inactivity, one "
                      "welcome, the n-th visit). Honours Idempotency-Key.")
    async def create(self, data: JSONBody[AutomationIn], principal: Caller,
                     request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[AutomationOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda: service.create_automation(principal, data), status_code=HTTP_201_CREATED)

    @get("", guards=[OPERATORS], summary="The chain's automations")
    async def list_all(self, principal: Caller) -> list[AutomationOut]:
        return await service.list_automations(principal)

    @get("/{automation_id:uuid}", guards=[OPERATORS], responses=problems(404),
         summary="One automation")
    async def read(self, automation_id: FromPath[uuid.UUID],
                   principal: Caller) -> AutomationOut:
        return await service.get_automation(principal, automation_id)

    @patch("/{automation_id:uuid}", guards=[OPERATORS], responses=problems(400, 404),
           summary="Rename, re-parameter, pause or resume an automation")
    async def update(self, automation_id: FromPath[uuid.UUID],
                     data: JSONBody[AutomationPatch], principal: Caller) -> AutomationOut:
        return await service.update_automation(principal, automation_id, data)

    @get("/{automation_id:uuid}/runs", guards=[OPERATORS], responses=problems(404),
         summary="The automation's run log, newest first")
    async def runs(self, automation_id: FromPath[uuid.UUID], principal: Caller,
                   limit: Limit = 50, offset: Offset = 0) -> list[AutomationRunOut]:
        return await service.automation_runs(principal, automation_id, limit=limit,
                                             offset=offset)


CONTROLLERS = [AutomationController]
