"""Business rules of referral: the chain's program, a member's code and link, invites
recorded by the login that creates the invitee, and the reward at the invitee's first
redemption (found by the runner's sweep, ``worker.tick``; never in the redemption path).

Rules (decision 050, referral):
- A code is the member's for good: 8 characters from an alphabet without look-alikes
  (no 0/O, 1/I/L), read case-insensitively, unique within the chain, made at the first
  read of ``GET /me/referral``.
- An invite is recorded only by the WeChat login that creates the member, in that write
  transaction (``stores.service.JoinHook``), while the program is active. A code that
  cannot be used (unknown, another chain's, the program paused) is ignored: the login
  never fails because of a link. A member is invited at most once (unique invitee).
- At the invitee's first redemption not reversed (card, voucher or booking), both get
  their campaign's voucher, once: the invite leaves ``pending`` by one conditional update,
  in the transaction that issues both vouchers. A redemption reversed before the sweep
  saw it does not count (the next one does); a reward given is not taken back.
- Refused (no reward, ``reason`` kept) when the invitee is the referrer, shares the
  referrer's WeChat user (unionid) or phone, or shares a phone or unionid with another
  member who joined before them (an invited one or not: a chain of fake accounts, or an
  existing customer signing up again).
- A program with ``require_verified_phone`` rewards an invite only once the invitee has
  proved a phone through WeChat (unique among a chain's verified numbers); until then
  it stays pending.
- An invite still pending after ``INVITE_DAYS`` is refused as ``expired``.
- A paused program gives nothing and records no invite; its pending invites wait and are
  rewarded by the sweep after it is active again.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.keys import CodeSigner
from app.core.db import is_unique_violation, savepoint, write_transaction
from app.core.errors import AppError, NotFound
from cards import public as cards
from marketing.referral import repository as repo
from marketing.referral.rows import ProgramRow, ReferralRow
from marketing.referral.schemas import (
    MyReferralOut,
    ProgramIn,
    ProgramOut,
    ReferralOut,
    RewardOut,
)
from stores import service as stores
from stores.service import MemberJoined

log = logging.getLogger("o2o.marketing.referral")

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH = 8  # 31**8 ≈ 8.5e11 codes: a guess hits one of 100,000 members 1 in 8.5 million
CODE_ATTEMPTS = 5
SWEEP_BATCH = 200
# A friend who has not come within this many days will not be rewarded: the invite is
# refused as "expired". It bounds what every tick of every process reads (the pending
# invites, each probed in redemption), which otherwise grew with every link never used.
INVITE_DAYS = 90
# How long a manager may reverse a redemption (cards.redemption.REVERSAL_WINDOW, decision
# of cards; repeated here as a figure, not a rule: a program that waits for it rewards
# a visit only once it is older).
REVERSAL_WINDOW = timedelta(hours=24)
MEMBER_PAGE = "/m/"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str | None) -> str | None:
    """A typed or linked code as stored (upper case, spaces and dashes dropped); None when
    it cannot be a code."""
    if raw is None:
        return None
    code = raw.strip().upper().replace("-", "").replace(" ", "")
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def link(base_url: str, chain_id: uuid.UUID, code: str) -> str:
    """The member page opened on the chain with the code (the page keeps it through the
    sign-in and sends it as ``referral_code``)."""
    return f"{base_url.rstrip('/')}{MEMBER_PAGE}?{urlencode({'chain': chain_id, 'ref': code})}"


# --- the program (operators) -------------------------------------------------------------

async def _program_out(row: ProgramRow) -> ProgramOut:
    counts = await repo.counts_of_chain(row["chain"])
    return ProgramOut(
        referrer_campaign_id=row["referrer_campaign"],
        invitee_campaign_id=row["invitee_campaign"],
        status="paused" if row["status"] == "paused" else "active",
        updated_at=row["updated_at"],
        require_verified_phone=bool(row["require_verified_phone"]),
        reward_after_reversal_window=bool(row["reward_after_reversal_window"]),
        invited=sum(counts.values()),
        rewarded=counts.get("rewarded", 0), refused=counts.get("refused", 0),
        pending=counts.get("pending", 0))


async def put_program(principal: Principal, body: ProgramIn) -> ProgramOut:
    for campaign_id in {body.referrer_campaign_id, body.invitee_campaign_id}:
        if await cards.campaign_in_chain(principal.chain_id, campaign_id) is None:
            raise NotFound("no such campaign")
    try:
        async with write_transaction():
            await repo.upsert_program(principal.chain_id, body.referrer_campaign_id,
                                      body.invitee_campaign_id, body.status, utcnow(),
                                      body.require_verified_phone,
                                      body.reward_after_reversal_window)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        # A simultaneous first PUT inserted it: this one replaces it.
        async with write_transaction():
            await repo.upsert_program(principal.chain_id, body.referrer_campaign_id,
                                      body.invitee_campaign_id, body.status, utcnow(),
                                      body.require_verified_phone,
                                      body.reward_after_reversal_window)
    return await get_program(principal)


async def get_program(principal: Principal) -> ProgramOut:
    row = await repo.get_program(principal.chain_id)
    if row is None:
        raise NotFound("the chain has no referral program")
    return await _program_out(row)


def referral_out(row: ReferralRow) -> ReferralOut:
    return ReferralOut(
        id=row["id"], referrer_id=row["referrer"], invitee_id=row["invitee"],
        status=row["status"], reason=row["reason"],  # type: ignore[arg-type]
        created_at=row["created_at"], decided_at=row["decided_at"],
        referrer_voucher_id=row["referrer_voucher"], invitee_voucher_id=row["invitee_voucher"],
        referrer_skip=row["referrer_skip"], invitee_skip=row["invitee_skip"])


async def list_referrals(principal: Principal, status: str | None, limit: int,
                         offset: int) -> list[ReferralOut]:
    rows = await repo.list_referrals(principal.chain_id, status, limit, offset)
    return [referral_out(r) for r in rows]


# --- the member's code and link ----------------------------------------------------------

async def member_code(chain_id: uuid.UUID, member_id: uuid.UUID) -> str:
    """The member's code, made at its first read (two first reads at once: one insert
    wins, the other reads it)."""
    code = await repo.code_of(member_id)
    for _ in range(CODE_ATTEMPTS):
        if code is not None:
            return code
        try:
            async with write_transaction():
                await repo.insert_code(member_id, chain_id, new_code(), utcnow())
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            # The member got a code meanwhile, or (rarely) the chain has this one.
        code = await repo.code_of(member_id)
    if code is None:
        raise RuntimeError("no free referral code after several tries")
    return code


async def _reward(chain_id: uuid.UUID, campaign_id: uuid.UUID) -> RewardOut | None:
    campaign = await cards.campaign_in_chain(chain_id, campaign_id)
    return None if campaign is None else RewardOut(campaign_id=campaign.id, name=campaign.name)


async def my_referral(principal: Principal, base_url: str) -> MyReferralOut:
    code = await member_code(principal.chain_id, principal.id)
    invited, rewarded = await repo.counts_of_referrer(principal.id)
    program = await repo.get_program(principal.chain_id)
    return MyReferralOut(
        code=code, link=link(base_url, principal.chain_id, code), invited=invited,
        rewarded=rewarded,
        program_status=None if program is None else (
            "paused" if program["status"] == "paused" else "active"),
        referrer_reward=None if program is None else await _reward(
            principal.chain_id, program["referrer_campaign"]),
        invitee_reward=None if program is None else await _reward(
            principal.chain_id, program["invitee_campaign"]),
        require_verified_phone=program is not None and bool(program["require_verified_phone"]))


async def my_link(principal: Principal, base_url: str) -> str:
    code = await member_code(principal.chain_id, principal.id)
    return link(base_url, principal.chain_id, code)


# --- the invite (the login's join hook) --------------------------------------------------

async def record_invite(joined: MemberJoined) -> None:
    """stores' join hook: the login creating ``joined.member`` came with a referral code.
    Runs in the login's write transaction, in a savepoint: whatever goes wrong here is
    logged and undone, and the login goes on."""
    code = normalize_code(joined.referral_code)
    if code is None:
        return
    try:
        async with savepoint():
            await _record_invite(joined, code)
    except Exception:  # a referral never fails a login
        log.exception("referral invite not recorded for member %s", joined.member["id"])


async def _record_invite(joined: MemberJoined, code: str) -> None:
    invitee = joined.member
    chain_id = invitee["chain"]
    program = await repo.get_program(chain_id)
    if program is None or program["status"] != "active":
        return
    referrer_id = await repo.member_by_code(chain_id, code)
    if referrer_id is None or referrer_id == invitee["id"]:
        return
    referrer = await stores.chain_member(referrer_id, chain_id)
    if referrer is None:
        return
    now = utcnow()
    reason = _same_wechat_user(invitee, referrer)
    await repo.insert_referral({
        "id": uuid.uuid4(), "chain": chain_id, "referrer": referrer_id,
        "invitee": invitee["id"], "code": code,
        "status": "refused" if reason else "pending", "reason": reason,
        "created_at": now, "decided_at": now if reason else None, "redemption_id": None,
        "referrer_voucher": None, "invitee_voucher": None, "referrer_skip": None,
        "invitee_skip": None})


def _same_wechat_user(invitee: Any, referrer: Any) -> str | None:
    """One WeChat user behind both (the same openid cannot happen within a chain; the same
    unionid is one person through two of the chain's apps)."""
    for key in ("openid", "unionid"):
        if invitee.get(key) and invitee.get(key) == referrer.get(key):
            return "same_wechat_user"
    return None


# --- the reward (the runner's sweep) ------------------------------------------------------

async def sweep(signer: CodeSigner, now: datetime | None = None,
                limit: int = SWEEP_BATCH) -> int:
    """Reward (or refuse) the pending invites whose invitee has redeemed; answers how many
    this call decided. Safe with any number of processes sweeping at once."""
    now = now or utcnow()
    since = now - timedelta(days=INVITE_DAYS)
    async with write_transaction():
        decided = await repo.expire_pending(since, now)
    for due in await repo.due_referrals(since, now - REVERSAL_WINDOW, now, limit):
        try:
            if await reward(due["id"], signer, now):
                decided += 1
        except Exception:  # one invite's failure never stops the others
            log.exception("referral %s not decided", due["id"])
    return decided


async def reward(referral_id: uuid.UUID, signer: CodeSigner, now: datetime) -> bool:
    """Decide one invite: refused for a look-alike account, else rewarded with both
    vouchers, all in one write transaction; False when it was not pending any more (another
    process decided it), its program is not active, or its invitee has not redeemed."""
    async with write_transaction():
        row = await repo.get_referral(referral_id)
        if row is None or row["status"] != "pending":
            return False
        program = await repo.get_program(row["chain"])
        if program is None or program["status"] != "active":
            return False  # waits for the program to be active again
        final = now - REVERSAL_WINDOW if program["reward_after_reversal_window"] else now
        redemption_id = await repo.first_redemption(row["invitee"], final)
        if redemption_id is None:
            return False  # reversed since the sweep read it
        if program["require_verified_phone"] and not await _phone_verified(row):
            return False  # waits for the invitee to prove a phone (or for its expiry)
        reason = await _refusal(row)
        status = "refused" if reason else "rewarded"
        if not await repo.decide(referral_id, status, reason=reason,
                                 redemption_id=redemption_id, now=now):
            return False
        if reason is None:
            await _issue_both(row, program, signer, now)
    return True


async def _phone_verified(row: ReferralRow) -> bool:
    invitee = await stores.chain_member(row["invitee"], row["chain"])
    return invitee is not None and bool(invitee["phone_verified"])


async def _refusal(row: ReferralRow) -> str | None:
    chain_id = row["chain"]
    invitee = await stores.chain_member(row["invitee"], chain_id)
    referrer = await stores.chain_member(row["referrer"], chain_id)
    if invitee is None or referrer is None:
        return "member_gone"
    if invitee["id"] == referrer["id"]:
        return "self_referral"
    same = _same_wechat_user(invitee, referrer)
    if same:
        return same
    phone, unionid = invitee["phone"], invitee["unionid"]
    others = await repo.lookalikes(chain_id, invitee["id"], invitee["created_at"], phone,
                                   unionid)
    # The referrer first: the plainest case says the most.
    for other in sorted(others, key=lambda o: o["id"] != referrer["id"]):
        by_phone = phone is not None and other["phone"] == phone
        if other["id"] == referrer["id"]:
            return "shared_phone" if by_phone else "same_wechat_user"
        invited = other["referral_id"] is not None
        if by_phone:
            return "phone_of_invited_member" if invited else "phone_of_member"
        return "wechat_user_of_invited_member" if invited else "wechat_user_of_member"
    return None


async def _issue_both(row: ReferralRow, program: ProgramRow, signer: CodeSigner,
                      now: datetime) -> None:
    issued: dict[str, uuid.UUID | None] = {}
    skipped: dict[str, str | None] = {}
    for side, member_id, campaign_id in (
            ("referrer", row["referrer"], program["referrer_campaign"]),
            ("invitee", row["invitee"], program["invitee_campaign"])):
        issued[side], skipped[side] = None, None
        try:
            async with savepoint():
                voucher = await cards.issue_voucher(
                    row["chain"], campaign_id, member_id, signer=signer, source="referral",
                    source_id=row["id"], now=now)
            issued[side] = voucher.id
        except AppError as exc:
            # Sold out, the member's limit, the campaign paused or over: this side gets
            # nothing, and the invite is still decided (its first visit happened once).
            skipped[side] = exc.code
            log.warning("referral %s: no %s voucher (%s)", row["id"], side, exc.code)
    await repo.set_rewards(row["id"], referrer_voucher=issued["referrer"],
                           invitee_voucher=issued["invitee"],
                           referrer_skip=skipped["referrer"], invitee_skip=skipped["invitee"])


# --- figures (RESULTS) ---------------------------------------------------------------------

@dataclass(frozen=True)
class ReferralFigures:
    """A chain's referral figures over [start, end): invites made in it (``invited``, of
    them still ``pending``), invites decided in it (``rewarded``, ``refused``) and the
    vouchers those rewards gave each side."""

    invited: int
    pending: int
    rewarded: int
    refused: int
    referrer_vouchers: int
    invitee_vouchers: int


async def referral_figures(chain_id: uuid.UUID, start: datetime,
                           end: datetime) -> ReferralFigures:
    """``start``/``end``: aware instants (a local day's bounds in the chain's zone)."""
    f = await repo.figures(chain_id, start, end)
    return ReferralFigures(invited=f["invited"], pending=f["pending"], rewarded=f["rewarded"],
                           refused=f["refused"], referrer_vouchers=f["referrer_vouchers"],
                           invitee_vouchers=f["invitee_vouchers"])
