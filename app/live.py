"""Live updates for the member's page: Server-Sent Events (issue 17).

- ``POST /me/events/ticket`` (member) → 201 ``{"ticket", "expires_at"}``: a signed ticket,
  valid ``TICKET_S`` seconds and good for one stream, on any server process. EventSource
  cannot send an Authorization header, and a bearer token in a URL would be written to
  every proxy's log (ours redacts ``ticket=``, app.core.logs).
- ``GET /me/events?ticket=`` → ``text/event-stream``: ``ready`` first, then ``card`` when
  one of the member's cards moves (charge, visit, earn, top-up, reversal) and ``voucher``
  when one of their vouchers is redeemed, a ``: ping`` comment every ``HEARTBEAT_S``.

How a change reaches a stream: every change a member hears of writes an outbox row in
its own transaction (app.core.notify.outbox). Each process keeps one :class:`LiveHub`;
while it holds a stream it tails the outbox rows of its streams' members, at most every
``POLL_S`` (the bound across processes, on either engine), and at once when this process
builds a notification (``outbox.on_written``: a hint, looked at after the commit). For
each member with a new row, each of their streams reloads the member's cards and vouchers
(cards' own reads) and sends what differs from what it sent last.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from msgspec import Struct

from app.core.auth import MEMBERS, PUBLIC, Principal
from app.core.clock import utcnow
from app.core.crypto import derive_key
from app.core.db import write_transaction
from app.core.errors import AppError, Forbidden
from app.core.notify import outbox
from app.core.notify import repository as notify_repo
from app.core.openapi import problems
from app.core.params import Caller, RuntimeDep
from cards import service as cards
from cards import vouchers
from cards.schemas import CardOut, VoucherOut
from stores import service as stores

log = logging.getLogger("o2o.live")

TICKET_S = 60
MAX_STREAMS = 5  # per member and process
HEARTBEAT_S = 15.0
POLL_S = 1.0
RETRY_MS = 3000
LOOKBACK = timedelta(seconds=5)  # rows committed late carry an earlier created_at


class InvalidTicket(AppError):
    status = 401
    code = "invalid_ticket"
    title = "The stream ticket is unknown, expired or used"


class TooManyStreams(AppError):
    status = 429
    code = "too_many_streams"
    title = "Too many live streams for this member"


class TicketOut(Struct):
    ticket: str
    expires_at: datetime


# --- tickets ----------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tickets:
    """Signed tickets (HMAC of member, chain, expiry and a nonce), single use on every
    process: the nonce goes on the shared denylist of token ids (core_revoked_token,
    purged by housekeeping after the expiry). A page asks for a new one per connection."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "o2o/live-ticket")

    def issue(self, principal: Principal) -> TicketOut:
        expires = int(time.time()) + TICKET_S
        body = f"{principal.id}.{principal.chain_id}.{expires}.{secrets.token_hex(8)}"
        signature = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return TicketOut(ticket=f"{_b64(body.encode())}.{_b64(signature)}",
                         expires_at=datetime.fromtimestamp(expires, tz=utcnow().tzinfo))

    async def spend(self, ticket: str) -> Principal:
        try:
            body_text, signature_text = ticket.split(".")
            body, signature = _unb64(body_text), _unb64(signature_text)
            member, chain, expires, nonce = body.decode().split(".")
            expected = hmac.new(self._key, body, hashlib.sha256).digest()
            if not hmac.compare_digest(signature, expected):
                raise InvalidTicket()
            principal = Principal(kind="member", id=uuid.UUID(member),
                                  chain_id=uuid.UUID(chain), role="member")
            deadline = int(expires)
            if len(nonce) != 16:
                raise InvalidTicket()
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidTicket() from exc
        if deadline < time.time():
            raise InvalidTicket()
        async with write_transaction():
            first = await notify_repo.spend_once(f"live:{nonce}", principal.id, deadline)
        if not first:
            raise InvalidTicket()
        return principal


# --- the hub ----------------------------------------------------------------------------

class _Stream:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.changed = asyncio.Event()
        self.rows: list[dict[str, Any]] = []


class LiveHub:
    """This process's streams and the one task that tails the outbox for them."""

    def __init__(self) -> None:
        self._streams: dict[uuid.UUID, set[_Stream]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[uuid.UUID, datetime] = {}
        self._since = utcnow()

    def count(self, member_id: uuid.UUID) -> int:
        return len(self._streams.get(member_id, ()))

    def open(self, principal: Principal) -> _Stream:
        if self.count(principal.id) >= MAX_STREAMS:
            raise TooManyStreams(f"at most {MAX_STREAMS} open streams per member")
        stream = _Stream(principal)
        self._streams.setdefault(principal.id, set()).add(stream)
        if self._task is None or self._task.done():
            self._since = utcnow()
            outbox.on_written(self._hint)
            self._task = asyncio.create_task(self._tail(), name="o2o-live-tail")
        return stream

    def close(self, stream: _Stream) -> None:
        streams = self._streams.get(stream.principal.id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.principal.id]
        if not self._streams:
            outbox.off_written(self._hint)
            self._wake.set()  # the tail ends when nobody listens

    def _hint(self, member_id: uuid.UUID) -> None:
        if member_id in self._streams:
            self._wake.set()

    async def _tail(self) -> None:
        while self._streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            if self._wake.is_set():
                self._wake.clear()
                # A hint comes as the change is written: its commit follows shortly.
                await asyncio.sleep(0.05)
                await self._look()
                await asyncio.sleep(0.25)
            try:
                await self._look()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the outbox for live streams failed")

    async def _look(self) -> None:
        if not self._streams:
            return
        now = utcnow()
        rows = await notify_repo.written_since(list(self._streams), self._since - LOOKBACK)
        self._since = now
        for seen in [k for k, at in self._seen.items() if at < now - 2 * LOOKBACK]:
            del self._seen[seen]
        for row in rows:
            if row["id"] in self._seen:
                continue
            self._seen[row["id"]] = now
            for stream in self._streams.get(row["member_id"], ()):
                stream.rows.append(row)
                stream.changed.set()


# --- one stream -------------------------------------------------------------------------

def _card_state(card: CardOut) -> tuple[Any, ...]:
    return (card.balance_cents, card.points, card.visits_left, card.status, card.tier)


async def _redemption(principal: Principal, card_id: uuid.UUID) -> dict[str, Any] | None:
    """What moved the card last (its newest ledger entry), with the store's name."""
    entries = await cards.card_ledger(principal, card_id)
    if not entries:
        return None
    entry = entries[-1]
    store_name = None
    if entry.store_id is not None:
        store = await stores.chain_store(entry.store_id, principal.chain_id)
        store_name = store["name"] if store is not None else None
    return {"action": entry.kind, "charged_cents": abs(entry.delta_cents),
            "store_id": str(entry.store_id) if entry.store_id else None,
            "store_name": store_name, "created_at": entry.created_at.isoformat()}


def _card_event(card: CardOut, redemption: dict[str, Any] | None) -> dict[str, Any]:
    return {"card_id": str(card.id), "balance_cents": card.balance_cents,
            "points": card.points, "visits_left": card.visits_left, "status": card.status,
            "tier": card.tier, "redemption": redemption}


def _voucher_store(voucher: VoucherOut, rows: list[dict[str, Any]]) -> str | None:
    """The store named by the outbox row that told of this voucher's redemption."""
    for row in reversed(rows):
        data = row["data"] if isinstance(row["data"], dict) else {}
        if row["event"] == "redeemed" and data.get("item") == voucher.campaign_name:
            name = data.get("store_name")
            return name if isinstance(name, str) else None
    return None


async def _events(hub: LiveHub, stream: _Stream) -> AsyncIterator[ServerSentEventMessage]:
    principal = stream.principal
    sequence = 0
    try:
        cards_seen = {c.id: _card_state(c) for c in await cards.my_cards(principal)}
        vouchers_seen = {v.id: v.status for v in await vouchers.my_vouchers(principal)}
        yield ServerSentEventMessage(event="ready", retry=RETRY_MS, id=sequence,
                                     data=json.dumps({"member_id": str(principal.id)}))
        while True:
            try:
                await asyncio.wait_for(stream.changed.wait(), HEARTBEAT_S)
            except TimeoutError:
                yield ServerSentEventMessage(comment="ping", data=None)
                continue
            stream.changed.clear()
            rows, stream.rows = stream.rows, []
            for card in await cards.my_cards(principal):
                state = _card_state(card)
                if cards_seen.get(card.id) == state:
                    continue
                cards_seen[card.id] = state
                sequence += 1
                payload = _card_event(card, await _redemption(principal, card.id))
                yield ServerSentEventMessage(event="card", id=sequence,
                                             data=json.dumps(payload, ensure_ascii=False))
            for voucher in await vouchers.my_vouchers(principal):
                if vouchers_seen.get(voucher.id) == voucher.status:
                    continue
                vouchers_seen[voucher.id] = voucher.status
                sequence += 1
                payload = {"voucher_id": str(voucher.id), "status": voucher.status,
                           "store_name": _voucher_store(voucher, rows),
                           "redeemed_at": voucher.redeemed_at.isoformat()
                           if voucher.redeemed_at else None}
                yield ServerSentEventMessage(event="voucher", id=sequence,
                                             data=json.dumps(payload, ensure_ascii=False))
    finally:
        hub.close(stream)


def hub_of(request: Request[Any, Any, Any]) -> LiveHub:
    state = request.app.state
    hub = state.get("live_hub")
    if hub is None:
        hub = state["live_hub"] = LiveHub()
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

    @post("/ticket", guards=[MEMBERS], status_code=201,
          summary="A one-use ticket for the member's live stream (60 s)")
    async def ticket(self, principal: Caller, request: Request[Any, Any, Any],
                     runtime: RuntimeDep) -> TicketOut:
        if principal.kind != "member":
            raise Forbidden()
        return tickets_of(request, runtime).issue(principal)

    @get("", opt=PUBLIC, responses=problems(401, 429),
         summary="The member's live updates (Server-Sent Events)",
         description="EventSource URL with a ticket from POST /me/events/ticket. Events: "
                     "ready, card, voucher; a ': ping' comment every 15 s.")
    async def stream(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep,
        ticket: Annotated[str, QueryParameter(min_length=1, max_length=512)],
    ) -> ServerSentEvent:
        principal = await tickets_of(request, runtime).spend(ticket)
        hub = hub_of(request)
        stream = hub.open(principal)
        return ServerSentEvent(_events(hub, stream))


CONTROLLERS = [LiveController]
