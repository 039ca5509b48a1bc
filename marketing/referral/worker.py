"""Referral's part of the marketing runner (``marketing/runner.py`` calls ``tick`` in every
server process and in ``o2o worker``): reward the invites whose invitee has redeemed.

Safe with several processes ticking at once: each invite leaves ``pending`` by one
conditional update, in the transaction that issues its vouchers (service.reward).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.core.codes.keys import CodeSigner
from marketing.referral import service


class TickContext(Protocol):
    """What the runner hands each tick (its ``Tick``), as far as referral reads it."""

    @property
    def signer(self) -> CodeSigner: ...

    @property
    def now(self) -> datetime: ...


async def tick(ctx: TickContext) -> None:
    await service.sweep(ctx.signer, ctx.now)
