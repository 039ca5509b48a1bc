"""Gifting's rules (issue 20). A gift is decided on its own row: accept, cancel and expiry
are each one conditional update from ``pending`` (marketing.gifts.repository), and the
voucher follows in the same write transaction (``cards.public``: gifting → the friend's
with a new code, or back to the giver). An expired gift is settled when it is next read
or accepted, and by the runner's tick (``worker.tick``) for the ones nobody reads.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.errors import CodeExpired
from app.core.codes.keys import CodeSigner
from app.core.db import write_transaction
from app.core.errors import NotFound
from cards import public as cards
from cards.schemas import VoucherOut
from marketing.gifts import repository as repo
from marketing.gifts.errors import GiftExpired, GiftNotPending, OwnGift
from marketing.gifts.rows import GiftRow
from marketing.gifts.schemas import GiftCreated, GiftOut, GiftPreview
from stores import service as stores

GIFT_LIFETIME = timedelta(hours=24)
TOKEN_BYTES = 24  # 192 bits, 32 URL-safe characters
# A gift's token is a bearer secret that travels in paths (GET /gifts/{token}, POST
# /gifts/{token}/accept) and in the member page's query (?gift=): a shape of its own, so
# the logs' redaction (app.core.logs: signed codes, JWTs, API keys by their shapes) can
# know it wherever it appears.
TOKEN_PREFIX = "o2o_gt_"
MEMBER_PAGE = "/m/"
SWEEP_BATCH = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link(base_url: str, chain_id: uuid.UUID, token: str) -> str:
    """The member page on the chain, opened on the gift (it keeps the token through the
    sign-in, then shows what is offered and the accept button)."""
    return f"{base_url.rstrip('/')}{MEMBER_PAGE}?{urlencode({'chain': chain_id, 'gift': token})}"


def last_accept(valid_until: datetime) -> datetime:
    """When a gift of a voucher ending at ``valid_until`` must end: before the end of the
    code the friend would get (one second earlier than the giver's, whose ``not_after``
    is a whole second: ``cards.gifting``), so an accept never gives a voucher already
    over."""
    return valid_until.replace(microsecond=0) - timedelta(seconds=1)


# --- giving -------------------------------------------------------------------------------

async def give(principal: Principal, voucher_id: uuid.UUID, base_url: str) -> GiftCreated:
    """The member's issued voucher of a giftable campaign becomes ``gifting``, for 24 h
    (or until the voucher's own end, if sooner); the answer carries the link, once."""
    now = utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    gift_id = uuid.uuid4()
    async with write_transaction():
        voucher = await cards.hold_for_gift(principal.chain_id, voucher_id, principal.id, now)
        expires_at = min(now + GIFT_LIFETIME, last_accept(voucher.valid_until))
        if expires_at <= now:  # in its last second: the friend would get it over already
            raise CodeExpired(f"the voucher ends at {voucher.valid_until.isoformat()}")
        await repo.insert_gift({"id": gift_id, "chain": principal.chain_id,
                                "voucher": voucher_id, "giver": principal.id,
                                "token_hash": token_hash(token), "status": "pending",
                                "expires_at": expires_at, "created_at": now})
    return GiftCreated(id=gift_id, token=token, link=link(base_url, principal.chain_id, token),
                       expires_at=expires_at, voucher_id=voucher_id, status="pending")


# --- the friend's side --------------------------------------------------------------------

async def _by_token(principal: Principal, token: str) -> GiftRow:
    """The chain's gift of this token, settled if it expired meanwhile; 404 otherwise."""
    gift = await repo.by_token_hash(token_hash(token))
    if gift is None or gift.get("chain") != principal.chain_id:
        raise NotFound("no such gift")
    return await settle(gift, utcnow())


async def settle(gift: GiftRow, now: datetime) -> GiftRow:
    """The gift as it stands at ``now``: a pending one past its end is expired here (the
    voucher back to its giver) unless an accept or a cancel just won it."""
    if gift["status"] != "pending" or gift["expires_at"] > now:
        return gift
    await expire_one(gift["id"], now)
    fresh = await repo.get_gift(gift["id"], gift["chain"])
    assert fresh is not None
    return fresh


async def expire_one(gift_id: uuid.UUID, now: datetime) -> bool:
    """Expire one pending gift past its end and give its voucher back, in one write
    transaction; False when it was not (any more) pending and due."""
    async with write_transaction():
        row = await repo.expire(gift_id, now)
        if row is None:
            return False
        await cards.return_gifted_voucher(row["chain"], row["voucher"], row["giver"], now=now,
                                          gift_id=row["id"], expired=True)
    return True


def _refusal(gift: GiftRow) -> Exception:
    if gift["status"] == "expired":
        return GiftExpired(f"expired at {gift['expires_at'].isoformat()}")
    return GiftNotPending(f"the gift was {gift['status']} already")


async def preview(principal: Principal, token: str) -> GiftPreview:
    gift = await _by_token(principal, token)
    voucher = await cards.gift_view(gift["chain"], gift["voucher"])
    if voucher is None:
        raise NotFound("no such gift")
    giver = (await stores.chain_members(gift["chain"], [gift["giver"]])).get(gift["giver"])
    return GiftPreview(
        id=gift["id"], status=gift["status"], expires_at=gift["expires_at"],
        own=gift["giver"] == principal.id,
        giver_name=(giver["name"] or None) if giver is not None else None,
        voucher_id=voucher.id, campaign_name=voucher.campaign_name, kind=voucher.kind,
        terms=voucher.terms, valid_until=voucher.valid_until)


async def check_accept(principal: Principal, token: str) -> GiftRow:
    """The reads and refusals of an accept, outside any transaction (an expired gift is
    settled here, so the giver has the voucher back even though the accept fails)."""
    gift = await _by_token(principal, token)
    if gift["status"] != "pending":
        raise _refusal(gift)
    if gift["giver"] == principal.id:
        raise OwnGift("send the link to a friend; cancel the gift to keep the voucher")
    return gift


async def accept(principal: Principal, gift: GiftRow, signer: CodeSigner) -> VoucherOut:
    """Take the gift, if it is still pending (exactly one accept wins), and the voucher
    with it: the caller's now, issued, with a new code."""
    now = utcnow()
    async with write_transaction():
        won = await repo.accept(gift["id"], principal.id, now)
        if won is None:
            fresh = await repo.get_gift(gift["id"], gift["chain"])
            assert fresh is not None
            if fresh["status"] == "pending":  # past its end between the check and now
                raise GiftExpired(f"expired at {fresh['expires_at'].isoformat()}")
            raise _refusal(fresh)
        me = (await stores.chain_members(principal.chain_id, [principal.id])).get(principal.id)
        return await cards.give_gifted_voucher(
            won["chain"], won["voucher"], won["giver"], principal.id, signer=signer, now=now,
            gift_id=won["id"], friend_name=(me["name"] or None) if me is not None else None)


# --- the giver's side ---------------------------------------------------------------------

async def _gift_outs(gifts: list[GiftRow]) -> list[GiftOut]:
    out = []
    for gift in gifts:
        voucher = await cards.gift_view(gift["chain"], gift["voucher"])
        out.append(GiftOut(id=gift["id"], voucher_id=gift["voucher"], status=gift["status"],
                           expires_at=gift["expires_at"], created_at=gift["created_at"],
                           ended_at=gift["ended_at"],
                           campaign_name=voucher.campaign_name if voucher else None))
    return out


async def check_cancel(principal: Principal, gift_ref: str) -> GiftRow:
    try:
        gift_id = uuid.UUID(gift_ref)
    except ValueError:
        raise NotFound("no such gift") from None
    gift = await repo.get_gift(gift_id, principal.chain_id)
    if gift is None or gift["giver"] != principal.id:
        raise NotFound("no such gift")
    return gift


async def cancel(principal: Principal, gift: GiftRow) -> GiftOut:
    """The giver takes the gift back while it is pending (past its end too: the voucher
    comes back either way); the voucher is theirs and issued again."""
    now = utcnow()
    async with write_transaction():
        row = await repo.cancel(gift["id"], principal.id, now)
        if row is None:
            fresh = await repo.get_gift(gift["id"], gift["chain"])
            assert fresh is not None
            raise _refusal(fresh)
        await cards.return_gifted_voucher(row["chain"], row["voucher"], row["giver"], now=now,
                                          gift_id=row["id"], expired=False)
    return (await _gift_outs([row]))[0]


async def my_gifts(principal: Principal, pending_only: bool) -> list[GiftOut]:
    """The member's gifts, newest first (pending ones settled if they expired)."""
    now = utcnow()
    rows = await repo.gifts_of_giver(principal.id, pending_only=pending_only, limit=100)
    settled = [await settle(row, now) for row in rows]
    if pending_only:
        settled = [row for row in settled if row["status"] == "pending"]
    return await _gift_outs(settled)


# --- the sweep ----------------------------------------------------------------------------

async def expire_due(now: datetime, batch: int = SWEEP_BATCH) -> int:
    """Expire the pending gifts past their end (a batch a call), each with its voucher
    back to its giver; safe with another process sweeping at once (each expiry is a
    conditional update). How many this call expired."""
    expired = 0
    for gift_id in await repo.due(now, batch):
        expired += await expire_one(gift_id, now)
    return expired
