"""The WeChat API client (aiohttp): one ClientSession per process, a timeout on every call.

Login uses ``GET /sns/jscode2session``; notifications use ``POST /cgi-bin/stable_token``
(never ``/cgi-bin/token``, which invalidates the token every other process holds) and
``POST /cgi-bin/message/subscribe/send``; a member's verified phone number comes from
``POST /wxa/business/getuserphonenumber``. The card bag (微信会员卡) uses
``GET /cgi-bin/ticket/getticket`` (the ``wx_card`` and ``jsapi`` tickets), ``POST /card/create``,
``POST /card/membercard/activate`` and ``POST /card/membercard/updateuser``; the official
account's message server is ``app.core.wechat_crypto``. This module only speaks HTTP; which token to
use, and when to refresh it, is ``app.core.notify.tokens``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)


class WechatError(Exception):
    """WeChat answered with an errcode, or could not be reached (errcode None)."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"errcode={errcode} errmsg={errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True, slots=True)
class Code2Session:
    openid: str
    unionid: str | None
    # session_key is deliberately not kept: it never leaves the client object.


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int  # seconds, as WeChat says


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """``phone_info`` of ``getuserphonenumber``: the number WeChat holds for the user."""

    phone_number: str  # with the country code for numbers outside China
    pure_phone_number: str  # without it
    country_code: str  # "86"; WeChat documents a string but its example sends a number
    watermark_app_id: str | None  # the mini program the code was issued to
    watermark_timestamp: int | None


@dataclass(frozen=True, slots=True)
class Ticket:
    """An api_ticket of ``getticket``: ``wx_card`` signs ``cardExt``, ``jsapi`` ``wx.config``."""

    ticket: str
    expires_in: int  # seconds, as WeChat says


class WechatClient:
    def __init__(self, api_base: str,
                 timeout: aiohttp.ClientTimeout | float = DEFAULT_TIMEOUT) -> None:
        self.api_base = api_base.rstrip("/")
        if not isinstance(timeout, aiohttp.ClientTimeout):
            timeout = aiohttp.ClientTimeout(total=timeout, connect=min(2.0, timeout))
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The pid tells the processes of one deployment apart in WeChat-side logs.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": f"o2o (pid {os.getpid()})"})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _get_json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._call("GET", path, params=params)

    async def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        # Chinese as UTF-8, not \uXXXX escapes: some WeChat endpoints (card faces, records)
        # show the escapes literally.
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = None if body is None else {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self._http().request(method, self.api_base + path, params=params,
                                            data=data, headers=headers) as response:
                text = await response.text()
                if response.status >= 500:
                    raise WechatError(None, f"HTTP {response.status}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise WechatError(None, f"unreachable: {type(exc).__name__}") from exc
        try:
            # WeChat often labels JSON as text/plain, so parse the text ourselves.
            payload = json.loads(text)
        except ValueError as exc:
            raise WechatError(None, "answer is not JSON") from exc
        if not isinstance(payload, dict):
            raise WechatError(None, "answer is not a JSON object")
        return payload

    async def code2session(self, app_id: str, secret: str, js_code: str) -> Code2Session:
        payload = await self._get_json("/sns/jscode2session", {
            "appid": app_id,
            "secret": secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        })
        errcode = payload.get("errcode", 0)
        if errcode not in (0, None):
            raise WechatError(errcode if isinstance(errcode, int) else None,
                              str(payload.get("errmsg", "")))
        openid = payload.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WechatError(None, "no openid in the answer")
        unionid = payload.get("unionid")
        return Code2Session(openid=openid, unionid=unionid if isinstance(unionid, str) else None)

    async def stable_token(self, app_id: str, secret: str, *,
                           force_refresh: bool = False) -> AccessToken:
        """``POST /cgi-bin/stable_token``: the app's current token (a new one, and the old
        one invalid, with ``force_refresh``)."""
        payload = await self._call("POST", "/cgi-bin/stable_token", body={
            "grant_type": "client_credential", "appid": app_id, "secret": secret,
            "force_refresh": force_refresh,
        })
        _raise_for_errcode(payload)
        token, expires_in = payload.get("access_token"), payload.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WechatError(None, "no access_token in the answer")
        return AccessToken(token=token, expires_in=expires_in)

    async def send_subscribe(self, access_token: str, *, touser: str, template_id: str,
                             data: dict[str, str], page: str | None = None) -> int | None:
        """``POST /cgi-bin/message/subscribe/send``; returns WeChat's msgid."""
        body: dict[str, Any] = {"touser": touser, "template_id": template_id,
                                "data": {key: {"value": value} for key, value in data.items()}}
        if page is not None:
            body["page"] = page
        payload = await self._call("POST", "/cgi-bin/message/subscribe/send",
                                   params={"access_token": access_token}, body=body)
        _raise_for_errcode(payload)
        msgid = payload.get("msgid")
        return msgid if isinstance(msgid, int) else None

    async def phone_number(self, access_token: str, code: str) -> PhoneInfo:
        """``POST /wxa/business/getuserphonenumber``: the phone behind a ``getPhoneNumber``
        code (one use, five minutes)."""
        payload = await self._call("POST", "/wxa/business/getuserphonenumber",
                                   params={"access_token": access_token}, body={"code": code})
        _raise_for_errcode(payload)
        info = payload.get("phone_info")
        if not isinstance(info, dict):
            raise WechatError(None, "no phone_info in the answer")
        pure, full = info.get("purePhoneNumber"), info.get("phoneNumber")
        country = info.get("countryCode")
        if not isinstance(pure, str) or not pure or not isinstance(full, str):
            raise WechatError(None, "no phone number in the answer")
        watermark = info.get("watermark")
        watermark = watermark if isinstance(watermark, dict) else {}
        app_id, timestamp = watermark.get("appid"), watermark.get("timestamp")
        return PhoneInfo(
            phone_number=full, pure_phone_number=pure,
            country_code=str(country) if isinstance(country, str | int) else "",
            watermark_app_id=app_id if isinstance(app_id, str) else None,
            watermark_timestamp=timestamp if isinstance(timestamp, int) else None)

    # --- the card bag (微信会员卡) -----------------------------------------------------

    async def get_ticket(self, access_token: str, kind: str) -> Ticket:
        """``GET /cgi-bin/ticket/getticket?type=wx_card|jsapi``: a ticket valid 7200 s."""
        payload = await self._get_json("/cgi-bin/ticket/getticket",
                                       {"access_token": access_token, "type": kind})
        _raise_for_errcode(payload)
        ticket, expires_in = payload.get("ticket"), payload.get("expires_in")
        if not isinstance(ticket, str) or not ticket or not isinstance(expires_in, int):
            raise WechatError(None, "no ticket in the answer")
        return Ticket(ticket=ticket, expires_in=expires_in)

    async def card_create(self, access_token: str, card: dict[str, Any]) -> str:
        """``POST /card/create`` with ``{"card": card}``; returns WeChat's card_id (the
        card then waits for review: a ``card_pass_check`` or ``card_not_pass_check`` push)."""
        payload = await self._call("POST", "/card/create",
                                   params={"access_token": access_token}, body={"card": card})
        _raise_for_errcode(payload)
        card_id = payload.get("card_id")
        if not isinstance(card_id, str) or not card_id:
            raise WechatError(None, "no card_id in the answer")
        return card_id

    async def membercard_activate(self, access_token: str, body: dict[str, Any]) -> None:
        """``POST /card/membercard/activate``: a card the member took into the card bag
        gets its number and first figures (``init_bonus``, ``init_balance``)."""
        payload = await self._call("POST", "/card/membercard/activate",
                                   params={"access_token": access_token}, body=body)
        _raise_for_errcode(payload)

    async def membercard_updateuser(self, access_token: str,
                                    body: dict[str, Any]) -> dict[str, Any]:
        """``POST /card/membercard/updateuser``: new figures on the card's face. Returns
        WeChat's answer (``result_bonus``, ``result_balance``, ``openid``)."""
        payload = await self._call("POST", "/card/membercard/updateuser",
                                   params={"access_token": access_token}, body=body)
        _raise_for_errcode(payload)
        return {key: payload[key] for key in ("result_bonus", "result_balance", "openid")
                if key in payload}


def _raise_for_errcode(payload: dict[str, Any]) -> None:
    errcode = payload.get("errcode", 0)
    if errcode not in (0, None):
        raise WechatError(errcode if isinstance(errcode, int) else None,
                          str(payload.get("errmsg", "")))
