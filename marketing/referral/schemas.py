"""Request and response bodies of referral."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from msgspec import Struct

ProgramStatus = Literal["active", "paused"]
ReferralStatus = Literal["pending", "rewarded", "refused"]


class ProgramIn(Struct, forbid_unknown_fields=True):
    referrer_campaign_id: uuid.UUID
    invitee_campaign_id: uuid.UUID
    status: ProgramStatus = "active"
    # Reward an invite only once the invitee has proved a phone through WeChat: an
    # existing customer's second account, or a fake one, cannot (a verified number is
    # one member's in a chain). Left out: kept as it is (a page that knows nothing of it,
    # pausing the program, must not turn it off); off for a new program.
    require_verified_phone: bool | None = None
    # Reward only once the first visit is past the 24 hours in which a manager may
    # reverse it (a scan made and reversed for a fake friend then gives nothing). Left
    # out: kept; off for a new program.
    reward_after_reversal_window: bool | None = None


class ProgramOut(Struct):
    referrer_campaign_id: uuid.UUID
    invitee_campaign_id: uuid.UUID
    status: ProgramStatus
    updated_at: datetime
    require_verified_phone: bool
    reward_after_reversal_window: bool
    # All-time figures of the chain's invites.
    invited: int
    rewarded: int
    refused: int
    pending: int


class RewardOut(Struct):
    campaign_id: uuid.UUID
    name: str


class MyReferralOut(Struct):
    code: str
    link: str
    invited: int  # friends who signed in through my link
    rewarded: int  # of them, those whose first visit gave me my voucher
    program_status: ProgramStatus | None  # None: the chain has no referral program
    referrer_reward: RewardOut | None
    invitee_reward: RewardOut | None
    # The program rewards an invite only once the friend has verified a phone through
    # WeChat: the member page tells the member so (false without a program).
    require_verified_phone: bool = False


class ReferralOut(Struct):
    id: uuid.UUID
    referrer_id: uuid.UUID
    invitee_id: uuid.UUID
    status: ReferralStatus
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    referrer_voucher_id: uuid.UUID | None
    invitee_voucher_id: uuid.UUID | None
    # A rewarded invite whose side got no voucher: why (the campaign's refusal, e.g.
    # claim_limit_reached, campaign_sold_out, campaign_inactive).
    referrer_skip: str | None = None
    invitee_skip: str | None = None
