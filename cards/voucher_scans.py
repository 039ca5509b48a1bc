"""A campaign voucher's signed code (kind V) at the clerk's scan: store, time, min spend,
then spent exactly once. Also the voucher half of a booking's completion and of an
offline scanner's upload (``VOUCHERS.usable``, ``spend``, ``redeem``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.core import events as feed
from app.core.auth import Principal
from app.core.codes.errors import CodeExpired, InvalidCode
from app.core.codes.format import CodeKind
from app.core.db import atomic_statement
from app.core.errors import ValidationError
from app.core.notify import events, outbox
from cards import repository as repo
from cards.campaign_rules import has_rules, require_usable
from cards.errors import (
    AlreadyRedeemed,
    AlreadyReversed,
    CampaignInactive,
    MinSpendNotMet,
    VoucherGifting,
    VoucherRevoked,
)
from cards.redemption import (
    Scan,
    ScanHandler,
    redemption_event,
    redemption_out,
    redemption_row,
)
from cards.rows import CampaignTerms, RedemptionRow, VoucherState
from cards.schemas import PreviewOut, RedemptionOut, VoucherPreview
from cards.service import require_store, store_data
from cards.vouchers import benefit, voucher_terms
from stores import service as stores
from stores.rows import StoreRow

Usable = tuple[VoucherState, CampaignTerms]
"""A voucher and its campaign, as :meth:`VoucherScans.usable` accepted them."""


class VoucherScans:
    """A campaign voucher at the till: store, time, min spend, then spent exactly once."""

    async def _load(self, scan: Scan, at: datetime) -> Usable:
        found = await repo.voucher_and_campaign(scan.verified.object_id,
                                                scan.principal.chain_id)
        if found is None:
            raise InvalidCode("the code names no voucher of this chain")
        voucher, campaign = found
        if scan.code != voucher["code"]:
            # Genuine but replaced: the voucher was given to another member, who holds
            # its new code (issue 20). Says nothing of the voucher's state now.
            raise InvalidCode("this code was replaced: the voucher changed hands")
        return await self.usable(voucher, scan.principal, scan.store_id, at, campaign,
                                 zone=scan.store["timezone"])

    async def usable(self, voucher: VoucherState, principal: Principal,
                     store_id: uuid.UUID, at: datetime,
                     campaign: CampaignTerms, *, zone: str | None = None) -> Usable:
        """The voucher and its campaign if it can be spent at ``store_id`` at ``at``:
        also inside the campaign's days and hours in the store's zone (``zone``, the
        store's timezone; looked up when not given and the campaign has such rules)."""
        if voucher["status"] == "revoked":
            raise VoucherRevoked()
        if voucher["status"] == "gifting":
            raise VoucherGifting("the member is giving it to a friend: it cannot be spent "
                                 "until the gift is accepted, cancelled or expires")
        if voucher["status"] == "redeemed":
            raise await _already_redeemed(voucher, principal)
        if voucher["valid_until"] < at or voucher["status"] == "expired":
            raise CodeExpired(f"the voucher expired at {voucher['valid_until'].isoformat()}")
        if at < campaign["valid_from"]:
            raise CampaignInactive("the voucher is not valid yet")
        require_store(campaign["store_ids"], store_id, "voucher")
        if has_rules(campaign):
            if zone is None:
                store = await stores.chain_store(store_id, principal.chain_id)
                zone = store["timezone"] if store else "UTC"
            require_usable(campaign, at, zone)
        return voucher, campaign

    @staticmethod
    def _discount(campaign: CampaignTerms, bill: int | None) -> int:
        """The money off a bill, or the refusal the spend answers (shared with the
        preview)."""
        if bill == 0:
            raise ValidationError("amount_cents", "a bill of 0 would spend the voucher for "
                                                  "nothing; leave it out for a gift")
        if campaign["min_spend_cents"] and (bill or 0) < campaign["min_spend_cents"]:
            raise MinSpendNotMet(
                f"minimum spend ¥{campaign['min_spend_cents'] / 100:.2f}, "
                f"bill ¥{(bill or 0) / 100:.2f}")
        if campaign["kind"] == "cash":
            value = campaign["value_cents"] or 0  # a cash campaign always has one
            return value if bill is None else min(value, bill)
        if campaign["kind"] == "discount":
            if bill is None:
                raise ValidationError("amount_cents", "a discount voucher needs the bill")
            discount = bill * (campaign["percent_off"] or 0) // 100  # always set here
            cap = campaign["max_discount_cents"]
            return discount if cap is None else min(discount, cap)
        return 0  # gift or service: the item itself, no money off

    async def preview(self, scan: Scan) -> PreviewOut:
        voucher, campaign = await self._load(scan, scan.now)
        discount = None
        if scan.body.amount_cents is not None:
            # The bill's rules, as the spend runs them; without a bill (the clerk has not
            # typed it yet) the preview stops at the voucher's own rules.
            discount = self._discount(campaign, scan.body.amount_cents)
        member = await stores.get_member(scan.principal, voucher["member"])
        what = benefit(campaign)
        spend = (f", min spend ¥{campaign['min_spend_cents'] / 100:.2f}"
                 if campaign["min_spend_cents"] else "")
        return PreviewOut(kind="voucher", object_id=voucher["id"], member=member,
                          summary=f"{campaign['name']}: {what}{spend}",
                          voucher=VoucherPreview(campaign_name=campaign["name"],
                                                 terms=voucher_terms(campaign),
                                                 discount_cents=discount))

    async def check(self, scan: Scan) -> Usable:
        return await self._load(scan, scan.now)

    async def write(self, scan: Scan, checked: Usable) -> RedemptionOut:
        # The spend re-checks the one thing that can change meanwhile: the status.
        voucher, campaign = checked
        return await self.spend(voucher, campaign, scan.principal, scan.store,
                                scan.body.amount_cents, scan.now)

    async def redeem(self, scan: Scan, at: datetime, client_ref: str) -> RedemptionOut:
        """An offline scan: judged at ``at`` (the time its scanner claims), recorded at
        the scan's own time (the upload)."""
        voucher, campaign = await self._load(scan, at)
        return await self.spend(voucher, campaign, scan.principal, scan.store,
                                scan.body.amount_cents, at, client_ref, recorded_at=scan.now)

    async def spend(self, voucher: VoucherState, campaign: CampaignTerms,
                    principal: Principal, store: StoreRow, bill: int | None,
                    at: datetime, client_ref: str | None = None, *,
                    recorded_at: datetime | None = None) -> RedemptionOut:
        """Spend a voucher that :meth:`usable` accepted, exactly once (conditional update),
        with its redemption and notification. One statement on PostgreSQL
        (``atomic_statement``): it joins the caller's write transaction if one is open
        and needs none. ``at`` is when it was used (the voucher's ``redeemed_at``),
        ``recorded_at`` the server's time of the write (default ``at``)."""
        store_id = store["id"]
        discount = self._discount(campaign, bill)
        row = redemption_row(principal, "voucher", voucher, store_id, at, amount=bill,
                             discount=discount, charged=max((bill or 0) - discount, 0),
                             recorded_at=recorded_at, client_ref=client_ref)
        note = outbox.notification(
            events.REDEEMED, chain_id=principal.chain_id, member_id=voucher["member"],
            store_id=store_id, data={"item": campaign["name"], "amount_cents": discount,
                                     "at": at.isoformat(), **store_data(store)},
            dedupe_key=f"redemption:{row['id']}")
        out = redemption_out(row)
        event = redemption_event(feed.types.REDEMPTION_CREATED, principal.chain_id, out)
        async with atomic_statement():
            spent = await repo.redeem_voucher(voucher["id"], voucher["code"], row, note, event)
        if not spent:
            # Someone redeemed, revoked or gave it away between our read and our write.
            fresh = await repo.get_voucher(voucher["id"], principal.chain_id)
            assert fresh is not None
            if fresh["status"] == "revoked":
                raise VoucherRevoked()
            if fresh["status"] == "gifting":
                raise VoucherGifting()
            if fresh["code"] != voucher["code"]:
                raise InvalidCode("this code was replaced: the voucher changed hands")
            raise await _already_redeemed(fresh, principal)
        return out

    async def reverse(self, redemption: RedemptionRow, principal: Principal,
                      now: datetime) -> None:
        if not await repo.unredeem_voucher(redemption["object_id"], redemption["id"]):
            raise AlreadyReversed("the voucher is no longer redeemed by this redemption")


async def _already_redeemed(voucher: VoucherState, principal: Principal) -> AlreadyRedeemed:
    """409 that says when and where, as a clerk at the counter needs it."""
    store = await stores.chain_store(voucher["redeemed_store"], principal.chain_id) \
        if voucher["redeemed_store"] else None
    where = store["name"] if store else "another store"
    when = voucher["redeemed_at"]
    return AlreadyRedeemed(
        f"redeemed at {where} on {when.isoformat() if when else 'an earlier scan'}",
        redeemed_at=when.isoformat() if when else None,
        store_id=str(voucher["redeemed_store"]) if voucher["redeemed_store"] else None,
        store_name=store["name"] if store else None)


VOUCHERS = VoucherScans()
SCAN_HANDLERS: dict[CodeKind, ScanHandler[Any]] = {CodeKind.VOUCHER: VOUCHERS}
"""What this module adds to the scan endpoint (registered by create_app)."""
