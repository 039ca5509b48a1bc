"""Gifting's background work (the marketing runner's tick): gifts nobody accepted go back
to their givers once past their end, whether or not anyone reads them again."""

from __future__ import annotations

from marketing.gifts import service
from marketing.tick import Tick


async def tick(ctx: Tick) -> None:
    await service.expire_due(ctx.now)
