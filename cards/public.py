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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from app.core import events as feed
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.keys import CodeSigner
from app.core.db import in_write_transaction
from app.core.errors import Conflict, NotFound
from cards import gifting, ledger
from cards import repository as repo
from cards.card_scans import use_card
from cards.errors import InsufficientBalance, NoVisitsLeft, WrongCardKind
from cards.export import cell
from cards.redemption import redemption_event, redemption_out, redemption_row
from cards.rows import CardRow, CardView, LedgerRow, TemplateRow
from cards.schemas import CampaignOut, LedgerEntryOut, RedemptionOut, VoucherOut
from cards.service import (
    check_usable_at,
    effective_status,
    emit_card,
    entry_out,
    moved_card,
    visible_card,
)
from cards.voucher_scans import VOUCHERS, Usable
from cards.vouchers import _issue_many, campaign_out, refusal
from stores import service as stores
from stores.rows import StoreRow

csv_cell = cell  # CSV injection's one rule, for other domains' exports (segments)


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
              price_cents: int = 0, member_id: uuid.UUID | None = None) -> RedemptionOut:
    """Pay for a visit at ``store`` with a card or a voucher (one of them), as a scan
    would: the same checks, ledger entry, redemption and notification. A card without
    ``action`` takes its kind's visit action; without ``amount``, a charge, an earn, a
    cash or a discount voucher takes ``price_cents``. Joins the caller's write
    transaction (the booking's completion): a refusal leaves nothing written. With
    ``member_id`` (the booking's member), a voucher that is no longer theirs (given to a
    friend since: issue 20) is 404, not spent."""
    assert (card_id is None) != (voucher_id is None), "pay with a card or a voucher"
    if card_id is not None:
        return await use_card(principal, store, card_id, action, amount, now,
                              price_cents=price_cents)
    assert voucher_id is not None
    voucher, campaign = await _usable_voucher(principal, voucher_id, store["id"], now,
                                              member_id, zone=store["timezone"])
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


# --- stored value moved by payments (issue 19, decision 049) ----------------------------

@dataclass(frozen=True)
class TopUpTerms:
    """What an online top-up needs of a card."""

    card_id: uuid.UUID
    chain_id: uuid.UUID
    member_id: uuid.UUID
    template_name: str
    options: list[tuple[int, int]]  # (amount_cents, bonus_cents), by amount
    usable: bool  # stored-value, active, not expired or frozen


async def top_up_terms(chain_id: uuid.UUID, card_id: uuid.UUID) -> TopUpTerms | None:
    """The card's online top-up terms, or None when it is no card of the chain. A read:
    needs no transaction."""
    found = await repo.card_and_template(card_id, chain_id)
    if found is None:
        return None
    card, template = found
    usable = (template["kind"] == "stored_value"
              and effective_status(card, utcnow()) == "active")
    return TopUpTerms(
        card_id=card["id"], chain_id=card["chain"], member_id=card["member"],
        template_name=template["name"],
        options=[(int(o["amount_cents"]), int(o["bonus_cents"]))
                 for o in template["top_up_options"] or []],
        usable=usable)


@dataclass(frozen=True)
class StoredValue:
    """A card's money: paid and bonus (their sum is its balance)."""

    paid_cents: int
    bonus_cents: int


async def lock_stored_value(card_id: uuid.UUID) -> StoredValue:
    """The card's money, its row locked for the rest of the caller's write transaction
    (SQLite: the write lock already held); 404 when there is no such card."""
    assert in_write_transaction(), "lock_stored_value joins the caller's write transaction"
    card = await repo.lock_card(card_id)
    if card is None:
        raise NotFound("no such card")
    return _stored_value(card)


def _stored_value(card: Mapping[str, Any]) -> StoredValue:
    bonus = int(card.get("bonus_balance_cents", 0))
    return StoredValue(paid_cents=int(card["balance_cents"]) - bonus, bonus_cents=bonus)


async def _stored_value_card(chain_id: uuid.UUID, card_id: uuid.UUID
                             ) -> tuple[CardRow, TemplateRow]:
    """The card, locked, and its template: 404 unless a card of the chain, 409
    wrong_card_kind unless stored-value."""
    card = await repo.lock_card(card_id)
    if card is None or card["chain"] != chain_id:
        raise NotFound("no such card")
    template = await repo.get_template(card["template"], chain_id)
    assert template is not None
    if template["kind"] != "stored_value":
        raise WrongCardKind("only stored-value cards hold money")
    return card, template


async def credit_top_up(chain_id: uuid.UUID, card_id: uuid.UUID, *, paid_cents: int,
                        bonus_cents: int, order_id: uuid.UUID,
                        now: datetime) -> LedgerEntryOut:
    """Credit a paid online top-up order, in the caller's write transaction (asserted):
    a ``top_up`` entry of ``paid_cents`` (> 0) paid money, then, when ``bonus_cents`` > 0,
    a ``top_up_bonus`` entry of that bonus money, both with ``order_id``, no store, no
    staff. Writes ONE feed event ``card.topped_up`` for the whole top-up: the card as it
    stands after both entries (as the API answers it), with ``ledger_entry`` (the
    ``top_up`` entry, as for a counter top-up) and, when there is a bonus,
    ``bonus_ledger_entry`` (the ``top_up_bonus`` entry). No notification (the caller
    words it). Answers the last entry written (its ``balance_after_cents`` is the card's
    balance now). Refuses: 404 no such card of the chain, 409 wrong_card_kind for a card
    not stored-value; ValueError for paid <= 0 or bonus < 0. A card's status is not
    checked: money paid is credited even to a frozen card."""
    assert in_write_transaction(), "credit_top_up joins the caller's write transaction"
    if paid_cents <= 0 or bonus_cents < 0:
        raise ValueError(f"a top-up cannot credit paid {paid_cents} and bonus {bonus_cents}")
    card, template = await _stored_value_card(chain_id, card_id)
    paid = await ledger.append(card, ledger.Delta("top_up", cents=paid_cents),
                               tiers=template["tiers"], now=now, store_id=None,
                               staff_id=None, redemption_id=None, order_id=order_id)
    last, extra = paid, {"ledger_entry": msgspec.to_builtins(entry_out(paid))}
    if bonus_cents:
        # the card row as the first entry left it (still locked: this transaction's)
        after_paid = await repo.lock_card(card_id)
        assert after_paid is not None
        last = await ledger.append(after_paid, ledger.Delta("top_up_bonus", cents=bonus_cents,
                                                            bonus_cents=bonus_cents),
                                   tiers=template["tiers"], now=now, store_id=None,
                                   staff_id=None, redemption_id=None, order_id=order_id)
        extra["bonus_ledger_entry"] = msgspec.to_builtins(entry_out(last))
    await emit_card(feed.types.CARD_TOPPED_UP, moved_card(card, template, last),
                    chain_id=chain_id, store_id=None, now=now, **extra)
    return entry_out(last)


# kind: (sign the parts take: 1 credits, -1 debits). A top-up is credit_top_up's.
_MOVES = {"refund": -1, "refund_reverted": 1}


async def move_stored_value(chain_id: uuid.UUID, card_id: uuid.UUID, kind: str, *,
                            paid_cents: int, bonus_cents: int, order_id: uuid.UUID,
                            now: datetime) -> LedgerEntryOut:
    """One ledger entry of a top-up order taking money back or giving it back, in the
    caller's write transaction (asserted). ``kind``: ``refund`` (both parts <= 0, taken
    back), ``refund_reverted`` (both >= 0, given back). Signs are as given, never
    flipped. An online top-up is not a move: :func:`credit_top_up` writes it (its two
    entries, one event). The card is locked here (again, if the caller locked it). No
    store, no staff. Writes the feed's event card.updated (the card as answered, with
    ``ledger_entry``); no notification (the caller words it). Refuses: 404 no such card
    of the chain, 409 wrong_card_kind for a card not stored-value, 409
    insufficient_balance when a refund would take more paid or bonus money than the card
    holds; ValueError for a kind or signs not above (``top_up`` and ``top_up_bonus``
    included). A card's status is not checked."""
    assert in_write_transaction(), "move_stored_value joins the caller's write transaction"
    if kind not in _MOVES:
        hint = " (credit a top-up with credit_top_up)" if kind.startswith("top_up") else ""
        raise ValueError(f"not a stored-value move: {kind!r}{hint}")
    sign = _MOVES[kind]
    if paid_cents * sign < 0 or bonus_cents * sign < 0 or (paid_cents, bonus_cents) == (0, 0):
        raise ValueError(f"{kind} cannot move paid {paid_cents} and bonus {bonus_cents}")
    card, template = await _stored_value_card(chain_id, card_id)
    held = _stored_value(card)
    if held.paid_cents + paid_cents < 0 or held.bonus_cents + bonus_cents < 0:
        raise InsufficientBalance(
            f"the card holds paid ¥{held.paid_cents / 100:.2f} and bonus "
            f"¥{held.bonus_cents / 100:.2f}")
    entry = await ledger.append(card, ledger.Delta(kind, cents=paid_cents + bonus_cents,
                                                   bonus_cents=bonus_cents),
                                tiers=template["tiers"], now=now, store_id=None,
                                staff_id=None, redemption_id=None, order_id=order_id)
    answer = entry_out(entry)
    await emit_card(feed.types.CARD_UPDATED, moved_card(card, template, entry),
                    chain_id=chain_id, store_id=None, now=now,
                    ledger_entry=msgspec.to_builtins(answer))
    return answer


def refund_bonus(order_amount_cents: int, order_bonus_cents: int, refunded_before_cents: int,
                 refunded_after_cents: int, card_bonus_cents: int) -> int:
    """The bonus money (>= 0 fen) a refund takes back when it brings the order's refunded
    paid money from ``refunded_before_cents`` to ``refunded_after_cents``:
    ``min(card bonus, B * R1 // A - B * R0 // A)`` (decision 049). Pass it negated as
    ``move_stored_value(..., "refund", bonus_cents=-taken)``."""
    return ledger.refund_bonus(order_amount_cents, order_bonus_cents, refunded_before_cents,
                               refunded_after_cents, card_bonus_cents)


def charge_split(charged_cents: int, value: StoredValue, policy: str) -> tuple[int, int]:
    """(paid part, bonus part) of a charge from a card holding ``value`` under the
    template's ``bonus_policy`` (what a charge at the till does; decision 049)."""
    return ledger.charge_split(charged_cents, value.paid_cents, value.bonus_cents, policy)


# --- vouchers issued by marketing (issue 20) ---------------------------------------------

VOUCHER_SOURCES = frozenset({"claim", "issue", "job", "automation", "referral", "gift"})


async def issue_voucher(chain_id: uuid.UUID, campaign_id: uuid.UUID, member_id: uuid.UUID, *,
                        signer: CodeSigner, source: str, source_id: uuid.UUID | None = None,
                        notify: bool = True, now: datetime | None = None) -> VoucherOut:
    """One voucher of the chain's campaign for one of its members, by the claim's own rule
    (:func:`issue_vouchers` for one member: ``cards.vouchers._issue_many``, campaign
    active and in its dates, the member's limit, the campaign's quantity, all
    conditional writes). Inside the caller's write transaction (asserted); a refusal
    leaves nothing written (``savepoint()`` around it stays harmless). It locks the
    campaign's row before the member's claim row (PostgreSQL), as every issuer does: a
    batch issuing many members of one campaign and a member's own claim take turns
    instead of deadlocking.
    Writes the voucher (with ``source`` and ``source_id``), its voucher.issued feed event
    and, if ``notify``, the member's voucher_issued notification. Refuses: 404 not_found
    for a campaign or member not of the chain; 409 campaign_inactive,
    claim_limit_reached, campaign_sold_out; ValueError for an unknown ``source``."""
    [result] = await issue_vouchers(chain_id, campaign_id, [member_id], signer=signer,
                                    source=source, source_id=source_id, notify=notify,
                                    now=now)
    if isinstance(result, str):
        # The refusal's limit is the campaign's: read again only on this refusal.
        campaign = await repo.get_campaign(campaign_id, chain_id)
        assert campaign is not None
        raise refusal(result, campaign)
    return result


async def issue_vouchers(chain_id: uuid.UUID, campaign_id: uuid.UUID,
                         member_ids: Sequence[uuid.UUID], *, signer: CodeSigner,
                         source: str, source_id: uuid.UUID | None = None,
                         notify: bool = True, now: datetime | None = None,
                         ) -> list[VoucherOut | str]:
    """:func:`issue_voucher` for many members at once, in a few statements whatever their
    number (``cards.vouchers._issue_many``: the same rule in set form): for each of
    ``member_ids``, in order, the voucher or the refusal's contract code (``not_found``
    for a member not of the chain, ``campaign_inactive``, ``claim_limit_reached``,
    ``campaign_sold_out``: the quantity left goes to the first members in order), the
    same answers, vouchers, events and notifications as issuing them one after the other
    with :func:`issue_voucher`. A member given twice is answered twice, as two calls
    would. Inside the caller's write transaction (asserted), where it locks the
    campaign's row first (then the claim rows); nothing to undo on a refusal. 404 for a
    campaign not of the chain; ValueError for an unknown ``source``."""
    assert in_write_transaction(), "issue_vouchers joins the caller's write transaction"
    if source not in VOUCHER_SOURCES:
        raise ValueError(f"not a voucher source: {source!r}")
    campaign = await repo.locked_campaign(campaign_id, chain_id)
    if campaign is None:
        raise NotFound("no such campaign")
    at = now or utcnow()
    known = await stores.chain_member_ids(chain_id, list(dict.fromkeys(member_ids)))
    results: list[VoucherOut | str] = []
    issued_events: list[feed.NewEvent] = []
    for run in _distinct_runs(member_ids):
        members = [m for m in run if m in known]
        answers, run_events = await _issue_many(campaign, members, signer, at,
                                                source=source, source_id=source_id,
                                                notify=notify)
        issued_events += run_events
        by_member = dict(zip(members, answers, strict=True))
        results += [by_member.get(m, NotFound.code) for m in run]
        if len(results) < len(member_ids):  # a member again: the campaign as it is now
            campaign = await repo.locked_campaign(campaign_id, chain_id)
            assert campaign is not None
    if issued_events:
        await repo.insert_events(issued_events)
    return results


def _distinct_runs(member_ids: Sequence[uuid.UUID]) -> list[list[uuid.UUID]]:
    """``member_ids`` cut, in order, into runs without a member twice (one statement
    counts a member's claim once): one run unless a member is given again."""
    runs: list[list[uuid.UUID]] = [[]]
    seen: set[uuid.UUID] = set()
    for member_id in member_ids:
        if member_id in seen:
            runs.append([])
            seen = set()
        runs[-1].append(member_id)
        seen.add(member_id)
    return runs


async def campaign_in_chain(chain_id: uuid.UUID, campaign_id: uuid.UUID) -> CampaignOut | None:
    """The chain's campaign as operators see it (any status), or None when it is no
    campaign of the chain."""
    row = await repo.get_campaign(campaign_id, chain_id)
    return None if row is None else campaign_out(row)


SegmentIssuer = Callable[[Principal, uuid.UUID, uuid.UUID], Awaitable[uuid.UUID]]
"""Issues a campaign to a saved segment in the background: (caller, campaign_id,
segment_id) → the job's id. ``POST /campaigns/{id}/issue`` with ``segment_id`` awaits the
one create_app puts in the app's state as ``segment_issuer`` (marketing.jobs'), since cards
cannot import marketing; it runs inside the write transaction that stores the
Idempotency-Key's answer, when a key is given. It refuses with the contract's errors
(404 for a campaign or segment not of the chain, 409 campaign_inactive...)."""


class SegmentIssueUnavailable(Conflict):
    """No segment issuer is wired in this server (like payment_not_configured: the
    server's setup, not the request, is at fault, and retrying will not help)."""

    code = "segment_issue_unavailable"
    title = "Issuing to a segment is not available on this server"


async def no_segment_issuer(principal: Principal, campaign_id: uuid.UUID,
                            segment_id: uuid.UUID) -> uuid.UUID:
    """The default ``segment_issuer`` when the app wires none: a clear 409, so the app
    (and the list form of the issue) works without marketing."""
    raise SegmentIssueUnavailable("no segment issuer is wired in this server")


# --- gifting (issue 20): the voucher's side, for marketing.gifts -------------------------
# Each joins the caller's write transaction; see cards.gifting for the rules.

hold_for_gift = gifting.hold_for_gift
give_gifted_voucher = gifting.give_gifted_voucher
return_gifted_voucher = gifting.return_gifted_voucher
gift_view = gifting.gift_view


# --- the WeChat card bag (issue 21) -------------------------------------------------------

async def card_in_chain(chain_id: uuid.UUID, card_id: uuid.UUID) -> CardView | None:
    """The card with its template's kind and name (its figures as they are now)."""
    return await repo.get_card(card_id, chain_id)


async def card_of_number(chain_id: uuid.UUID, number: str) -> CardView | None:
    """The chain's card of this number (a WeChat card's ``code``)."""
    return await repo.card_by_number(chain_id, number)


async def template_in_chain(chain_id: uuid.UUID, template_id: uuid.UUID) -> TemplateRow | None:
    return await repo.get_template(template_id, chain_id)


async def ledger_after(card_id: uuid.UUID, after_seq: int, limit: int = 50) -> list[LedgerRow]:
    """The card's ledger entries after ``after_seq`` in order: what moved its figures
    since (each carries its figures after, ``balance_after_cents``/``points_after``)."""
    return await repo.ledger_after(card_id, after_seq, limit)
