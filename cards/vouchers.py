"""Business rules of campaigns and their vouchers: claim, bulk issue, revoke, expiry.

Never more vouchers than a campaign's ``total_quantity`` and never more per member than
its ``per_member_limit``, whatever the concurrency: both are conditional writes (a
guarded increment of the campaign's count, a guarded upsert of the member's count) in
the transaction that inserts the voucher.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

import msgspec

from app.core import events as feed
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner
from app.core.db import write_transaction
from app.core.errors import AppError, Forbidden, NotFound, ValidationError
from app.core.notify import events, outbox
from app.core.notify.rows import NewNotification
from cards import repository as repo
from cards.campaign_rules import checked_rules, hours_of, merged_hours
from cards.errors import (
    AlreadyRedeemed,
    CampaignInactive,
    CampaignSoldOut,
    ClaimLimitReached,
    InvalidCardState,
)
from cards.rows import CampaignRow, CampaignTerms, VoucherRow, VoucherState, VoucherView
from cards.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignResults,
    CannotClaim,
    Hours,
    IssueIn,
    IssueOut,
    Skipped,
    StaffVoucherOut,
    VoucherOut,
    VoucherTerms,
)
from stores import service as stores


def campaign_out(row: CampaignRow) -> CampaignOut:
    store_ids = row["store_ids"]
    return CampaignOut(
        id=row["id"], chain_id=row["chain"], name=row["name"], kind=row["kind"],
        value_cents=row["value_cents"], percent_off=row["percent_off"],
        max_discount_cents=row["max_discount_cents"], item_name=row["item_name"],
        min_spend_cents=row["min_spend_cents"], total_quantity=row["total_quantity"],
        issued_count=row["issued_count"], per_member_limit=row["per_member_limit"],
        valid_from=row["valid_from"], valid_until=row["valid_until"],
        store_ids=None if store_ids is None else [uuid.UUID(s) for s in store_ids],
        status=row["status"], created_at=row["created_at"], weekdays=row["weekdays"],
        time_from=row["time_from"], time_until=row["time_until"], hours=_hours(row),
        giftable=bool(row.get("giftable", False)))


def _hours(campaign: CampaignTerms) -> Hours | None:
    hours = hours_of(campaign)
    return None if hours is None else Hours(from_=hours["from"], to=hours["to"])


def voucher_status(row: VoucherState, now: datetime) -> str:
    """An issued voucher past its validity is expired, before any sweep writes it."""
    if row["status"] == "issued" and row["valid_until"] < now:
        return "expired"
    return str(row["status"])


def voucher_out(row: VoucherView, now: datetime | None = None) -> VoucherOut:
    return VoucherOut(
        id=row["id"], campaign_id=row["campaign"], member_id=row["member"],
        status=voucher_status(row, now or utcnow()),  # type: ignore[arg-type]
        code=row["code"], short_code=row["short_code"], valid_until=row["valid_until"],
        redeemed_at=row["redeemed_at"], redemption_id=row["redemption_id"],
        campaign_name=row["campaign_name"], kind=row["kind"], terms=voucher_terms(row["terms"]))


def staff_voucher_out(row: VoucherView, now: datetime | None = None) -> StaffVoucherOut:
    """:func:`voucher_out` without the codes (staff views of a member's vouchers)."""
    return StaffVoucherOut(
        id=row["id"], campaign_id=row["campaign"], member_id=row["member"],
        status=voucher_status(row, now or utcnow()),  # type: ignore[arg-type]
        valid_until=row["valid_until"], redeemed_at=row["redeemed_at"],
        redemption_id=row["redemption_id"], campaign_name=row["campaign_name"],
        kind=row["kind"], terms=voucher_terms(row["terms"]))


def voucher_terms(campaign: CampaignTerms) -> VoucherTerms:
    """A voucher's terms: its campaign's, structured for pages to word in their language."""
    store_ids = campaign["store_ids"]
    return VoucherTerms(
        kind=campaign["kind"], value_cents=campaign["value_cents"],
        percent_off=campaign["percent_off"], max_discount_cents=campaign["max_discount_cents"],
        item_name=campaign["item_name"], min_spend_cents=campaign["min_spend_cents"],
        store_ids=None if store_ids is None else [uuid.UUID(s) for s in store_ids],
        weekdays=campaign["weekdays"], time_from=campaign["time_from"],
        time_until=campaign["time_until"], valid_from=campaign["valid_from"],
        valid_until=campaign["valid_until"], hours=_hours(campaign),
        giftable=bool(campaign.get("giftable", False)))


def benefit(campaign: CampaignTerms) -> str:
    """What the voucher gives, in a few words (scan preview, notifications)."""
    kind = campaign["kind"]
    if kind == "cash":
        # A cash campaign always carries value_cents (create_campaign requires it).
        return f"¥{(campaign['value_cents'] or 0) / 100:.2f} off"
    if kind == "discount":
        cap = campaign["max_discount_cents"]
        return f"{campaign['percent_off']}% off" + (f" (up to ¥{cap / 100:.2f})" if cap else "")
    return f"{'gift' if kind == 'gift' else 'free'}: {campaign['item_name']}"


def _short_code() -> str:
    # Never a leading 9: that range is the card short codes' (decision 038).
    return f"{secrets.randbelow(9 * 10**11):012d}"


# --- campaigns --------------------------------------------------------------------------

async def create_campaign(principal: Principal, body: CampaignCreate) -> CampaignOut:
    if body.valid_from.tzinfo is None or body.valid_until.tzinfo is None:
        raise ValidationError("valid_from", "timestamps need an offset (RFC 3339)")
    if body.valid_until <= body.valid_from:
        raise ValidationError("valid_until", "must be after valid_from")
    if body.kind == "cash" and body.value_cents is None:
        raise ValidationError("value_cents", "a cash voucher needs value_cents")
    if body.kind == "discount" and body.percent_off is None:
        raise ValidationError("percent_off", "a discount voucher needs percent_off")
    if body.kind in ("gift", "service") and not body.item_name:
        raise ValidationError("item_name", f"a {body.kind} voucher names its item")
    time_from, time_until, names = merged_hours(body.hours, body.time_from, body.time_until)
    rules = checked_rules(body.weekdays, time_from, time_until, names)
    store_ids = await stores.stores_of_chain(principal.chain_id, body.store_ids)
    values: CampaignRow = {
        "id": uuid.uuid4(), "chain": principal.chain_id, "name": body.name.strip(),
        "kind": body.kind, "value_cents": body.value_cents if body.kind == "cash" else None,
        "percent_off": body.percent_off if body.kind == "discount" else None,
        "max_discount_cents": body.max_discount_cents if body.kind == "discount" else None,
        "item_name": body.item_name, "min_spend_cents": body.min_spend_cents,
        "total_quantity": body.total_quantity, "issued_count": 0,
        "per_member_limit": body.per_member_limit, "valid_from": body.valid_from,
        "valid_until": body.valid_until, "store_ids": store_ids, "status": "active",
        "created_at": utcnow(), "giftable": body.giftable, **rules,
    }
    async with write_transaction():
        await repo.insert_campaign(values)
    return campaign_out(values)


async def list_campaigns(principal: Principal) -> list[CampaignOut]:
    rows = await repo.list_campaigns(principal.chain_id, only_active=not principal.is_staff)
    if not principal.is_staff:  # members see what they can claim now
        now = utcnow()
        rows = [r for r in rows if r["valid_from"] <= now < r["valid_until"]]
        return await _with_claim_state(principal, rows, now)
    return [campaign_out(r) for r in rows]


def cannot_claim(row: CampaignRow, claimed: int, now: datetime) -> CannotClaim | None:
    """Why the member could not claim now, in the order the claim checks (``_issue_one``)."""
    if row["status"] != "active" or not row["valid_from"] <= now < row["valid_until"]:
        return "campaign_inactive"
    if claimed >= row["per_member_limit"]:
        return "claim_limit_reached"
    if row["issued_count"] >= row["total_quantity"]:
        return "campaign_sold_out"
    return None


async def _with_claim_state(principal: Principal, rows: list[CampaignRow],
                            now: datetime) -> list[CampaignOut]:
    """Campaigns as a member sees them: with their own claims and whether they can claim."""
    claims = await repo.member_claims(principal.id, [r["id"] for r in rows])
    out = []
    for row in rows:
        claimed = claims.get(row["id"], 0)
        reason = cannot_claim(row, claimed, now)
        out.append(msgspec.structs.replace(
            campaign_out(row), claimed_count=claimed, can_claim=reason is None,
            cannot_claim_reason=reason))
    return out


async def _campaign(principal: Principal, campaign_id: uuid.UUID) -> CampaignRow:
    row = await repo.get_campaign(campaign_id, principal.chain_id)
    if row is None or (not principal.is_staff and row["status"] != "active"):
        raise NotFound("no such campaign")
    return row


async def get_campaign(principal: Principal, campaign_id: uuid.UUID) -> CampaignOut:
    row = await _campaign(principal, campaign_id)
    if not principal.is_staff:
        return (await _with_claim_state(principal, [row], utcnow()))[0]
    return campaign_out(row)


async def set_paused(principal: Principal, campaign_id: uuid.UUID, paused: bool) -> CampaignOut:
    await _campaign(principal, campaign_id)
    async with write_transaction():
        await repo.set_campaign_status(campaign_id, "paused" if paused else "active")
    return await get_campaign(principal, campaign_id)


# --- vouchers ---------------------------------------------------------------------------

def voucher_event(event_type: str, view: VoucherView, now: datetime) -> feed.NewEvent:
    """The feed's event about a voucher: as staff see it (``StaffVoucherOut``: never its
    code nor its short code, either of which spends it). Not written (the caller does)."""
    return feed.event(event_type, chain_id=view["chain"], object_id=view["id"],
                      data=msgspec.to_builtins(staff_voucher_out(view, now)))


IssueResult = VoucherOut | str
"""One member's answer of :func:`_issue_many`: the voucher, or the refusal's code."""


async def _issue_many(campaign: CampaignRow, member_ids: Sequence[uuid.UUID],
                      signer: CodeSigner, now: datetime, *, source: str,
                      source_id: uuid.UUID | None = None, notify: bool = True,
                      ) -> tuple[list[IssueResult], list[feed.NewEvent]]:
    """THE rule of issuing, whatever the door (claim, bulk issue, cards.public, a job), in
    set form: for each of ``member_ids`` (distinct members of the campaign's chain), in
    order, a voucher or the refusal's code, the same answers as issuing them one after
    the other; with the issued vouchers' voucher.issued events, which the caller writes,
    and (if ``notify``) the members' notifications. Inside the caller's write transaction,
    ``campaign`` read there by :func:`repo.locked_campaign`: its row locked before any
    claim row (a batch and a member's own claim take turns instead of deadlocking), its
    issued count true until the transaction ends.

    The checks, in the claim's order (``cannot_claim``): the campaign active and in its
    dates; the member's limit (one conditional multi-row upsert of the claim counts: the
    members it did not count are ``claim_limit_reached``, which is the answer too when
    the campaign is also sold out); the quantity (the first members in order take what
    is left, by one conditional update of the campaign; the others are
    ``campaign_sold_out`` and their counted claims are given back). A few statements,
    whatever the number of members."""
    if campaign["status"] != "active" or not campaign["valid_from"] <= now < \
            campaign["valid_until"]:
        return [CampaignInactive.code] * len(member_ids), []
    counted = await repo.count_claims(campaign["id"], member_ids, campaign["per_member_limit"])
    under_limit = [m for m in member_ids if m in counted]
    left = max(campaign["total_quantity"] - campaign["issued_count"], 0)
    winners, late = under_limit[:left], under_limit[left:]
    if winners and not await repo.take_many_from_campaign(campaign["id"], len(winners)):
        # The campaign's row is locked since it was read: this cannot happen.
        raise RuntimeError("the campaign's issued count moved under its lock")
    if late:
        await repo.give_back_claims(campaign["id"], late)
    rows = await _voucher_rows(campaign, winners, signer, now, source, source_id)
    await repo.insert_vouchers(rows)
    if notify:
        await outbox.emit_many([_issued_notification(campaign, r["member"], r["id"])
                                for r in rows])
    outs: dict[uuid.UUID, VoucherOut] = {}
    issued_events: list[feed.NewEvent] = []
    for row in rows:
        view: VoucherView = {**row, "campaign_name": campaign["name"],
                             "kind": campaign["kind"], "terms": campaign}
        outs[row["member"]] = voucher_out(view, now)
        issued_events.append(voucher_event(feed.types.VOUCHER_ISSUED, view, now))
    sold_out = set(late)
    results: list[IssueResult] = [
        outs.get(m, CampaignSoldOut.code if m in sold_out else ClaimLimitReached.code)
        for m in member_ids]
    return results, issued_events


async def _voucher_rows(campaign: CampaignRow, member_ids: Sequence[uuid.UUID],
                        signer: CodeSigner, now: datetime, source: str,
                        source_id: uuid.UUID | None) -> list[VoucherRow]:
    """The vouchers of ``member_ids``: fresh ids, short codes no voucher has, signed codes."""
    short_codes = await _free_short_codes(len(member_ids))
    rows: list[VoucherRow] = []
    for member_id, short_code in zip(member_ids, short_codes, strict=True):
        voucher_id = uuid.uuid4()
        code = await signer.sign(campaign["chain"], CodeKind.VOUCHER, voucher_id,
                                 campaign["valid_until"])
        rows.append({
            "id": voucher_id, "chain": campaign["chain"], "campaign": campaign["id"],
            "member": member_id, "status": "issued", "code": code, "short_code": short_code,
            "valid_until": campaign["valid_until"], "redeemed_at": None,
            "redemption_id": None, "redeemed_store": None, "revoked_at": None,
            "created_at": now, "source": source, "source_id": source_id})
    return rows


async def _free_short_codes(count: int) -> list[str]:
    """``count`` distinct short codes no voucher has: drawn, checked in one query, the
    few that collide drawn again."""
    codes: list[str] = []
    while len(codes) < count:
        drawn = list(dict.fromkeys(_short_code() for _ in range(count - len(codes))))
        taken = await repo.short_codes_taken(drawn)
        codes += [c for c in drawn if c not in taken and c not in codes]
    return codes


def refusal(code: str, campaign: CampaignRow) -> AppError:
    """The contract's error of an issuing refusal's code (what a one-member door raises)."""
    if code == CampaignInactive.code:
        return CampaignInactive()
    if code == CampaignSoldOut.code:
        return CampaignSoldOut()
    if code == ClaimLimitReached.code:
        return ClaimLimitReached(f"at most {campaign['per_member_limit']} per member")
    if code == NotFound.code:
        return NotFound("no such member")
    raise ValueError(f"not an issuing refusal: {code!r}")


async def _issue_one(campaign: CampaignRow, member_id: uuid.UUID, signer: CodeSigner,
                     now: datetime, *, source: str, source_id: uuid.UUID | None = None,
                     notify: bool = True) -> tuple[VoucherOut, feed.NewEvent]:
    """:func:`_issue_many` for one member (``campaign`` read under its lock in this write
    transaction), raising its refusal."""
    [result], issued_events = await _issue_many(campaign, [member_id], signer, now,
                                                source=source, source_id=source_id,
                                                notify=notify)
    if isinstance(result, str):
        raise refusal(result, campaign)
    return result, issued_events[0]


def _issued_notification(campaign: CampaignRow, member_id: uuid.UUID, voucher_id: uuid.UUID,
                         dedupe_key: str | None = None) -> NewNotification:
    return outbox.notification(
        events.VOUCHER_ISSUED, chain_id=campaign["chain"], member_id=member_id,
        data={"campaign_name": campaign["name"], "benefit": benefit(campaign),
              "valid_until": campaign["valid_until"].isoformat(),
              # Structured, for text in the chain's locale (issue 17).
              "kind": campaign["kind"], "value_cents": campaign["value_cents"],
              "percent_off": campaign["percent_off"],
              "max_discount_cents": campaign["max_discount_cents"],
              "item_name": campaign["item_name"],
              "min_spend_cents": campaign["min_spend_cents"]},
        dedupe_key=dedupe_key or f"voucher:{voucher_id}:issued")


async def _notify_issued(campaign: CampaignRow, member_id: uuid.UUID, voucher_id: uuid.UUID,
                         dedupe_key: str | None = None) -> None:
    await outbox.emit_many([_issued_notification(campaign, member_id, voucher_id,
                                                 dedupe_key)])


async def claim(principal: Principal, campaign_id: uuid.UUID, signer: CodeSigner) -> VoucherOut:
    async with write_transaction():
        # Not _campaign(): a member who has the link of a paused campaign is told it is
        # inactive (409), not that it does not exist. Read under its lock, in the
        # transaction: the campaign's row first, then the member's claim row.
        campaign = await repo.locked_campaign(campaign_id, principal.chain_id)
        if campaign is None:
            raise NotFound("no such campaign")
        out, event = await _issue_one(campaign, principal.id, signer, utcnow(),
                                      source="claim")
        await repo.insert_events([event])
    return out


async def issue(principal: Principal, campaign_id: uuid.UUID, body: IssueIn,
                signer: CodeSigner) -> IssueOut:
    """Bulk issue, in one write transaction (the caller's, if open), by the one rule in
    set form (:func:`_issue_many`): a refusal skips only that member; the issued
    vouchers' events written together at the end."""
    if body.member_ids is None:
        raise ValidationError("member_ids", "give the members to issue to")
    await _campaign(principal, campaign_id)
    member_ids = list(dict.fromkeys(body.member_ids))
    known = await stores.chain_member_ids(principal.chain_id, member_ids)
    issued: list[VoucherOut] = []
    skipped: list[Skipped] = []
    async with write_transaction():
        campaign = await repo.locked_campaign(campaign_id, principal.chain_id)
        if campaign is None:  # deleted since: as _campaign() would answer
            raise NotFound("no such campaign")
        members = [m for m in member_ids if m in known]
        results, issued_events = await _issue_many(campaign, members, signer, utcnow(),
                                                   source="issue")
        answers = dict(zip(members, results, strict=True))
        for member_id in member_ids:
            answer = answers.get(member_id, NotFound.code)
            if isinstance(answer, str):
                skipped.append(Skipped(member_id=member_id, code=answer))
            else:
                issued.append(answer)
        if issued_events:
            await repo.insert_events(issued_events)
    return IssueOut(issued=issued, skipped=skipped)


def may_hold_code(principal: Principal, member_id: uuid.UUID) -> bool:
    """Whether the caller may see a voucher's code (and short code): its own member and
    the chain's operators. A code spends the voucher, so a clerk or a manager never gets
    one: the clerk redeems what the member shows (GET /members/{id}/vouchers gives staff
    the rest)."""
    if principal.role == "member":
        return member_id == principal.id
    return principal.is_operator


async def visible_voucher(principal: Principal, voucher_id: uuid.UUID) -> VoucherView:
    """The voucher, with its code: 404 outside :func:`may_hold_code` (like a missing one)."""
    row = await repo.get_voucher(voucher_id, principal.chain_id)
    if row is None or not may_hold_code(principal, row["member"]):
        raise NotFound("no such voucher")
    return row


async def get_voucher(principal: Principal, voucher_id: uuid.UUID) -> VoucherOut:
    return voucher_out(await visible_voucher(principal, voucher_id))


async def my_vouchers(principal: Principal) -> list[VoucherOut]:
    now = utcnow()
    return [voucher_out(r, now) for r in await repo.member_vouchers(principal.id)]


async def revoke(principal: Principal, voucher_id: uuid.UUID) -> VoucherOut:
    if not principal.is_operator:
        raise Forbidden()
    row = await visible_voucher(principal, voucher_id)
    now = utcnow()
    async with write_transaction():
        if not await repo.revoke_voucher(voucher_id, now):
            if row["status"] == "redeemed":
                raise AlreadyRedeemed("a redeemed voucher cannot be revoked")
            raise InvalidCardState(f"the voucher is {row['status']}")
        revoked = await repo.get_voucher(voucher_id, principal.chain_id)
        assert revoked is not None
        await repo.insert_events([voucher_event(feed.types.VOUCHER_REVOKED, revoked, now)])
    return voucher_out(revoked)


# --- results (issue 17) -----------------------------------------------------------------

async def campaign_results(principal: Principal, campaign_id: uuid.UUID) -> CampaignResults:
    """What a campaign did: its vouchers by outcome, the money off given and the bills they
    were used on (reversed redemptions left out). Operators only (the guard)."""
    await _campaign(principal, campaign_id)
    tally = await repo.campaign_tally(campaign_id, utcnow())
    issued = tally["issued"]
    return CampaignResults(
        campaign_id=campaign_id, issued=issued, redeemed=tally["redeemed"],
        revoked=tally["revoked"], expired=tally["expired"],
        redemption_rate=round(tally["redeemed"] / issued, 4) if issued else 0.0,
        discount_cents=tally["discount_cents"], bill_cents=tally["bill_cents"])
