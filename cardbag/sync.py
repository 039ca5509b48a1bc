"""The card bag's sync: every change of a card that is in a member's WeChat card bag goes
out to WeChat, in order per card, from the outbox the change already wrote.

Nothing is added to the hot paths (a redemption, a charge, a top-up): the change's own
transaction writes the card's ledger entry (its per-card ``seq`` and the figures after)
and an event in the feed; that is the outbox. A task in each server process (and in
``o2o worker``; ``O2O_CARDBAG_SYNC=0`` keeps it out of a process; live WeChat mode only):

1. **Follows the feed** of each chain with cards in a bag from ``cardbag_cursor``: an
   event naming a card (``card.*``; a card's ``redemption.*``; ``top_up_order.*``) marks
   its bag row dirty, and the cursor moves past, in one transaction (the cursor row is
   locked: PostgreSQL ``SKIP LOCKED``, so two processes never follow one chain at once).
   A chain's cursor is started at the feed's head once it has a card in a bag (when the
   sender first claims one of its cards, and by each sweep): its bag rows are dirty from
   the start and the push reads the card as it is, so nothing before is missed.
2. **Sweeps** every ``O2O_CARDBAG_SWEEP_SECONDS`` (60): any clean bag row whose card
   differs from what WeChat was sent (a later ledger entry, another tier or status) is
   marked dirty. The backstop of a feed reader that fell behind or a lost wake-up.
3. **Sends**: due dirty rows are leased to one process (``claim``: PostgreSQL ``FOR
   UPDATE SKIP LOCKED``; SQLite a conditional update in its write transaction), so one
   sender pushes a card at a time. A card not activated yet is activated
   (``/card/membercard/activate`` with its number and its figures now; ``synced_seq`` =
   the ``ledger_seq`` read with them). Then each ledger entry after ``synced_seq`` in
   ``seq`` order that moved points or money is one ``/card/membercard/updateuser`` with
   the absolute figures after it and its line in the chain's language
   (:mod:`cardbag.records`); after each success ``synced_seq`` = its seq, so a process
   killed mid-sync sends at most one again, with absolute figures: harmless. Then, if
   the tier or status still differ, one update without a record. The dirty mark is
   cleared only if the card is, in that very statement, what WeChat was sent.

WeChat's rules: errcode -1 (busy), 45009 (a limit) and a timeout or no answer are tried
again after ``O2O_CARDBAG_RETRY_BASE_SECONDS`` * 2^(attempts-1) (capped at an hour,
jittered to between half and all of it), logged ``retry``; 40001/42001/40014 refresh the
access token once (shared by the processes, ``app.core.notify.tokens``) and send again;
any other errcode is final: logged ``failed``, ``last_error``/``last_errcode`` set, the
entry skipped (the next change sends the absolute figures again). The log is the
operator's sync health (GET /card-templates/{id}/wechat-card).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag

from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import atomic_statement, write_transaction
from app.core.events import EventRow, sequencer
from app.core.events import service as events_feed
from app.core.notify.dispatcher import backoff_s
from app.core.notify.render import Locale, as_locale
from app.core.notify.tokens import TOKEN_REFUSED, TokenStore
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from app.core.wechat import WechatClient, WechatError
from cardbag import records
from cardbag import sync_repository as repo
from cardbag.rows import BagCardRow
from cards import public as cards
from cards.rows import CardView, LedgerRow
from cards.schemas import CardWechat
from cards.service import effective_status
from stores import service as stores

log = logging.getLogger("o2o.cardbag")

TRANSIENT = frozenset({-1, 45009})  # WeChat busy; a frequency limit: try again later
FEED_BATCH = 500
ENTRIES_PER_CLAIM = 200  # a card with more left stays dirty and is claimed again
_CARD_FAMILIES = ("card.", "top_up_order.")


def retry_delay_s(attempts: int, base_s: float, rng: random.Random | None = None) -> float:
    """The wait after the ``attempts``-th failed try (1-based): the notifications' backoff
    (doubling, capped at an hour, jittered between half and all of it so that cards
    failing together spread out); the exponent bounded, for a card that fails for weeks."""
    return backoff_s(min(attempts, 30), base_s, rng)


def card_named(event: EventRow) -> uuid.UUID | None:
    """The card an event is about, if any."""
    data: Mapping[str, Any] = event["data"]
    if event["type"].startswith("card."):
        return event["object_id"]
    raw = None
    if event["type"].startswith("redemption."):
        raw = data.get("object_id") if data.get("kind") == "card" else data.get("card_id")
    elif event["type"].startswith("top_up_order."):
        raw = data.get("card_id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


# --- one WeChat call, by WeChat's rules ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class Sent:
    """How one call ended: ``ok``, ``retry`` (later, backing off) or ``failed`` (final)."""

    outcome: str
    errcode: int | None = None
    note: str = ""


OK = Sent("ok")


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    secret: str


Credentials = Callable[[uuid.UUID, uuid.UUID], Awaitable[App | None]]
"""(chain_id, member_id) -> the chain's WeChat app (id and opened secret), or None."""


def credentials_from_stores(box: SecretBox) -> Credentials:
    """The chain's WeChat app as stores keeps it (the secret sealed with the chain id)."""
    async def lookup(chain_id: uuid.UUID, member_id: uuid.UUID) -> App | None:
        target = await stores.wechat_target(chain_id, member_id)
        if target is None:
            return None
        secret = box.open(target.app_secret_sealed, str(chain_id)).decode()
        return App(target.app_id, secret)
    return lookup


async def call_wechat(tokens: TokenStore, app: App,
                      send: Callable[[str], Awaitable[object]]) -> Sent:
    """``send(access_token)`` once, and once more with a fresh token if WeChat refused
    the token; the outcome classified by WeChat's rules."""
    token = ""
    for attempt in (1, 2):
        try:
            token = (await tokens.get(app.app_id, app.secret) if attempt == 1
                     else await tokens.refresh(app.app_id, app.secret, token))
            await send(token)
            return OK
        except WechatError as exc:
            if exc.errcode in TOKEN_REFUSED and attempt == 1:
                continue
            if exc.errcode is None or exc.errcode in TRANSIENT \
                    or exc.errcode in TOKEN_REFUSED:
                return Sent("retry", exc.errcode, exc.errmsg[:500])
            return Sent("failed", exc.errcode, exc.errmsg[:500])
    raise AssertionError("unreachable")


# --- what is sent --------------------------------------------------------------------------

def _fields(card: CardView, locale: Locale, prefix: str = "") -> dict[str, Any]:
    fields: dict[str, Any] = {f"{prefix}custom_field_value2": records.status_text(
        card["status"], locale)}  # the status as the card answers it: see Push._card
    if card["tier"]:
        fields[f"{prefix}custom_field_value1"] = card["tier"]
    return fields


def activate_body(bag: BagCardRow, card: CardView, locale: Locale) -> dict[str, Any]:
    body: dict[str, Any] = {"membership_number": card["number"], "code": bag["code"],
                            "card_id": bag["wechat_card_id"], "init_bonus": card["points"],
                            **_fields(card, locale, "init_")}
    if card["kind"] == "stored_value":
        body["init_balance"] = card["balance_cents"]
    return body


def update_body(bag: BagCardRow, card: CardView, locale: Locale, entry: LedgerRow | None,
                store: str | None) -> dict[str, Any]:
    """An updateuser of ``entry``'s figures and line (None: the card's figures now, no
    line: a change of tier or status alone)."""
    stored_value = card["kind"] == "stored_value"
    body: dict[str, Any] = {"code": bag["code"], "card_id": bag["wechat_card_id"],
                            **_fields(card, locale)}
    bonus_line = balance_line = None
    if entry is None:
        body["bonus"] = card["points"]
        if stored_value:
            body["balance"] = card["balance_cents"]
    else:
        body["bonus"] = entry["points_after"]
        bonus_line = records.bonus_text(entry, locale, store)
        if stored_value:
            body["balance"] = entry["balance_after_cents"]
            balance_line = records.balance_text(entry, locale, store)
    if bonus_line:
        body["record_bonus"] = bonus_line
    if balance_line:
        body["record_balance"] = balance_line
    body["notify_optional"] = {"is_notify_bonus": bonus_line is not None,
                               "is_notify_balance": balance_line is not None,
                               "is_notify_custom_field1": entry is None}
    return body


def moves(entry: LedgerRow, card: CardView) -> bool:
    """Whether WeChat's card face changes with ``entry`` (points, or a stored-value
    card's money): the others (a visit, the issue) cost no call."""
    return entry["delta_points"] != 0 or (card["kind"] == "stored_value"
                                           and entry["delta_cents"] != 0)


# --- the worker ---------------------------------------------------------------------------

class CardBagSync:
    def __init__(self, settings: Settings, client: WechatClient, box: SecretBox, *,
                 tokens: TokenStore | None = None, credentials: Credentials | None = None,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.client = client
        self.tokens = tokens or TokenStore(client)
        self.credentials = credentials or credentials_from_stores(box)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.owner = uuid.uuid4().hex  # every lease this process holds
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_sweep = 0.0
        self._followed: set[uuid.UUID] = set()  # chains with a cursor, as last read

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        sequencer.on_numbered(self._on_numbered)
        loop = asyncio.get_running_loop()
        # The first sweep (which finds the chains with cards in a bag) within a few
        # seconds of start, jittered: processes started together spread out.
        self._next_sweep = loop.time() + min(self.settings.cardbag_sweep_s,
                                             5.0) * self.rng.random()
        self._task = asyncio.create_task(self._loop(), name="o2o-cardbag-sync")

    def _on_numbered(self, _chain_id: uuid.UUID, _last: int) -> None:
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_s: float = 5.0) -> None:
        sequencer.off_numbered(self._on_numbered)
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            # Seen at the next wait; a card being pushed finishes its current call (a
            # few seconds at most) rather than being cut between WeChat and our write.
            await stop_tasks([task], grace_s)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(grace_s), atomic_statement():
                await repo.release(self.owner)  # handed back now, not when leases end

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            busy = False
            try:
                await self.follow()
                if loop.time() >= self._next_sweep:
                    self._next_sweep = loop.time() + self.settings.cardbag_sweep_s
                    await self.sweep()
                busy = await self.send_round() > 0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("card bag sync round failed")
            if self._stopping.is_set():
                return
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.cardbag_poll_s)
                self._wake.clear()

    async def run_once(self) -> int:
        """One round without the loop (tests, tools): sweep (and discover), follow,
        send; returns how many cards were pushed."""
        await self.sweep()
        await self.follow()
        return await self.send_round()

    # --- 1. following the feed ---------------------------------------------------------

    async def follow(self) -> int:
        """Mark the bag cards the chains' new events name; returns how many marks. Only
        chains with a cursor (:meth:`discover` gives a chain one)."""
        cursors = await repo.cursors()
        self._followed = set(cursors)
        if not cursors:
            return 0
        heads = await events_feed.heads()
        marked = 0
        for chain_id, last in cursors.items():
            if heads.get(chain_id, 0) > last:
                marked += await self._follow_chain(chain_id)
        return marked

    async def discover(self) -> int:
        """A cursor at the feed's head for each chain whose first card went into a bag
        (with the sweep: a new chain's cards are dirty from the start, and the sweep
        catches what changed before its cursor); returns how many were started."""
        known = await repo.cursors()
        new = [c for c in await repo.bag_chains() if c not in known]
        if new:
            heads = await events_feed.heads()
            async with atomic_statement():
                for chain_id in new:
                    await repo.start_cursor(chain_id, heads.get(chain_id, 0), utcnow())
        self._followed = set(known) | set(new)
        return len(new)

    async def _follow_chain(self, chain_id: uuid.UUID) -> int:
        marked = 0
        while True:
            async with write_transaction():
                last = await repo.lock_cursor(chain_id)
                if last is None:
                    return marked
                found = await events_feed.numbered(chain_id, last, FEED_BATCH)
                if not found:
                    return marked
                named = {card_id for card_id in map(card_named, found) if card_id}
                now = utcnow()
                marked += await repo.mark_dirty(named, now)
                await repo.advance_cursor(chain_id, found[-1]["sequence"], now)
            if len(found) < FEED_BATCH:
                return marked

    # --- 2. the sweep -------------------------------------------------------------------

    async def sweep(self) -> int:
        await self.discover()
        async with atomic_statement():
            swept = await repo.sweep(utcnow())
        if swept:
            log.info("card bag sweep marked %s cards the feed had not", swept)
        return swept

    # --- 3. the sender ------------------------------------------------------------------

    async def send_round(self) -> int:
        """Claim the due cards (a batch) and push each, side by side; returns how many."""
        now = utcnow()
        if self._stopping.is_set() or not await repo.any_due(now):
            return 0
        deadline = asyncio.get_running_loop().time() + self.settings.cardbag_lease_s
        async with write_transaction():
            rows = await repo.claim(now, self._lease_end(), self.owner,
                                    self.settings.cardbag_batch)
        if {r["chain_id"] for r in rows} - self._followed:
            # A chain's first card in a bag: follow its feed from now on (the push reads
            # the card as it is, so nothing before the cursor is missed).
            await self.discover()
        if rows:
            await asyncio.gather(*(self._push_safely(row, deadline) for row in rows))
        return len(rows)

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.cardbag_lease_s)

    async def _push_safely(self, bag: BagCardRow, deadline: float) -> None:
        try:
            await Push(self, bag, deadline).run()
        except Exception:
            # A bug or the database: the lease runs out and the card is tried again.
            log.exception("pushing card %s to WeChat failed", bag["card_id"])


class LeaseLost(Exception):
    """The card's lease is no longer this sender's (or its stay ended): stop pushing."""


class Push:
    """One leased card pushed to WeChat: activation, the entries in order, the rest.

    Order per card holds only while one sender pushes it, so no call may outlive the
    lease: each is cut after half the lease, and starts only with at least three
    quarters of it left (else the lease is renewed first). A lease runs out, and
    another sender takes the card, only when this one's process died or stalled.
    """

    def __init__(self, sync: CardBagSync, bag: BagCardRow,
                 deadline: float | None = None) -> None:
        self.sync = sync
        self.bag = bag
        self.owner = sync.owner
        self.stay = bag["added_at"]
        # The lease's end as this process knows it (loop time; None: claimed just now).
        self.deadline = deadline if deadline is not None else (
            asyncio.get_running_loop().time() + sync.settings.cardbag_lease_s)
        self.app = App("", "")
        self.locale: Locale = "zh-CN"
        self._stores: dict[uuid.UUID, str | None] = {}

    async def run(self) -> None:
        try:
            await self._run()
        except LeaseLost:
            # Taken by another sender (nothing to hand back), or the card left the bag
            # or came back into it: hand the lease back so its new stay goes now.
            async with atomic_statement():
                await repo.release(self.owner, self.bag["card_id"])

    async def _run(self) -> None:
        bag = self.bag
        card = await self._card()
        if card is None:  # never deleted in practice: nothing to show in WeChat
            await self._write({"dirty": False, "lease_owner": None, "lease_until": None})
            return
        try:
            app = await self.sync.credentials(bag["chain_id"], card["member"])
        except InvalidTag:  # sealed under another O2O_SECRET_KEY: PUT /wechat-config again
            await self._retry(Sent("retry", None, "the chain's WeChat secret cannot be "
                                                  "read; PUT /wechat-config again"),
                              "update", None)
            return
        if app is None:
            await self._retry(Sent("retry", None, "the chain has no WeChat app configured"),
                              "update", None)
            return
        self.app = app
        self.locale = as_locale(await stores.chain_locale(bag["chain_id"]))
        if bag["activated_at"] is None and not await self._activate(card):
            return
        if not await self._entries(card):
            return
        if (card["tier"] or "") != (self.bag["synced_tier"] or "") \
                or card["status"] != self.bag["synced_status"]:
            sent = await self._send(update_body(bag, card, self.locale, None, None))
            if sent.outcome == "retry":
                await self._retry(sent, "update", None)
                return
            if not await self._after(sent, "update", None, self._figures(card)):
                return
        async with atomic_statement():
            await repo.finish(bag["card_id"], self.owner, self.stay)

    async def _card(self) -> CardView | None:
        """The card now, its status as it answers it (a card past its validity is
        expired before anything writes it down: sync_repository's _STATUS likewise)."""
        card = await cards.card_in_chain(self.bag["chain_id"], self.bag["card_id"])
        if card is not None:
            card["status"] = effective_status(card, utcnow())  # type: ignore[typeddict-item]
        return card

    def _figures(self, card: CardView) -> dict[str, Any]:
        return {"synced_tier": card["tier"], "synced_status": card["status"]}

    async def _send(self, body: dict[str, Any], activate: bool = False) -> Sent:
        """One call by WeChat's rules, within the lease (renewed first if short)."""
        lease_s = self.sync.settings.cardbag_lease_s
        if self.deadline - asyncio.get_running_loop().time() < lease_s * 0.75 \
                and not await self._write({}):
            raise LeaseLost
        client = self.sync.client
        try:
            async with asyncio.timeout(lease_s / 2):
                return await call_wechat(self.sync.tokens, self.app, lambda token: (
                    client.membercard_activate(token, body) if activate
                    else client.membercard_updateuser(token, body)))
        except TimeoutError:
            return Sent("retry", None, "no answer within half the lease")

    async def _activate(self, card: CardView) -> bool:
        sent = await self._send(activate_body(self.bag, card, self.locale), activate=True)
        if sent.outcome == "retry":
            await self._retry(sent, "activate", None)
            return False
        values = {"synced_seq": card["ledger_seq"], **self._figures(card)}
        if sent.outcome == "ok":
            values["activated_at"] = utcnow()
        if not await self._after(sent, "activate", None, values):
            return False
        if sent.outcome == "failed":
            # Not activated: nothing can be updated. Clean until the next change, which
            # tries the activation again.
            async with atomic_statement():
                await repo.finish(self.bag["card_id"], self.owner, self.stay,
                                  activated=False)
            return False
        return True

    async def _entries(self, card: CardView) -> bool:
        """Each entry after ``synced_seq`` in order; False when the push stops here."""
        done = 0
        while done < ENTRIES_PER_CLAIM:
            entries = await cards.ledger_after(self.bag["card_id"], self.bag["synced_seq"])
            if not entries:
                return True
            for entry in entries:
                done += 1
                if not moves(entry, card):
                    continue  # folded into the next write
                body = update_body(self.bag, card, self.locale, entry,
                                   await self._store_name(entry["store_id"]))
                sent = await self._send(body)
                if sent.outcome == "retry":
                    await self._retry(sent, "update", entry["seq"])
                    return False
                if not await self._after(sent, "update", entry["seq"],
                                         {"synced_seq": entry["seq"], **self._figures(card)}):
                    return False
            # The quiet entries after the last call are passed too.
            last = entries[-1]["seq"]
            if last > self.bag["synced_seq"] and not await self._write({"synced_seq": last}):
                return False
        return True

    async def _store_name(self, store_id: uuid.UUID | None) -> str | None:
        if store_id is None:
            return None
        if store_id not in self._stores:
            store = await stores.chain_store(store_id, self.bag["chain_id"])
            self._stores[store_id] = store["name"] if store else None
        return self._stores[store_id]

    def _extended(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        """``values`` with the lease extended (unless they hand it back), and the lease's
        new end in loop time (taken before the write: never later than the database's)."""
        at = asyncio.get_running_loop().time() + self.sync.settings.cardbag_lease_s
        if "lease_owner" in values:
            return dict(values), self.deadline
        return {**values, "lease_until": self.sync._lease_end()}, at

    async def _write(self, values: Mapping[str, Any]) -> bool:
        """Record progress while the lease is ours (and extend it); LeaseLost if not."""
        values, deadline = self._extended(values)
        async with atomic_statement():
            ok = await repo.progress(self.bag["card_id"], self.owner, self.stay, values)
        return self._kept(ok, values, deadline)

    def _kept(self, ok: bool, values: Mapping[str, Any], deadline: float) -> bool:
        if not ok:
            raise LeaseLost
        self.bag.update(values)  # type: ignore[typeddict-item]
        self.deadline = deadline
        return True

    async def _after(self, sent: Sent, action: str, seq: int | None,
                     values: dict[str, Any]) -> bool:
        """Record a call that ended (sent, or failed for good: the entry is skipped)."""
        now = utcnow()
        if sent.outcome == "ok":
            values.update(synced_at=now, attempts=0, last_error=None, last_errcode=None)
            return await self._write(values)
        log.warning("WeChat refused %s of card %s (seq %s): %s %s", action,
                    self.bag["card_id"], seq, sent.errcode, sent.note)
        values.update(attempts=0, last_error=sent.note or "refused",
                      last_errcode=sent.errcode)
        extended, deadline = self._extended(values)
        async with write_transaction():
            ok = await repo.progress(self.bag["card_id"], self.owner, self.stay, extended)
            if ok:  # a refusal about a stay that ended is no news for the operator
                await self._log(sent, action, seq, "failed", now)
        return self._kept(ok, extended, deadline)

    async def _retry(self, sent: Sent, action: str, seq: int | None) -> None:
        """Try again later: backing off, the lease handed back, still dirty."""
        attempts = self.bag["attempts"] + 1
        now = utcnow()
        due = now + timedelta(seconds=retry_delay_s(
            attempts, self.sync.settings.cardbag_retry_base_s, self.sync.rng))
        async with write_transaction():
            ok = await repo.progress(self.bag["card_id"], self.owner, self.stay, {
                "attempts": attempts, "due_at": due, "last_error": sent.note or "no answer",
                "last_errcode": sent.errcode, "lease_owner": None, "lease_until": None})
            if ok:
                await self._log(sent, action, seq, "retry", now)
        if not ok:
            raise LeaseLost

    async def _log(self, sent: Sent, action: str, seq: int | None, outcome: str,
                   now: datetime) -> None:
        await repo.log({"id": uuid.uuid4(), "chain_id": self.bag["chain_id"],
                        "template_id": self.bag["template_id"],
                        "card_id": self.bag["card_id"], "action": action, "seq": seq,
                        "outcome": outcome, "errcode": sent.errcode,
                        "note": sent.note[:1000], "at": now})


# --- what a card answers (CardOut.wechat) ---------------------------------------------------

async def wechat_states(card_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CardWechat]:
    """The cards of these that are in a member's WeChat card bag (the lookup create_app
    registers with cards: cards never imports cardbag)."""
    found = await repo.in_bag(card_ids)
    return {card_id: CardWechat(in_card_bag=True, synced_at=at)
            for card_id, at in found.items()}
