"""A stand-in for the WeChat server API: a real aiohttp server on 127.0.0.1.

Built from WeChat's documented request and answer shapes, so the app's real HTTP client is
exercised end to end (sockets, query strings, JSON bodies, content types, timeouts):

- ``GET  /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code``
  → ``{"openid", "session_key", "unionid"?}`` (labelled ``text/plain`` like WeChat does),
  or ``{"errcode", "errmsg"}``: 40029 invalid code, 40163 code been used, 40125 invalid
  appsecret, 40013 invalid appid, 41002/41004/41008 a parameter missing, 40002 invalid
  grant_type; 45011 (frequency limit) and -1 (system busy) by injection.
- ``POST /cgi-bin/stable_token`` ``{"grant_type": "client_credential", "appid", "secret",
  "force_refresh"}`` → ``{"access_token", "expires_in"}``. Without ``force_refresh`` a
  still-valid token is handed out again (with its remaining lifetime); with it a new one
  is minted and the old one stops working, as WeChat documents.
- ``POST /cgi-bin/message/subscribe/send?access_token=`` ``{"touser", "template_id",
  "page"?, "data": {KEY: {"value": STR}}}`` → ``{"errcode": 0, "errmsg": "ok", "msgid"}``;
  41001 token missing, 40001 token invalid, 42001 token expired, 40003 bad openid, 40037
  bad template, 47003 bad data, 43101 the member refused (see :meth:`refuse`).
- ``POST /wxa/business/getuserphonenumber?access_token=`` ``{"code"}`` → ``{"errcode": 0,
  "errmsg": "ok", "phone_info": {"phoneNumber", "purePhoneNumber", "countryCode",
  "watermark": {"timestamp", "appid"}}}``; 41001 token missing, 40001 token invalid, 42001
  token expired, 47001 no code, 40029 invalid code (unknown, used, older than five minutes,
  or issued to another app); -1 (system busy) and 45011 by injection.
- ``GET  /cgi-bin/ticket/getticket?access_token=&type=wx_card|jsapi`` → ``{"errcode": 0,
  "errmsg": "ok", "ticket", "expires_in": 7200}``; each call mints a new ticket (earlier ones
  stay valid until they expire, as WeChat's do); 41001/40001/42001 token, 40097 invalid type.
- ``POST /card/create?access_token=`` ``{"card": {"card_type": "MEMBER_CARD", "member_card":
  {"base_info": {...}, "prerogative", "supply_bonus", "supply_balance", "custom_field1"?,
  "custom_cell1"?, ...}}}`` → ``{"errcode": 0, "errmsg": "ok", "card_id"}``; the card then
  waits for review (:meth:`approve` / :meth:`reject`). 40071 card_type not MEMBER_CARD,
  41011 a required field missing (base_info's logo_url, brand_name, code_type, title, color,
  notice, description, sku.quantity, date_info.type; prerogative, supply_bonus,
  supply_balance), 47001 a field of the wrong type.
- ``POST /card/membercard/activate?access_token=`` ``{"membership_number", "code", "card_id",
  "init_bonus"?, "init_bonus_record"?, "init_balance"?, "init_custom_field_value1..3"?,
  "activate_begin_time"?, "activate_end_time"?}`` → ``{"errcode": 0, "errmsg": "ok"}``;
  41011 membership_number/code/card_id missing, 40073 unknown card_id (or another app's),
  40078 the card is not approved, 40056 a code nobody took (only with ``require_taken``;
  by default a first activation of any code is accepted), 43010 init_balance on a card
  without ``supply_balance``, 47001 a figure that is not a non-negative integer.
- ``POST /card/membercard/updateuser?access_token=`` ``{"code", "card_id", "bonus" |
  "add_bonus", "record_bonus", "balance" | "add_balance", "record_balance",
  "custom_field_value1..3", "notify_optional": {"is_notify_bonus", ...}}`` →
  ``{"errcode": 0, "errmsg": "ok", "result_bonus", "result_balance", "openid"}``; the
  absolute ``bonus``/``balance`` wins over ``add_*`` when both come. 40056 a code never
  activated, 40127 a code the member deleted from the card bag (:meth:`remove_card`),
  40073 unknown card_id, 43010 balance on a card without ``supply_balance``,
  47001 a figure of the wrong type (or a result below zero).
- ``GET  /cgi-bin/token`` answers like WeChat but is counted: the app must never call it
  (it invalidates the token every other process holds).

Card bag scripting: :meth:`approve` / :meth:`reject` settle a created card's review,
:meth:`take_card` plays a member adding a code to the card bag (:meth:`remove_card`
deleting it), :meth:`card` and
:meth:`member_card` read a card's definition and a code's figures (bonus, balance,
custom fields, activated, and every update received in order: compare them with o2o's),
:meth:`check_card_ext` / :meth:`check_jsapi` verify a signature with the tickets handed out,
and :meth:`invalidate_tickets` makes every ticket stale.

Scripting: :meth:`register_code` maps a login code to an openid, :meth:`register_phone_code`
a getPhoneNumber code to a phone; :meth:`fail`,
:meth:`slow`, :meth:`drop`, :meth:`hang`, :meth:`lose_answer`, :meth:`http_error` and
:meth:`garbage` queue faults for the next calls of an endpoint; :attr:`requests` records
every request received (method, path, query, JSON body) so a test can assert exactly what
the app sent; :meth:`sent` lists the subscribe messages carried out.

The server runs its own event loop in a daemon thread. That is deliberate: it answers
whatever the test's loop is doing (the app served on that loop, a test blocked in a sync
call, an app started as a subprocess by ``live_server``), the ``wechat_server`` fixture and
the scripting methods stay synchronous, and a scripted delay never holds up the test's
loop. Script and records are guarded by one lock.

Use ``with WechatStandIn() as server: ...`` (``async with`` works too), or the
``wechat_server`` fixture in ``tests/stand_ins/fixtures.py``, and point
``O2O_WECHAT_API_BASE`` at ``server.url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

JSCODE2SESSION = "/sns/jscode2session"
STABLE_TOKEN = "/cgi-bin/stable_token"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
CLASSIC_TOKEN = "/cgi-bin/token"
PHONE_NUMBER = "/wxa/business/getuserphonenumber"
GET_TICKET = "/cgi-bin/ticket/getticket"
CARD_CREATE = "/card/create"
MEMBERCARD_ACTIVATE = "/card/membercard/activate"
MEMBERCARD_UPDATEUSER = "/card/membercard/updateuser"
TICKET_KINDS = ("wx_card", "jsapi")

# errmsg texts as WeChat writes them (it appends ", rid: <request id>").
ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40056: "invalid serial code",
    40071: "invalid card type",
    40073: "invalid card id",
    40078: "invalid card status",
    40097: "invalid args",
    40127: "the card is deleted by the user or being given",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    41011: "missing required fields",
    42001: "access_token expired",
    43010: "no balance right",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}

Handler = Callable[[web.Request, "RecordedRequest"], web.StreamResponse]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    query_items: list[tuple[str, str]]
    json: Any
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do instead of (or before) the normal answer of one call.

    ``delay`` seconds pass first; then the connection is dropped (``drop``), or an HTTP
    error status is sent (``status``), or a raw ``body``, or an errcode answer; with none
    of those the call proceeds normally after the delay.
    """

    errcode: int | None = None
    errmsg: str | None = None
    delay: float = 0.0
    drop: bool = False
    status: int | None = None
    body: str | None = None
    # The call is carried out (a message is sent), then the connection drops: the
    # client never learns that it worked.
    lose_answer: bool = False


@dataclass(slots=True)
class WechatApp:
    app_id: str
    secret: str
    templates: frozenset[str] | None = None  # None: any template id is accepted


@dataclass(frozen=True, slots=True)
class CodeGrant:
    openid: str
    app_id: str | None  # None: valid for any app (WeChat binds codes to one app)
    unionid: str | None
    issued_at: float


@dataclass(frozen=True, slots=True)
class PhoneGrant:
    pure_phone: str
    country_code: str
    app_id: str | None  # None: valid for any app
    issued_at: float
    # What the answer's watermark says; None: the app that asked. Set it to play a
    # misbehaving upstream (a proxy mixing apps up) and test that o2o checks the watermark.
    watermark_app_id: str | None = None


@dataclass(slots=True)
class AccessToken:
    token: str
    app_id: str
    expires_at: float
    valid: bool = True


@dataclass(slots=True)
class ApiTicket:
    ticket: str
    app_id: str
    kind: str  # wx_card | jsapi
    expires_at: float
    valid: bool = True


@dataclass(slots=True)
class CardDef:
    """A card created with ``/card/create``; ``status`` as WeChat's card/get says it."""

    card_id: str
    app_id: str
    card: dict[str, Any]  # the ``card`` object received
    status: str = "CARD_STATUS_NOT_VERIFY"  # -> CARD_STATUS_VERIFY_OK / _VERIFY_FAIL
    refuse_reason: str | None = None

    @property
    def member_card(self) -> dict[str, Any]:
        return dict(self.card.get("member_card") or {})

    @property
    def supply_balance(self) -> bool:
        return bool(self.member_card.get("supply_balance"))


@dataclass(slots=True)
class MemberCardState:
    """One code of one card in a member's card bag, as WeChat shows it."""

    card_id: str
    code: str
    openid: str | None
    taken: bool = False
    removed: bool = False  # the member deleted it from the card bag
    activated: bool = False
    membership_number: str | None = None
    bonus: int = 0
    balance: int = 0
    custom_field_value1: str | None = None
    custom_field_value2: str | None = None
    custom_field_value3: str | None = None
    activations: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)  # bodies, in order received

    def figures(self) -> dict[str, Any]:
        return {"bonus": self.bonus, "balance": self.balance,
                "custom_field_value1": self.custom_field_value1,
                "custom_field_value2": self.custom_field_value2,
                "custom_field_value3": self.custom_field_value3,
                "activated": self.activated, "removed": self.removed,
                "membership_number": self.membership_number,
                "openid": self.openid, "activations": self.activations,
                "updates": [dict(u) for u in self.updates]}


@dataclass(frozen=True, slots=True)
class SentMessage:
    app_id: str
    touser: str
    template_id: str
    page: str | None
    data: dict[str, dict[str, str]]
    msgid: int


@dataclass(slots=True)
class _Queued:
    fault: Fault
    remaining: int | None  # None: until cleared


@dataclass(slots=True)
class WechatStandIn:
    """The stand-in server and its script. All state is plain attributes tests may read."""

    host: str = "127.0.0.1"
    code_ttl: float = 300.0  # WeChat login codes live five minutes
    token_ttl: int = 7200
    jscode2session_content_type: str = "text/plain"

    apps: dict[str, WechatApp] = field(default_factory=dict)
    codes: dict[str, CodeGrant] = field(default_factory=dict)
    phone_codes: dict[str, PhoneGrant] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    messages: list[SentMessage] = field(default_factory=list)
    session_keys: list[str] = field(default_factory=list)  # every session_key handed out
    refusing: set[str] = field(default_factory=set)  # openids that answer 43101
    tickets: dict[str, ApiTicket] = field(default_factory=dict)
    ticket_ttl: int = 7200
    cards: dict[str, CardDef] = field(default_factory=dict)
    member_cards: dict[tuple[str, str], MemberCardState] = field(default_factory=dict)
    # Every updateuser carried out, all cards, in order: (card_id, code, body).
    card_updates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Activate only codes a member took (take_card); off: any code activates once taken
    # implicitly, so tests that do not script the card bag still work.
    require_taken: bool = False

    _faults: dict[str, list[_Queued]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _port: int | None = None
    _closing: asyncio.Event | None = None
    _next_msgid: int = 1000

    # --- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://{self.host}:{self._port}"

    def start(self) -> WechatStandIn:
        """Start serving on a free port of ``host``; returns once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the stand-in is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="wechat-stand-in", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving (pending scripted delays end at once) and end the thread."""
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
        app = web.Application()
        app.router.add_route("GET", JSCODE2SESSION, self._wrap(self._jscode2session))
        app.router.add_route("POST", STABLE_TOKEN, self._wrap(self._stable_token))
        app.router.add_route("POST", SUBSCRIBE_SEND, self._wrap(self._subscribe_send))
        app.router.add_route("GET", CLASSIC_TOKEN, self._wrap(self._classic_token))
        app.router.add_route("POST", PHONE_NUMBER, self._wrap(self._phone_number))
        app.router.add_route("GET", GET_TICKET, self._wrap(self._get_ticket))
        app.router.add_route("POST", CARD_CREATE, self._wrap(self._card_create))
        app.router.add_route("POST", MEMBERCARD_ACTIVATE, self._wrap(self._activate))
        app.router.add_route("POST", MEMBERCARD_UPDATEUSER, self._wrap(self._updateuser))
        app.router.add_route("*", "/{tail:.*}", self._wrap(self._unknown))
        # A short shutdown timeout: a test that scripted a slow answer must not wait for it.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        address = self._runner.addresses[0]
        self._port = int(address[1])

    async def _shutdown(self) -> None:
        if self._closing is not None:
            self._closing.set()  # wake every scripted delay
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def __enter__(self) -> WechatStandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> WechatStandIn:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # --- script -----------------------------------------------------------------------

    def add_app(self, app_id: str, secret: str,
                templates: set[str] | frozenset[str] | None = None) -> WechatApp:
        app = WechatApp(app_id=app_id, secret=secret,
                        templates=frozenset(templates) if templates is not None else None)
        with self._lock:
            self.apps[app_id] = app
        return app

    def register_code(self, openid: str, *, code: str | None = None, app_id: str | None = None,
                      unionid: str | None = None) -> str:
        """A login code (one use, ``code_ttl`` seconds) that exchanges for ``openid``."""
        code = code or "0" + secrets.token_hex(15)  # WeChat codes: 32 printable characters
        with self._lock:
            self.codes[code] = CodeGrant(openid=openid, app_id=app_id, unionid=unionid,
                                         issued_at=time.monotonic())
        return code

    def register_phone_code(self, pure_phone: str, *, country_code: str = "86",
                            app_id: str | None = None, code: str | None = None,
                            watermark_app_id: str | None = None) -> str:
        """A getPhoneNumber code (one use, ``code_ttl`` seconds) for ``pure_phone``."""
        code = code or secrets.token_hex(32)  # WeChat's are 64 hex digits
        with self._lock:
            self.phone_codes[code] = PhoneGrant(
                pure_phone=pure_phone, country_code=country_code, app_id=app_id,
                issued_at=time.monotonic(), watermark_app_id=watermark_app_id)
        return code

    def script(self, path: str, fault: Fault, times: int | None = 1) -> None:
        """Queue ``fault`` for the next ``times`` calls of ``path`` (None: every call)."""
        with self._lock:
            self._faults.setdefault(path, []).append(_Queued(fault=fault, remaining=times))

    def fail(self, path: str, errcode: int, errmsg: str | None = None,
             times: int | None = 1) -> None:
        self.script(path, Fault(errcode=errcode, errmsg=errmsg), times)

    def slow(self, path: str, seconds: float, times: int | None = 1) -> None:
        self.script(path, Fault(delay=seconds), times)

    def drop(self, path: str, times: int | None = 1) -> None:
        """Reset the connection without an answer. aiohttp clients retry an idempotent
        request (GET) once when a reused connection drops, so a GET that must fail needs
        ``times=2`` or more."""
        self.script(path, Fault(drop=True), times)

    def hang(self, path: str, seconds: float, times: int | None = 1) -> None:
        """No answer for ``seconds``, then a reset: a client timeout on a call that was
        never carried out."""
        self.script(path, Fault(delay=seconds, drop=True), times)

    def lose_answer(self, path: str, times: int | None = 1) -> None:
        """Carry the call out, then reset the connection before answering."""
        self.script(path, Fault(lose_answer=True), times)

    def http_error(self, path: str, status: int = 502, times: int | None = 1) -> None:
        self.script(path, Fault(status=status), times)

    def garbage(self, path: str, body: str = "<html>busy</html>", times: int | None = 1) -> None:
        self.script(path, Fault(body=body), times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def refuse(self, openid: str) -> None:
        """Subscribe messages to ``openid`` answer 43101 (no subscription left)."""
        with self._lock:
            self.refusing.add(openid)

    def expire_tokens(self) -> None:
        """Every access token issued so far is past its lifetime (answers 42001)."""
        with self._lock:
            for token in self.tokens.values():
                token.expires_at = time.monotonic() - 1

    def invalidate_tokens(self) -> None:
        """Every access token issued so far is no longer the latest (answers 40001)."""
        with self._lock:
            for token in self.tokens.values():
                token.valid = False

    # --- the card bag -----------------------------------------------------------------

    def approve(self, card_id: str) -> None:
        """WeChat's review passed (o2o learns it from a ``card_pass_check`` push)."""
        with self._lock:
            card = self.cards[card_id]
            card.status, card.refuse_reason = "CARD_STATUS_VERIFY_OK", None

    def reject(self, card_id: str, reason: str = "logo unclear") -> None:
        with self._lock:
            card = self.cards[card_id]
            card.status, card.refuse_reason = "CARD_STATUS_VERIFY_FAIL", reason

    def card(self, card_id: str) -> CardDef:
        with self._lock:
            return self.cards[card_id]

    def take_card(self, card_id: str, code: str, openid: str) -> None:
        """A member added ``code`` to the card bag (``wx.addCard`` went through)."""
        with self._lock:
            state = self.member_cards.setdefault(
                (card_id, code), MemberCardState(card_id=card_id, code=code, openid=openid))
            state.taken, state.removed, state.openid = True, False, openid

    def remove_card(self, card_id: str, code: str) -> None:
        """The member deleted the card from the card bag: updates answer 40127."""
        with self._lock:
            self.member_cards[(card_id, code)].removed = True

    def member_card(self, card_id: str, code: str) -> dict[str, Any] | None:
        """A code's figures as WeChat shows them (a snapshot), or None if it never existed:
        ``{bonus, balance, custom_field_value1..3, activated, membership_number, openid,
        activations, updates: [bodies in order received]}``."""
        with self._lock:
            state = self.member_cards.get((card_id, code))
            return state.figures() if state is not None else None

    def issued_tickets(self, kind: str = "wx_card") -> list[ApiTicket]:
        with self._lock:
            return [t for t in self.tickets.values() if t.kind == kind]

    def invalidate_tickets(self) -> None:
        """Every ticket handed out so far no longer signs (the page's addCard fails)."""
        with self._lock:
            for ticket in self.tickets.values():
                ticket.valid = False

    def _live_tickets(self, kind: str) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [t.ticket for t in self.tickets.values()
                    if t.kind == kind and t.valid and t.expires_at > now]

    def check_card_ext(self, card_id: str, card_ext: str | dict[str, Any]) -> bool:
        """Would WeChat's ``wx.addCard`` accept this ``cardExt`` for ``card_id``? Its
        signature is sha1 of the sorted [api_ticket, code, openid, timestamp, nonce_str,
        card_id], with a ``wx_card`` ticket still valid."""
        ext = json.loads(card_ext) if isinstance(card_ext, str) else card_ext
        values = [str(ext.get(k, "")) for k in ("code", "openid", "timestamp", "nonce_str")]
        signature = str(ext.get("signature", ""))
        for ticket in self._live_tickets("wx_card"):
            joined = "".join(sorted([ticket, *values, card_id]))
            if hashlib.sha1(joined.encode()).hexdigest() == signature:
                return True
        return False

    def check_jsapi(self, signature: str, nonce_str: str, timestamp: str | int,
                    url: str) -> bool:
        """Would ``wx.config`` accept this signature (JS-SDK appendix 1)?"""
        for ticket in self._live_tickets("jsapi"):
            text = f"jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}"
            if hashlib.sha1(text.encode()).hexdigest() == signature:
                return True
        return False

    # --- what the app sent ------------------------------------------------------------

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def token_fetches(self, *, forced: bool | None = None) -> list[RecordedRequest]:
        """Calls of ``/cgi-bin/stable_token`` (only those with ``force_refresh`` equal to
        ``forced`` when given)."""
        calls = self.requests_to(STABLE_TOKEN)
        if forced is None:
            return calls
        return [r for r in calls if isinstance(r.json, dict)
                and bool(r.json.get("force_refresh")) is forced]

    def sent(self) -> list[SentMessage]:
        """The subscribe messages carried out so far (a snapshot)."""
        with self._lock:
            return list(self.messages)

    @property
    def classic_token_calls(self) -> int:
        """Calls of ``/cgi-bin/token``; the app must never make one."""
        return len(self.requests_to(CLASSIC_TOKEN))

    # --- plumbing ---------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        queue = self._faults.get(path)
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

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            try:
                parsed: Any = json.loads(body) if body else None
            except ValueError:
                parsed = None
            record = RecordedRequest(
                method=request.method, path=request.path, query=dict(request.query),
                query_items=list(request.query.items()), json=parsed, body=body,
                headers=dict(request.headers), at=time.monotonic())
            with self._lock:
                self.requests.append(record)
                fault = self._take_fault(request.path)
            if fault is not None and fault.lose_answer:
                with self._lock:
                    handler(request, record)
                return self._drop(request)
            if fault is not None:
                if fault.delay > 0:
                    assert self._closing is not None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), fault.delay)
                if fault.drop:
                    return self._drop(request)
                if fault.status is not None:
                    return web.Response(status=fault.status, text=f"HTTP {fault.status}",
                                        content_type="text/html")
                if fault.body is not None:
                    return web.Response(text=fault.body, content_type="text/html")
                if fault.errcode is not None:
                    return self._error(fault.errcode, fault.errmsg, request.path)
            with self._lock:
                return handler(request, record)

        return endpoint

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Close the socket without an answer: the client sees a disconnect."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if isinstance(sock, socket.socket):
                # RST rather than FIN, like a middlebox that kills the connection.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=204)

    def _answer(self, payload: dict[str, Any], path: str) -> web.Response:
        if path == JSCODE2SESSION:
            return web.Response(text=json.dumps(payload),
                                content_type=self.jscode2session_content_type)
        return web.json_response(payload)

    def _error(self, errcode: int, errmsg: str | None, path: str) -> web.Response:
        text = errmsg if errmsg is not None else ERRMSG.get(errcode, "error")
        rid = secrets.token_hex(4) + "-" + secrets.token_hex(4)
        return self._answer({"errcode": errcode, "errmsg": f"{text}, rid: {rid}"}, path)

    def _check_app(self, app_id: str | None, secret: str | None, path: str) -> (
            WechatApp | web.Response):
        if not app_id:
            return self._error(41002, None, path)
        if not secret:
            return self._error(41004, None, path)
        app = self.apps.get(app_id)
        if app is None:
            return self._error(40013, None, path)
        if not secrets.compare_digest(app.secret.encode(), secret.encode()):
            return self._error(40125, None, path)
        return app

    def _mint_token(self, app_id: str) -> AccessToken:
        token = AccessToken(token=secrets.token_urlsafe(96), app_id=app_id,
                            expires_at=time.monotonic() + self.token_ttl)
        self.tokens[token.token] = token
        return token

    # --- endpoints --------------------------------------------------------------------

    def _jscode2session(self, request: web.Request,
                              record: RecordedRequest) -> web.StreamResponse:
        q = record.query
        checked = self._check_app(q.get("appid"), q.get("secret"), JSCODE2SESSION)
        if isinstance(checked, web.Response):
            return checked
        code = q.get("js_code", "")
        if not code:
            return self._error(41008, None, JSCODE2SESSION)
        if q.get("grant_type") != "authorization_code":
            return self._error(40002, None, JSCODE2SESSION)
        if code in self.used_codes:
            return self._error(40163, None, JSCODE2SESSION)
        grant = self.codes.get(code)
        if (grant is None or (grant.app_id is not None and grant.app_id != checked.app_id)
                or time.monotonic() - grant.issued_at > self.code_ttl):
            return self._error(40029, None, JSCODE2SESSION)
        self.used_codes.add(code)
        session_key = secrets.token_urlsafe(16)
        self.session_keys.append(session_key)
        payload: dict[str, Any] = {"session_key": session_key, "openid": grant.openid}
        if grant.unionid is not None:
            payload["unionid"] = grant.unionid
        return self._answer(payload, JSCODE2SESSION)

    def _stable_token(self, request: web.Request,
                            record: RecordedRequest) -> web.StreamResponse:
        body = record.json
        if not isinstance(body, dict):
            return self._error(47001, None, STABLE_TOKEN)
        if body.get("grant_type") != "client_credential":
            return self._error(40002, None, STABLE_TOKEN)
        checked = self._check_app(body.get("appid"), body.get("secret"), STABLE_TOKEN)
        if isinstance(checked, web.Response):
            return checked
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            return self._error(47001, None, STABLE_TOKEN)
        now = time.monotonic()
        current = [t for t in self.tokens.values()
                   if t.app_id == checked.app_id and t.valid and t.expires_at > now]
        if current and not force:
            token = max(current, key=lambda t: t.expires_at)
        else:
            for old in self.tokens.values():
                if old.app_id == checked.app_id:
                    old.valid = False
            token = self._mint_token(checked.app_id)
        return web.json_response({"access_token": token.token,
                                  "expires_in": max(0, int(token.expires_at - now))})

    def _classic_token(self, request: web.Request,
                             record: RecordedRequest) -> web.StreamResponse:
        q = record.query
        if q.get("grant_type") != "client_credential":
            return self._error(40002, None, CLASSIC_TOKEN)
        checked = self._check_app(q.get("appid"), q.get("secret"), CLASSIC_TOKEN)
        if isinstance(checked, web.Response):
            return checked
        token = self._mint_token(checked.app_id)
        return web.json_response({"access_token": token.token, "expires_in": self.token_ttl})

    def _subscribe_send(self, request: web.Request,
                              record: RecordedRequest) -> web.StreamResponse:
        raw_token = record.query.get("access_token", "")
        if not raw_token:
            return self._error(41001, None, SUBSCRIBE_SEND)
        token = self.tokens.get(raw_token)
        if token is None or not token.valid:
            return self._error(40001, None, SUBSCRIBE_SEND)
        if token.expires_at <= time.monotonic():
            return self._error(42001, None, SUBSCRIBE_SEND)
        body = record.json
        if not isinstance(body, dict):
            return self._error(47001, None, SUBSCRIBE_SEND)
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser:
            return self._error(40003, None, SUBSCRIBE_SEND)
        template_id = body.get("template_id")
        templates = self.apps[token.app_id].templates
        if (not isinstance(template_id, str) or not template_id
                or (templates is not None and template_id not in templates)):
            return self._error(40037, None, SUBSCRIBE_SEND)
        page = body.get("page")
        if page is not None and not isinstance(page, str):
            return self._error(47003, "argument invalid! page invalid", SUBSCRIBE_SEND)
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return self._error(47003, "argument invalid! data invalid", SUBSCRIBE_SEND)
        for key, item in data.items():
            if (not isinstance(item, dict) or set(item) != {"value"}
                    or not isinstance(item["value"], str)):
                return self._error(47003, f"argument invalid! data.{key}.value invalid",
                                   SUBSCRIBE_SEND)
        if touser in self.refusing:
            return self._error(43101, None, SUBSCRIBE_SEND)
        self._next_msgid += 1
        self.messages.append(SentMessage(app_id=token.app_id, touser=touser,
                                         template_id=template_id, page=page, data=data,
                                         msgid=self._next_msgid))
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": self._next_msgid})

    def _valid_token(self, record: RecordedRequest, path: str) -> AccessToken | web.Response:
        raw_token = record.query.get("access_token", "")
        if not raw_token:
            return self._error(41001, None, path)
        token = self.tokens.get(raw_token)
        if token is None or not token.valid:
            return self._error(40001, None, path)
        if token.expires_at <= time.monotonic():
            return self._error(42001, None, path)
        return token

    def _phone_number(self, request: web.Request,
                      record: RecordedRequest) -> web.StreamResponse:
        token = self._valid_token(record, PHONE_NUMBER)
        if isinstance(token, web.Response):
            return token
        body = record.json
        if not isinstance(body, dict) or not isinstance(body.get("code"), str) \
                or not body["code"]:
            return self._error(47001, None, PHONE_NUMBER)
        code = body["code"]
        grant = self.phone_codes.get(code)
        if (grant is None or code in self.used_codes
                or (grant.app_id is not None and grant.app_id != token.app_id)
                or time.monotonic() - grant.issued_at > self.code_ttl):
            return self._error(40029, None, PHONE_NUMBER)
        self.used_codes.add(code)
        full = grant.pure_phone if grant.country_code == "86" else (
            f"+{grant.country_code}{grant.pure_phone}")
        return web.json_response({"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": full, "purePhoneNumber": grant.pure_phone,
            "countryCode": grant.country_code,
            "watermark": {"timestamp": int(time.time()),
                          "appid": grant.watermark_app_id or token.app_id}}})

    # --- card bag endpoints ----------------------------------------------------------

    def _get_ticket(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        token = self._valid_token(record, GET_TICKET)
        if isinstance(token, web.Response):
            return token
        kind = record.query.get("type", "")
        if kind not in TICKET_KINDS:
            return self._error(40097, None, GET_TICKET)
        # WeChat's tickets look like base64 of random bytes, ~86 characters.
        ticket = ApiTicket(ticket=secrets.token_urlsafe(64), app_id=token.app_id, kind=kind,
                           expires_at=time.monotonic() + self.ticket_ttl)
        self.tickets[ticket.ticket] = ticket
        return web.json_response({"errcode": 0, "errmsg": "ok", "ticket": ticket.ticket,
                                  "expires_in": self.ticket_ttl})

    def _card_create(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        token = self._valid_token(record, CARD_CREATE)
        if isinstance(token, web.Response):
            return token
        body = record.json
        card = body.get("card") if isinstance(body, dict) else None
        if not isinstance(card, dict):
            return self._error(47001, None, CARD_CREATE)
        if card.get("card_type") != "MEMBER_CARD":
            return self._error(40071, None, CARD_CREATE)
        problem = _member_card_problem(card.get("member_card"))
        if problem is not None:
            return self._error(problem[0], problem[1], CARD_CREATE)
        card_id = "p" + secrets.token_urlsafe(20)[:27]
        self.cards[card_id] = CardDef(card_id=card_id, app_id=token.app_id, card=card)
        return web.json_response({"errcode": 0, "errmsg": "ok", "card_id": card_id})

    def _own_card(self, token: AccessToken, card_id: Any, path: str,
                  *, approved: bool) -> CardDef | web.Response:
        card = self.cards.get(card_id) if isinstance(card_id, str) else None
        if card is None or card.app_id != token.app_id:
            return self._error(40073, None, path)
        if approved and card.status != "CARD_STATUS_VERIFY_OK":
            return self._error(40078, None, path)
        return card

    def _activate(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        path = MEMBERCARD_ACTIVATE
        token = self._valid_token(record, path)
        if isinstance(token, web.Response):
            return token
        body = record.json
        if not isinstance(body, dict):
            return self._error(47001, None, path)
        for name in ("membership_number", "code", "card_id"):
            if not isinstance(body.get(name), str) or not body[name]:
                return self._error(41011, f"missing required fields: {name}", path)
        card = self._own_card(token, body["card_id"], path, approved=True)
        if isinstance(card, web.Response):
            return card
        figures = _figures(body, ("init_bonus", "init_balance"))
        if figures is None:
            return self._error(47001, None, path)
        if "init_balance" in figures and not card.supply_balance:
            return self._error(43010, None, path)
        state = self.member_cards.get((card.card_id, body["code"]))
        if state is None or not state.taken:
            if self.require_taken:
                return self._error(40056, None, path)
            state = state or MemberCardState(card_id=card.card_id, code=body["code"],
                                             openid=None)
            self.member_cards[(card.card_id, body["code"])] = state
            state.taken = True
        state.activated, state.activations = True, state.activations + 1
        state.membership_number = body["membership_number"]
        state.bonus = figures.get("init_bonus", state.bonus)
        state.balance = figures.get("init_balance", state.balance)
        for n in (1, 2, 3):
            value = body.get(f"init_custom_field_value{n}")
            if isinstance(value, str):
                setattr(state, f"custom_field_value{n}", value)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _updateuser(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        path = MEMBERCARD_UPDATEUSER
        token = self._valid_token(record, path)
        if isinstance(token, web.Response):
            return token
        body = record.json
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            return self._error(47001, None, path)
        card = self._own_card(token, body.get("card_id"), path, approved=False)
        if isinstance(card, web.Response):
            return card
        state = self.member_cards.get((card.card_id, body["code"]))
        if state is None or not state.activated:
            return self._error(40056, None, path)
        if state.removed:
            return self._error(40127, None, path)
        figures = _figures(body, ("bonus", "balance"), signed=("add_bonus", "add_balance"))
        if figures is None:
            return self._error(47001, None, path)
        if ({"balance", "add_balance"} & figures.keys()) and not card.supply_balance:
            return self._error(43010, None, path)
        bonus = figures.get("bonus", state.bonus + figures.get("add_bonus", 0))
        balance = figures.get("balance", state.balance + figures.get("add_balance", 0))
        if bonus < 0 or balance < 0:
            return self._error(47001, "data format error: result below zero", path)
        state.bonus, state.balance = bonus, balance
        for n in (1, 2, 3):
            value = body.get(f"custom_field_value{n}")
            if isinstance(value, str):
                setattr(state, f"custom_field_value{n}", value)
        state.updates.append(dict(body))
        self.card_updates.append((card.card_id, state.code, dict(body)))
        return web.json_response({"errcode": 0, "errmsg": "ok", "result_bonus": bonus,
                                  "result_balance": balance, "openid": state.openid or ""})

    def _unknown(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        return web.Response(status=404, text="not found", content_type="text/html")


_BASE_INFO_REQUIRED = ("logo_url", "brand_name", "code_type", "title", "color", "notice",
                       "description")


def _member_card_problem(member_card: Any) -> tuple[int, str] | None:
    """What WeChat would refuse in a ``member_card`` object (errcode, errmsg), or None."""
    if not isinstance(member_card, dict):
        return 41011, "missing required fields: member_card"
    base = member_card.get("base_info")
    if not isinstance(base, dict):
        return 41011, "missing required fields: base_info"
    for name in _BASE_INFO_REQUIRED:
        if not isinstance(base.get(name), str) or not base[name]:
            return 41011, f"missing required fields: base_info.{name}"
    sku, date_info = base.get("sku"), base.get("date_info")
    if not isinstance(sku, dict) or not isinstance(sku.get("quantity"), int):
        return 41011, "missing required fields: base_info.sku.quantity"
    if not isinstance(date_info, dict) or not isinstance(date_info.get("type"), str):
        return 41011, "missing required fields: base_info.date_info.type"
    if not isinstance(member_card.get("prerogative"), str):
        return 41011, "missing required fields: prerogative"
    for flag in ("supply_bonus", "supply_balance"):
        if not isinstance(member_card.get(flag), bool):
            return 41011, f"missing required fields: {flag}"
    for name in ("use_custom_code", "bind_openid"):
        if name in base and not isinstance(base[name], bool):
            return 47001, f"data format error: base_info.{name}"
    return _custom_problem(member_card)


def _custom_problem(member_card: dict[str, Any]) -> tuple[int, str] | None:
    """custom_field1..3 name a figure on the card face (``name_type`` such as
    FIELD_NAME_TYPE_LEVEL, or a free ``name``); custom_cell1 is an entry below the card
    (``name``, ``tips``, ``url``)."""
    for n in (1, 2, 3):
        custom = member_card.get(f"custom_field{n}")
        if custom is None:
            continue
        if not isinstance(custom, dict) or not (isinstance(custom.get("name_type"), str)
                                                or isinstance(custom.get("name"), str)):
            return 47001, f"data format error: custom_field{n}"
    cell = member_card.get("custom_cell1")
    if cell is not None and (not isinstance(cell, dict) or not all(
            isinstance(cell.get(k), str) and cell[k] for k in ("name", "tips", "url"))):
        return 47001, "data format error: custom_cell1"
    return None


def _figures(body: dict[str, Any], absolute: tuple[str, ...],
             signed: tuple[str, ...] = ()) -> dict[str, int] | None:
    """The integer figures present in ``body`` (absolute ones non-negative); None if one
    has the wrong type."""
    found: dict[str, int] = {}
    for name in (*absolute, *signed):
        if name not in body:
            continue
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        if name in absolute and value < 0:
            return None
        found[name] = value
    return found


def unreachable_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}"
