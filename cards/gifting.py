"""The voucher's side of gifting (WeChat's 转赠, issue 20): marketing.gifts keeps the gift
(its token, its life) and calls these through ``cards.public`` inside its own write
transaction, after its gift row's conditional update decided who won.

A voucher being given is ``gifting``: no scan, preview, offline upload or booking spends
it. Accepted, it keeps its id and becomes the friend's with a new signed code whose
``not_after`` is one second earlier than the old one's (the code format has no nonce, so
this is what makes it another code), and a new short code: the scan compares the scanned
code with the stored one, so the old code and short code are dead. The campaign's counts
(issued, per member) are not touched: a transfer is not an issue.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.core import events as feed
from app.core.codes.errors import CodeExpired
from app.core.codes.format import CodeKind, parse
from app.core.codes.keys import CodeSigner
from app.core.db import in_write_transaction
from app.core.errors import NotFound
from app.core.notify import events, outbox
from cards import repository as repo
from cards.errors import InvalidCardState, NotGiftable, VoucherGifting
from cards.rows import VoucherView
from cards.schemas import StaffVoucherOut, VoucherOut
from cards.vouchers import (
    _notify_issued,
    _short_code,
    staff_voucher_out,
    voucher_event,
    voucher_out,
    voucher_status,
)


async def _voucher(chain_id: uuid.UUID, voucher_id: uuid.UUID) -> VoucherView:
    row = await repo.get_voucher(voucher_id, chain_id)
    if row is None:
        raise NotFound("no such voucher")
    return row


async def hold_for_gift(chain_id: uuid.UUID, voucher_id: uuid.UUID, member_id: uuid.UUID,
                        now: datetime) -> StaffVoucherOut:
    """The member's voucher becomes ``gifting``, with its voucher.gifted event. Refuses:
    404 not the member's; 409 not_giftable (its campaign does not allow it),
    voucher_gifting (being given already), invalid_state (redeemed, revoked); 410
    code_expired (past its end)."""
    assert in_write_transaction(), "hold_for_gift joins the caller's write transaction"
    row = await _voucher(chain_id, voucher_id)
    if row["member"] != member_id:
        raise NotFound("no such voucher")
    if not row["terms"].get("giftable"):
        raise NotGiftable()
    status = voucher_status(row, now)
    if status == "expired":
        raise CodeExpired(f"the voucher expired at {row['valid_until'].isoformat()}")
    if status == "gifting":
        raise VoucherGifting("the voucher is being given already")
    if status != "issued" or not await repo.hold_for_gift(voucher_id, member_id, now):
        raise InvalidCardState(f"the voucher is {status}: only an issued voucher is given")
    held: VoucherView = {**row, "status": "gifting"}
    await repo.insert_events([voucher_event(feed.types.VOUCHER_GIFTED, held, now)])
    return staff_voucher_out(held, now)


async def give_gifted_voucher(chain_id: uuid.UUID, voucher_id: uuid.UUID, giver_id: uuid.UUID,
                              acceptor_id: uuid.UUID, *, signer: CodeSigner, now: datetime,
                              gift_id: uuid.UUID, friend_name: str | None = None) -> VoucherOut:
    """The gifting voucher becomes the acceptor's, issued, with new codes; its
    voucher.gift_accepted event; the acceptor's voucher_issued and the giver's
    voucher_gift notifications. 409 invalid_state if it was not the giver's gifting
    voucher (the gift's row should have made that impossible)."""
    assert in_write_transaction(), "give_gifted_voucher joins the caller's write transaction"
    row = await _voucher(chain_id, voucher_id)
    payload, _ = parse(row["code"])
    valid_until = datetime.fromtimestamp(payload.not_after - 1, UTC)
    code = await signer.sign(chain_id, CodeKind.VOUCHER, voucher_id, valid_until)
    short_code = _short_code()
    while await repo.short_code_taken(short_code):
        short_code = _short_code()
    if not await repo.transfer_gift(voucher_id, giver_id, acceptor_id, code, short_code,
                                    valid_until):
        raise InvalidCardState(f"the voucher is {row['status']}, not being given")
    given: VoucherView = {**row, "member": acceptor_id, "status": "issued", "code": code,
                          "short_code": short_code, "valid_until": valid_until}
    event = voucher_event(feed.types.VOUCHER_GIFT_ACCEPTED, given, now)
    event["data"] = {**event["data"], "from_member_id": str(giver_id),
                     "gift_id": str(gift_id)}
    await repo.insert_events([event])
    campaign = await repo.get_campaign(row["campaign"], chain_id)
    assert campaign is not None
    await _notify_issued(campaign, acceptor_id, voucher_id,
                         dedupe_key=f"gift:{gift_id}:received")
    await outbox.emit(events.VOUCHER_GIFT, chain_id=chain_id, member_id=giver_id,
                      data={"campaign_name": row["campaign_name"], "outcome": "accepted",
                            "friend_name": friend_name},
                      dedupe_key=f"gift:{gift_id}:accepted")
    return voucher_out(given, now)


async def return_gifted_voucher(chain_id: uuid.UUID, voucher_id: uuid.UUID,
                                giver_id: uuid.UUID, *, now: datetime, gift_id: uuid.UUID,
                                expired: bool) -> bool:
    """The gifting voucher is the giver's ``issued`` voucher again, with its
    voucher.gift_returned event; on an expiry (``expired``) the giver is told. False
    (nothing written) when it was not the giver's gifting voucher."""
    assert in_write_transaction(), "return_gifted_voucher joins the caller's write transaction"
    if not await repo.return_gift(voucher_id, giver_id):
        return False
    row = await _voucher(chain_id, voucher_id)
    event = voucher_event(feed.types.VOUCHER_GIFT_RETURNED, row, now)
    await repo.insert_events([event])
    if expired:
        await outbox.emit(events.VOUCHER_GIFT, chain_id=chain_id, member_id=giver_id,
                          data={"campaign_name": row["campaign_name"], "outcome": "returned"},
                          dedupe_key=f"gift:{gift_id}:returned")
    return True


async def gift_view(chain_id: uuid.UUID, voucher_id: uuid.UUID) -> StaffVoucherOut | None:
    """A voucher without its codes (what a friend sees of a gift before accepting)."""
    row = await repo.get_voucher(voucher_id, chain_id)
    return None if row is None else staff_voucher_out(row)
