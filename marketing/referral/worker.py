"""Referral's part of the marketing runner (``marketing/runner.py`` calls ``tick`` in every
server process and in ``o2o worker``): reward the invites whose invitee has redeemed.

Safe with several processes ticking at once: each invite leaves ``pending`` by one
conditional update, in the transaction that issues its vouchers (service.reward).
"""

from __future__ import annotations

from marketing.referral import service
from marketing.tick import Tick


async def tick(ctx: Tick) -> None:
    await service.sweep(ctx.signer, ctx.now)
