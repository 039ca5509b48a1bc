"""HTTP endpoints of gifting: parse, guard, call one service function, return."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.core import idempotency
from app.core.auth import MEMBERS
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey, RuntimeDep
from cards.schemas import VoucherOut
from marketing.gifts import service
from marketing.gifts.schemas import GiftCreated, GiftOut, GiftPreview


def _base_url(request: Request[Any, Any, Any], runtime: RuntimeDep) -> str:
    """Where the member page lives as the world reaches it (O2O_PUBLIC_URL, else the
    request's own scheme and host)."""
    return runtime.settings.public_url or str(request.base_url).rstrip("/")


class GiveVoucherController(Controller):
    path = "/vouchers"
    tags = ["vouchers"]

    @post("/{voucher_id:uuid}/gift", guards=[MEMBERS], responses=problems(404, 409, 410),
          summary="Give the voucher to a friend by a link (WeChat 转赠)",
          description="Its member; an issued voucher of a giftable campaign. The voucher "
                      "is `gifting` until the friend accepts, the giver cancels, or the "
                      "gift expires (24 h, or the voucher's end if sooner: it goes back "
                      "to the giver); meanwhile no scan spends it (409 voucher_gifting). "
                      "token and link are answered this once (only a hash is kept). "
                      "Refusals: 409 not_giftable, voucher_gifting, invalid_state; 410 "
                      "code_expired. Honours Idempotency-Key.")
    async def give(self, voucher_id: FromPath[uuid.UUID], principal: Caller,
                   runtime: RuntimeDep, request: Request[Any, Any, Any],
                   idempotency_key: IdempotencyKey = None) -> Response[GiftCreated]:
        base = _base_url(request, runtime)
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda: service.give(principal, voucher_id, base))


class GiftController(Controller):
    path = "/gifts"
    tags = ["vouchers"]

    @get("/{gift:str}", guards=[MEMBERS], responses=problems(404), cache=False,
         summary="What a gift link offers (by its token), before accepting",
         description="Any member of the chain. No code: accepting gives it. status "
                     "pending, accepted, cancelled or expired; own: the caller gave it.")
    async def read(self, gift: Annotated[str, PathParameter(max_length=100)],
                   principal: Caller) -> GiftPreview:
        return await service.preview(principal, gift)

    @post("/{gift:str}/accept", guards=[MEMBERS], status_code=HTTP_200_OK,
          responses=problems(404, 409, 410),
          summary="Accept a gift (by its token): the voucher becomes the caller's",
          description="Another member of the chain. The voucher keeps its id and gets a "
                      "new code and short code (the old ones are dead). Exactly one "
                      "accept wins. Refusals: 404 not_found (unknown token), 410 "
                      "gift_expired (the voucher went back to the giver), 409 "
                      "gift_not_pending (accepted or cancelled), 409 own_gift. Honours "
                      "Idempotency-Key.")
    async def accept(self, gift: Annotated[str, PathParameter(max_length=100)],
                     principal: Caller, runtime: RuntimeDep,
                     request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[VoucherOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda found: service.accept(principal, found, runtime.signer),
            check=lambda: service.check_accept(principal, gift), status_code=HTTP_200_OK)

    @post("/{gift:str}/cancel", guards=[MEMBERS], status_code=HTTP_200_OK,
          responses=problems(404, 409, 410),
          summary="Cancel a gift (by its id): the voucher is the giver's again",
          description="The giver, while the gift is pending. Refusals: 409 "
                      "gift_not_pending, 410 gift_expired (it went back already). "
                      "Honours Idempotency-Key.")
    async def cancel(self, gift: Annotated[str, PathParameter(max_length=100)],
                     principal: Caller, request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[GiftOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda found: service.cancel(principal, found),
            check=lambda: service.check_cancel(principal, gift), status_code=HTTP_200_OK)


class MyGiftsController(Controller):
    path = "/me/gifts"
    tags = ["vouchers"]

    @get("", guards=[MEMBERS], summary="The calling member's gifts, newest first")
    async def mine(self, principal: Caller,
                   pending: Annotated[bool, QueryParameter()] = True) -> list[GiftOut]:
        return await service.my_gifts(principal, pending_only=pending)


CONTROLLERS = [GiveVoucherController, GiftController, MyGiftsController]
