"""The webhook worker: tasks in each server process, apart from the notification
dispatcher (a slow endpoint never holds back a WeChat message, nor the other way).

**Fan-out.** Each look, every enabled endpoint behind its chain's feed has the numbered
events after its ``last_sequence`` turned into delivery rows (those of the types it
subscribes to), and ``last_sequence`` moved past them, in one transaction; the endpoint
row is locked for it (PostgreSQL ``FOR UPDATE SKIP LOCKED``: two processes never fan out
one endpoint at once; SQLite: the write transaction) and the insert is idempotent
(unique endpoint and event). The write path (a redemption) never does any of this.

**Delivery.** Due deliveries are claimed with a lease (``repository.claim``) and each
attempt runs in its own task: deliveries do not wait on each other, and an endpoint has
at most ``webhook_per_endpoint`` attempts in flight in this process (a slow or dead one
fills its own slots, never the others'), and a chain at most ``max(8, webhook_in_flight
// 4)`` (its many slow endpoints never hold back another chain). A delivery is not due
while an earlier event of the same object is pending for the same endpoint (per-object
order). An attempt is bounded by the sender's 15 s, far inside the lease, so a lease
runs out only when its process died: another process then claims the row again (at least
once, same ``webhook-id``). The outcome is recorded only while the lease is ours:
``delivered``; or another attempt after the next delay of :data:`RETRY_DELAYS_S`
(jittered upwards), ``failed`` after the last. An endpoint whose every attempt failed
for five days is disabled, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.events import EventRow, sequencer
from app.core.events import service as events_feed
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from app.core.webhooks import repository as repo
from app.core.webhooks import signing
from app.core.webhooks.event_types import family
from app.core.webhooks.sender import Attempt, Sender
from app.core.webhooks.service import live_secrets

log = logging.getLogger("o2o.webhooks")

# Seconds before the 2nd, 3rd, ... attempt: about 3.4 days in all (the contract asks for
# at least 3), jitter only lengthening them; then the delivery is failed.
RETRY_DELAYS_S: tuple[float, ...] = (5, 60, 300, 1800, 7200, 18000, 36000, 36000, 50400,
                                     72000, 72000)
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1
JITTER = 0.25  # each delay is stretched by up to a quarter, so failures spread out
DISABLE_AFTER = timedelta(days=5)
FANOUT_BATCH = 500
CLAIM_BATCH = 50


def retry_delay_s(attempts: int, scale: float = 1.0, rng: random.Random | None = None) -> float:
    """The wait after the ``attempts``-th failed attempt (1-based)."""
    base = RETRY_DELAYS_S[min(attempts, len(RETRY_DELAYS_S)) - 1] * scale
    return base * (1.0 + JITTER * (rng or random).random())


def delivery_body(event: EventRow) -> str:
    """The body of every attempt of the event (built once, at fan-out)."""
    created: datetime = event["created_at"]
    return json.dumps({
        "id": str(event["id"]), "sequence": event["sequence"], "type": event["type"],
        "timestamp": created.isoformat().replace("+00:00", "Z"), "data": event["data"],
    }, ensure_ascii=False, separators=(",", ":"), default=str)


class WebhookWorker:
    def __init__(self, settings: Settings, box: SecretBox, grace_s: float = 5.0) -> None:
        self.settings = settings
        self.box = box
        self.grace_s = grace_s
        self.sender = Sender(allow_http=settings.webhook_allow_http,
                             allow_private=settings.webhook_allow_private)
        # One owner per worker: every lease this process holds, released at stop.
        self.owner = uuid.uuid4().hex
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._numbered = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[None]] = set()
        self._in_flight: Counter[uuid.UUID] = Counter()
        self._chain_in_flight: Counter[uuid.UUID] = Counter()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._numbered = asyncio.Event()
        # This process numbered events: fan out now (other processes' numberings are
        # found by polling).
        sequencer.on_numbered(self._on_numbered)
        self._tasks = [asyncio.create_task(self._fanout_loop(), name="o2o-webhook-fanout"),
                       asyncio.create_task(self._delivery_loop(), name="o2o-webhook-delivery")]

    def _on_numbered(self, _chain_id: uuid.UUID, _last: int) -> None:
        self._numbered.set()

    async def stop(self) -> None:
        sequencer.off_numbered(self._on_numbered)
        self._stopping.set()
        self._numbered.set()
        self._wake.set()
        loops, self._tasks = self._tasks, []
        # The loops see the stop at their next wait; cancelling one inside a transaction
        # could leave its pooled connection unreleased (and the pool's close waiting).
        if loops:
            await stop_tasks(loops, self.grace_s)
        if self._attempts:
            _, pending = await asyncio.wait(set(self._attempts), timeout=self.grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=self.grace_s)
                # Handed back now rather than when the lease runs out (bounded: a stop
                # never hangs on the database).
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.grace_s), write_transaction():
                        await repo.release(self.owner)
        await self.sender.close()

    def wake(self) -> None:
        """Look now (new events numbered, or a slot freed)."""
        self._wake.set()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_s)
        self._wake.clear()

    # --- fan-out --------------------------------------------------------------------

    async def _fanout_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                added = await self.fan_out()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook fan-out failed")
                added = 0
            if added:
                self.wake()
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._numbered.wait(), self.settings.webhook_poll_s)
            self._numbered.clear()

    async def fan_out(self) -> int:
        """Turn the new numbered events of every enabled endpoint into deliveries;
        returns how many were added."""
        endpoints = await repo.enabled_endpoints()
        if not endpoints:
            return 0
        ends = await events_feed.heads()
        added = 0
        for endpoint in endpoints:
            if ends.get(endpoint["chain_id"], 0) > endpoint["last_sequence"]:
                added += await self._fan_out_one(endpoint["id"])
        return added

    async def _fan_out_one(self, endpoint_id: uuid.UUID) -> int:
        added = 0
        while True:
            async with write_transaction():
                endpoint = await repo.lock_for_fanout(endpoint_id)
                if endpoint is None:
                    return added
                found = await events_feed.numbered(endpoint["chain_id"],
                                                   endpoint["last_sequence"], FANOUT_BATCH)
                if not found:
                    return added
                wanted = set(endpoint["events"])
                now = utcnow()
                rows = [{
                    "id": uuid.uuid4(), "endpoint_id": endpoint_id,
                    "chain_id": endpoint["chain_id"], "event_id": event["id"],
                    "sequence": event["sequence"], "type": event["type"],
                    "object_key": f"{family(event['type'])}:{event['object_id']}",
                    "body": delivery_body(event), "status": "pending", "attempts": 0,
                    "next_attempt_at": now, "created_at": now,
                } for event in found if "*" in wanted or event["type"] in wanted]
                await repo.add_deliveries(rows)
                await repo.advance(endpoint_id, found[-1]["sequence"])
            added += len(rows)
            if len(found) < FANOUT_BATCH:
                return added

    # --- delivery -------------------------------------------------------------------

    async def _delivery_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = await self.claim_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming webhook deliveries failed")
                claimed = 0
            if not claimed:
                await self._idle()

    async def claim_round(self) -> int:
        """Claim what is due and free slots allow, and start each attempt; returns how
        many were started."""
        free = self.settings.webhook_in_flight - len(self._attempts)
        if free <= 0 or self._stopping.is_set():
            return 0
        now = utcnow()
        if not await repo.any_due(now):
            return 0
        per_endpoint = self.settings.webhook_per_endpoint
        per_chain = self.per_chain
        full = {e for e, n in self._in_flight.items() if n >= per_endpoint}
        full_chains = {c for c, n in self._chain_in_flight.items() if n >= per_chain}
        lease = timedelta(seconds=self.settings.webhook_lease_s)
        async with write_transaction():
            rows = await repo.claim(now, now + lease, self.owner, min(free, CLAIM_BATCH),
                                    full, slots={e: per_endpoint - n for e, n
                                                 in self._in_flight.items()},
                                    per_endpoint=per_endpoint, skip_chains=full_chains,
                                    chain_slots={c: per_chain - n for c, n
                                                 in self._chain_in_flight.items()},
                                    per_chain=per_chain)
        if not rows:
            return 0
        targets = await repo.targets({r["endpoint_id"] for r in rows})
        for row in rows:
            self._in_flight[row["endpoint_id"]] += 1
            self._chain_in_flight[row["chain_id"]] += 1
            task = asyncio.create_task(self._attempt(row, targets.get(row["endpoint_id"])))
            self._attempts.add(task)
            task.add_done_callback(self._attempt_done(row["endpoint_id"], row["chain_id"]))
        return len(rows)

    @property
    def per_chain(self) -> int:
        """Attempts in flight at once per chain, in this process: a chain's many slow
        endpoints fill its own share, never the other chains'."""
        return max(8, self.settings.webhook_in_flight // 4)

    def _attempt_done(self, endpoint_id: uuid.UUID, chain_id: uuid.UUID) -> Any:
        def done(task: asyncio.Task[None]) -> None:
            self._attempts.discard(task)
            for counter, key in ((self._in_flight, endpoint_id),
                                 (self._chain_in_flight, chain_id)):
                counter[key] -= 1
                if counter[key] <= 0:
                    del counter[key]
            self.wake()  # a slot is free, and the object's next event may be due
        return done

    async def _attempt(self, row: dict[str, Any], target: dict[str, Any] | None) -> None:
        started = utcnow()
        if target is None or target["status"] != "enabled":
            # Deleted or disabled since the claim: hand the row back untouched.
            with contextlib.suppress(Exception):
                async with write_transaction():
                    await repo.release(self.owner, row["id"])
            return
        try:
            secrets = live_secrets(self.box, target, started)
            timestamp = int(started.timestamp())
            body = row["body"].encode()
            attempt = await self.sender.post(target["url"], body, {
                "webhook-id": str(row["event_id"]),
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signing.signature(secrets, str(row["event_id"]),
                                                       timestamp, body)})
        except Exception as exc:  # a bug or a secret that does not open: retry later
            log.exception("webhook delivery %s failed before sending", row["id"])
            attempt = Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500])
        try:
            # Shielded: a stop cancelling the attempt never interrupts its transaction.
            await asyncio.shield(self._record(row, attempt, started))
        except Exception:
            log.exception("recording webhook delivery %s failed (the lease will run out "
                          "and it is sent again)", row["id"])

    async def _record(self, row: dict[str, Any], attempt: Attempt, started: datetime) -> None:
        now = utcnow()
        values: dict[str, Any] = {"last_status_code": attempt.status_code,
                                  "last_error": attempt.error}
        if attempt.delivered:
            values.update(status="delivered", delivered_at=now)
        elif row["attempts"] >= MAX_ATTEMPTS:
            values.update(status="failed")
        else:
            values["next_attempt_at"] = now + timedelta(seconds=retry_delay_s(
                row["attempts"], self.settings.webhook_retry_scale))
        if not attempt.delivered:
            log.warning("webhook delivery %s (%s) to endpoint %s, attempt %s: %s",
                        row["id"], row["type"], row["endpoint_id"], row["attempts"],
                        attempt.error)
        async with write_transaction():
            # The endpoint before its delivery, like every writer (no deadlock with a delete).
            await repo.lock_for_record(row["endpoint_id"])
            if not await repo.finish(row["id"], self.owner, values):
                return  # re-claimed after our lease ran out, or the endpoint deleted
            if attempt.delivered:
                await repo.endpoint_succeeded(row["endpoint_id"])
            elif await repo.endpoint_failed(
                    row["endpoint_id"], started, now - DISABLE_AFTER,
                    f"disabled at {now:%Y-%m-%d %H:%M} UTC after 5 days in which every "
                    f"delivery failed; the last: {attempt.error}"[:1000], now):
                log.warning("webhook endpoint %s disabled after 5 days of failures",
                            row["endpoint_id"])
