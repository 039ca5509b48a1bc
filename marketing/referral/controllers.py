"""HTTP endpoints of referral: parse, guard, call one service function, return."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.core.auth import MEMBERS, OPERATORS
from app.core.codes import qr
from app.core.openapi import problems
from app.core.params import Caller, Offset, RuntimeDep
from marketing.referral import service
from marketing.referral.schemas import MyReferralOut, ProgramIn, ProgramOut, ReferralOut

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="at most this many invites")]
# A member's link never changes: their browser may keep its QR for a while (theirs only).
QR_CACHE = {"Cache-Control": "private, max-age=3600"}


def _base_url(request: Request[Any, Any, Any], runtime: RuntimeDep) -> str:
    """Where the world reaches the member page: O2O_PUBLIC_URL, else this request's own
    scheme and host (development)."""
    return runtime.settings.public_url or str(request.base_url).rstrip("/")


class ReferralProgramController(Controller):
    path = "/referral-program"
    tags = ["marketing"]

    @put("", guards=[OPERATORS], status_code=HTTP_200_OK, responses=problems(400, 404),
         summary="Set the chain's referral program",
         description="Which campaign rewards the referrer and which the invitee, at the "
                     "invitee's first redemption. Paused: no invite is recorded and no "
                     "reward given; pending invites wait for it to be active again. A "
                     "campaign not of the chain: 404.")
    async def put_program(self, data: JSONBody[ProgramIn], principal: Caller) -> ProgramOut:
        return await service.put_program(principal, data)

    @get("", guards=[OPERATORS], responses=problems(404),
         summary="The chain's referral program, with its all-time figures")
    async def get_program(self, principal: Caller) -> ProgramOut:
        return await service.get_program(principal)


class ReferralListController(Controller):
    path = "/referrals"
    tags = ["marketing"]

    @get("", guards=[OPERATORS], summary="The chain's invites, newest first",
         description="``reason`` says why a refused invite earned nothing: self_referral, "
                     "same_wechat_user, shared_phone (the referrer's), "
                     "phone_of_invited_member, phone_of_member, "
                     "wechat_user_of_invited_member, wechat_user_of_member, member_gone, "
                     "expired (the friend did not come within 90 days). "
                     "referrer_skip/invitee_skip: why a rewarded invite gave that side "
                     "no voucher (the campaign refused: claim_limit_reached...).")
    async def list_(self, principal: Caller,
                    status: Annotated[Literal["pending", "rewarded", "refused"] | None,
                                      QueryParameter()] = None,
                    limit: Limit = 50, offset: Offset = 0) -> list[ReferralOut]:
        return await service.list_referrals(principal, status, limit, offset)


class MyReferralController(Controller):
    path = "/me/referral"
    tags = ["marketing"]
    guards = [MEMBERS]

    @get("", summary="My referral code, my link for friends, and how many came",
         description="The code is made at the first read and never changes. ``link`` "
                     "opens the member page on the chain with the code; a friend whose "
                     "first sign-in comes through it is invited.")
    async def mine(self, principal: Caller, request: Request[Any, Any, Any],
                   runtime: RuntimeDep) -> MyReferralOut:
        return await service.my_referral(principal, _base_url(request, runtime))

    @get("/qr.png", media_type="image/png", summary="QR image (PNG) of my referral link")
    async def qr_png(self, principal: Caller, request: Request[Any, Any, Any],
                     runtime: RuntimeDep) -> Response[bytes]:
        url = await service.my_link(principal, _base_url(request, runtime))
        return Response(qr.png(url, link=True), media_type="image/png", headers=QR_CACHE)

    @get("/qr.svg", media_type="image/svg+xml", summary="QR image (SVG) of my referral link")
    async def qr_svg(self, principal: Caller, request: Request[Any, Any, Any],
                     runtime: RuntimeDep) -> Response[bytes]:
        url = await service.my_link(principal, _base_url(request, runtime))
        return Response(qr.svg(url, link=True), media_type="image/svg+xml", headers=QR_CACHE)


CONTROLLERS = [ReferralProgramController, ReferralListController, MyReferralController]
