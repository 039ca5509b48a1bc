"""Every query of referral. No rules here: the service decides what a row means.

Reads stores' ``member`` and cards' ``redemption`` tables directly (allowed: tables, never
another domain's repository), for the sweep and the fraud checks.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.db import Sql
from marketing.referral.rows import DueRow, ProgramRow, ReferralRow
from marketing.referral.tables import Referral, ReferralCode, ReferralProgram

# --- program ------------------------------------------------------------------------------


async def get_program(chain_id: uuid.UUID) -> ProgramRow | None:
    row = await ReferralProgram.select().where(
        ReferralProgram.chain == chain_id).first().run()
    return cast(ProgramRow | None, row)


async def upsert_program(chain_id: uuid.UUID, referrer_campaign: uuid.UUID,
                         invitee_campaign: uuid.UUID, status: str, now: datetime,
                         require_verified_phone: bool | None = None,
                         reward_after_reversal_window: bool | None = None) -> None:
    """Insert or replace the chain's program (the caller's write transaction; two
    simultaneous first PUTs: the unique chain makes the loser's insert fail)."""
    values: dict[Any, Any] = {
        ReferralProgram.referrer_campaign: referrer_campaign,
        ReferralProgram.invitee_campaign: invitee_campaign,
        ReferralProgram.status: status, ReferralProgram.updated_at: now}
    if require_verified_phone is not None:  # None: kept as it is
        values[ReferralProgram.require_verified_phone] = require_verified_phone
    if reward_after_reversal_window is not None:
        values[ReferralProgram.reward_after_reversal_window] = reward_after_reversal_window
    changed = await ReferralProgram.update(values).where(
        ReferralProgram.chain == chain_id).returning(ReferralProgram.id).run()
    if not changed:
        await ReferralProgram.insert(ReferralProgram(
            id=uuid.uuid4(), chain=chain_id, referrer_campaign=referrer_campaign,
            invitee_campaign=invitee_campaign, status=status, updated_at=now,
            require_verified_phone=bool(require_verified_phone),
            reward_after_reversal_window=bool(reward_after_reversal_window))).run()


# --- codes --------------------------------------------------------------------------------

async def code_of(member_id: uuid.UUID) -> str | None:
    row = await ReferralCode.select(ReferralCode.code).where(
        ReferralCode.member == member_id).first().run()
    return None if row is None else str(row["code"])


async def insert_code(member_id: uuid.UUID, chain_id: uuid.UUID, code: str,
                      now: datetime) -> None:
    """Raises a unique violation when the member has a code or the chain has this one."""
    await ReferralCode.insert(ReferralCode(member=member_id, chain=chain_id, code=code,
                                           created_at=now)).run()


async def member_by_code(chain_id: uuid.UUID, code: str) -> uuid.UUID | None:
    row = await ReferralCode.select(ReferralCode.member).where(
        (ReferralCode.chain == chain_id) & (ReferralCode.code == code)).first().run()
    return None if row is None else cast(uuid.UUID, row["member"])


# --- invites ------------------------------------------------------------------------------

async def insert_referral(values: ReferralRow) -> None:
    await Referral.insert(Referral(**values)).run()


async def get_referral(referral_id: uuid.UUID) -> ReferralRow | None:
    row = await Referral.select().where(Referral.id == referral_id).first().run()
    return cast(ReferralRow | None, row)


async def list_referrals(chain_id: uuid.UUID, status: str | None, limit: int,
                         offset: int) -> list[ReferralRow]:
    where: Combinable = Referral.chain == chain_id
    if status is not None:
        where &= Referral.status == status
    rows = await Referral.select().where(where).order_by(
        Referral.created_at, Referral.id, ascending=False).limit(limit).offset(offset).run()
    return cast(list[ReferralRow], rows)


_COUNTS_BY_REFERRER = Sql(
    "SELECT COUNT(*) AS invited, "
    "COALESCE(SUM(CASE WHEN referrer_voucher IS NOT NULL THEN 1 ELSE 0 END), 0) AS rewarded "
    "FROM referral WHERE referrer = {}")


async def counts_of_referrer(member_id: uuid.UUID) -> tuple[int, int]:
    """(invites the member made, of them those that gave the member a voucher)."""
    row = await _COUNTS_BY_REFERRER.first(member_id)
    assert row is not None
    return int(row["invited"]), int(row["rewarded"])


_CHAIN_COUNTS = Sql("SELECT status, COUNT(*) AS n FROM referral WHERE chain = {} GROUP BY status")


async def counts_of_chain(chain_id: uuid.UUID) -> dict[str, int]:
    return {str(r["status"]): int(r["n"]) for r in await _CHAIN_COUNTS.rows(chain_id)}


# The pending invites (partial index referral_pending) of chains whose program is active,
# whose invitee has a redemption not reversed (index redemption_member_created).
_DUE = Sql(
    "SELECT r.id AS id, r.chain AS chain FROM referral r "
    "JOIN referral_program p ON p.chain = r.chain AND p.status = 'active' "
    "WHERE r.status = 'pending' AND r.created_at >= {} AND EXISTS (SELECT 1 FROM redemption d "
    "WHERE d.member_id = r.invitee AND d.reversed_at IS NULL "
    "AND d.created_at <= {} AND (p.reward_after_reversal_window = {} OR d.created_at <= {})) "
    "AND (p.require_verified_phone = {} OR EXISTS (SELECT 1 FROM member m "
    "WHERE m.id = r.invitee AND m.phone_verified = {})) "
    "ORDER BY r.created_at LIMIT {}")


async def due_referrals(since: datetime, final_before: datetime, now: datetime,
                        limit: int) -> list[DueRow]:
    """Pending invites made at or after ``since`` whose invitee has redeemed (by
    ``final_before`` when the program waits for the reversal window, else by ``now``)."""
    return cast(list[DueRow], await _DUE.rows(since, now, False, final_before, False, True,
                                              limit))


# The pending invites made before ``since``, oldest first (partial index referral_pending):
# refused as expired, once (conditional on pending: two processes cannot both decide one).
_EXPIRE = Sql(
    "UPDATE referral SET status = 'refused', reason = 'expired', decided_at = {} "
    "WHERE status = 'pending' AND created_at < {} RETURNING id")


async def expire_pending(since: datetime, now: datetime) -> int:
    """Pending invites made before ``since`` → refused ("expired"); how many."""
    return len(await _EXPIRE.rows(now, since))


_FIRST_REDEMPTION = Sql(
    "SELECT id FROM redemption WHERE member_id = {} AND reversed_at IS NULL "
    "AND created_at <= {} ORDER BY created_at, id LIMIT 1")


async def first_redemption(member_id: uuid.UUID, before: datetime) -> uuid.UUID | None:
    """The member's first redemption not reversed (of any kind: card, voucher, booking),
    made at or before ``before``."""
    row = await _FIRST_REDEMPTION.first(member_id, before)
    return None if row is None else cast(uuid.UUID, row["id"])


async def decide(referral_id: uuid.UUID, status: str, *, reason: str | None,
                 redemption_id: uuid.UUID | None, now: datetime) -> bool:
    """pending → ``status``, the one way out of pending: a conditional update that says
    whether it won (another process may have decided it meanwhile)."""
    rows = await Referral.update({
        Referral.status: status, Referral.reason: reason, Referral.decided_at: now,
        Referral.redemption_id: redemption_id,
    }).where((Referral.id == referral_id) & (Referral.status == "pending")).returning(
        Referral.id).run()
    return bool(rows)


async def set_rewards(referral_id: uuid.UUID, *, referrer_voucher: uuid.UUID | None,
                      invitee_voucher: uuid.UUID | None, referrer_skip: str | None,
                      invitee_skip: str | None) -> None:
    await Referral.update({
        Referral.referrer_voucher: referrer_voucher, Referral.invitee_voucher: invitee_voucher,
        Referral.referrer_skip: referrer_skip, Referral.invitee_skip: invitee_skip,
    }).where(Referral.id == referral_id).run()


# Other members of the chain, who joined no later than the invitee, with the invitee's
# phone or WeChat unionid; ``referral_id``: set when that member was invited too.
_LOOKALIKES = Sql(
    "SELECT m.id AS id, m.phone AS phone, m.unionid AS unionid, r.id AS referral_id "
    "FROM member m LEFT JOIN referral r ON r.invitee = m.id "
    "WHERE m.chain = {} AND m.id <> {} AND m.created_at <= {} "
    "AND ((m.phone IS NOT NULL AND m.phone = {}) OR (m.unionid IS NOT NULL AND m.unionid = {})) "
    "ORDER BY m.created_at LIMIT 50")


async def lookalikes(chain_id: uuid.UUID, member_id: uuid.UUID, joined_at: datetime,
                     phone: str | None, unionid: str | None) -> list[dict[str, Any]]:
    if phone is None and unionid is None:
        return []
    return await _LOOKALIKES.rows(chain_id, member_id, joined_at, phone, unionid)


# --- figures ------------------------------------------------------------------------------

_FIGURES = Sql(
    "SELECT "
    "COALESCE(SUM(CASE WHEN created_at >= {} AND created_at < {} THEN 1 ELSE 0 END), 0) "
    "AS invited, "
    "COALESCE(SUM(CASE WHEN created_at >= {} AND created_at < {} AND status = 'pending' "
    "THEN 1 ELSE 0 END), 0) AS pending, "
    "COALESCE(SUM(CASE WHEN decided_at >= {} AND decided_at < {} AND status = 'rewarded' "
    "THEN 1 ELSE 0 END), 0) AS rewarded, "
    "COALESCE(SUM(CASE WHEN decided_at >= {} AND decided_at < {} AND status = 'refused' "
    "THEN 1 ELSE 0 END), 0) AS refused, "
    "COALESCE(SUM(CASE WHEN decided_at >= {} AND decided_at < {} "
    "AND referrer_voucher IS NOT NULL THEN 1 ELSE 0 END), 0) AS referrer_vouchers, "
    "COALESCE(SUM(CASE WHEN decided_at >= {} AND decided_at < {} "
    "AND invitee_voucher IS NOT NULL THEN 1 ELSE 0 END), 0) AS invitee_vouchers "
    "FROM referral WHERE chain = {} AND (created_at >= {} OR decided_at >= {})")


async def figures(chain_id: uuid.UUID, start: datetime, end: datetime) -> dict[str, int]:
    row = await _FIGURES.first(*(start, end) * 6, chain_id, start, start)
    assert row is not None
    return {k: int(v) for k, v in row.items()}
