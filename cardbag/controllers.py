"""HTTP endpoints of the WeChat card bag: parse, guard, call one service function, return.

The message server's callback takes no bearer token (WeChat calls it; the chain's Token
and EncodingAESKey prove the call) and answers WeChat's way: plain text.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.core.auth import MEMBERS, OPERATORS, PUBLIC
from app.core.errors import PROBLEM_JSON
from app.core.openapi import Problem, problems
from app.core.params import Caller, RuntimeDep
from cardbag import callback, service
from cardbag.schemas import JsConfigOut, WechatAddOut, WechatCardIn, WechatCardOut

log = logging.getLogger("o2o.cardbag")

# What WeChat puts in the callback's query: short tokens (a signature is 40 hex digits).
WechatParam = Annotated[str | None, QueryParameter(max_length=256)]


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url)


class WechatCardController(Controller):
    path = "/card-templates"
    tags = ["card bag"]

    @post("/{template_id:uuid}/wechat-card", guards=[OPERATORS], status_code=HTTP_201_CREATED,
          responses=problems(400, 404, 409, 502, 503),
          summary="Make the template a WeChat member card (WeChat's /card/create)",
          description="One per template: a second POST is 409 conflict unless the last "
                      "create failed. The card waits for WeChat's review (status pending; "
                      "card_pass_check / card_not_pass_check pushes settle it). 502 "
                      "wechat_refused: WeChat refused the card (its errcode in the detail); "
                      "503 wechat_unavailable: WeChat did not answer. Either way the "
                      "template may be tried again.")
    async def create(self, template_id: FromPath[uuid.UUID], data: JSONBody[WechatCardIn],
                     principal: Caller, runtime: RuntimeDep,
                     request: Request[Any, Any, Any]) -> WechatCardOut:
        return await service.create_wechat_card(principal, template_id, data, runtime,
                                                _base_url(request))

    @get("/{template_id:uuid}/wechat-card", guards=[OPERATORS], responses=problems(404),
         summary="The template's WeChat card: its review and the sync of its cards")
    async def read(self, template_id: FromPath[uuid.UUID], principal: Caller) -> WechatCardOut:
        return await service.get_wechat_card(principal, template_id)


class WechatAddController(Controller):
    path = "/cards"
    tags = ["card bag"]

    @get("/{card_id:uuid}/wechat-add", guards=[MEMBERS], responses=problems(404, 409, 502, 503),
         summary="What the member page hands to wx.addCard (the card's own member)",
         description="cardList: [{cardId: card_id, cardExt: card_ext}]. 409 "
                     "wechat_card_unavailable: the chain has not turned the card bag on, or "
                     "the template's WeChat card is not approved; member_not_linked: the "
                     "member has no WeChat openid. retry=true after addCard said the "
                     "signature was bad: the wx_card ticket is fetched anew (at most once "
                     "in five minutes).")
    async def add(self, card_id: FromPath[uuid.UUID], principal: Caller, runtime: RuntimeDep,
                  retry: FromQuery[bool] = False) -> WechatAddOut:
        return await service.wechat_add(principal, card_id, runtime, retry=retry)


class JsConfigController(Controller):
    path = "/wechat/js-config"
    tags = ["card bag"]

    @get("", guards=[MEMBERS], responses=problems(400, 409, 502, 503),
         summary="wx.config's signature for a page of this service (JS-SDK, jsapi ticket)")
    async def config(self, principal: Caller, runtime: RuntimeDep,
                     request: Request[Any, Any, Any],
                     url: Annotated[str, QueryParameter(
                         min_length=1, max_length=2048,
                         description="the page's URL (location.href); its fragment is "
                                     "dropped")]) -> JsConfigOut:
        return await service.js_config(principal, url, runtime, _base_url(request))


_REFUSED = ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON,
                        generate_examples=False,
                        description="unauthorized: the call does not verify (signature, "
                                    "appid, a timestamp outside 5 minutes, garbage); "
                                    "nothing changed")


class WechatCallbackController(Controller):
    path = "/wechat/callback"
    tags = ["card bag"]

    @get("/{chain_id:uuid}", opt=PUBLIC, media_type=MediaType.TEXT,
         responses={401: _REFUSED, **problems(404)},
         summary="The official account's server check (called by WeChat; no bearer token)",
         description="echostr comes back when signature = SHA-1 of the sorted Token, "
                     "timestamp and nonce.")
    async def check(self, chain_id: FromPath[uuid.UUID], runtime: RuntimeDep,
                    signature: WechatParam = None, timestamp: WechatParam = None,
                    nonce: WechatParam = None, echostr: WechatParam = None) -> str:
        return await callback.server_check(chain_id, runtime.secrets, signature=signature,
                                           timestamp=timestamp, nonce=nonce, echostr=echostr)

    @post("/{chain_id:uuid}", opt=PUBLIC, status_code=HTTP_200_OK, media_type=MediaType.TEXT,
          # refused while it streams in: an anonymous caller never makes us hold more
          request_max_body_size=callback.MAX_PUSH_BYTES,
          responses={401: _REFUSED, **problems(404, 413, 415)},
          summary="WeChat's event pushes (safe mode; called by WeChat, no bearer token)",
          description="Body <xml><ToUserName/><Encrypt/></xml>, msg_signature over the "
                      "Token, timestamp, nonce and Encrypt. Answers success (text) for "
                      "every push that verifies, including repeats (which change nothing) "
                      "and events it does not use.")
    async def push(self, chain_id: FromPath[uuid.UUID], runtime: RuntimeDep,
                   request: Request[Any, Any, Any], timestamp: WechatParam = None,
                   nonce: WechatParam = None, msg_signature: WechatParam = None,
                   encrypt_type: WechatParam = None) -> Response[str]:
        body = await request.body()
        query = {"timestamp": timestamp, "nonce": nonce, "msg_signature": msg_signature,
                 "encrypt_type": encrypt_type}
        outcome = await callback.receive_push(chain_id, runtime.secrets, query, body,
                                              request.content_type[0])
        log.info("wechat push chain=%s %s", chain_id, outcome)
        return Response("success", media_type=MediaType.TEXT)


CONTROLLERS = [WechatCardController, WechatAddController, JsConfigController,
               WechatCallbackController]
