"""The cards domain's public door: what other domains ask of cards (bookings today;
payments and marketing next). Outside ``cards/`` import this module, ``schemas`` and
``errors``, never ``repository`` (tests/test_boundaries.py) nor a rule's internals. The
one other door is the scan endpoint's handler protocol (``cards.redemption``: ``Scan``,
``ScanHandler``), for a domain that owns a kind of signed code (bookings/scans.py): it
exposes its handlers and the composition root (create_app) joins them in the
``ScanHandlers`` the endpoints are given.

Each function answers one question with cards' own rules (``service``, ``redemption``)
rather than a copy of them, and refuses with the contract's error (status and code).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.core import events as feed
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.errors import NotFound
from cards import repository as repo
from cards.card_scans import use_card
from cards.errors import InsufficientBalance, NoVisitsLeft
from cards.redemption import redemption_event, redemption_out, redemption_row
from cards.schemas import LedgerEntryOut, RedemptionOut
from cards.service import check_usable_at, entry_out, visible_card
from cards.voucher_scans import VOUCHERS, Usable
from stores.rows import StoreRow


async def payable(principal: Principal, member_id: uuid.UUID, store_id: uuid.UUID, *,
                  price_cents: int, at: datetime, card_id: uuid.UUID | None = None,
                  voucher_id: uuid.UUID | None = None) -> None:
    """Whether the member's card or voucher can pay, at ``store_id``, for a visit priced
    ``price_cents`` that takes place at ``at`` (a booking being made). Returns nothing or
    raises: 404 if it is not the member's, else the refusal the payment would give."""
    if card_id is not None:
        await _card_payable(principal, member_id, card_id, store_id, price_cents)
    if voucher_id is not None:
        await _usable_voucher(principal, voucher_id, store_id, at, member_id)


async def _card_payable(principal: Principal, member_id: uuid.UUID, card_id: uuid.UUID,
                        store_id: uuid.UUID, price_cents: int) -> None:
    found = await repo.card_and_template(card_id, principal.chain_id)
    if found is None or found[0]["member"] != member_id:
        raise NotFound("no such card")
    card, template = found
    check_usable_at(card, template, store_id, utcnow())
    # Plausibly, not surely: visits or balance may be added before the visit, where the
    # payment (``use_card``) runs the whole rule. Only a card with nothing left is refused.
    if template["kind"] == "times" and (card["visits_left"] or 0) < 1:
        raise NoVisitsLeft()
    if template["kind"] == "stored_value" and card["balance_cents"] < min(price_cents, 1):
        raise InsufficientBalance("the card's balance is empty")


async def _usable_voucher(principal: Principal, voucher_id: uuid.UUID, store_id: uuid.UUID,
                          at: datetime, member_id: uuid.UUID | None = None, *,
                          zone: str | None = None) -> Usable:
    """The voucher and its campaign (one query), if it can be spent at ``store_id`` at
    ``at``; 404 unless it is ``member_id``'s (when given). ``zone``: the store's, when the
    caller has it (else looked up only for a campaign with day or hour rules)."""
    found = await repo.voucher_and_campaign(voucher_id, principal.chain_id)
    if found is None or (member_id is not None and found[0]["member"] != member_id):
        raise NotFound("no such voucher")
    voucher, campaign = found
    return await VOUCHERS.usable(voucher, principal, store_id, at, campaign, zone=zone)


async def pay(principal: Principal, store: StoreRow, now: datetime, *,
              card_id: uuid.UUID | None = None, voucher_id: uuid.UUID | None = None,
              action: str | None = None, amount: int | None = None,
              price_cents: int = 0) -> RedemptionOut:
    """Pay for a visit at ``store`` with a card or a voucher (one of them), as a scan
    would: the same checks, ledger entry, redemption and notification. A card without
    ``action`` takes its kind's visit action; without ``amount``, a charge, an earn, a
    cash or a discount voucher takes ``price_cents``. Joins the caller's write
    transaction (the booking's completion): a refusal leaves nothing written."""
    assert (card_id is None) != (voucher_id is None), "pay with a card or a voucher"
    if card_id is not None:
        return await use_card(principal, store, card_id, action, amount, now,
                              price_cents=price_cents)
    assert voucher_id is not None
    voucher, campaign = await _usable_voucher(principal, voucher_id, store["id"], now,
                                              zone=store["timezone"])
    bill = amount
    if bill is None and campaign["kind"] in ("cash", "discount"):
        bill = price_cents or None
    return await VOUCHERS.spend(voucher, campaign, principal, store, bill, now)


async def record_redemption(principal: Principal, kind: str, subject: Mapping[str, Any],
                            store_id: uuid.UUID, at: datetime, *,
                            action: str | None = None) -> RedemptionOut:
    """Record a redemption another domain made (a booking's check-in scan: ``kind``
    "booking", ``subject`` the booking, its id and member), beside the cards' and
    vouchers' ones, built by the same builder: the store's day sheet, the reversal and
    the stats read them all. Joins the caller's write transaction."""
    row = redemption_row(principal, kind, subject, store_id, at, action=action)
    out = redemption_out(row)
    await repo.insert_redemption(row)
    await repo.insert_events([redemption_event(feed.types.REDEMPTION_CREATED,
                                               principal.chain_id, out)])
    return out


async def last_card_entry(principal: Principal, card_id: uuid.UUID) -> LedgerEntryOut | None:
    """What moved the card last: its newest ledger entry (one indexed row, not the whole
    ledger), for the member's live stream; 404 unless the caller may see the card."""
    await visible_card(principal, card_id)
    row = await repo.last_ledger_entry(card_id)
    return entry_out(row) if row is not None else None
