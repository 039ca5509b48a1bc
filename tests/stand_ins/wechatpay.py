"""A stand-in for WeChat Pay API v3: a real aiohttp server on 127.0.0.1.

Written from WeChat Pay's API v3 documentation, so the app's real client is exercised end
to end (sockets, signatures both ways, JSON bodies, status codes, timeouts):

- every request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",
  nonce_str="…",signature="…",timestamp="…",serial_no="…"``, signed over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` with the private key of a merchant
  registered here (:meth:`WechatPayStandIn.add_merchant`, or :meth:`new_merchant` which
  also makes the :class:`Merchant`); otherwise 401 ``SIGN_ERROR``;
- every answer (errors included; not the bill file, like WeChat Pay) is signed with the
  stand-in's own platform key: ``Wechatpay-Serial`` = :attr:`platform_key_id`
  (``PUB_KEY_ID_…``), ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``, ``Wechatpay-Signature``;
- ``POST /v3/pay/transactions/jsapi`` → ``{"prepay_id"}`` (the same parameters again give
  the same prepay_id; other parameters 400 ``INVALID_REQUEST``; a paid order 400
  ``ORDERPAID``, a closed one 400 ``ORDER_CLOSED``);
- ``GET /v3/pay/transactions/out-trade-no/{no}?mchid=`` → the transaction (404
  ``ORDER_NOT_EXIST``);
- ``POST /v3/pay/transactions/out-trade-no/{no}/close`` → 204 (paid: 400 ``ORDERPAID``;
  closing a closed order is 204 again);
- ``POST /v3/refund/domestic/refunds`` → the refund, ``PROCESSING`` until
  :meth:`finish_refund` (or at once with :attr:`auto_refund`); the same out_refund_no is
  the same refund; ``GET /v3/refund/domestic/refunds/{no}`` (404 ``RESOURCE_NOT_EXISTS``);
- ``GET /v3/bill/tradebill?bill_date=&bill_type=ALL`` → ``{"hash_type": "SHA1",
  "hash_value", "download_url"}`` (400 ``NO_STATEMENT_EXIST`` for a day without
  payments or refunds), and the file at ``download_url`` (signed GET, unsigned answer):
  the real CSV, backtick-prefixed fields, summary header and line, amounts in yuan.

Notices: :meth:`pay` marks an order paid and posts ``TRANSACTION.SUCCESS`` to its
``notify_url`` over real HTTP (from the stand-in's own loop), the resource encrypted
(AEAD_AES_256_GCM) with the merchant's APIv3 key and the notice signed with the platform
key. ``notify=False`` keeps it back (late, out of order: :meth:`send` it when you like);
``copies=`` sends it more than once; ``fault=`` spoils it (``"tampered"``,
``"bad_signature"``, ``"wrong_serial"``, ``"stale"``, ``"undecryptable"``,
``"no_signature"``); ``notice_total=`` makes its amount differ from the order. A test
that serves the app in-process (httpx ASGI transport) posts the returned
:class:`SignedNotice` itself: ``await client.post(n.path, content=n.body,
headers=n.headers)``. :meth:`place` registers an order the app never placed.
WeChat Pay's retries: :attr:`retry_delays` (a short schedule for tests), or
:meth:`resend` / :meth:`resend_unacknowledged` by hand; ``wait=False`` sends without
blocking and :meth:`settle` waits for those; :meth:`paid_orders` and :meth:`acknowledged`
are thread-safe reads.

API faults are scripted per endpoint kind (``PREPAY``, ``QUERY``, ``CLOSE``, ``REFUND``,
``QUERY_REFUND``, ``TRADEBILL``, ``DOWNLOAD``): :meth:`fail` (a signed WeChat error, e.g.
``SYSTEM_ERROR`` 500), :meth:`http_error` (an unsigned 5xx page), :meth:`hang`,
:meth:`slow`, :meth:`drop`, :meth:`lose_answer`, :meth:`tamper_answer`,
:meth:`bad_answer_signature`, :meth:`wrong_answer_serial`, :meth:`stale_answer`.
:attr:`requests` records every request, :attr:`deliveries` every notice sent.

The server runs its own event loop in a daemon thread, like ``tests/stand_ins/wechat.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import socket
import string
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import cache
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from app.core.wechatpay import Merchant, signing
from app.core.wechatpay.bill import ALL_COLUMNS, SUMMARY_COLUMNS, yuan

CHINA = timezone(timedelta(hours=8))

PREPAY = "prepay"
QUERY = "query"
CLOSE = "close"
REFUND = "refund"
QUERY_REFUND = "query_refund"
TRADEBILL = "tradebill"
DOWNLOAD = "download"

NoticeFault = Literal["tampered", "bad_signature", "wrong_serial", "stale", "undecryptable",
                      "no_signature"]

# HTTP status WeChat Pay gives each error code.
STATUS_OF: dict[str, int] = {
    "SYSTEM_ERROR": 500, "SIGN_ERROR": 401, "ORDER_NOT_EXIST": 404,
    "RESOURCE_NOT_EXISTS": 404, "FREQUENCY_LIMITED": 429, "NOT_ENOUGH": 403,
    "NO_AUTH": 403, "ORDERPAID": 400, "ORDER_CLOSED": 400, "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400, "APPID_MCHID_NOT_MATCH": 400, "NO_STATEMENT_EXIST": 400,
    "STATEMENT_CREATING": 400, "MCH_NOT_EXISTS": 400,
}
OUT_NO = re.compile(r"^[0-9A-Za-z_\-*|]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-*|@]{1,64}$")


@cache
def cached_key(label: str) -> RSAPrivateKey:
    """A 2048-bit RSA key per label, made once per test session (50-100 ms each)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_merchant_numbers = itertools.count(1)


def merchant_config(m: Merchant) -> dict[str, str]:
    """The body of ``PUT /wechat-pay-config`` for ``m`` (PEMs, the APIv3 key as text)."""
    return {"mchid": m.mchid, "appid": m.appid, "merchant_serial_no": m.serial_no,
            "merchant_private_key_pem": signing.private_key_pem(m.private_key),
            "apiv3_key": m.apiv3_key.decode(), "platform_public_key_id": m.platform_key_id,
            "platform_public_key_pem": signing.public_key_pem(m.platform_public_key)}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    kind: str  # PREPAY, QUERY, … or "unknown"
    method: str
    path: str  # path and query, as signed
    query: dict[str, str]
    json: Any
    body: bytes
    headers: dict[str, str]
    mchid: str | None  # from a verified Authorization; None when it was refused
    at: float


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do instead of (or on top of) the normal answer of one call."""

    delay: float = 0.0
    drop: bool = False  # reset the connection (after ``delay``)
    raw_status: int | None = None  # an unsigned HTML error page
    code: str | None = None  # a signed WeChat error answer
    status: int | None = None  # its HTTP status (default from STATUS_OF)
    message: str | None = None
    lose_answer: bool = False  # carried out, then the connection drops
    tamper: bool = False  # the body changes after signing
    bad_signature: bool = False  # signed with another key
    serial: str | None = None  # another Wechatpay-Serial
    skew: float = 0.0  # Wechatpay-Timestamp this many seconds off


@dataclass(slots=True)
class _Queued:
    fault: Fault
    remaining: int | None  # None: until cleared


@dataclass(slots=True)
class PayMerchant:
    mchid: str
    appid: str
    serial_no: str
    public_key: RSAPublicKey
    apiv3_key: bytes


@dataclass(slots=True)
class PayOrder:
    mchid: str
    appid: str
    out_trade_no: str
    description: str
    total: int
    openid: str
    notify_url: str
    time_expire: str
    prepay_id: str
    # NOTPAY | SUCCESS | CLOSED | REFUND; a test may set USERPAYING, PAYERROR, REVOKED
    # directly (``server.order(no).state = "USERPAYING"``) to see how queries are handled.
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    payer_total: int | None = None
    bill_total: int | None = None  # what the bill says, when scripted to differ


@dataclass(slots=True)
class PayRefund:
    mchid: str
    out_refund_no: str
    out_trade_no: str
    refund_id: str
    amount: int
    total: int
    reason: str
    notify_url: str | None
    created_at: datetime
    status: str = "PROCESSING"  # PROCESSING | SUCCESS | ABNORMAL | CLOSED
    success_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class SignedNotice:
    """A notice as WeChat Pay posts it: ``body`` (JSON bytes) with ``headers``."""

    url: str
    headers: dict[str, str]
    body: bytes
    notice_id: str
    event_type: str
    resource: dict[str, Any]  # the plaintext resource
    mchid: str

    @property
    def path(self) -> str:
        """The notify URL's path (and query): what an in-process client posts to."""
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True, slots=True)
class Delivery:
    notice_id: str
    event_type: str
    url: str
    status: int | None  # None: no HTTP answer
    error: str | None
    at: float


def _now() -> datetime:
    return datetime.now(CHINA).replace(microsecond=0)


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


@dataclass(slots=True)
class WechatPayStandIn:
    """The stand-in server and its script. All state is plain attributes tests may read."""

    host: str = "127.0.0.1"
    platform_key_id: str = field(default_factory=lambda: "PUB_KEY_ID_01" + _digits(26))
    platform_key: RSAPrivateKey = field(default_factory=lambda: cached_key("platform"))
    # None: a refund stays PROCESSING until finish_refund; else it ends at once like this
    # (with its notice sent).
    auto_refund: str | None = None
    notice_timeout: float = 5.0  # WeChat Pay waits about 5 s for a notify URL's answer
    # WeChat Pay sends a notice again when it was not answered 2xx (15 s, 15 s, 30 s, 3 min,
    # …, over 24 h); set e.g. (0.2, 0.5, 1.0) for a short test schedule. Each retry is
    # signed anew. Empty: no retries (use resend / resend_unacknowledged).
    retry_delays: tuple[float, ...] = ()

    merchants: dict[str, PayMerchant] = field(default_factory=dict)
    orders: dict[tuple[str, str], PayOrder] = field(default_factory=dict)
    refunds: dict[tuple[str, str], PayRefund] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    notices: list[SignedNotice] = field(default_factory=list)  # every notice made
    bill_faults: dict[date, str] = field(default_factory=dict)  # "hash"

    _faults: dict[str, list[_Queued]] = field(default_factory=dict)
    _files: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None
    _port: int | None = None
    _closing: asyncio.Event | None = None
    _inflight: set[concurrent.futures.Future[int | None]] = field(default_factory=set)
    _tasks: set[asyncio.Task[int | None]] = field(default_factory=set)

    # --- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://{self.host}:{self._port}"

    @property
    def platform_public_key(self) -> RSAPublicKey:
        return self.platform_key.public_key()

    def start(self) -> WechatPayStandIn:
        if self._thread is not None:
            raise RuntimeError("the stand-in is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="wechatpay-stand-in",
                                  daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None
            self._port = None

    async def _serve(self) -> None:
        self._closing = asyncio.Event()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=self.notice_timeout))
        app = web.Application()
        add = app.router.add_route
        add("POST", "/v3/pay/transactions/jsapi", self._wrap(PREPAY, self._prepay))
        add("GET", "/v3/pay/transactions/out-trade-no/{no}", self._wrap(QUERY, self._query))
        add("POST", "/v3/pay/transactions/out-trade-no/{no}/close",
            self._wrap(CLOSE, self._close))
        add("POST", "/v3/refund/domestic/refunds", self._wrap(REFUND, self._refund))
        add("GET", "/v3/refund/domestic/refunds/{no}",
            self._wrap(QUERY_REFUND, self._query_refund))
        add("GET", "/v3/bill/tradebill", self._wrap(TRADEBILL, self._tradebill))
        add("GET", "/v3/billdownload/file", self._wrap(DOWNLOAD, self._download))
        add("*", "/{tail:.*}", self._wrap("unknown", self._unknown))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def __enter__(self) -> WechatPayStandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> WechatPayStandIn:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # --- merchants ----------------------------------------------------------------------

    def add_merchant(self, mchid: str, appid: str, serial_no: str, public_key: RSAPublicKey,
                     apiv3_key: bytes) -> PayMerchant:
        merchant = PayMerchant(mchid=mchid, appid=appid, serial_no=serial_no,
                               public_key=public_key, apiv3_key=apiv3_key)
        with self._lock:
            self.merchants[mchid] = merchant
        return merchant

    def new_merchant(self, *, mchid: str | None = None, appid: str | None = None,
                     key: RSAPrivateKey | None = None) -> Merchant:
        """A fresh :class:`Merchant` (its own mchid, appid, APIv3 key; an RSA key from a
        small per-session pool, so two merchants in one test have different keys),
        registered here and trusting this stand-in's platform key."""
        n = next(_merchant_numbers)
        private_key = key or cached_key(f"merchant-{n % 3}")
        merchant = Merchant(
            mchid=mchid or f"19{n:08d}", appid=appid or f"wx{secrets.token_hex(8)}",
            serial_no=secrets.token_hex(20).upper(), private_key=private_key,
            apiv3_key=secrets.token_urlsafe(24)[:32].encode(),
            platform_key_id=self.platform_key_id,
            platform_public_key=self.platform_public_key)
        self.add_merchant(merchant.mchid, merchant.appid, merchant.serial_no,
                          private_key.public_key(), merchant.apiv3_key)
        return merchant

    # --- script: API faults -------------------------------------------------------------

    def script(self, kind: str, fault: Fault, times: int | None = 1) -> None:
        """Queue ``fault`` for the next ``times`` calls of ``kind`` (None: every call)."""
        with self._lock:
            self._faults.setdefault(kind, []).append(_Queued(fault=fault, remaining=times))

    def clear_faults(self, kind: str | None = None) -> None:
        with self._lock:
            if kind is None:
                self._faults.clear()
            else:
                self._faults.pop(kind, None)

    def fail(self, kind: str, code: str = "SYSTEM_ERROR", message: str | None = None, *,
             status: int | None = None, times: int | None = 1) -> None:
        """A signed ``{"code", "message"}`` answer (``SYSTEM_ERROR`` is a 500)."""
        self.script(kind, Fault(code=code, status=status, message=message), times)

    def http_error(self, kind: str, status: int = 500, times: int | None = 1) -> None:
        """An unsigned HTML error page (a gateway in front of WeChat Pay)."""
        self.script(kind, Fault(raw_status=status), times)

    def slow(self, kind: str, seconds: float, times: int | None = 1) -> None:
        self.script(kind, Fault(delay=seconds), times)

    def hang(self, kind: str, seconds: float = 60.0, times: int | None = 1) -> None:
        """No answer for ``seconds`` (nothing carried out), then a reset: a client
        timeout. Stopping the stand-in ends the wait."""
        self.script(kind, Fault(delay=seconds, drop=True), times)

    def drop(self, kind: str, times: int | None = 1) -> None:
        """Reset the connection without an answer (aiohttp retries an idempotent GET once
        on a reused connection: ``times=2`` for a GET that must fail)."""
        self.script(kind, Fault(drop=True), times)

    def lose_answer(self, kind: str, times: int | None = 1) -> None:
        """Carry the call out, then drop the connection: the client never learns."""
        self.script(kind, Fault(lose_answer=True), times)

    def tamper_answer(self, kind: str, times: int | None = 1) -> None:
        """The answer's body changes after it was signed (an amount, or an extra field)."""
        self.script(kind, Fault(tamper=True), times)

    def bad_answer_signature(self, kind: str, times: int | None = 1) -> None:
        self.script(kind, Fault(bad_signature=True), times)

    def wrong_answer_serial(self, kind: str, serial: str | None = None,
                            times: int | None = 1) -> None:
        self.script(kind, Fault(serial=serial or "PUB_KEY_ID_01" + "9" * 26), times)

    def stale_answer(self, kind: str, seconds: float = -600.0, times: int | None = 1) -> None:
        self.script(kind, Fault(skew=seconds), times)

    # --- script: orders, payments, refunds, notices -------------------------------------

    def order(self, out_trade_no: str, mchid: str | None = None) -> PayOrder:
        with self._lock:
            return self._order(out_trade_no, mchid)

    def _order(self, out_trade_no: str, mchid: str | None) -> PayOrder:
        matches = [o for (m, n), o in self.orders.items()
                   if n == out_trade_no and (mchid is None or m == mchid)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} orders {out_trade_no!r} in the stand-in")
        return matches[0]

    def place(self, mchid: str, out_trade_no: str, total_cents: int, notify_url: str, *,
              openid: str = "o-stand-in-payer", description: str = "placed elsewhere"
              ) -> PayOrder:
        """An order WeChat Pay knows but the app never placed (a notice for an unknown
        order, a bill line nobody expects)."""
        with self._lock:
            merchant = self.merchants[mchid]
            order = PayOrder(
                mchid=mchid, appid=merchant.appid, out_trade_no=out_trade_no,
                description=description, total=total_cents, openid=openid,
                notify_url=notify_url, time_expire="",
                prepay_id="wx" + secrets.token_hex(16))
            self.orders[(mchid, out_trade_no)] = order
        return order

    def pay(self, out_trade_no: str, *, payer_total: int | None = None,
            mchid: str | None = None, at: datetime | None = None, notify: bool = True,
            copies: int = 1, notice_total: int | None = None,
            fault: NoticeFault | None = None, even_if_closed: bool = False,
            wait: bool = True) -> SignedNotice:
        """Mark the order paid (``payer_total`` defaults to its total; ``at`` the success
        time, now by default) and make its ``TRANSACTION.SUCCESS`` notice, sent ``copies``
        times unless ``notify`` is False (then :meth:`send` it later). ``notice_total``:
        the notice claims another amount than the order's. A closed order can only be
        paid with ``even_if_closed`` (the member paid as it was being closed).
        ``wait=False``: return at once, the notice on its way (see :meth:`settle`)."""
        with self._lock:
            order = self._order(out_trade_no, mchid)
            if order.state == "CLOSED" and not even_if_closed:
                raise ValueError(f"order {out_trade_no} is closed")
            if order.state in ("SUCCESS", "REFUND"):
                raise ValueError(f"order {out_trade_no} is already paid")
            order.state = "SUCCESS"
            order.transaction_id = "42000" + _digits(23)
            order.success_time = (at or _now()).astimezone(CHINA).replace(microsecond=0)
            order.payer_total = order.total if payer_total is None else payer_total
            resource = self._transaction(order)
            if notice_total is not None:
                resource["amount"]["total"] = notice_total
            notice = self._make_notice(order.mchid, order.notify_url, "TRANSACTION.SUCCESS",
                                       "支付成功", "transaction", resource, fault)
        if notify:
            for _ in range(copies):
                self.send(notice, wait=wait)
        return notice

    async def pay_async(self, out_trade_no: str, **kwargs: Any) -> SignedNotice:
        """:meth:`pay` without blocking the caller's event loop."""
        return await asyncio.to_thread(lambda: self.pay(out_trade_no, **kwargs))

    def finish_refund(self, out_refund_no: str, status: str = "SUCCESS", *,
                      mchid: str | None = None, notify: bool = True,
                      fault: NoticeFault | None = None) -> SignedNotice | None:
        """End a refund (``SUCCESS``, ``ABNORMAL`` or ``CLOSED``) and make its
        ``REFUND.<status>`` notice (sent unless ``notify`` is False; None when the refund
        had no notify_url)."""
        with self._lock:
            refund = self._finish_refund(out_refund_no, status, mchid)
            notice = self._refund_notice(refund, fault)
        if notice is not None and notify:
            self.send(notice)
        return notice

    def notice_for(self, out_trade_no: str, *, mchid: str | None = None,
                   fault: NoticeFault | None = None, notice_total: int | None = None
                   ) -> SignedNotice:
        """A fresh ``TRANSACTION.SUCCESS`` notice of an already paid order (a new id),
        not sent: WeChat Pay telling again, or a forged variant with ``fault``."""
        with self._lock:
            order = self._order(out_trade_no, mchid)
            if order.state not in ("SUCCESS", "REFUND"):
                raise ValueError(f"order {out_trade_no} is not paid")
            resource = self._transaction(order)
            resource["trade_state"] = "SUCCESS"
            if notice_total is not None:
                resource["amount"]["total"] = notice_total
            return self._make_notice(order.mchid, order.notify_url, "TRANSACTION.SUCCESS",
                                     "支付成功", "transaction", resource, fault)

    def send(self, notice: SignedNotice, *, url: str | None = None,
             wait: bool = True) -> int | None:
        """POST the notice to its URL (or ``url``) now (and again per
        :attr:`retry_delays` until answered 2xx); the last HTTP status (None: no answer).
        ``wait=False``: return None at once; :meth:`settle` waits for what is on its way."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(
            self._deliver_retrying(notice, url or notice.url), self._loop)
        if not wait:
            with self._lock:
                self._inflight.add(future)
            future.add_done_callback(self._done)
            return None
        return future.result(timeout=(self.notice_timeout + 1) * (1 + len(self.retry_delays))
                             + sum(self.retry_delays) + 5)

    def _done(self, future: concurrent.futures.Future[int | None]) -> None:
        with self._lock:
            self._inflight.discard(future)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every notice sent with ``wait=False`` (and its retries) is done."""
        with self._lock:
            pending = set(self._inflight)
        _, not_done = concurrent.futures.wait(pending, timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} notices still on their way")

    def resend_unacknowledged(self, *, wait: bool = True) -> int:
        """Send again (signed anew) every notice that was sent and never answered 2xx: what
        WeChat Pay does after a server died. Returns how many were sent."""
        with self._lock:
            acked = {d.notice_id for d in self.deliveries
                     if d.status is not None and 200 <= d.status < 300}
            tried = {d.notice_id for d in self.deliveries}
            todo = [n for n in self.notices if n.notice_id in tried - acked]
        for notice in todo:
            self.resend(notice, wait=wait)
        return len(todo)

    def acknowledged(self, notice: SignedNotice | str) -> bool:
        """Whether the notice was answered 2xx at least once."""
        return any(d.status is not None and 200 <= d.status < 300
                   for d in self.deliveries_of(notice))

    def paid_orders(self, mchid: str | None = None) -> dict[str, PayOrder]:
        """A snapshot of the orders WeChat Pay counts as paid (SUCCESS or REFUND), by
        out_trade_no (``total``, ``payer_total``, ``transaction_id``)."""
        with self._lock:
            return {o.out_trade_no: replace(o) for (m, _), o in self.orders.items()
                    if o.state in ("SUCCESS", "REFUND") and (mchid is None or m == mchid)}

    async def send_async(self, notice: SignedNotice, *, url: str | None = None) -> int | None:
        return await asyncio.to_thread(lambda: self.send(notice, url=url))

    def resend(self, notice: SignedNotice, *, fresh: bool = True,
               wait: bool = True) -> int | None:
        """WeChat Pay's retry of a notice: the same body, signed anew (``fresh``, as
        WeChat Pay does) or byte for byte the same (an old timestamp)."""
        if fresh:
            notice = self.resign(notice)
        return self.send(notice, wait=wait)

    def resign(self, notice: SignedNotice, *, skew: float = 0.0) -> SignedNotice:
        """The same notice body with a new timestamp, nonce and signature."""
        headers = self._sign_headers(notice.body, skew=skew)
        return replace(notice, headers=headers)

    def corrupt_bill_hash(self, bill_date: date) -> None:
        """The tradebill answer for ``bill_date`` announces a wrong ``hash_value``."""
        with self._lock:
            self.bill_faults[bill_date] = "hash"

    def misstate_bill(self, out_trade_no: str, total_cents: int,
                      mchid: str | None = None) -> None:
        """The bill shows another amount for this (paid) order."""
        with self._lock:
            self._order(out_trade_no, mchid).bill_total = total_cents

    def requests_of(self, kind: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    def deliveries_of(self, notice: SignedNotice | str) -> list[Delivery]:
        notice_id = notice if isinstance(notice, str) else notice.notice_id
        with self._lock:
            return [d for d in self.deliveries if d.notice_id == notice_id]

    def bill(self, mchid: str, bill_date: date) -> bytes:
        """The trade bill file of ``bill_date`` (Beijing date) as the stand-in serves it."""
        with self._lock:
            return self._bill(mchid, bill_date)

    # --- notices --------------------------------------------------------------------------

    def _sign_headers(self, body: bytes, *, skew: float = 0.0, serial: str | None = None,
                      key: RSAPrivateKey | None = None) -> dict[str, str]:
        timestamp, nonce = str(int(time.time() + skew)), signing.nonce_str()
        signature = signing.sign(key or self.platform_key,
                                 signing.answer_message(timestamp, nonce, body))
        return {"Wechatpay-Serial": serial or self.platform_key_id,
                "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature,
                "Wechatpay-Signature-Type": signing.SIGNATURE_TYPE,
                "Content-Type": "application/json"}

    def _make_notice(self, mchid: str, url: str, event_type: str, summary: str,
                     original_type: str, resource: dict[str, Any],
                     fault: NoticeFault | None) -> SignedNotice:
        merchant = self.merchants[mchid]
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
        key = merchant.apiv3_key if fault != "undecryptable" else secrets.token_bytes(32)
        encrypted = signing.encrypt_resource(key, plaintext, associated_data=original_type)
        notice_id = "EV-" + secrets.token_hex(12)
        envelope = {"id": notice_id, "create_time": _now().isoformat(),
                    "resource_type": "encrypt-resource", "event_type": event_type,
                    "summary": summary, "resource": {"original_type": original_type,
                                                     **encrypted}}
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._sign_headers(
            body, skew=-400.0 if fault == "stale" else 0.0,
            serial="PUB_KEY_ID_01" + "9" * 26 if fault == "wrong_serial" else None,
            key=cached_key("rogue") if fault == "bad_signature" else None)
        if fault == "tampered":
            changed = dict(envelope, id=notice_id, summary="tampered")
            body = json.dumps(changed, ensure_ascii=False, separators=(",", ":")).encode()
        if fault == "no_signature":
            headers = {"Content-Type": "application/json"}
        notice = SignedNotice(url=url, headers=headers, body=body, notice_id=notice_id,
                              event_type=event_type, resource=resource, mchid=mchid)
        self.notices.append(notice)
        return notice

    async def _deliver_retrying(self, notice: SignedNotice, url: str) -> int | None:
        status = await self._deliver(notice, url)
        for delay in self.retry_delays:
            if status is not None and 200 <= status < 300:
                break
            assert self._closing is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                break
            status = await self._deliver(self.resign(notice), url)
        return status

    async def _deliver(self, notice: SignedNotice, url: str) -> int | None:
        assert self._http is not None
        status: int | None = None
        error: str | None = None
        try:
            async with self._http.post(url, data=notice.body, headers=notice.headers) as r:
                await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.deliveries.append(Delivery(notice_id=notice.notice_id,
                                            event_type=notice.event_type, url=url,
                                            status=status, error=error,
                                            at=time.monotonic()))
        return status

    # --- resources --------------------------------------------------------------------------

    @staticmethod
    def _transaction(order: PayOrder) -> dict[str, Any]:
        data: dict[str, Any] = {
            "appid": order.appid, "mchid": order.mchid, "out_trade_no": order.out_trade_no,
            "trade_type": "JSAPI", "trade_state": order.state,
            "trade_state_desc": {"NOTPAY": "未支付", "SUCCESS": "支付成功",
                                 "CLOSED": "已关闭", "REFUND": "转入退款",
                                 "USERPAYING": "用户支付中", "PAYERROR": "支付失败",
                                 "REVOKED": "已撤销"}.get(order.state, order.state),
            "bank_type": "OTHERS", "attach": "", "payer": {"openid": order.openid},
            "amount": {"total": order.total, "currency": "CNY"}}
        if order.transaction_id is not None:
            data["transaction_id"] = order.transaction_id
        if order.success_time is not None:
            data["success_time"] = order.success_time.isoformat()
        if order.payer_total is not None:
            data["amount"].update(payer_total=order.payer_total, payer_currency="CNY")
        return data

    def _refund_json(self, refund: PayRefund, *, notice: bool = False) -> dict[str, Any]:
        order = self.orders[(refund.mchid, refund.out_trade_no)]
        data: dict[str, Any] = {
            "refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no,
            "transaction_id": order.transaction_id, "out_trade_no": refund.out_trade_no,
            "user_received_account": "支付用户零钱",
            "amount": {"total": refund.total, "refund": refund.amount,
                       "payer_total": order.payer_total or order.total,
                       "payer_refund": refund.amount}}
        if notice:
            data.update(mchid=refund.mchid, refund_status=refund.status)
        else:
            data.update(channel="ORIGINAL", create_time=refund.created_at.isoformat(),
                        status=refund.status, funds_account="AVAILABLE")
            data["amount"].update(settlement_refund=refund.amount,
                                  settlement_total=refund.total, discount_refund=0,
                                  currency="CNY")
        if refund.success_time is not None:
            data["success_time"] = refund.success_time.isoformat()
        return data

    def _finish_refund(self, out_refund_no: str, status: str, mchid: str | None) -> PayRefund:
        if status not in ("SUCCESS", "ABNORMAL", "CLOSED"):
            raise ValueError(f"a refund ends SUCCESS, ABNORMAL or CLOSED, not {status}")
        matches = [r for (m, n), r in self.refunds.items()
                   if n == out_refund_no and (mchid is None or m == mchid)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} refunds {out_refund_no!r} in the stand-in")
        refund = matches[0]
        refund.status = status
        if status == "SUCCESS":
            refund.success_time = _now()
            self.orders[(refund.mchid, refund.out_trade_no)].state = "REFUND"
        return refund

    def _refund_notice(self, refund: PayRefund, fault: NoticeFault | None
                       ) -> SignedNotice | None:
        if refund.notify_url is None:
            return None
        summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}
        return self._make_notice(refund.mchid, refund.notify_url, f"REFUND.{refund.status}",
                                 summary[refund.status], "refund",
                                 self._refund_json(refund, notice=True), fault)

    # --- the bill -----------------------------------------------------------------------------

    def _bill_rows(self, mchid: str, bill_date: date) -> list[list[str]]:
        rows: list[list[str]] = []
        for order in self.orders.values():
            if order.mchid != mchid or order.success_time is None:
                continue
            if order.success_time.astimezone(CHINA).date() != bill_date:
                continue
            total = order.bill_total if order.bill_total is not None else order.total
            rows.append(self._bill_row(order, "SUCCESS", order.success_time, total,
                                       None))
        for refund in self.refunds.values():
            if refund.mchid != mchid or refund.success_time is None:
                continue
            if refund.success_time.astimezone(CHINA).date() != bill_date:
                continue
            order = self.orders[(refund.mchid, refund.out_trade_no)]
            rows.append(self._bill_row(order, "REFUND", refund.success_time, order.total,
                                       refund))
        rows.sort(key=lambda row: row[0])
        return rows

    @staticmethod
    def _bill_row(order: PayOrder, state: str, moment: datetime, total: int,
                  refund: PayRefund | None) -> list[str]:
        values = {name: "" for name in ALL_COLUMNS}
        payer_total = order.payer_total if order.payer_total is not None else total
        values.update({
            "交易时间": moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "公众账号ID": order.appid, "商户号": order.mchid, "特约商户号": "0",
            "微信订单号": order.transaction_id or "", "商户订单号": order.out_trade_no,
            "用户标识": order.openid, "交易类型": "JSAPI", "交易状态": state,
            "付款银行": "OTHERS", "货币种类": "CNY",
            "应结订单金额": yuan(payer_total if refund is None else 0),
            "代金券金额": yuan(total - payer_total if refund is None else 0),
            "微信退款单号": refund.refund_id if refund else "0",
            "商户退款单号": refund.out_refund_no if refund else "0",
            "退款金额": yuan(refund.amount if refund else 0), "充值券退款金额": "0.00",
            "退款类型": "ORIGINAL" if refund else "", "退款状态": "SUCCESS" if refund else "",
            "商品名称": order.description, "商户数据包": "",
            "手续费": "0.00000" if refund is None else "-0.00000", "费率": "0.60%",
            "订单金额": yuan(total), "申请退款金额": yuan(refund.amount if refund else 0),
            "费率备注": ""})
        return [values[name] for name in ALL_COLUMNS]

    def _bill(self, mchid: str, bill_date: date) -> bytes:
        rows = self._bill_rows(mchid, bill_date)
        lines = [",".join(ALL_COLUMNS)]
        lines += [",".join("`" + v for v in row) for row in rows]
        col = {name: i for i, name in enumerate(ALL_COLUMNS)}
        settle = sum(_fen(r[col["应结订单金额"]]) for r in rows)
        refunded = sum(_fen(r[col["退款金额"]]) for r in rows)
        ordered = sum(_fen(r[col["订单金额"]]) for r in rows if r[col["交易状态"]] != "REFUND")
        lines.append(",".join(SUMMARY_COLUMNS))
        lines.append(",".join("`" + v for v in (
            str(len(rows)), yuan(settle), yuan(refunded), "0.00", "0.00000", yuan(ordered),
            yuan(refunded))))
        return ("\r\n".join(lines) + "\r\n").encode()

    # --- plumbing -------------------------------------------------------------------------------

    def _take_fault(self, kind: str) -> Fault | None:
        queue = self._faults.get(kind)
        while queue:
            head = queue[0]
            if head.remaining is None:
                return head.fault
            if head.remaining > 0:
                head.remaining -= 1
                if head.remaining == 0:
                    queue.pop(0)
                return head.fault
            queue.pop(0)
        return None

    def _verify_request(self, request: web.Request, body: bytes) -> PayMerchant | str:
        """The merchant whose key signed this request, or why it is refused."""
        header = request.headers.get("Authorization", "")
        fields = signing.parse_authorization(header)
        if fields is None:
            return "Authorization is not WECHATPAY2-SHA256-RSA2048"
        needed = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
        if any(not fields.get(k) for k in needed):
            return "Authorization lacks a field"
        merchant = self.merchants.get(fields["mchid"])
        if merchant is None:
            return f"unknown mchid {fields['mchid']}"
        if fields["serial_no"] != merchant.serial_no:
            return "serial_no is not the merchant's certificate"
        try:
            moment = int(fields["timestamp"])
        except ValueError:
            return "timestamp is not a number"
        if abs(time.time() - moment) > 300:
            return "timestamp more than five minutes away"
        message = signing.request_message(request.method, request.raw_path,
                                          fields["timestamp"], fields["nonce_str"],
                                          body.decode("utf-8", "replace"))
        if not signing.verify(merchant.public_key, message, fields["signature"]):
            return "the signature does not verify with the merchant's public key"
        return merchant

    def _wrap(self, kind: str, handler: Callable[[web.Request, PayMerchant, Any],
                                                   web.Response]
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            try:
                parsed: Any = json.loads(body) if body else None
            except ValueError:
                parsed = None
            with self._lock:
                checked = self._verify_request(request, body)
                self.requests.append(RecordedRequest(
                    kind=kind, method=request.method, path=request.raw_path,
                    query=dict(request.query), json=parsed, body=body,
                    headers=dict(request.headers),
                    mchid=checked.mchid if isinstance(checked, PayMerchant) else None,
                    at=time.monotonic()))
                fault = self._take_fault(kind)
            if fault is not None and fault.lose_answer:
                with self._lock:
                    if isinstance(checked, PayMerchant):
                        handler(request, checked, parsed)
                return self._drop(request)
            if fault is not None:
                if fault.delay > 0:
                    assert self._closing is not None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), fault.delay)
                if fault.drop:
                    return self._drop(request)
                if fault.raw_status is not None:
                    return web.Response(status=fault.raw_status,
                                        text=f"<html>HTTP {fault.raw_status}</html>",
                                        content_type="text/html")
                if fault.code is not None:
                    status = fault.status or STATUS_OF.get(fault.code, 400)
                    return self._signed_error(status, fault.code,
                                              fault.message or "scripted", fault)
            if not isinstance(checked, PayMerchant):
                return self._signed_error(401, "SIGN_ERROR", checked, None)
            with self._lock:
                answer = handler(request, checked, parsed)
            if fault is not None and kind != DOWNLOAD and answer.body is not None:
                return self._resigned(answer, fault)
            return answer

        return endpoint

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=204)

    def _signed(self, status: int, payload: dict[str, Any] | None,
                fault: Fault | None = None) -> web.Response:
        body = b"" if payload is None else json.dumps(
            payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._sign_headers(
            body, skew=fault.skew if fault else 0.0,
            serial=fault.serial if fault else None,
            key=cached_key("rogue") if fault is not None and fault.bad_signature else None)
        if fault is not None and fault.tamper:
            body = _tampered(payload)
        headers["Request-ID"] = secrets.token_hex(16)
        if payload is None:
            headers.pop("Content-Type")
        return web.Response(status=status, body=body, headers=headers)

    def _resigned(self, answer: web.Response, fault: Fault) -> web.Response:
        """The handler's answer, signed again the way ``fault`` says."""
        raw = answer.body
        payload = json.loads(raw) if isinstance(raw, bytes) and raw else None
        return self._signed(answer.status, payload, fault)

    def _signed_error(self, status: int, code: str, message: str,
                      fault: Fault | None) -> web.Response:
        return self._signed(status, {"code": code, "message": message}, fault)

    def _err(self, code: str, message: str) -> web.Response:
        return self._signed_error(STATUS_OF.get(code, 400), code, message, None)

    # --- endpoints --------------------------------------------------------------------------

    def _prepay(self, request: web.Request, merchant: PayMerchant, body: Any) -> web.Response:
        if not isinstance(body, dict):
            return self._err("PARAM_ERROR", "body is not a JSON object")
        if body.get("mchid") != merchant.mchid:
            return self._err("PARAM_ERROR", "mchid is not the signing merchant's")
        if body.get("appid") != merchant.appid:
            return self._err("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        out_trade_no, amount = body.get("out_trade_no"), body.get("amount")
        payer, notify_url = body.get("payer"), body.get("notify_url")
        description = body.get("description")
        if not isinstance(out_trade_no, str) or not OUT_NO.match(out_trade_no):
            return self._err("PARAM_ERROR", "out_trade_no is not 6-32 of [0-9A-Za-z_-*|]")
        if (not isinstance(amount, dict) or not isinstance(amount.get("total"), int)
                or amount["total"] <= 0 or amount.get("currency", "CNY") != "CNY"):
            return self._err("PARAM_ERROR", "amount.total must be a positive integer")
        if not isinstance(payer, dict) or not isinstance(payer.get("openid"), str) \
                or not payer["openid"]:
            return self._err("PARAM_ERROR", "payer.openid is missing")
        if not isinstance(notify_url, str) or not notify_url.startswith(("http://",
                                                                         "https://")):
            return self._err("PARAM_ERROR", "notify_url is not a URL")
        if not isinstance(description, str) or not description or len(description) > 127:
            return self._err("PARAM_ERROR", "description is missing or too long")
        time_expire = body.get("time_expire", "")
        if time_expire:
            try:
                datetime.fromisoformat(time_expire)
            except (TypeError, ValueError):
                return self._err("PARAM_ERROR", "time_expire is not RFC 3339")
        existing = self.orders.get((merchant.mchid, out_trade_no))
        if existing is not None:
            if existing.state in ("SUCCESS", "REFUND"):
                return self._err("ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED":
                return self._err("ORDER_CLOSED", "订单已关闭")
            same = (existing.total, existing.openid, existing.description,
                    existing.notify_url) == (amount["total"], payer["openid"], description,
                                             notify_url)
            if not same:
                return self._err("INVALID_REQUEST", "201 商户订单号重复")
            return self._signed(200, {"prepay_id": existing.prepay_id})
        order = PayOrder(mchid=merchant.mchid, appid=merchant.appid,
                         out_trade_no=out_trade_no, description=description,
                         total=amount["total"], openid=payer["openid"],
                         notify_url=notify_url, time_expire=str(time_expire),
                         prepay_id="wx" + secrets.token_hex(16))
        self.orders[(merchant.mchid, out_trade_no)] = order
        return self._signed(200, {"prepay_id": order.prepay_id})

    def _query(self, request: web.Request, merchant: PayMerchant, body: Any) -> web.Response:
        if request.query.get("mchid") != merchant.mchid:
            return self._err("PARAM_ERROR", "mchid is missing or not the signing merchant's")
        order = self.orders.get((merchant.mchid, request.match_info["no"]))
        if order is None:
            return self._err("ORDER_NOT_EXIST", "订单不存在")
        return self._signed(200, self._transaction(order))

    def _close(self, request: web.Request, merchant: PayMerchant, body: Any) -> web.Response:
        if not isinstance(body, dict) or body.get("mchid") != merchant.mchid:
            return self._err("PARAM_ERROR", "mchid is missing or not the signing merchant's")
        order = self.orders.get((merchant.mchid, request.match_info["no"]))
        if order is None:
            return self._err("ORDER_NOT_EXIST", "订单不存在")
        if order.state in ("SUCCESS", "REFUND"):
            return self._err("ORDERPAID", "订单已支付")
        order.state = "CLOSED"
        return self._signed(204, None)

    def _refund(self, request: web.Request, merchant: PayMerchant, body: Any) -> web.Response:
        if not isinstance(body, dict):
            return self._err("PARAM_ERROR", "body is not a JSON object")
        out_refund_no, out_trade_no = body.get("out_refund_no"), body.get("out_trade_no")
        amount = body.get("amount")
        if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.match(out_refund_no):
            return self._err("PARAM_ERROR", "out_refund_no is invalid")
        if (not isinstance(amount, dict) or not isinstance(amount.get("refund"), int)
                or not isinstance(amount.get("total"), int) or amount["refund"] <= 0
                or amount.get("currency") != "CNY"):
            return self._err("PARAM_ERROR", "amount.refund, amount.total, currency needed")
        order = self.orders.get((merchant.mchid, str(out_trade_no)))
        if order is None:
            return self._err("RESOURCE_NOT_EXISTS", "订单不存在")
        existing = self.refunds.get((merchant.mchid, out_refund_no))
        if existing is not None:
            if (existing.amount, existing.out_trade_no) != (amount["refund"], out_trade_no):
                return self._err("INVALID_REQUEST", "退款单号重复: 参数与原退款不一致")
            return self._signed(200, self._refund_json(existing))
        if order.state not in ("SUCCESS", "REFUND"):
            return self._err("INVALID_REQUEST", "订单状态不正确: 不能退款")
        if amount["total"] != order.total:
            return self._err("PARAM_ERROR", "订单金额与原订单不一致")
        taken = sum(r.amount for r in self.refunds.values()
                    if r.mchid == merchant.mchid and r.out_trade_no == out_trade_no
                    and r.status in ("PROCESSING", "SUCCESS"))
        if taken + amount["refund"] > order.total:
            return self._err("INVALID_REQUEST", "申请退款金额超过订单可退金额")
        notify_url = body.get("notify_url")
        refund = PayRefund(mchid=merchant.mchid, out_refund_no=out_refund_no,
                           out_trade_no=order.out_trade_no,
                           refund_id="50300" + _digits(24), amount=amount["refund"],
                           total=amount["total"], reason=str(body.get("reason") or ""),
                           notify_url=notify_url if isinstance(notify_url, str) else None,
                           created_at=_now())
        self.refunds[(merchant.mchid, out_refund_no)] = refund
        answer = self._refund_json(refund)
        if self.auto_refund is not None:
            self._finish_refund(out_refund_no, self.auto_refund, merchant.mchid)
            notice = self._refund_notice(refund, None)
            if notice is not None:
                assert self._loop is not None
                task = self._loop.create_task(self._deliver_retrying(notice, notice.url))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return self._signed(200, answer)

    def _query_refund(self, request: web.Request, merchant: PayMerchant,
                      body: Any) -> web.Response:
        refund = self.refunds.get((merchant.mchid, request.match_info["no"]))
        if refund is None:
            return self._err("RESOURCE_NOT_EXISTS", "退款单不存在")
        return self._signed(200, self._refund_json(refund))

    def _tradebill(self, request: web.Request, merchant: PayMerchant,
                   body: Any) -> web.Response:
        try:
            bill_date = date.fromisoformat(request.query.get("bill_date", ""))
        except ValueError:
            return self._err("PARAM_ERROR", "bill_date is not YYYY-MM-DD")
        if request.query.get("bill_type", "ALL") not in ("ALL", "SUCCESS", "REFUND"):
            return self._err("PARAM_ERROR", "bill_type is invalid")
        if not self._bill_rows(merchant.mchid, bill_date):
            return self._err("NO_STATEMENT_EXIST", "账单文件不存在")
        content = self._bill(merchant.mchid, bill_date)
        token = secrets.token_urlsafe(24)
        self._files[token] = content
        digest = hashlib.sha1(content).hexdigest()
        if self.bill_faults.get(bill_date) == "hash":
            digest = hashlib.sha1(content + b"x").hexdigest()
        return self._signed(200, {"hash_type": "SHA1", "hash_value": digest,
                                  "download_url": f"{self.url}/v3/billdownload/file"
                                                  f"?token={token}"})

    def _download(self, request: web.Request, merchant: PayMerchant,
                  body: Any) -> web.Response:
        content = self._files.get(request.query.get("token", ""))
        if content is None:
            return self._err("RESOURCE_NOT_EXISTS", "下载地址已失效")
        # The file's answer is not signed (WeChat Pay's rule): the hash vouches for it.
        return web.Response(status=200, body=content,
                            headers={"Content-Type": "application/octet-stream"})

    def _unknown(self, request: web.Request, merchant: PayMerchant,
                 body: Any) -> web.Response:
        return self._err("RESOURCE_NOT_EXISTS", "no such API in the stand-in")


def _fen(text: str) -> int:
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int((frac + "00")[:2])
    return -value if text.startswith("-") else value


def _tampered(payload: dict[str, Any] | None) -> bytes:
    """The payload changed the way an attacker would: amounts up by 100 fen, or a field."""
    data = json.loads(json.dumps(payload or {}))
    amount = data.get("amount")
    if isinstance(amount, dict) and isinstance(amount.get("total"), int):
        amount["total"] += 100
        if isinstance(amount.get("payer_total"), int):
            amount["payer_total"] += 100
    elif "prepay_id" in data:
        data["prepay_id"] = "wx" + "0" * 32
    else:
        data["tampered"] = True
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
