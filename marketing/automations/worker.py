"""Automations' sweeps, run from marketing's runner (placeholder until the sweeps land)."""

from __future__ import annotations

from marketing.tick import Tick


async def tick(ctx: Tick) -> None:
    del ctx
