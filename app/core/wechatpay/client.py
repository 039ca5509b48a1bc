"""The WeChat Pay API v3 client: aiohttp, one per process, every answer verified.

Each call signs its request with the merchant's key and verifies the answer's signature
with WeChat Pay's public key (``Wechatpay-Serial`` must be the configured ``PUB_KEY_ID``,
``Wechatpay-Timestamp`` within five minutes) before a byte of it is believed. Error
answers (``{"code", "message"}``) are verified too when they carry a signature; an error
is never a reason to move money by itself (callers confirm with a verified query).
Nothing here blocks the event loop: RSA signing and verifying take about a millisecond,
key parsing happens once per key (:func:`load_merchant` caches it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from app.core.wechatpay import signing
from app.core.wechatpay.bill import parse_trade_bill
from app.core.wechatpay.models import (
    BillLine,
    Merchant,
    Notice,
    NoticeSignatureError,
    RefundResult,
    Transaction,
    WechatPayError,
)

MAX_SKEW_S = 300  # answers and notices more than five minutes away are refused
CHINA = timezone(timedelta(hours=8))
# 4xx codes that mean "not now" rather than "never".
RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED",
                             "FREQUENCY_LIMIT_EXCEED", "STATEMENT_CREATING", "BANKERROR"})


def load_merchant(*, mchid: str, appid: str, serial_no: str, private_key_pem: str,
                  apiv3_key: str | bytes, platform_key_id: str,
                  platform_public_key_pem: str) -> Merchant:
    """A :class:`Merchant` from the stored (decrypted) configuration; ``ValueError`` names
    what is wrong. The PEM parsing is cached, so calling this per request is cheap."""
    key = apiv3_key.encode() if isinstance(apiv3_key, str) else apiv3_key
    if len(key) != 32:
        raise ValueError("the APIv3 key must be 32 characters")
    if not platform_key_id.startswith("PUB_KEY_ID_"):
        raise ValueError("the platform public key id must start with PUB_KEY_ID_")
    return Merchant(mchid=mchid, appid=appid, serial_no=serial_no,
                    private_key=signing.load_private_key(private_key_pem), apiv3_key=key,
                    platform_key_id=platform_key_id,
                    platform_public_key=signing.load_public_key(platform_public_key_pem))


def rfc3339(moment: datetime) -> str:
    """WeChat Pay's time format (``2018-06-08T10:34:56+08:00``), in Beijing time."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def transaction_from(data: Mapping[str, Any]) -> Transaction:
    """A :class:`Transaction` from a query answer or a decrypted transaction resource;
    ``ValueError`` when a required field is missing."""
    amount = data.get("amount")
    amount = amount if isinstance(amount, Mapping) else {}
    out_trade_no, state = _str(data.get("out_trade_no")), _str(data.get("trade_state"))
    total = _int(amount.get("total"))
    if out_trade_no is None or state is None or total is None:
        raise ValueError("a transaction needs out_trade_no, trade_state and amount.total")
    return Transaction(
        out_trade_no=out_trade_no, transaction_id=_str(data.get("transaction_id")),
        trade_state=state, total_cents=total,
        payer_total_cents=_int(amount.get("payer_total")),
        success_time=_parse_time(data.get("success_time")),
        mchid=str(data.get("mchid") or ""), appid=str(data.get("appid") or ""))


def refund_from(data: Mapping[str, Any]) -> RefundResult:
    """A :class:`RefundResult` from a refund answer (``status``) or a decrypted refund
    resource (``refund_status``); ``ValueError`` when a required field is missing."""
    amount = data.get("amount")
    amount = amount if isinstance(amount, Mapping) else {}
    out_refund_no = _str(data.get("out_refund_no"))
    status = _str(data.get("status")) or _str(data.get("refund_status"))
    refund = _int(amount.get("refund"))
    out_trade_no = _str(data.get("out_trade_no"))
    if out_refund_no is None or status is None or refund is None or out_trade_no is None:
        raise ValueError("a refund needs out_refund_no, status, amount.refund, out_trade_no")
    return RefundResult(out_refund_no=out_refund_no, refund_id=_str(data.get("refund_id")),
                        status=status, refund_cents=refund, out_trade_no=out_trade_no)


def pay_params(m: Merchant, prepay_id: str, *, now: datetime) -> dict[str, str]:
    """What the page hands to ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``."""
    timestamp, nonce = str(int(now.timestamp())), signing.nonce_str()
    package = f"prepay_id={prepay_id}"
    return {"appId": m.appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
            "signType": "RSA",
            "paySign": signing.pay_sign(m.private_key, app_id=m.appid, timestamp=timestamp,
                                        nonce=nonce, package=package)}


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _check_signed(m: Merchant, headers: Mapping[str, str], body: bytes,
                  now_s: float) -> str | None:
    """Why a signed message (answer or notice) is not WeChat Pay's; None if it is."""
    h = _lower(headers)
    signature, serial = h.get("wechatpay-signature"), h.get("wechatpay-serial")
    timestamp, nonce = h.get("wechatpay-timestamp"), h.get("wechatpay-nonce")
    if not signature or not serial or not timestamp or not nonce:
        return "ANSWER_SIGNATURE_INVALID:no signature"
    kind = h.get("wechatpay-signature-type")
    if kind is not None and kind != signing.SIGNATURE_TYPE:
        return f"ANSWER_SIGNATURE_INVALID:signature type {kind}"
    if serial != m.platform_key_id:
        return f"ANSWER_SERIAL_UNKNOWN:Wechatpay-Serial {serial} is not the configured key"
    try:
        moment = int(timestamp)
    except ValueError:
        return "ANSWER_STALE:a timestamp that is not a number"
    if abs(now_s - moment) > MAX_SKEW_S:
        return "ANSWER_STALE:timestamp more than five minutes away"
    if not signing.verify(m.platform_public_key,
                          signing.answer_message(timestamp, nonce, body), signature):
        return "ANSWER_SIGNATURE_INVALID:the signature does not verify"
    return None


def parse_notice(m: Merchant, headers: Mapping[str, str], body: bytes, *,
                 now: datetime) -> Notice:
    """Verify and decrypt a notice posted to our notify URL.

    Raises :class:`NoticeSignatureError` (answer 401 ``SIGN_ERROR``) when the signature is
    absent or bad, ``Wechatpay-Serial`` is not the configured key, the timestamp is more
    than five minutes from ``now`` either way, or the resource does not decrypt. A verified
    notice of a kind we do not know comes back with ``transaction`` and ``refund`` None.
    """
    problem = _check_signed(m, headers, body, now.timestamp())
    if problem is not None:
        raise NoticeSignatureError(problem.partition(":")[2])
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise NoticeSignatureError("the body is not JSON") from exc
    if not isinstance(envelope, dict):
        raise NoticeSignatureError("the body is not a notice")
    resource = envelope.get("resource")
    notice_id, event_type = envelope.get("id"), envelope.get("event_type")
    if (not isinstance(resource, dict) or not isinstance(notice_id, str)
            or not isinstance(event_type, str)):
        raise NoticeSignatureError("the body is not a notice")
    if resource.get("algorithm") != signing.ALGORITHM:
        raise NoticeSignatureError(f"unknown algorithm {resource.get('algorithm')!r}")
    nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
    associated = resource.get("associated_data") or ""
    if not isinstance(nonce, str) or not isinstance(ciphertext, str) \
            or not isinstance(associated, str):
        raise NoticeSignatureError("the resource is incomplete")
    try:
        plain = signing.decrypt_resource(m.apiv3_key, nonce=nonce, ciphertext=ciphertext,
                                         associated_data=associated)
        data = json.loads(plain)
    except ValueError as exc:
        raise NoticeSignatureError("the resource does not decrypt") from exc
    if not isinstance(data, dict):
        raise NoticeSignatureError("the resource is not an object")
    transaction = refund = None
    try:
        if event_type.startswith("TRANSACTION."):
            transaction = transaction_from(data)
        elif event_type.startswith("REFUND."):
            refund = refund_from(data)
    except ValueError as exc:
        raise NoticeSignatureError(f"the resource is not a {event_type}: {exc}") from exc
    return Notice(id=notice_id, event_type=event_type, resource=data,
                  transaction=transaction, refund=refund)


class WechatPayClient:
    """One per process (it holds an aiohttp session); ``await close()`` at shutdown."""

    def __init__(self, api_base: str, *, timeout_s: float = 10.0) -> None:
        self.api_base = api_base.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(5.0, timeout_s))
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": f"o2o (pid {os.getpid()})"})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    # --- the API ----------------------------------------------------------------------

    async def jsapi_prepay(self, m: Merchant, *, out_trade_no: str, description: str,
                           amount_cents: int, openid: str, notify_url: str,
                           time_expire: datetime) -> str:
        """``POST /v3/pay/transactions/jsapi`` → ``prepay_id``. Asking again with the same
        parameters gives the same prepay_id (WeChat Pay's rule), so a retry is safe."""
        body = {"appid": m.appid, "mchid": m.mchid, "description": description,
                "out_trade_no": out_trade_no, "time_expire": rfc3339(time_expire),
                "notify_url": notify_url, "amount": {"total": amount_cents, "currency": "CNY"},
                "payer": {"openid": openid}}
        answer = await self._json(m, "POST", "/v3/pay/transactions/jsapi", body)
        prepay_id = answer.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise WechatPayError(200, "ANSWER_MALFORMED", "no prepay_id", retryable=True)
        return prepay_id

    async def query_order(self, m: Merchant, out_trade_no: str) -> Transaction:
        """``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=``; an order WeChat
        Pay does not know raises ``WechatPayError`` (404, ``ORDER_NOT_EXIST``)."""
        path = (f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
                f"?mchid={quote(m.mchid, safe='')}")
        answer = await self._json(m, "GET", path, None)
        try:
            transaction = transaction_from(answer)
        except ValueError as exc:
            raise WechatPayError(200, "ANSWER_MALFORMED", str(exc), retryable=True) from exc
        if transaction.out_trade_no != out_trade_no:
            raise WechatPayError(200, "ANSWER_MALFORMED", "another order's answer",
                                 retryable=True)
        return transaction

    async def close_order(self, m: Merchant, out_trade_no: str) -> None:
        """``POST …/{out_trade_no}/close`` (204). A paid order raises ``ORDERPAID``."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        await self._call(m, "POST", path, {"mchid": m.mchid})

    async def refund(self, m: Merchant, *, out_trade_no: str, out_refund_no: str,
                     refund_cents: int, total_cents: int, reason: str,
                     notify_url: str) -> RefundResult:
        """``POST /v3/refund/domestic/refunds``. The same ``out_refund_no`` asked again is
        the same refund (WeChat Pay's rule), so a retry is safe."""
        body: dict[str, Any] = {
            "out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
            "notify_url": notify_url,
            "amount": {"refund": refund_cents, "total": total_cents, "currency": "CNY"}}
        if reason:
            body["reason"] = reason[:80]
        return self._refund(await self._json(m, "POST", "/v3/refund/domestic/refunds", body),
                            out_refund_no)

    async def query_refund(self, m: Merchant, out_refund_no: str) -> RefundResult:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}`` (404 ``RESOURCE_NOT_EXISTS``
        for a refund WeChat Pay does not know)."""
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        return self._refund(await self._json(m, "GET", path, None), out_refund_no)

    async def trade_bill(self, m: Merchant, bill_date: date) -> list[BillLine]:
        """The day's trade bill (``bill_type=ALL``): ``GET /v3/bill/tradebill``, then its
        ``download_url`` with a signed GET, the file's SHA1 checked against ``hash_value``.
        A day without a bill (``NO_STATEMENT_EXIST``) is an empty list; a bill not made
        yet raises a retryable ``STATEMENT_CREATING``."""
        path = f"/v3/bill/tradebill?bill_date={bill_date.isoformat()}&bill_type=ALL"
        try:
            answer = await self._json(m, "GET", path, None)
        except WechatPayError as exc:
            if exc.code == "NO_STATEMENT_EXIST":
                return []
            raise
        url, hash_type = answer.get("download_url"), answer.get("hash_type")
        hash_value = answer.get("hash_value")
        if not isinstance(url, str) or not isinstance(hash_value, str):
            raise WechatPayError(200, "ANSWER_MALFORMED", "no download_url or hash_value",
                                 retryable=True)
        if hash_type not in (None, "SHA1"):
            raise WechatPayError(200, "ANSWER_MALFORMED", f"hash_type {hash_type!r}")
        download = self._download_path(url)
        # The file's answer is not signed by WeChat Pay: its hash, from the signed
        # answer above, is what vouches for it.
        _, content = await self._send(m, "GET", download, None, verify_answer=False,
                                      absolute=url)
        if hashlib.sha1(content).hexdigest().lower() != hash_value.lower():  # noqa: S324
            raise WechatPayError(200, "BILL_HASH_MISMATCH",
                                 "the bill's SHA1 is not the announced hash_value",
                                 retryable=True)
        try:
            return parse_trade_bill(content)
        except ValueError as exc:
            raise WechatPayError(200, "BILL_MALFORMED", str(exc)) from exc

    # --- plumbing ---------------------------------------------------------------------

    def _download_path(self, url: str) -> str:
        """The path+query of a download_url, which must point at WeChat Pay's API (our
        ``api_base`` or ``*.mch.weixin.qq.com`` over https): we send it a signed GET."""
        parts, base = urlsplit(url), urlsplit(self.api_base)
        same = (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        wechat = parts.scheme == "https" and (parts.hostname or "").endswith(
            ".mch.weixin.qq.com")
        if not (same or wechat):
            raise WechatPayError(200, "ANSWER_MALFORMED", f"download_url {url!r} is not "
                                 "WeChat Pay's")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @staticmethod
    def _refund(answer: dict[str, Any], out_refund_no: str) -> RefundResult:
        try:
            result = refund_from(answer)
        except ValueError as exc:
            raise WechatPayError(200, "ANSWER_MALFORMED", str(exc), retryable=True) from exc
        if result.out_refund_no != out_refund_no:
            raise WechatPayError(200, "ANSWER_MALFORMED", "another refund's answer",
                                 retryable=True)
        return result

    async def _json(self, m: Merchant, method: str, path: str,
                    body: dict[str, Any] | None) -> dict[str, Any]:
        status, content = await self._call(m, method, path, body)
        try:
            answer = json.loads(content)
        except ValueError as exc:
            raise WechatPayError(status, "ANSWER_MALFORMED", "the answer is not JSON",
                                 retryable=True) from exc
        if not isinstance(answer, dict):
            raise WechatPayError(status, "ANSWER_MALFORMED", "the answer is not an object",
                                 retryable=True)
        return answer

    async def _call(self, m: Merchant, method: str, path: str,
                    body: dict[str, Any] | None) -> tuple[int, bytes]:
        return await self._send(m, method, path, body, verify_answer=True)

    async def _send(self, m: Merchant, method: str, path: str, body: dict[str, Any] | None,
                    *, verify_answer: bool, absolute: str | None = None) -> tuple[int, bytes]:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body else ""
        timestamp, nonce = str(int(time.time())), signing.nonce_str()
        headers = {
            "Authorization": signing.authorization(
                mchid=m.mchid, serial_no=m.serial_no, private_key=m.private_key,
                method=method, url=path, body=text, timestamp=timestamp, nonce=nonce),
            "Accept": "application/json",
            # The public-key scheme: name the key we expect answers to be signed with.
            "Wechatpay-Serial": m.platform_key_id,
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = absolute if absolute is not None else self.api_base + path
        try:
            async with self._http().request(
                    method, url, data=text.encode() if body is not None else None,
                    headers=headers, allow_redirects=False) as response:
                content = await response.read()
                status, answer_headers = response.status, dict(response.headers)
        except TimeoutError as exc:
            raise WechatPayError(None, "TIMEOUT", f"no answer in time ({method} {path})",
                                 retryable=True) from exc
        except aiohttp.ClientError as exc:
            raise WechatPayError(None, "NETWORK_ERROR", f"{type(exc).__name__}: {exc}",
                                 retryable=True) from exc
        if status >= 300:
            raise self._error(m, status, answer_headers, content)
        if verify_answer:
            problem = _check_signed(m, answer_headers, content, time.time())
            if problem is not None:
                code, _, message = problem.partition(":")
                raise WechatPayError(status, code, message, retryable=True)
        return status, content

    @staticmethod
    def _error(m: Merchant, status: int, headers: Mapping[str, str],
               content: bytes) -> WechatPayError:
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
        code = payload.get("code") if isinstance(payload, dict) else None
        if not isinstance(code, str) or not code:
            return WechatPayError(status, "HTTP_ERROR", f"HTTP {status}",
                                  retryable=status >= 500 or status == 429)
        assert isinstance(payload, dict)
        message = str(payload.get("message") or "")
        if "wechatpay-signature" in _lower(headers):
            problem = _check_signed(m, headers, content, time.time())
            if problem is not None:
                bad, _, why = problem.partition(":")
                return WechatPayError(status, bad, f"{code} answer refused: {why}",
                                      retryable=True)
        retryable = status >= 500 or status == 429 or code in RETRYABLE_CODES
        return WechatPayError(status, code, message, retryable=retryable)
