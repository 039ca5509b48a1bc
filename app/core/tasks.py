"""Stopping a background task politely: the one rule of every worker loop (the webhook
worker, the pay poller, the marketing runner, the card bag's sync)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection


async def stop_tasks(tasks: Collection[asyncio.Task[None]], grace_s: float) -> None:
    """Wait up to ``grace_s`` for ``tasks`` (already told to stop) to end by themselves,
    then cancel the stragglers and wait up to ``grace_s`` again. A loop sees the stop at
    its next wait: cancelling one inside a transaction could leave its pooled connection
    unreleased, so cancelling is the last resort."""
    if not tasks:
        return
    _, stuck = await asyncio.wait(tasks, timeout=grace_s)
    for task in stuck:
        task.cancel()
    if stuck:
        await asyncio.wait(stuck, timeout=grace_s)
