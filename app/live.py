"""Live updates for the member's page: Server-Sent Events (issue 17).

- ``POST /me/events/ticket`` (member) → 201 ``{"ticket", "expires_at"}``: a signed ticket,
  valid ``TICKET_S`` seconds and good for one stream, on any server process. EventSource
  cannot send an Authorization header, and a bearer token in a URL would be written to
  every proxy's log (ours redacts ``ticket=``, app.core.logs). The ticket carries the
  bearer token's id, version and expiry; at most ``TICKETS_PER_MEMBER`` a minute (429).
- ``GET /me/events?ticket=`` → ``text/event-stream``: ``ready`` first, then ``card`` when
  one of the member's cards moves (charge, visit, earn, top-up, reversal), ``voucher``
  when one of their vouchers is redeemed, ``notice`` for each notification written for
  them (in the chain's locale, as the inbox will word it), a ``: ping`` comment every
  heartbeat (``O2O_LIVE_HEARTBEAT_SECONDS``, 15 s), and ``end`` (``{"reason"}``: expired,
  revoked, shutdown) just before the server ends the stream. A stream lives until its
  token expires or ``MAX_STREAM_S`` (the page then reconnects with a new ticket), and ends
  within a heartbeat of its token being ended (logout, a version bump), at once where this
  process hears of it; at once too when the server stops.

How a change reaches a stream: every change a member hears of writes an outbox row in
its own transaction (app.core.notify.outbox). Each process keeps one :class:`LiveHub`;
while it holds a stream it tails the outbox (every member's rows by time, through the
index on created_at; its streams' members picked here), at most every ``POLL_S`` (the
bound across processes, on either engine), and at once when this process builds a
notification (``outbox.on_written``: a hint, looked at after the commit). For each member
with a new row, each of their streams reloads the member's cards and vouchers (cards' own
reads) and sends what differs from what it sent last.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import signal
import threading
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Litestar, Request, get, post
from litestar.params import QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.security.jwt import Token
from msgspec import Struct

from app.core.auth import MEMBERS, PUBLIC, Principal, token_version
from app.core.clock import utcnow
from app.core.crypto import derive_key
from app.core.errors import AppError, Forbidden, RateLimited
from app.core.notify import outbox, render
from app.core.notify import service as notify
from app.core.notify.rows import EventData, OutboxTailRow
from app.core.openapi import problems
from app.core.params import Caller, RuntimeDep
from app.core.revocation import Revocations
from app.core.throttle import Limit
from cards import public as cards_public
from cards import service as cards
from cards import vouchers
from cards.schemas import CardOut, VoucherOut
from stores import service as stores

log = logging.getLogger("o2o.live")

TICKET_S = 60
TICKETS_PER_MEMBER = Limit("live-ticket", max_hits=30, window_s=60)
MAX_STREAMS = 5  # per member and process
MAX_STREAMS_TOTAL = 2000  # per process: then 503, the page tries again later
MAX_STREAM_S = 30 * 60  # then the page reconnects with a new ticket (and its token's check)
RELOAD_BEATS = 4  # an idle stream reloads the member's cards at every 4th heartbeat
POLL_S = 1.0
RETRY_MS = 3000
# Rows committed late carry an earlier created_at (a bulk issue, a long sync): each look
# reads again this far back, remembering the ids it sent.
LOOKBACK = timedelta(seconds=60)
PAGE = 500
_JTI = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class InvalidTicket(AppError):
    status = 401
    code = "invalid_ticket"
    title = "The stream ticket is unknown, expired or used"


class TooManyStreams(AppError):
    status = 429
    code = "too_many_streams"
    title = "Too many live streams for this member"


class ServerFull(AppError):
    status = 503
    code = "too_many_streams"
    title = "This server holds as many live streams as it can"


class TicketOut(Struct):
    ticket: str
    expires_at: datetime


# --- the events' payloads ---------------------------------------------------------------

class ReadyEvent(Struct):
    member_id: uuid.UUID


class Redemption(Struct):
    """What moved the card last (its newest ledger entry), with the store's name."""

    action: str
    charged_cents: int
    store_id: uuid.UUID | None
    store_name: str | None
    created_at: datetime


class CardEvent(Struct):
    card_id: uuid.UUID
    balance_cents: int
    paid_balance_cents: int
    bonus_balance_cents: int
    points: int
    visits_left: int | None
    status: str
    tier: str | None
    redemption: Redemption | None


class VoucherEvent(Struct):
    voucher_id: uuid.UUID
    status: str
    store_name: str | None
    redeemed_at: datetime | None


class NoticeEvent(Struct):
    id: uuid.UUID
    event: str
    title: str
    text: str
    locale: str
    store_name: str | None
    data: EventData
    created_at: datetime


EndReason = Literal["expired", "revoked", "shutdown"]


class EndEvent(Struct):
    reason: EndReason


Payload = ReadyEvent | CardEvent | VoucherEvent | NoticeEvent | EndEvent


def _message(name: str, payload: Payload, sequence: int) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=name, id=sequence,
                                  data=msgspec.json.encode(payload).decode())


# --- tickets ----------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Grant:
    """Who a spent ticket lets stream, and the bearer token it was asked for with (its
    id, version and expiry): the stream lives no longer than the token."""

    principal: Principal
    jti: str
    version: int
    token_exp: int  # epoch seconds


class Tickets:
    """Signed tickets (HMAC of member, chain, expiry, a nonce and the bearer token's id,
    version and expiry), single use on every process: the nonce goes on the shared
    denylist of token ids (core_revoked_token, purged by housekeeping after the expiry).
    A page asks for a new one per connection."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "o2o/live-ticket")

    def issue(self, principal: Principal, jti: str, version: int,
              token_exp: int) -> TicketOut:
        if not _JTI.match(jti):
            raise Forbidden("this token cannot open a live stream")
        expires = int(time.time()) + TICKET_S
        body = (f"{principal.id}.{principal.chain_id}.{expires}.{secrets.token_hex(8)}."
                f"{jti}.{version}.{token_exp}")
        signature = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return TicketOut(ticket=f"{_b64(body.encode())}.{_b64(signature)}",
                         expires_at=datetime.fromtimestamp(expires, tz=utcnow().tzinfo))

    async def spend(self, ticket: str, revocations: Revocations) -> Grant:
        """The ticket's grant, once: refused (401) when forged, expired, used, or when its
        bearer token has expired or been ended since (the check every request makes)."""
        try:
            body_text, signature_text = ticket.split(".")
            body, signature = _unb64(body_text), _unb64(signature_text)
            expected = hmac.new(self._key, body, hashlib.sha256).digest()
            if not hmac.compare_digest(signature, expected):
                raise InvalidTicket()
            member, chain, expires, nonce, jti, version, token_exp = body.decode().split(".")
            grant = Grant(principal=Principal(kind="member", id=uuid.UUID(member),
                                              chain_id=uuid.UUID(chain), role="member"),
                          jti=jti, version=int(version), token_exp=int(token_exp))
            deadline = int(expires)
            if len(nonce) != 16:
                raise InvalidTicket()
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidTicket() from exc
        now = time.time()
        if deadline < now or grant.token_exp <= now:
            raise InvalidTicket()
        if not await revocations.allows(grant.jti, grant.principal.id, grant.version,
                                        grant.token_exp):
            raise InvalidTicket("the token this ticket was asked for has been ended")
        if not await notify.spend_once(f"live:{nonce}", grant.principal.id, deadline):
            raise InvalidTicket()
        return grant


# --- the hub ----------------------------------------------------------------------------

class _Stream:
    def __init__(self, grant: Grant) -> None:
        self.grant = grant
        self.principal = grant.principal
        self.changed = asyncio.Event()
        self.rows: list[OutboxTailRow] = []
        self.opened_at = utcnow()  # notices of rows written before are not news
        self.ends_at = min(float(grant.token_exp), time.time() + MAX_STREAM_S)
        self.recheck = False  # a token was ended somewhere: is it ours?
        self.ended: EndReason | None = None
        self.checked_generation = -1


class LiveHub:
    """This process's streams and the one task that tails the outbox for them."""

    def __init__(self, revocations: Revocations | None = None,
                 heartbeat_s: float = 15.0) -> None:
        self.revocations = revocations or Revocations()
        self.heartbeat_s = heartbeat_s
        self._streams: dict[uuid.UUID, set[_Stream]] = {}
        self._total = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[uuid.UUID, datetime] = {}  # id -> created_at
        self._since = utcnow()
        self._generation = self.revocations.generation
        self.closing = False

    def count(self, member_id: uuid.UUID) -> int:
        return len(self._streams.get(member_id, ()))

    @property
    def total(self) -> int:
        return self._total

    def check_room(self, member_id: uuid.UUID) -> None:
        """Refuse a stream over the bounds: 503 when this process is full (or stopping),
        429 when the member has ``MAX_STREAMS`` here already."""
        if self._total >= MAX_STREAMS_TOTAL or self.closing:
            raise ServerFull(f"at most {MAX_STREAMS_TOTAL} live streams per server process")
        if self.count(member_id) >= MAX_STREAMS:
            raise TooManyStreams(f"at most {MAX_STREAMS} open streams per member")

    def open(self, grant: Grant) -> _Stream:
        self.check_room(grant.principal.id)
        stream = _Stream(grant)
        self._streams.setdefault(grant.principal.id, set()).add(stream)
        self._total += 1
        outbox.on_written(self._hint)  # (again, if the last stream just closed)
        if self._task is None or self._task.done():
            self._since = utcnow()
            self._generation = self.revocations.generation
            self._task = asyncio.create_task(self._tail(), name="o2o-live-tail")
        return stream

    def close(self, stream: _Stream) -> None:
        streams = self._streams.get(stream.principal.id)
        if streams is not None and stream in streams:
            streams.discard(stream)
            self._total -= 1
            if not streams:
                del self._streams[stream.principal.id]
        if not self._streams:
            outbox.off_written(self._hint)
            self._wake.set()  # the tail ends when nobody listens

    def shutdown(self) -> None:
        """The server is stopping: every stream ends now (``end``, reason shutdown), and
        no new one opens, so that the server need not wait for them."""
        self.closing = True
        for streams in self._streams.values():
            for stream in streams:
                stream.ended = "shutdown"
                stream.changed.set()

    async def allowed(self, stream: _Stream) -> bool:
        """Whether the stream's token still stands: the check every request makes, from
        this process's memory. While it hears every change (PostgreSQL's LISTEN up) and
        none came since the stream last asked, no question at all."""
        revocations = self.revocations
        generation = revocations.generation
        if revocations.listening and stream.checked_generation == generation:
            return True
        grant = stream.grant
        allowed = await revocations.allows(grant.jti, grant.principal.id, grant.version,
                                           grant.token_exp)
        stream.checked_generation = generation
        return allowed

    def _hint(self, member_id: uuid.UUID) -> None:
        if member_id in self._streams:
            self._wake.set()

    def _heard_of_revocations(self) -> None:
        """A token was ended (here, or heard from another process): every stream checks
        its own at once rather than at its next heartbeat."""
        generation = self.revocations.generation
        if generation == self._generation:
            return
        self._generation = generation
        for streams in self._streams.values():
            for stream in streams:
                stream.recheck = True
                stream.changed.set()

    async def _tail(self) -> None:
        while self._streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._heard_of_revocations()
            try:
                if self._wake.is_set():
                    self._wake.clear()
                    # A hint comes as the change is written: its commit follows shortly.
                    await asyncio.sleep(0.05)
                    await self._look()
                    await asyncio.sleep(0.25)
                await self._look()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database: try again at the next beat
                log.exception("reading the outbox for live streams failed")

    async def _look(self) -> None:
        """Every outbox row written since the last look (and ``LOOKBACK`` before it), page
        by page in (created_at, id) order until a short page: none is dropped however
        many a bulk change wrote. Rows of members without a stream here are passed over;
        rows already sent are remembered by id until they fall out of the look-back."""
        if not self._streams:
            return
        now = utcnow()
        start = self._since - LOOKBACK
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            marks = await notify.outbox_marks(start, after, PAGE)
            fresh = [m["id"] for m in marks
                     if m["member_id"] in self._streams and m["id"] not in self._seen]
            for row in await notify.outbox_rows(fresh):
                self._seen[row["id"]] = row["created_at"]
                for stream in self._streams.get(row["member_id"], ()):
                    stream.rows.append(row)
                    stream.changed.set()
            if len(marks) < PAGE:
                break
            last = marks[-1]
            after = (last["created_at"], last["id"])
            # Progress kept should a later page fail: the next look starts from here.
            self._since = max(self._since, last["created_at"])
        self._since = now
        for seen in [k for k, at in self._seen.items() if at < now - LOOKBACK]:
            del self._seen[seen]


def end_streams_on_stop(app: Litestar) -> None:
    """End the live streams as soon as the server is told to stop. uvicorn waits for the
    requests in flight (at most ``timeout_graceful_shutdown``) before the app's shutdown
    hooks run, and a stream is a request in flight: its signal handler (installed before
    the app starts) is chained here, in uvicorn's own server process only."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        owner = getattr(previous, "__self__", None)
        if not callable(previous) or not type(owner).__module__.startswith("uvicorn."):
            continue

        def stop(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            hub = app.state.get("live_hub")
            if isinstance(hub, LiveHub):
                loop.call_soon_threadsafe(hub.shutdown)
            previous(signum, frame)

        signal.signal(number, stop)


# --- one stream -------------------------------------------------------------------------

def _card_state(card: CardOut) -> tuple[Any, ...]:
    return (card.balance_cents, card.bonus_balance_cents, card.points, card.visits_left,
            card.status, card.tier)


async def _redemption(principal: Principal, card_id: uuid.UUID) -> Redemption | None:
    """What moved the card last (its newest ledger entry), with the store's name."""
    entry = await cards_public.last_card_entry(principal, card_id)
    if entry is None:
        return None
    store_name = None
    if entry.store_id is not None:
        store = await stores.chain_store(entry.store_id, principal.chain_id)
        store_name = store["name"] if store is not None else None
    return Redemption(action=entry.kind, charged_cents=abs(entry.delta_cents),
                      store_id=entry.store_id, store_name=store_name,
                      created_at=entry.created_at)


def _card_event(card: CardOut, redemption: Redemption | None) -> CardEvent:
    return CardEvent(card_id=card.id, balance_cents=card.balance_cents,
                     paid_balance_cents=card.paid_balance_cents,
                     bonus_balance_cents=card.bonus_balance_cents, points=card.points,
                     visits_left=card.visits_left, status=card.status, tier=card.tier,
                     redemption=redemption)


def _voucher_store(voucher: VoucherOut, rows: list[OutboxTailRow]) -> str | None:
    """The store named by the outbox row that told of this voucher's redemption."""
    for row in reversed(rows):
        data = row["data"] if isinstance(row["data"], dict) else {}
        if row["event"] == "redeemed" and data.get("item") == voucher.campaign_name:
            name = data.get("store_name")
            return name if isinstance(name, str) else None
    return None


async def _changes(principal: Principal, rows: list[OutboxTailRow],
                   cards_seen: dict[uuid.UUID, tuple[Any, ...]],
                   vouchers_seen: dict[uuid.UUID, str]) -> list[tuple[str, Payload]]:
    """The member's cards and vouchers that differ from what the stream sent last."""
    found: list[tuple[str, Payload]] = []
    for card in await cards.my_cards(principal):
        state = _card_state(card)
        if cards_seen.get(card.id) == state:
            continue
        cards_seen[card.id] = state
        found.append(("card", _card_event(card, await _redemption(principal, card.id))))
    for voucher in await vouchers.my_vouchers(principal):
        if vouchers_seen.get(voucher.id) == voucher.status:
            continue
        vouchers_seen[voucher.id] = voucher.status
        found.append(("voucher", VoucherEvent(
            voucher_id=voucher.id, status=voucher.status,
            store_name=_voucher_store(voucher, rows), redeemed_at=voucher.redeemed_at)))
    return found


async def _notices(principal: Principal, rows: list[OutboxTailRow],
                   since: datetime) -> list[NoticeEvent]:
    """The notifications written for the member since ``since``, worded in the chain's
    locale as the inbox will show them (the dispatcher delivers them a moment later)."""
    rows = [r for r in rows if r["created_at"] >= since]
    if not rows:
        return []
    locale = render.as_locale(await stores.chain_locale(principal.chain_id))
    found = []
    for row in rows:
        data = row["data"] if isinstance(row["data"], dict) else {}
        try:
            worded = render.render(row["event"], data, row["created_at"], locale)
        except Exception:  # an odd row: the page still gets the card event
            log.exception("wording notification %s for a live stream failed", row["id"])
            continue
        store_name = data.get("store_name")
        found.append(NoticeEvent(
            id=row["id"], event=row["event"], title=worded.title, text=worded.text,
            locale=locale, store_name=store_name if isinstance(store_name, str) else None,
            data=data, created_at=row["created_at"]))
    return found


async def _events(hub: LiveHub,
                  grant: Grant) -> AsyncGenerator[ServerSentEventMessage, None]:
    """``ready``, then what changes, until the token expires or is ended, the stream has
    lived ``MAX_STREAM_S``, or the server stops (``end`` says which). At each heartbeat
    the token is checked again, and at every ``RELOAD_BEATS``-th one without a change
    meanwhile the member's cards and vouchers are compared again, so that a change that
    writes no notification (a visit's reversal, a card frozen) reaches the page too."""
    principal = grant.principal
    sequence = 0
    stream: _Stream | None = None
    try:
        try:  # first: the finally below closes whatever opened, however the body ends
            stream = hub.open(grant)
        except (TooManyStreams, ServerFull):
            return  # another stream took the place since the handler's check
        cards_seen = {c.id: _card_state(c) for c in await cards.my_cards(principal)}
        vouchers_seen: dict[uuid.UUID, str] = {
            v.id: v.status for v in await vouchers.my_vouchers(principal)}
        yield ServerSentEventMessage(event="ready", retry=RETRY_MS, id=sequence,
                                     data=msgspec.json.encode(
                                         ReadyEvent(member_id=principal.id)).decode())
        quiet_beats = 0
        reason: EndReason
        while True:
            left = stream.ends_at - time.time()
            if stream.ended is not None:
                reason = stream.ended
                break
            if left <= 0:
                reason = "expired"
                break
            heartbeat = False
            try:
                await asyncio.wait_for(stream.changed.wait(), min(hub.heartbeat_s, left))
            except TimeoutError:
                heartbeat = time.time() < stream.ends_at
            stream.changed.clear()
            if stream.ended is not None:
                continue
            if heartbeat or stream.recheck:
                stream.recheck = False
                if not await hub.allowed(stream):
                    reason = "revoked"
                    break
            rows, stream.rows = stream.rows, []
            if heartbeat:
                quiet_beats += 1
            if rows or quiet_beats >= RELOAD_BEATS:
                quiet_beats = 0
                for name, payload in await _changes(principal, rows, cards_seen,
                                                    vouchers_seen):
                    sequence += 1
                    yield _message(name, payload, sequence)
            for notice in await _notices(principal, rows, stream.opened_at):
                sequence += 1
                yield _message("notice", notice, sequence)
            if heartbeat:
                yield ServerSentEventMessage(comment="ping", data=None)
        sequence += 1
        yield _message("end", EndEvent(reason=reason), sequence)
    finally:
        if stream is not None:
            hub.close(stream)


def hub_of(request: Request[Any, Any, Any], runtime: RuntimeDep) -> LiveHub:
    state = request.app.state
    hub = state.get("live_hub")
    if hub is None:
        hub = state["live_hub"] = LiveHub(runtime.auth.revocations,
                                          runtime.settings.live_heartbeat_s)
    return hub  # type: ignore[no-any-return]


def tickets_of(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Tickets:
    state = request.app.state
    tickets = state.get("live_tickets")
    if tickets is None:
        tickets = state["live_tickets"] = Tickets(runtime.settings.secret_key)
    return tickets  # type: ignore[no-any-return]


class LiveController(Controller):
    path = "/me/events"
    tags = ["live"]

    @post("/ticket", guards=[MEMBERS], status_code=201, responses=problems(429),
          summary="A one-use ticket for the member's live stream (60 s)")
    async def ticket(self, principal: Caller, request: Request[Any, Any, Any],
                     runtime: RuntimeDep) -> TicketOut:
        if principal.kind != "member":
            raise Forbidden()
        token = request.scope.get("auth")
        version = token_version(token) if isinstance(token, Token) else None
        if not isinstance(token, Token) or not isinstance(token.jti, str) or version is None:
            raise Forbidden()
        limit = TICKETS_PER_MEMBER
        if await limit.hit(str(principal.id)) > limit.max_hits:
            raise RateLimited(f"at most {limit.max_hits} stream tickets a minute",
                              retry_after=limit.window_s)
        return tickets_of(request, runtime).issue(principal, token.jti, version,
                                                  int(token.exp.timestamp()))

    @get("", opt=PUBLIC, responses=problems(401, 429, 503),
         summary="The member's live updates (Server-Sent Events)",
         description="EventSource URL with a ticket from POST /me/events/ticket. Events: "
                     "ready, card, voucher, notice, end; a ': ping' comment every 15 s. "
                     "Ends at the token's expiry or after 30 minutes, when the token is "
                     "ended, or when the server stops: reconnect with a new ticket.")
    async def stream(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep,
        ticket: Annotated[str, QueryParameter(min_length=1, max_length=512)],
    ) -> ServerSentEvent:
        hub = hub_of(request, runtime)
        grant = await tickets_of(request, runtime).spend(ticket, runtime.auth.revocations)
        hub.check_room(grant.principal.id)  # refused here; taken in the stream itself
        return ServerSentEvent(_events(hub, grant))


CONTROLLERS = [LiveController]
