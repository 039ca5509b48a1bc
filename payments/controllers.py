"""HTTP endpoints of online top-up: parse, guard, call one service function, return."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.core import idempotency
from app.core.auth import ANYONE, MEMBERS, OPERATORS, PUBLIC
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey, RuntimeDep
from payments import service
from payments.errors import NoticeError
from payments.schemas import (
    NoticeAnswer,
    PayAnomalyPage,
    PayConfigIn,
    PayConfigOut,
    PlacedOrderOut,
    TopUpOrderIn,
    TopUpOrderOut,
    TopUpOrderPage,
)

log = logging.getLogger("o2o.payments")

Status = Literal["pending", "paid", "closed", "refunded", "partially_refunded"]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="at most this many orders")]
Cursor = Annotated[str | None, QueryParameter(max_length=200,
                                              description="next_cursor of the page before")]


def _pay(request: Request[Any, Any, Any]) -> service.Pay:
    """The process's payments context create_app built (held in the app's state)."""
    pay: service.Pay = request.app.state.pay
    return pay


def notice_error(_: Request[Any, Any, Any], exc: NoticeError) -> Response[dict[str, str]]:
    """WeChat Pay's own answer shape for a notice not taken: ``{"code", "message"}``."""
    return Response(content={"code": exc.code, "message": exc.detail},
                    status_code=exc.status, media_type="application/json")


class PayConfigController(Controller):
    path = "/wechat-pay-config"
    tags = ["payments"]

    @put("", guards=[OPERATORS], status_code=HTTP_200_OK, responses=problems(400),
         summary="Set the chain's WeChat Pay merchant (API v3)",
         description="The private key and the APIv3 key are stored encrypted and never "
                     "answered.")
    async def put_config(self, data: JSONBody[PayConfigIn], principal: Caller,
                         runtime: RuntimeDep) -> PayConfigOut:
        return await service.put_pay_config(principal, data, runtime.secrets)

    @get("", guards=[OPERATORS], summary="The chain's WeChat Pay merchant (no secrets)")
    async def get_config(self, principal: Caller) -> PayConfigOut:
        return await service.get_pay_config(principal)


class CardTopUpOrderController(Controller):
    path = "/cards"
    tags = ["payments"]

    @post("/{card_id:uuid}/top-up-orders", guards=[MEMBERS],
          responses=problems(400, 404, 409, 502, 503),
          summary="Place an online top-up order (WeChat Pay JSAPI)",
          description="Honours Idempotency-Key. 503 payment_unavailable / 502 "
                      "payment_refused: WeChat Pay did not place the order and nothing "
                      "was charged; the answer is kept under the key, so try again with "
                      "a new key.")
    async def place(self, card_id: FromPath[uuid.UUID], data: JSONBody[TopUpOrderIn],
                    principal: Caller, request: Request[Any, Any, Any],
                    idempotency_key: IdempotencyKey = None) -> Response[PlacedOrderOut]:
        return await service.place_order(
            principal, card_id, data, _pay(request),
            idempotency.call(request, principal.caller_key, idempotency_key, data))


class TopUpOrderController(Controller):
    path = "/top-up-orders"
    tags = ["payments"]

    @get("", guards=[OPERATORS], summary="The chain's top-up orders, newest first",
         description="Operators and chain-wide API keys only: online payments are the "
                     "chain's, not a store's (like the liability).")
    async def list_(self, principal: Caller, status: FromQuery[Status | None] = None,
                    card_id: FromQuery[uuid.UUID | None] = None,
                    member_id: FromQuery[uuid.UUID | None] = None,
                    limit: Limit = 50, cursor: Cursor = None) -> TopUpOrderPage:
        return await service.list_orders(principal, status=status, card_id=card_id,
                                         member_id=member_id, limit=limit, cursor=cursor)

    @get("/{order_id:uuid}", guards=[ANYONE], summary="One top-up order")
    async def read(self, order_id: FromPath[uuid.UUID], principal: Caller) -> TopUpOrderOut:
        return await service.get_order(principal, order_id)

    @post("/{order_id:uuid}/sandbox-pay", guards=[MEMBERS], status_code=HTTP_200_OK,
          responses=problems(404, 409),
          summary="Pay a sandbox order (sandbox mode only)")
    async def sandbox_pay(self, order_id: FromPath[uuid.UUID], principal: Caller,
                          request: Request[Any, Any, Any]) -> TopUpOrderOut:
        return await service.sandbox_pay(principal, order_id, _pay(request))


class MyTopUpOrderController(Controller):
    path = "/me/top-up-orders"
    tags = ["payments"]

    @get("", guards=[MEMBERS], summary="The member's top-up orders, newest first")
    async def mine(self, principal: Caller, limit: Limit = 50) -> list[TopUpOrderOut]:
        return await service.my_orders(principal, limit=limit)


class PayAnomalyController(Controller):
    path = "/pay-anomalies"
    tags = ["payments"]

    @get("", guards=[OPERATORS], summary="What WeChat Pay said that was not applied",
         description="Newest first: a payment of another amount, merchant or payer, a "
                     "notice or bill line of no known order, a refund gone wrong... for "
                     "a person to settle (in the merchant platform).")
    async def list_(self, principal: Caller, limit: Limit = 50,
                    cursor: Cursor = None) -> PayAnomalyPage:
        return await service.list_anomalies(principal, limit=limit, cursor=cursor)


class PayNotifyController(Controller):
    path = "/pay/wechat/notify"
    tags = ["payments"]

    @post("/{chain_id:uuid}", opt=PUBLIC, status_code=HTTP_204_NO_CONTENT,
          responses={
              401: ResponseSpec(data_container=NoticeAnswer, media_type="application/json",
                                generate_examples=False,
                                description="SIGN_ERROR: the notice does not verify"),
              503: ResponseSpec(data_container=NoticeAnswer, media_type="application/json",
                                generate_examples=False,
                                description="FAIL: not applied now; WeChat Pay sends it "
                                            "again")},
          summary="WeChat Pay's notices (no bearer token: signed by WeChat Pay)",
          description="204 once verified and applied (a repeated notice changes "
                      "nothing); 401 {\"code\": \"SIGN_ERROR\", \"message\"} when the "
                      "notice cannot be verified (whether or not the chain takes WeChat "
                      "Pay); 503 {\"code\": \"FAIL\"} when it cannot be applied now "
                      "(WeChat Pay sends it again).")
    async def notify(self, chain_id: FromPath[uuid.UUID],
                     request: Request[Any, Any, Any]) -> None:
        body = await request.body()  # the exact bytes the signature covers
        outcome = await service.receive_notice(_pay(request), chain_id, request.headers, body)
        log.info("wechat pay notice chain=%s outcome=%s", chain_id, outcome)


CONTROLLERS = [PayConfigController, CardTopUpOrderController, TopUpOrderController,
               MyTopUpOrderController, PayAnomalyController, PayNotifyController]
