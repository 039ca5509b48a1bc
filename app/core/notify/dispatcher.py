"""The dispatcher: a task in each server process (or ``o2o worker``) that delivers due
outbox rows.

Each round it leases up to ``notify_batch`` due rows (see ``repository.claim``) and
delivers them concurrently: first to the member's inbox (idempotent: one message per
row), then, in live mode, as a WeChat subscribe message. The outcome is recorded only
while the lease is still ours: ``sent``; a retry later (``due_at`` moved by exponential
backoff with jitter; ``failed`` after ``notify_max_attempts``); or ``failed``. Every
delivery is bounded by half the lease, so a lease runs out only when its process died:
then another process claims the row again (at least once; the inbox shows it once).

Stopping waits for the round in flight; past ``grace_s`` it is cancelled and its rows
handed back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import timedelta
from typing import Any

from app.core.clock import utcnow
from app.core.db import atomic_statement, write_transaction
from app.core.notify import render
from app.core.notify import repository as repo
from app.core.notify.adapters import InboxAdapter, LocaleLookup, Outcome, WechatAdapter
from app.core.notify.rows import NotificationRow
from app.core.settings import Settings

log = logging.getLogger("o2o.notify")
BACKOFF_CAP_S = 3600.0


def backoff_s(attempts: int, base_s: float, rng: random.Random | None = None) -> float:
    """Delay before attempt ``attempts + 1``: base·2^(attempts-1), capped, and jittered
    to between half and all of it, so rows failing together do not retry together."""
    delay: float = min(BACKOFF_CAP_S, base_s * 2.0 ** max(0, attempts - 1))
    jitter: float = (rng or random).random()
    return delay * (0.5 + 0.5 * jitter)


class Dispatcher:
    def __init__(self, settings: Settings, wechat: WechatAdapter | None,
                 grace_s: float = 10.0, locales: LocaleLookup | None = None) -> None:
        """``wechat`` None: inbox only (sandbox mode). ``locales``: each chain's language
        (the stores domain's setting, handed over by the composition root); None: zh-CN."""
        self.settings = settings
        self.inbox = InboxAdapter()
        self.wechat = wechat
        self.locales = locales
        self.grace_s = grace_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self.run(), name="o2o-notify-dispatcher")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self.grace_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Rounds until stopped: straight on while rows keep coming, else an idle wait."""
        poll = self.settings.notify_poll_s
        while not self._stopping.is_set():
            try:
                claimed = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification round failed")
                claimed = 0
            if claimed < self.settings.notify_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), poll)

    # --- one round ------------------------------------------------------------------

    async def round(self) -> int:
        """Claim due rows and deliver them; returns how many were claimed."""
        now = utcnow()
        if not await repo.any_due(now):
            return 0
        owner = uuid.uuid4().hex
        lease = timedelta(seconds=self.settings.notify_lease_s)
        async with write_transaction():
            rows = await repo.claim(now, now + lease, owner, self.settings.notify_batch)
        if not rows:
            return 0
        try:
            outcomes = await self._deliver(rows)
            await self._record(rows, owner, outcomes)
        except asyncio.CancelledError:
            # Stopped mid-delivery: hand the rows back now rather than after the lease.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(_release(owner)), 5)
            raise
        return len(rows)

    async def _deliver(self, rows: list[NotificationRow]) -> list[Outcome]:
        """The batch's inbox messages in one transaction, then each to WeChat, at once."""
        outcomes: list[Outcome | None] = [None] * len(rows)
        rendered: list[tuple[int, render.Rendered]] = []
        locales = await self._locales({row["chain_id"] for row in rows})
        for index, row in enumerate(rows):
            try:
                rendered.append((index, render.render(row["event"], row["data"],
                                                      row["created_at"],
                                                      locales[row["chain_id"]])))
            except Exception as exc:  # a bug: this row can never be delivered
                log.exception("rendering notification %s failed", row["id"])
                outcomes[index] = Outcome.failed(f"render: {type(exc).__name__}: {exc}"[:500])
        try:
            await self.inbox.deliver([(rows[i], r) for i, r in rendered])
        except Exception as exc:
            log.exception("writing %s notifications to the inbox failed", len(rendered))
            for index, _ in rendered:
                outcomes[index] = Outcome.retry(f"inbox: {type(exc).__name__}: {exc}"[:500])
            return [o for o in outcomes if o is not None]
        wechat = self.wechat
        if wechat is None:
            for index, _ in rendered:
                outcomes[index] = Outcome.sent("inbox")
        else:
            sent = await asyncio.gather(*(self._to_wechat(wechat, rows[i], r)
                                          for i, r in rendered))
            for (index, _), outcome in zip(rendered, sent, strict=True):
                outcomes[index] = outcome
        return [o for o in outcomes if o is not None]

    async def _locales(self, chain_ids: set[uuid.UUID]) -> dict[uuid.UUID, render.Locale]:
        """The language of each chain of the batch (read each round: a change applies to
        the next message); zh-CN when unknown or unreadable."""
        found: dict[uuid.UUID, render.Locale] = dict.fromkeys(chain_ids,
                                                             render.DEFAULT_LOCALE)
        if self.locales is None:
            return found
        for chain_id in chain_ids:
            try:
                found[chain_id] = render.as_locale(await self.locales(chain_id))
            except Exception:  # the database: deliver in the default language
                log.exception("reading the locale of chain %s failed", chain_id)
        return found

    async def _to_wechat(self, wechat: WechatAdapter, row: NotificationRow,
                         rendered: render.Rendered) -> Outcome:
        try:
            return await asyncio.wait_for(wechat.deliver(row, rendered),
                                          self.settings.notify_lease_s / 2)
        except TimeoutError:
            return Outcome.retry("delivery timed out")
        except Exception as exc:  # a bug or the database: log it, try again later
            log.exception("delivering notification %s failed", row["id"])
            return Outcome.retry(f"{type(exc).__name__}: {exc}"[:500])

    async def _record(self, rows: list[NotificationRow], owner: str,
                      outcomes: list[Outcome]) -> None:
        now = utcnow()
        changes: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            values: dict[str, Any]
            if outcome.status == "sent":
                values = {"status": "sent", "sent_at": now, "channel": outcome.channel}
                if outcome.note:
                    values["last_error"] = outcome.note
            elif outcome.status == "retry" and \
                    row["attempts"] < self.settings.notify_max_attempts:
                delay = backoff_s(row["attempts"], self.settings.notify_retry_base_s)
                values = {"due_at": now + timedelta(seconds=delay),
                          "last_error": outcome.note}
            else:
                values = {"status": "failed", "last_error": outcome.note}
            if outcome.status != "sent":
                log.warning("notification %s (%s) attempt %s: %s", row["id"], row["event"],
                            row["attempts"], outcome.note)
            changes.append((row["id"], values))
        async with write_transaction():
            recorded = await repo.finish(owner, changes)
        if recorded < len(changes):
            log.info("%s notifications changed while being delivered (cancelled, replaced "
                     "or re-claimed); their outcome was dropped", len(changes) - recorded)


async def _release(owner: str) -> None:
    async with atomic_statement():
        await repo.release(owner)
