"""HTTP endpoints of the stores domain: parse, guard, call one service function, return."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.core import idempotency
from app.core.auth import ANYONE, MANAGERS, MEMBERS, OPERATORS, PUBLIC, STAFF
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey, Offset, RuntimeDep
from app.core.runtime import client_key
from stores import service
from stores.schemas import (
    ChainOut,
    ChainUpdate,
    MemberCreate,
    MemberListOut,
    MemberLoginOut,
    MemberOut,
    MemberPhoneWechat,
    MemberStaffUpdate,
    MemberUpdate,
    MemberWechatLogin,
    PasswordChange,
    PasswordReset,
    ResourceCreate,
    ResourceOut,
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    StaffCreate,
    StaffLogin,
    StaffLoginOut,
    StaffOut,
    StaffUpdate,
    StoreCreate,
    StoreOut,
    StoreUpdate,
    WechatConfigIn,
    WechatConfigOut,
)

LOGIN_OPT = {**PUBLIC, "login_route": True}


def _member_finders(request: Request[Any, Any, Any]) -> service.MemberFinders:
    """The later domains' ways to find members, joined by create_app (the app's state)."""
    finders: service.MemberFinders = request.app.state.member_finders
    return finders


def _join_hooks(request: Request[Any, Any, Any]) -> tuple[service.JoinHook, ...]:
    """What later domains do when a login creates a member, joined by create_app (the
    app's state; none when it wires none)."""
    hooks: tuple[service.JoinHook, ...] = request.app.state.get("member_join_hooks", ())
    return hooks


def _token_of(request: Request[Any, Any, Any]) -> Token:
    """The calling token (the auth middleware checked it and put it in ``scope["auth"]``)."""
    token = request.scope.get("auth")
    assert isinstance(token, Token) and isinstance(token.jti, str)
    return token


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/staff/login", opt=LOGIN_OPT, status_code=HTTP_200_OK, responses=problems(401),
          summary="Staff login with username and password")
    async def staff_login(self, data: JSONBody[StaffLogin], request: Request[Any, Any, Any],
                          runtime: RuntimeDep) -> StaffLoginOut:
        session = await service.login_staff(data, client_key(request))
        return StaffLoginOut(token=runtime.auth.issue(session.principal, session.version),
                             staff=session.brief)

    @post("/logout", guards=[ANYONE], status_code=HTTP_204_NO_CONTENT,
          summary="End the calling token (staff or member), on every server process")
    async def logout(self, principal: Caller, request: Request[Any, Any, Any],
                     runtime: RuntimeDep) -> None:
        token = _token_of(request)
        await service.logout(principal, str(token.jti), int(token.exp.timestamp()),
                             runtime.auth.revocations)

    @post("/member/wechat", opt=LOGIN_OPT, status_code=HTTP_200_OK,
          responses=problems(401, 404),
          summary="Member login with a WeChat code (first login creates the member)",
          description="``referral_code``: a friend's code (the link the member came "
                      "through); an invite is recorded when this login creates the "
                      "member. A code that cannot be used is ignored, never refused.")
    async def member_login(self, data: JSONBody[MemberWechatLogin],
                           request: Request[Any, Any, Any],
                           runtime: RuntimeDep) -> MemberLoginOut:
        principal, member = await service.login_member(
            data, sandbox=runtime.sandbox, wechat=runtime.wechat, box=runtime.secrets,
            on_join=_join_hooks(request))
        return MemberLoginOut(token=runtime.auth.issue(principal), member=member)


class MeController(Controller):
    path = "/me"
    tags = ["members"]
    guards = [MEMBERS]

    @get("", summary="The calling member")
    async def me(self, principal: Caller) -> MemberOut:
        return await service.get_member(principal, principal.id)

    @patch("", summary="Update the calling member's profile (a phone typed here is unverified)")
    async def update_me(self, data: JSONBody[MemberUpdate], principal: Caller) -> MemberOut:
        return await service.update_me(principal, data)

    @post("/phone/wechat", status_code=HTTP_200_OK, responses=problems(400, 409, 429, 503),
          summary="Set a verified phone from the mini program's getPhoneNumber code",
          description="The code is exchanged at WeChat's /wxa/business/getuserphonenumber "
                      "(sandbox mode: codes sandbox:<phone>). The number becomes the "
                      "member's, verified; members who only typed it lose it.")
    async def verify_phone(self, data: JSONBody[MemberPhoneWechat], principal: Caller,
                           runtime: RuntimeDep) -> MemberOut:
        return await service.verify_phone_with_wechat(
            principal, data, sandbox=runtime.sandbox, wechat=runtime.wechat,
            tokens=runtime.tokens, box=runtime.secrets)


class MyPasswordController(Controller):
    path = "/me/password"
    tags = ["staff"]
    guards = [STAFF]

    @post("", status_code=HTTP_204_NO_CONTENT, responses=problems(429),
          summary="Change the calling staff member's password (every other token ends)",
          description="The calling token keeps working; every other token of this staff "
                      "member answers 401 from its next request. A wrong old_password is "
                      "400 and counts as a failed login.")
    async def change(self, data: JSONBody[PasswordChange], principal: Caller,
                     request: Request[Any, Any, Any], runtime: RuntimeDep) -> None:
        await service.change_own_password(principal, str(_token_of(request).jti), data,
                                          client_key(request), runtime.auth.revocations)


class WechatConfigController(Controller):
    path = "/wechat-config"
    tags = ["chain"]
    guards = [OPERATORS]

    @put("", summary="Set the chain's WeChat app (the secret is stored encrypted)")
    async def put_config(self, data: JSONBody[WechatConfigIn], principal: Caller,
                         runtime: RuntimeDep) -> WechatConfigOut:
        return await service.put_wechat_config(principal, data, runtime.secrets)

    @get("", summary="The chain's WeChat app, without its secret", responses=problems(404))
    async def get_config(self, principal: Caller) -> WechatConfigOut:
        return await service.get_wechat_config(principal)


class ChainController(Controller):
    path = "/chain"
    tags = ["chain"]
    guards = [OPERATORS]

    @get("", summary="The caller's chain and its settings")
    async def read(self, principal: Caller) -> ChainOut:
        return await service.get_chain(principal)

    @patch("", summary="Change the chain's settings (the offline window, in minutes)",
           description="offline_window_minutes: how long after a scan an offline scanner "
                       "may still upload it (5 to 10080; default 1440, i.e. 24 h).")
    async def update(self, data: JSONBody[ChainUpdate], principal: Caller) -> ChainOut:
        return await service.update_chain(principal, data)


class StoreController(Controller):
    path = "/stores"
    tags = ["stores"]

    @post("", guards=[OPERATORS], summary="Open a store")
    async def create(self, data: JSONBody[StoreCreate], principal: Caller) -> StoreOut:
        return await service.create_store(principal, data)

    @get("", guards=[ANYONE], summary="Stores the caller can see")
    async def list_(self, principal: Caller) -> list[StoreOut]:
        return await service.list_stores(principal)

    @get("/{store_id:uuid}", guards=[ANYONE], summary="One store")
    async def read(self, store_id: FromPath[uuid.UUID], principal: Caller) -> StoreOut:
        return await service.get_store(principal, store_id)

    @patch("/{store_id:uuid}", guards=[OPERATORS], summary="Change a store")
    async def update(self, store_id: FromPath[uuid.UUID], data: JSONBody[StoreUpdate],
                     principal: Caller) -> StoreOut:
        return await service.update_store(principal, store_id, data)

    @post("/{store_id:uuid}/services", guards=[MANAGERS], summary="Add a bookable service")
    async def create_service(self, store_id: FromPath[uuid.UUID], data: JSONBody[ServiceCreate],
                             principal: Caller) -> ServiceOut:
        return await service.create_service(principal, store_id, data)

    @patch("/{store_id:uuid}/services/{service_id:uuid}", guards=[MANAGERS],
           responses=problems(404, 409),
           summary="Rename a service or set its external id (null clears it)",
           description="external_id: the chain's own id for the service, unique in the "
                       "chain (taken: 409 external_id_taken).")
    async def update_service(self, store_id: FromPath[uuid.UUID],
                             service_id: FromPath[uuid.UUID], data: JSONBody[ServiceUpdate],
                             principal: Caller) -> ServiceOut:
        return await service.update_service(principal, store_id, service_id, data)

    @get("/{store_id:uuid}/services", guards=[ANYONE], summary="The store's services")
    async def list_services(self, store_id: FromPath[uuid.UUID],
                            principal: Caller) -> list[ServiceOut]:
        return await service.list_services(principal, store_id)

    @post("/{store_id:uuid}/resources", guards=[MANAGERS],
          summary="Add a stylist, table or room")
    async def create_resource(self, store_id: FromPath[uuid.UUID], data: JSONBody[ResourceCreate],
                              principal: Caller) -> ResourceOut:
        return await service.create_resource(principal, store_id, data)

    @get("/{store_id:uuid}/resources", guards=[ANYONE], summary="The store's resources")
    async def list_resources(self, store_id: FromPath[uuid.UUID],
                             principal: Caller) -> list[ResourceOut]:
        return await service.list_resources(principal, store_id)


class StaffController(Controller):
    path = "/staff"
    tags = ["staff"]
    guards = [MANAGERS]

    @post("", summary="Create a staff login (managers: clerks of their stores)",
          responses=problems(404, 409))
    async def create(self, data: JSONBody[StaffCreate], principal: Caller) -> StaffOut:
        return await service.create_staff(principal, data)

    @get("", summary="Staff the caller manages")
    async def list_(self, principal: Caller) -> list[StaffOut]:
        return await service.list_staff(principal)

    @patch("/{staff_id:uuid}", responses=problems(404, 409),
           summary="Change a staff member's name, role or stores (a new role or stores "
                   "end their tokens)")
    async def update(self, staff_id: FromPath[uuid.UUID], data: JSONBody[StaffUpdate],
                     principal: Caller, runtime: RuntimeDep) -> StaffOut:
        return await service.update_staff(principal, staff_id, data, runtime.auth.revocations)

    @post("/{staff_id:uuid}/deactivate", status_code=HTTP_200_OK, responses=problems(404, 409),
          summary="Deactivate a staff member: no login, every token ends")
    async def deactivate(self, staff_id: FromPath[uuid.UUID], principal: Caller,
                         runtime: RuntimeDep) -> StaffOut:
        return await service.set_staff_active(principal, staff_id, False,
                                              runtime.auth.revocations)

    @post("/{staff_id:uuid}/activate", status_code=HTTP_200_OK, responses=problems(404),
          summary="Activate a staff member again (they log in anew)")
    async def activate(self, staff_id: FromPath[uuid.UUID], principal: Caller,
                       runtime: RuntimeDep) -> StaffOut:
        return await service.set_staff_active(principal, staff_id, True,
                                              runtime.auth.revocations)

    @post("/{staff_id:uuid}/password", status_code=HTTP_204_NO_CONTENT,
          responses=problems(404), summary="Set a staff member's password (every token ends)")
    async def reset_password(self, staff_id: FromPath[uuid.UUID], data: JSONBody[PasswordReset],
                             principal: Caller, runtime: RuntimeDep) -> None:
        await service.reset_staff_password(principal, staff_id, data, runtime.auth.revocations)


class MemberController(Controller):
    path = "/members"
    tags = ["members"]

    @post("", guards=[STAFF], summary="Register a member at the counter",
          responses=problems(404, 409),
          description="Honours Idempotency-Key.")
    async def register(self, data: JSONBody[MemberCreate], principal: Caller,
                       request: Request[Any, Any, Any],
                       idempotency_key: IdempotencyKey = None) -> Response[MemberOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda: service.register_member(principal, data))

    @get("", guards=[STAFF], summary="Find members by phone or card number",
          responses=problems(403),
          description="Clerks must give phone or card_number (exact). Without either, "
                      "managers list their stores' members and operators the chain's, "
                      "searched by q (name or phone), tier, template_id (a live card "
                      "of it), last_visit_after / last_visit_before (the chain's "
                      "local days; before excludes members who never visited) and "
                      "external_id (the chain's own id, exact). Each "
                      "member has last_visit_at (latest redemption not reversed) and "
                      "cards_count (active or frozen cards).")
    async def find(
        self, principal: Caller, request: Request[Any, Any, Any],
        phone: Annotated[str | None, QueryParameter(max_length=32)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Offset = 0,
        card_number: Annotated[str | None, QueryParameter(min_length=1,
                                                          max_length=32)] = None,
        q: Annotated[str | None, QueryParameter(min_length=1, max_length=60)] = None,
        tier: Annotated[str | None, QueryParameter(min_length=1, max_length=60)] = None,
        template_id: FromQuery[uuid.UUID | None] = None,
        last_visit_after: FromQuery[date | None] = None,
        last_visit_before: FromQuery[date | None] = None,
        external_id: Annotated[str | None, QueryParameter(min_length=1,
                                                          max_length=64)] = None,
    ) -> list[MemberListOut]:
        return await service.search_members(
            principal, finders=_member_finders(request), limit=limit, offset=offset,
            phone=phone, card_number=card_number, q=q, tier=tier, template_id=template_id,
            last_visit_after=last_visit_after, last_visit_before=last_visit_before,
            external_id=external_id)

    @get("/{member_id:uuid}", guards=[ANYONE], summary="One member (members: only themselves)")
    async def read(self, member_id: FromPath[uuid.UUID], principal: Caller) -> MemberOut:
        return await service.get_member(principal, member_id)

    @patch("/{member_id:uuid}", guards=[STAFF], responses=problems(404, 409),
           summary="Change a member's name, phone, birthday or external id",
           description="A field left out stays; null clears name (to \"\"), birthday or "
                       "external_id; an empty body is 400. A phone set here is verified "
                       "(as at the counter): another member's verified phone is 409 "
                       "phone_taken. A taken external_id is 409 external_id_taken.")
    async def update(self, member_id: FromPath[uuid.UUID], data: JSONBody[MemberStaffUpdate],
                     principal: Caller) -> MemberOut:
        return await service.update_member(principal, member_id, data)


CONTROLLERS = [AuthController, MeController, MyPasswordController, WechatConfigController,
               StoreController, StaffController, MemberController, ChainController]
