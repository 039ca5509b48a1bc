"""Referral tables: a chain's program, each member's code, and each invite.

Raw SQL in the second migration adds the unique index of a code within its chain
(``referral_code_chain_code``) and the partial index the runner's sweep reads
(``referral_pending``: only pending invites, oldest first).
"""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from stores.tables import Chain, Member


class ReferralProgram(Table, tablename="referral_program"):
    """The chain's program: which campaign rewards the referrer and which the invitee.
    ``status``: active | paused (paused: no invite is recorded and no reward given; the
    pending invites wait)."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.cascade, unique=True)
    referrer_campaign = UUID(null=False)
    invitee_campaign = UUID(null=False)
    status = Varchar(length=16, null=False, default="active")
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    # True: an invite is rewarded only once the invitee has a phone proved through
    # WeChat (verified numbers are unique in a chain: one new customer per number).
    require_verified_phone = Boolean(null=False, default=False)
    # True: the first visit rewards only once it can no longer be reversed (24 h).
    reward_after_reversal_window = Boolean(null=False, default=False)


class ReferralCode(Table, tablename="referral_code"):
    """A member's code, made at its first read and never changed. Upper case, from an
    alphabet without look-alikes; unique within the chain."""

    member = ForeignKey(Member, primary_key=True, on_delete=OnDelete.cascade)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.cascade, index=False)
    code = Varchar(length=16, null=False)
    created_at = Timestamptz(null=False, default=TimestamptzNow())


class Referral(Table, tablename="referral"):
    """An invite: ``invitee`` was created by a WeChat login carrying ``referrer``'s code.
    Unique per invitee (a member is invited at most once). ``status``: pending |
    rewarded | refused, left pending only by one conditional update. ``reason`` says why
    it was refused; ``redemption_id`` is the invitee's first redemption that rewarded it;
    a voucher column is NULL when that side's campaign could not issue (``*_skip``
    holds the refusal's code)."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.cascade, index=False)
    referrer = ForeignKey(Member, null=False, on_delete=OnDelete.cascade, index=True)
    invitee = ForeignKey(Member, null=False, on_delete=OnDelete.cascade, unique=True)
    code = Varchar(length=16, null=False)
    status = Varchar(length=16, null=False, default="pending")
    reason = Varchar(length=40, null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    decided_at = Timestamptz(null=True, default=None)
    redemption_id = UUID(null=True, default=None)
    referrer_voucher = UUID(null=True, default=None)
    invitee_voucher = UUID(null=True, default=None)
    referrer_skip = Varchar(length=40, null=True, default=None)
    invitee_skip = Varchar(length=40, null=True, default=None)
