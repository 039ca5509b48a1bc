"""Staff views of one member's cards and vouchers (issue 17: the clerk's member lookup and
the operator's members page): whoever may see the member (GET /members/{id}'s rules)."""

from __future__ import annotations

import uuid

from app.core.auth import Principal
from app.core.clock import utcnow
from cards import repository as repo
from cards.schemas import CardOut, StaffVoucherOut
from cards.service import card_out
from cards.vouchers import staff_voucher_out
from stores import service as stores


async def member_cards(principal: Principal, member_id: uuid.UUID) -> list[CardOut]:
    """Every card of the member, oldest first (404 as GET /members/{id})."""
    await stores.get_member(principal, member_id)
    now = utcnow()
    return [card_out(r, now) for r in await repo.member_cards(member_id)]


async def member_vouchers(principal: Principal,
                          member_id: uuid.UUID) -> list[StaffVoucherOut]:
    """Every voucher of the member, newest first, as GET /me/vouchers shows them but
    without their codes (a code spends the voucher: only its member holds it)."""
    await stores.get_member(principal, member_id)
    now = utcnow()
    return [staff_voucher_out(r, now) for r in await repo.member_vouchers(member_id)]
