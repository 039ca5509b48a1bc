"""Marketing's background work: one task in each server process (or in ``o2o worker``)
that runs every registered tick once a round, every ``O2O_MARKETING_TICK_SECONDS``
(default 15; ``O2O_MARKETING_RUNNER=0`` keeps it out of a server process, as
``O2O_PAY_POLLER`` does for the payment poller).

A tick is ``async def tick(ctx: Tick) -> None``. Every process runs every tick, so each
must be safe with another process running it at the same moment: unique rows, conditional
updates or leases, never "check, then insert". A tick that fails is logged and tried again
next round; it never stops the others. Tests call a tick (or :meth:`run_once`) directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime

from app.core.clock import utcnow
from app.core.codes.keys import CodeSigner
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from marketing.automations.worker import tick as automations_tick
from marketing.gifts.worker import tick as gifts_tick
from marketing.jobs.worker import tick as jobs_tick
from marketing.referral.worker import tick as referral_tick
from marketing.tick import Tick, TickFn

__all__ = ["TICKS", "MarketingRunner", "Tick", "TickFn", "build_marketing_runner"]

log = logging.getLogger("o2o.marketing")

# Every tick of the marketing domain, run in this order each round. Each sub-package
# that works in the background adds its own line (marketing/<x>/worker.py: tick).
TICKS: tuple[TickFn, ...] = (
    automations_tick,
    jobs_tick,
    gifts_tick,
    referral_tick,
)


class MarketingRunner:
    def __init__(self, settings: Settings, signer: CodeSigner, *,
                 ticks: Sequence[TickFn] = TICKS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.signer = signer
        self.ticks = tuple(ticks)
        self.clock = clock
        self.tick_s = settings.marketing_tick_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="o2o-marketing-runner")

    async def stop(self, grace_s: float = 5.0) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            # Seen at the next wait; a round in flight finishes its current step (short
            # write transactions) rather than being cut inside one.
            await stop_tasks([task], grace_s)

    async def _loop(self) -> None:
        # The first round one (jittered) interval after start: processes started together
        # spread out, and a short-lived app (a test's) does not sweep at all.
        wait = self.tick_s * (0.5 + random.random() / 2)  # noqa: S311 - not a secret
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
            if self._stopping.is_set():
                return
            await self.run_once()
            wait = self.tick_s

    async def run_once(self, now: datetime | None = None) -> None:
        """One round: every tick once, at ``now`` (default: the clock)."""
        ctx = Tick(signer=self.signer, now=now or self.clock(), settings=self.settings)
        for tick in self.ticks:
            if self._stopping.is_set():
                return
            try:
                await tick(ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("marketing tick %s failed", getattr(tick, "__module__", tick))


def build_marketing_runner(settings: Settings, signer: CodeSigner | None = None
                           ) -> MarketingRunner:
    return MarketingRunner(settings, signer or CodeSigner(settings.secret_key))
