"""A background task per server process that forgets expired keys and counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.core import idempotency, throttle

log = logging.getLogger("o2o.housekeeping")
INTERVAL_S = 600.0


async def _loop() -> None:
    while True:
        await asyncio.sleep(INTERVAL_S)
        try:
            await throttle.purge_expired()
            await idempotency.purge_expired()
        except Exception:
            log.exception("housekeeping sweep failed")


class Housekeeping:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(_loop(), name="o2o-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
