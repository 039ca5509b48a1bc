"""A background task per server process that forgets expired keys and counters, old
notifications (finished outbox rows after 90 days, inbox messages after a year), numbered
events of the feed after 30 days (app.core.events.retention), and
whatever the domains add (the composition root passes their sweeps: the core imports no
domain), and runs the domains' frequent chores every second (the stats fold)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from app.core import idempotency, revocation, throttle
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.events import retention as event_retention
from app.core.notify import repository as notify_repo

log = logging.getLogger("o2o.housekeeping")
INTERVAL_S = 600.0
OFTEN_S = 1.0
OUTBOX_RETENTION = timedelta(days=90)
INBOX_RETENTION = timedelta(days=365)


Sweep = Callable[[], Awaitable[None]]


async def _loop(sweeps: Sequence[Sweep]) -> None:
    while True:
        await asyncio.sleep(INTERVAL_S)
        try:
            await throttle.purge_expired()
            await idempotency.purge_expired()
            await revocation.purge_expired()
            now = utcnow()
            async with write_transaction():
                await notify_repo.purge(now - OUTBOX_RETENTION, now - INBOX_RETENTION)
            await event_retention.purge_expired(now)
            for sweep in sweeps:
                await sweep()
        except Exception:
            log.exception("housekeeping sweep failed")


async def _often(chores: Sequence[Sweep]) -> None:
    while True:
        await asyncio.sleep(OFTEN_S)
        for chore in chores:
            try:
                await chore()
            except Exception:
                log.exception("housekeeping chore failed")


class Housekeeping:
    def __init__(self, sweeps: Sequence[Sweep] = (), often: Sequence[Sweep] = ()) -> None:
        self._sweeps = tuple(sweeps)
        self._often = tuple(often)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(_loop(self._sweeps), name="o2o-housekeeping")]
        if self._often:
            self._tasks.append(asyncio.create_task(_often(self._often),
                                                   name="o2o-housekeeping-often"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
