"""The WeChat API client (aiohttp): one ClientSession per process, a timeout on every call.

Login uses ``GET /sns/jscode2session``; the notification issue adds subscribe messages
and the shared access token here, on the same session.
"""

from __future__ import annotations

import json
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


class WechatClient:
    def __init__(self, api_base: str, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        self.api_base = api_base.rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _get_json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            async with self._http().get(self.api_base + path, params=params) as response:
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
