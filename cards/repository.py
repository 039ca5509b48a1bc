"""Every query of the cards domain (templates, cards, ledger, redemptions, spent codes)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from piccolo.query import Select
from piccolo.query.functions.aggregate import Count, Max
from piccolo.querystring import QueryString

from app.core.db import (
    InsertRow,
    Sql,
    current_engine,
    for_update,
    in_write_transaction,
    is_sqlite,
    json_column,
    select_list,
)
from app.core.events import NewEvent
from app.core.events import repository as events_repo
from app.core.notify import repository as notify_repo
from cards.rows import (
    BundleVoucher,
    CampaignRow,
    CampaignTally,
    CampaignTerms,
    CardNames,
    CardRow,
    CardView,
    LedgerRow,
    RedemptionRow,
    SyncReceiptRow,
    TemplateRow,
    VoucherCode,
    VoucherNames,
    VoucherScan,
    VoucherView,
)
from cards.tables import (
    Campaign,
    CampaignClaims,
    Card,
    CardCodeExpiry,
    CardShortCode,
    CardTemplate,
    LedgerEntry,
    Redemption,
    SpentCode,
    SyncReceipt,
    Voucher,
)
from stores.tables import Member

# Columns to write: a whole row to insert, some columns to update (a row type fits too).
Values = Mapping[str, Any]
# The statements of a redemption and a card charge are plain SQL (app.core.db.Sql):
# building them with Piccolo cost more than running them (profiled).
_INSERT_REDEMPTION = InsertRow(Redemption)
_INSERT_LEDGER = InsertRow(LedgerEntry)
_INSERT_SPENT_CODE = InsertRow(SpentCode)



# --- templates --------------------------------------------------------------------------

async def insert_template(values: Values) -> None:
    await CardTemplate.insert(CardTemplate(**values)).run()


async def get_template(template_id: uuid.UUID, chain_id: uuid.UUID) -> TemplateRow | None:
    return cast("TemplateRow | None", await CardTemplate.select().where(
        (CardTemplate.id == template_id) & (CardTemplate.chain == chain_id)).output(
        load_json=True).first().run())


async def update_template(template_id: uuid.UUID, values: Values) -> None:
    await CardTemplate.update(dict[Any, Any](values)).where(CardTemplate.id == template_id).run()


async def list_templates(chain_id: uuid.UUID) -> list[TemplateRow]:
    return cast("list[TemplateRow]", await CardTemplate.select().where(
        CardTemplate.chain == chain_id).order_by(CardTemplate.created_at).order_by(
        CardTemplate.id).output(load_json=True).run())


# --- cards ------------------------------------------------------------------------------

_CARD_COLUMNS = (
    *Card.all_columns(),
    Card.template.kind.as_alias("kind"),
    Card.template.name.as_alias("template_name"),
)


async def insert_card(values: Values) -> None:
    await Card.insert(Card(**values)).run()


async def number_taken(number: str) -> bool:
    return bool(await Card.exists().where(Card.number == number).run())


async def card_holder(chain_id: uuid.UUID, number: str) -> uuid.UUID | None:
    """The member holding the card of this number in the chain (numbers are unique)."""
    row = await Card.select(Card.member).where(
        (Card.number == number) & (Card.chain == chain_id)).first().run()
    return None if row is None else row["member"]


def holders_of(template_ids: list[uuid.UUID]) -> Select[Card]:
    """A select of the ids of members holding a card of these templates (not cancelled),
    for the stores domain to use as a subquery."""
    return Card.select(Card.member).where(
        Card.template.is_in(template_ids) & (Card.status != "cancelled"))


async def active_card_exists(template_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    return bool(await Card.exists().where(
        (Card.template == template_id) & (Card.member == member_id)
        & (Card.status == "active")).run())


async def expire_lapsed(template_id: uuid.UUID, member_id: uuid.UUID,
                        now: datetime) -> list[uuid.UUID]:
    """Write down the expiry of the member's lapsed card, freeing the one-active slot;
    the ids of the cards it expired (their card.updated events)."""
    rows = await Card.update(status="expired").where(
        (Card.template == template_id) & (Card.member == member_id)
        & (Card.status == "active") & Card.expires_at.is_not_null()
        & (Card.expires_at <= now)).returning(Card.id).run()
    return [row["id"] for row in rows]


async def get_card(card_id: uuid.UUID, chain_id: uuid.UUID) -> CardView | None:
    return cast("CardView | None", await Card.select(*_CARD_COLUMNS).where(
        (Card.id == card_id) & (Card.chain == chain_id)).first().run())


_CARD_WITH_TEMPLATE = Sql(
    f"SELECT {select_list(Card, 'c')}, {select_list(CardTemplate, 't', 'template__')} "  # noqa: S608
    "FROM card c JOIN card_template t ON t.id = c.template "
    "WHERE c.id = {} AND c.chain = {}")
_LOCK_CARD = f"SELECT {select_list(Card, 'c')} FROM card c WHERE c.id = {{}}"  # noqa: S608
_CARD_ROW = Sql(_LOCK_CARD)
_LOCK_CARD_PG = Sql(_LOCK_CARD + " FOR UPDATE")
_CARD_FIGURES = ("balance_cents", "bonus_balance_cents", "points", "visits_left", "tier",
                 "ledger_seq", "ledger_hash")
_SET_CARD_FIGURES = Sql(
    "UPDATE card SET balance_cents = {}, bonus_balance_cents = {}, points = {}, "
    "visits_left = {}, tier = {}, ledger_seq = {}, ledger_hash = {} "
    "WHERE id = {} AND ledger_seq = {} RETURNING id")
_SET_ACTIVE_CARD_FIGURES = Sql(
    _SET_CARD_FIGURES.text.removesuffix(" RETURNING id") + " AND status = 'active' RETURNING id")


async def card_and_template(card_id: uuid.UUID,
                            chain_id: uuid.UUID) -> tuple[CardView, TemplateRow] | None:
    """A card of the chain and its template, in one query (the scan of a card code)."""
    row = await _CARD_WITH_TEMPLATE.first(card_id, chain_id)
    if row is None:
        return None
    card = {k: v for k, v in row.items() if not k.startswith("template__")}
    template = {k[len("template__"):]: v for k, v in row.items() if k.startswith("template__")}
    template["tiers"], template["store_ids"] = (json_column(template["tiers"]),
                                                json_column(template["store_ids"]))
    template["top_up_options"] = json_column(template["top_up_options"])
    card["kind"], card["template_name"] = template["kind"], template["name"]
    return cast("CardView", card), cast("TemplateRow", template)


async def lock_card(card_id: uuid.UUID) -> CardRow | None:
    """The card row, locked for the rest of the write transaction."""
    # SQLite: the IMMEDIATE transaction already serialises writers.
    statement = _CARD_ROW if is_sqlite(current_engine()) else _LOCK_CARD_PG
    return cast("CardRow | None", await statement.first(card_id))


async def member_cards(member_id: uuid.UUID) -> list[CardView]:
    return cast("list[CardView]", await Card.select(*_CARD_COLUMNS).where(
        Card.member == member_id).order_by(Card.created_at).order_by(Card.id).run())


async def card_row(card_id: uuid.UUID) -> CardRow | None:
    """The card row as it is now, unlocked (a move then compares-and-sets its sequence)."""
    return cast("CardRow | None", await _CARD_ROW.first(card_id))


async def set_card_figures(card_id: uuid.UUID, expected_seq: int, values: Values) -> bool:
    """Compare-and-set on the ledger sequence: False if someone else moved the card."""
    if set(values) != set(_CARD_FIGURES):
        raise ValueError(f"a card's figures are exactly {_CARD_FIGURES}")
    rows = await _SET_CARD_FIGURES.rows(*(values[k] for k in _CARD_FIGURES), card_id,
                                        expected_seq)
    return bool(rows)


async def set_card_status(card_id: uuid.UUID, status: str) -> None:
    await Card.update(status=status).where(Card.id == card_id).run()


async def all_cards() -> list[CardRow]:
    return cast("list[CardRow]", await Card.select().order_by(Card.id).run())


# --- ledger -----------------------------------------------------------------------------

async def insert_ledger_entry(values: Values) -> None:
    await _INSERT_LEDGER.run(values)


async def card_ledger(card_id: uuid.UUID) -> list[LedgerRow]:
    return cast("list[LedgerRow]", await LedgerEntry.select().where(
        LedgerEntry.card == card_id).order_by(LedgerEntry.seq).run())


async def last_ledger_entry(card_id: uuid.UUID) -> LedgerRow | None:
    """The card's newest entry (what moved it last), by the (card, seq) index."""
    return cast("LedgerRow | None", await LedgerEntry.select().where(
        LedgerEntry.card == card_id).order_by(LedgerEntry.seq, ascending=False).first().run())


async def card_by_number(chain_id: uuid.UUID, number: str) -> CardView | None:
    return cast("CardView | None", await Card.select(*_CARD_COLUMNS).where(
        (Card.number == number) & (Card.chain == chain_id)).first().run())


async def ledger_after(card_id: uuid.UUID, after_seq: int, limit: int) -> list[LedgerRow]:
    """The card's entries after ``after_seq``, oldest first (the (card, seq) index)."""
    return cast("list[LedgerRow]", await LedgerEntry.select().where(
        (LedgerEntry.card == card_id) & (LedgerEntry.seq > after_seq)
    ).order_by(LedgerEntry.seq).limit(limit).run())


async def ledger_entry_for(redemption_id: uuid.UUID) -> LedgerRow | None:
    return cast("LedgerRow | None", await LedgerEntry.select().where(
        (LedgerEntry.redemption_id == redemption_id) & (LedgerEntry.kind != "reversal")
    ).first().run())


# --- spent codes and redemptions --------------------------------------------------------

# A card's move as one PostgreSQL statement: the compare-and-set of its figures (still at
# the sequence the move was computed from, still active), then, only if it won, the
# spent code (a code used before fails the whole statement on its key), the ledger
# entry, the redemption, the outbox row and the feed's events (redemption.created, and
# card.updated when the tier changed). Atomic alone: no BEGIN, no row lock, no COMMIT
# round trips (ten round trips of a charge become three).
@cache
def _move_card_sql(spending: bool, events: int) -> Sql:
    steps = [f"moved AS ({_SET_ACTIVE_CARD_FIGURES.text})"]
    if spending:
        steps.append(f"spent AS ({_INSERT_SPENT_CODE.after('moved')})")
    steps += [f"entry AS ({_INSERT_LEDGER.after('moved')})",
              f"redeemed AS ({_INSERT_REDEMPTION.after('moved')})",
              f"notified AS ({notify_repo.emit_after('moved')})"]
    # The events read ``moved``: they are written only once the card row is updated.
    steps += [f"evented{n} AS ({events_repo.insert_after('moved')})" for n in range(events)]
    return Sql("WITH " + ", ".join(steps) + " SELECT id FROM moved")  # noqa: S608


async def move_card(card_id: uuid.UUID, expected_seq: int, figures: Values, entry: Values,
                    redemption: Values, notification: Values, spent: Values | None,
                    events: Sequence[NewEvent] = ()) -> bool:
    """Write a card's move (its new figures and ledger entry), its redemption, outbox
    row and feed ``events``, and the dynamic code ``spent`` if given, all or nothing.
    False when the card moved (or stopped being active) since the row the move was
    computed from; a code spent before raises the engine's unique violation. One
    statement on PostgreSQL; several in the caller's write transaction on SQLite
    (``db.atomic_statement``), like :func:`redeem_voucher`."""
    if set(figures) != set(_CARD_FIGURES):
        raise ValueError(f"a card's figures are exactly {_CARD_FIGURES}")
    cas = (*(figures[k] for k in _CARD_FIGURES), card_id, expected_seq)
    if not is_sqlite(current_engine()):
        args = (*cas, *(() if spent is None else _INSERT_SPENT_CODE.args(spent)),
                *_INSERT_LEDGER.args(entry), *_INSERT_REDEMPTION.args(redemption),
                *notify_repo.emit_args(notification),
                *(a for event in events for a in events_repo.insert_args(event)))
        return bool(await _move_card_sql(spent is not None, len(events)).rows(*args))
    assert in_write_transaction(), "db.atomic_statement() opens SQLite's transaction"
    if not await _SET_ACTIVE_CARD_FIGURES.rows(*cas):
        return False
    if spent is not None:
        await _INSERT_SPENT_CODE.run(spent)
    await _INSERT_LEDGER.run(entry)
    await _INSERT_REDEMPTION.run(redemption)
    await notify_repo.emit(notification)
    for event in events:
        await events_repo.insert(event)
    return True


_RESERVE_EXPIRY = Sql("INSERT INTO card_code_expiry (key, expires_at) VALUES ({}, {}) "
                      "ON CONFLICT (key) DO NOTHING RETURNING key")


async def reserve_code_expiry(card_id: uuid.UUID, expires_at: datetime) -> bool:
    """Claim the second ``expires_at`` for a code of the card; False when a live code of
    it already ends then (from this process or another)."""
    key = f"{card_id} {int(expires_at.timestamp())}"
    return bool(await _RESERVE_EXPIRY.rows(key, expires_at))


async def purge_code_expiries(before: datetime) -> None:
    await CardCodeExpiry.delete().where(CardCodeExpiry.expires_at < before).run()


async def insert_redemption(values: Values) -> None:
    await _INSERT_REDEMPTION.run(values)


async def get_redemption(redemption_id: uuid.UUID,
                         chain_id: uuid.UUID) -> RedemptionRow | None:
    return cast("RedemptionRow | None", await Redemption.select().where(
        (Redemption.id == redemption_id) & (Redemption.chain == chain_id)).first().run())


async def mark_reversed(redemption_id: uuid.UUID, now: datetime, by: uuid.UUID | None) -> bool:
    """Conditional: only the first reversal wins."""
    rows = await Redemption.update(reversed_at=now, reversed_by=by).where(
        (Redemption.id == redemption_id) & Redemption.reversed_at.is_null()).returning(
        Redemption.id).run()
    return bool(rows)


async def list_redemptions(store_id: uuid.UUID, start: datetime, end: datetime, *,
                           limit: int, offset: int) -> list[RedemptionRow]:
    return cast("list[RedemptionRow]", await Redemption.select().where(
        (Redemption.store == store_id) & (Redemption.created_at >= start)
        & (Redemption.created_at < end)).order_by(Redemption.created_at).order_by(
        Redemption.id).limit(limit).offset(offset).run())


async def code_spent(code_hash: str) -> bool:
    return bool(await SpentCode.exists().where(SpentCode.code_hash == code_hash).run())


# --- card short codes (issue 17, decision 038) ------------------------------------------

# Never a voucher's short code: vouchers issued from now on never start with 9, and an
# older one that does is refused here, in the same statement.
_INSERT_CARD_SHORT_CODE = Sql(
    "INSERT INTO card_short_code (short_code, chain, card, code, expires_at) "
    "SELECT {}, {}, {}, {}, {} "
    "WHERE NOT EXISTS (SELECT 1 FROM voucher WHERE short_code = {}) "
    "ON CONFLICT (short_code) DO NOTHING RETURNING short_code")
_CARD_SHORT_CODE = Sql(
    "SELECT code, card, expires_at FROM card_short_code WHERE short_code = {} AND chain = {}")


async def insert_card_short_code(short_code: str, chain_id: uuid.UUID, card_id: uuid.UUID,
                                 code: str, expires_at: datetime) -> bool:
    """Claim ``short_code`` for a card's dynamic ``code``; False when it is taken (by a
    live card code or a voucher): the caller draws again."""
    return bool(await _INSERT_CARD_SHORT_CODE.rows(short_code, chain_id, card_id, code,
                                                   expires_at, short_code))


async def card_code_by_short_code(short_code: str, chain_id: uuid.UUID) -> str | None:
    """The dynamic card code these digits stand for (live or expired, until purged)."""
    row = await _CARD_SHORT_CODE.first(short_code, chain_id)
    return None if row is None else str(row["code"])


async def purge_card_short_codes(before: datetime) -> None:
    await CardShortCode.delete().where(CardShortCode.expires_at < before).run()


# --- members as cards know them (issue 17: the members' search and list) ----------------

def _live_card(now: datetime) -> Any:
    """Active and not past its validity (``service.effective_status`` in SQL)."""
    return (Card.status == "active") & (Card.expires_at.is_null() | (Card.expires_at > now))


def holders_at_tier(chain_id: uuid.UUID, tier: str, now: datetime) -> Select[Card]:
    """A select of the ids of members holding a live card at this tier."""
    return Card.select(Card.member).where(
        (Card.chain == chain_id) & (Card.tier == tier) & _live_card(now))


def holders_of_template(chain_id: uuid.UUID, template_id: uuid.UUID,
                        now: datetime) -> Select[Card]:
    """A select of the ids of members holding a live card of this template."""
    return Card.select(Card.member).where(
        (Card.chain == chain_id) & (Card.template == template_id) & _live_card(now))


def visitors(chain_id: uuid.UUID, since: datetime | None,
             before: datetime | None) -> QueryString:
    """A subquery of the ids of members whose last visit (latest redemption not reversed)
    is at or after ``since`` and before ``before`` (each when given)."""
    having, args = [], []
    if since is not None:
        having.append("MAX(created_at) >= {}")
        args.append(since)
    if before is not None:
        having.append("MAX(created_at) < {}")
        args.append(before)
    return QueryString(
        "SELECT member_id FROM redemption WHERE chain = {} AND reversed_at IS NULL "  # noqa: S608
        "AND member_id IS NOT NULL GROUP BY member_id"
        + (" HAVING " + " AND ".join(having) if having else ""), chain_id, *args)


def _instant(value: Any) -> datetime:
    """An aggregate's timestamp: PostgreSQL types it, SQLite gives its UTC text."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


async def last_visits(chain_id: uuid.UUID,
                      member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """Each member's latest redemption not reversed (those without one are left out)."""
    rows = await Redemption.select(
        Redemption.member_id, Max(Redemption.created_at).as_alias("last")).where(
        (Redemption.chain == chain_id) & Redemption.reversed_at.is_null()
        & Redemption.member_id.is_in(list(member_ids))).group_by(Redemption.member_id).run()
    return {uuid.UUID(str(r["member_id"])): _instant(r["last"]) for r in rows}


async def held_cards(member_ids: Sequence[uuid.UUID], now: datetime) -> dict[uuid.UUID, int]:
    """How many cards each member holds: live or frozen (absent: none)."""
    rows = await Card.select(Card.member, Count(Card.id).as_alias("held")).where(
        Card.member.is_in(list(member_ids))
        & (_live_card(now) | (Card.status == "frozen"))).group_by(Card.member).run()
    return {uuid.UUID(str(r["member"])): int(r["held"]) for r in rows}


# --- what a day sheet names (issue 17) -------------------------------------------------

async def cards_named(card_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CardNames]:
    """Each card's number, and its template's name and kind."""
    if not card_ids:
        return {}
    rows = await Card.select(Card.id, Card.number, Card.template.name.as_alias("template_name"),
                             Card.template.kind.as_alias("kind")).where(
        Card.id.is_in(list(card_ids))).run()
    return {r["id"]: cast("CardNames", r) for r in rows}


async def vouchers_named(voucher_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, VoucherNames]:
    """Each voucher's campaign's name and kind."""
    if not voucher_ids:
        return {}
    rows = await Voucher.select(Voucher.id, Voucher.campaign.name.as_alias("campaign_name"),
                                Voucher.campaign.kind.as_alias("kind")).where(
        Voucher.id.is_in(list(voucher_ids))).run()
    return {r["id"]: cast("VoucherNames", r) for r in rows}


# --- campaigns and vouchers -------------------------------------------------------------

_CLAIM_UPSERT = (
    "INSERT INTO campaign_claims (id, campaign, member, claimed) VALUES ({}, {}, {}, 1) "
    "ON CONFLICT (campaign, member) DO UPDATE SET claimed = campaign_claims.claimed + 1 "
    "WHERE campaign_claims.claimed < {} RETURNING claimed"
)


async def insert_campaign(values: Values) -> None:
    await Campaign.insert(Campaign(**values)).run()


async def get_campaign(campaign_id: uuid.UUID, chain_id: uuid.UUID) -> CampaignRow | None:
    return cast("CampaignRow | None", await Campaign.select().where(
        (Campaign.id == campaign_id) & (Campaign.chain == chain_id)).output(
        load_json=True).first().run())


async def list_campaigns(chain_id: uuid.UUID, only_active: bool) -> list[CampaignRow]:
    query = Campaign.select().where(Campaign.chain == chain_id)
    if only_active:
        query = query.where(Campaign.status == "active")
    return cast("list[CampaignRow]", await query.order_by(
        Campaign.created_at, ascending=False).order_by(Campaign.id).output(load_json=True).run())


async def set_campaign_status(campaign_id: uuid.UUID, status: str) -> None:
    await Campaign.update(status=status).where(Campaign.id == campaign_id).run()


async def take_from_campaign(campaign_id: uuid.UUID) -> bool:
    """Conditional: one more voucher only while the campaign has any left."""
    rows = await Campaign.update(issued_count=Campaign.issued_count + 1).where(
        (Campaign.id == campaign_id) & (Campaign.issued_count < Campaign.total_quantity)
    ).returning(Campaign.id).run()
    return bool(rows)


async def count_claim(campaign_id: uuid.UUID, member_id: uuid.UUID, limit: int) -> bool:
    """Conditional upsert: counts the member's claim only while under the limit."""
    rows = await CampaignClaims.raw(_CLAIM_UPSERT, uuid.uuid4(), campaign_id, member_id,
                                    limit).run()
    return bool(rows)


async def short_code_taken(short_code: str) -> bool:
    return bool(await Voucher.exists().where(Voucher.short_code == short_code).run())


async def insert_voucher(values: Values) -> None:
    await Voucher.insert(Voucher(**values)).run()


# --- issuing in set form (cards.vouchers._issue_many: a claim, a bulk issue, a job) ---------

_MANY_CLAIMS = 1000  # claim rows per statement (3 parameters each: under both engines' limits)


async def locked_campaign(campaign_id: uuid.UUID, chain_id: uuid.UUID) -> CampaignRow | None:
    """The chain's campaign, its row locked for the rest of the write transaction
    (PostgreSQL; SQLite's write transaction already serialises writers): issuing takes
    the campaign's row before any claim row, and its issued count read here stays true
    until the transaction ends."""
    return cast("CampaignRow | None", await for_update(Campaign.select().where(
        (Campaign.id == campaign_id) & (Campaign.chain == chain_id))).output(
        load_json=True).first().run())


@cache
def _claims_upsert(rows: int) -> Sql:
    values = ", ".join(["({}, {}, {}, 1)"] * rows)
    # ``values`` is placeholders only: every value is a parameter.
    return Sql("INSERT INTO campaign_claims (id, campaign, member, claimed) VALUES "  # noqa: S608
               + values + " ON CONFLICT (campaign, member) DO UPDATE SET claimed = "
               "campaign_claims.claimed + 1 WHERE campaign_claims.claimed < {} RETURNING member")


async def count_claims(campaign_id: uuid.UUID, member_ids: Sequence[uuid.UUID],
                       limit: int) -> set[uuid.UUID]:
    """Conditional multi-row upsert: counts each member's claim only while under the
    limit; the members counted (distinct ``member_ids``: one statement cannot touch a row
    twice)."""
    counted: set[uuid.UUID] = set()
    for start in range(0, len(member_ids), _MANY_CLAIMS):
        chunk = member_ids[start:start + _MANY_CLAIMS]
        args: list[Any] = []
        for member_id in chunk:
            args += (uuid.uuid4(), campaign_id, member_id)
        rows = await _claims_upsert(len(chunk)).rows(*args, limit)
        counted.update(_uuid(r["member"]) for r in rows)
    return counted


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def give_back_claims(campaign_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> None:
    """Undo one counted claim of each member (they got no voucher: sold out), leaving the
    table as if it had never been counted: a first claim's row goes (the delete first,
    so the decrement only meets rows that stay)."""
    for start in range(0, len(member_ids), _MANY_CLAIMS):
        where = (CampaignClaims.campaign == campaign_id) & CampaignClaims.member.is_in(
            list(member_ids[start:start + _MANY_CLAIMS]))
        await CampaignClaims.delete().where(where & (CampaignClaims.claimed <= 1)).run()
        await CampaignClaims.update(claimed=CampaignClaims.claimed - 1).where(where).run()


_TAKE_MANY = Sql("UPDATE campaign SET issued_count = issued_count + {} WHERE id = {} "
                 "AND issued_count + {} <= total_quantity RETURNING id")


async def take_many_from_campaign(campaign_id: uuid.UUID, count: int) -> bool:
    """Conditional: ``count`` more vouchers only while the campaign has that many left."""
    return bool(await _TAKE_MANY.rows(count, campaign_id, count))


async def short_codes_taken(short_codes: Sequence[str]) -> set[str]:
    """Which of ``short_codes`` some voucher already has (one query)."""
    if not short_codes:
        return set()
    rows = await Voucher.select(Voucher.short_code).where(
        Voucher.short_code.is_in(list(short_codes))).run()
    return {r["short_code"] for r in rows}


async def insert_vouchers(rows: Sequence[Values]) -> None:
    """Many vouchers, a multi-row insert per 500."""
    for start in range(0, len(rows), 500):
        await Voucher.insert(*[Voucher(**r) for r in rows[start:start + 500]]).run()


# A voucher's terms are its campaign's (VoucherView.terms): read in the same query.
_TERM_COLUMNS = ("name", "kind", "value_cents", "percent_off", "max_discount_cents",
                 "item_name", "min_spend_cents", "valid_from", "valid_until", "store_ids",
                 "weekdays", "time_from", "time_until", "giftable")
_VOUCHER_COLUMNS = (
    *Voucher.all_columns(),
    Voucher.campaign.name.as_alias("campaign_name"),
    Voucher.campaign.kind.as_alias("kind"),
    *(getattr(Voucher.campaign, c).as_alias(f"campaign__{c}") for c in _TERM_COLUMNS),
)


def _with_terms(row: dict[str, Any]) -> VoucherView:
    """A voucher row of ``_VOUCHER_COLUMNS`` with its campaign's columns as ``terms``."""
    view = {k: v for k, v in row.items() if not k.startswith("campaign__")}
    terms = {k[len("campaign__"):]: v for k, v in row.items() if k.startswith("campaign__")}
    terms["store_ids"] = json_column(terms["store_ids"])
    terms["weekdays"] = json_column(terms["weekdays"])
    view["terms"] = terms
    return cast("VoucherView", view)


# What a scan needs, no more: each timestamp and UUID read costs a conversion.
_SCAN_VOUCHER = ("id", "campaign", "member", "status", "valid_until", "redeemed_at",
                 "redeemed_store", "code")
_SCAN_CAMPAIGN = ("name", "kind", "value_cents", "percent_off", "max_discount_cents",
                  "item_name", "min_spend_cents", "valid_from", "store_ids", "valid_until",
                  "weekdays", "time_from", "time_until")
_VOUCHER_WITH_CAMPAIGN = Sql(
    "SELECT " + ", ".join([*(f'v."{c}" AS "{c}"' for c in _SCAN_VOUCHER),  # noqa: S608
                           *(f'c."{c}" AS "campaign__{c}"' for c in _SCAN_CAMPAIGN)])
    + " FROM voucher v JOIN campaign c ON c.id = v.campaign "
    "WHERE v.id = {} AND v.chain = {}")
_MARK_VOUCHER_REDEEMED = Sql(
    "UPDATE voucher SET status = 'redeemed', redeemed_at = {}, redemption_id = {}, "
    "redeemed_store = {} WHERE id = {} AND status = 'issued' AND code = {} RETURNING id")


async def voucher_and_campaign(voucher_id: uuid.UUID,
                               chain_id: uuid.UUID) -> tuple[VoucherScan, CampaignTerms] | None:
    """A voucher of the chain and its campaign, in one query (the scan of a voucher): the
    columns a scan reads (``_SCAN_VOUCHER``, ``_SCAN_CAMPAIGN``)."""
    row = await _VOUCHER_WITH_CAMPAIGN.first(voucher_id, chain_id)
    if row is None:
        return None
    voucher = {k: v for k, v in row.items() if not k.startswith("campaign__")}
    campaign = {k[len("campaign__"):]: v for k, v in row.items() if k.startswith("campaign__")}
    campaign["store_ids"] = json_column(campaign["store_ids"])
    campaign["weekdays"] = json_column(campaign["weekdays"])
    voucher["campaign_name"], voucher["kind"] = campaign["name"], campaign["kind"]
    return cast("VoucherScan", voucher), cast("CampaignTerms", campaign)


async def get_voucher(voucher_id: uuid.UUID, chain_id: uuid.UUID) -> VoucherView | None:
    row = await Voucher.select(*_VOUCHER_COLUMNS).where(
        (Voucher.id == voucher_id) & (Voucher.chain == chain_id)).first().run()
    return None if row is None else _with_terms(row)


async def voucher_by_short_code(short_code: str, chain_id: uuid.UUID) -> VoucherCode | None:
    return cast("VoucherCode | None", await Voucher.select(Voucher.id, Voucher.code).where(
        (Voucher.short_code == short_code) & (Voucher.chain == chain_id)).first().run())


async def member_vouchers(member_id: uuid.UUID) -> list[VoucherView]:
    return [_with_terms(row) for row in await Voucher.select(*_VOUCHER_COLUMNS).where(
        Voucher.member == member_id).order_by(Voucher.created_at, ascending=False).order_by(
        Voucher.id).run()]


# The whole spend as one PostgreSQL statement: the conditional update, then the
# redemption, its outbox row and its redemption.created event only if the update won.
# One statement is atomic on its own, so outside a transaction it needs no BEGIN and
# COMMIT: one round trip where the statements in a transaction took five.
_REDEEM_VOUCHER = Sql(  # composed of this module's own statements, no input
    f"WITH spent AS ({_MARK_VOUCHER_REDEEMED.text}), "  # noqa: S608
    f"redeemed AS ({_INSERT_REDEMPTION.after('spent')} RETURNING id), "
    f"notified AS ({notify_repo.emit_after('redeemed')}), "
    f"evented AS ({events_repo.insert_after('redeemed')}) "
    "SELECT id FROM redeemed")


async def redeem_voucher(voucher_id: uuid.UUID, code: str, redemption: Values,
                         notification: Values, event: NewEvent) -> bool:
    """Spend a voucher still ``issued`` and write its redemption, outbox row and feed
    ``event``, all or nothing; False when it was no longer issued. One statement on
    PostgreSQL (atomic alone: no BEGIN and COMMIT needed); on SQLite four, in the write
    transaction the caller opened (``db.atomic_statement``)."""
    # The voucher's redeemed_at is the time of use (an offline scan's claimed time).
    # Still with the code the scan judged: a gift accepted meanwhile gave it another.
    mark = (redemption["redeemed_at"], redemption["id"], redemption["store"], voucher_id, code)
    if not is_sqlite(current_engine()):
        return bool(await _REDEEM_VOUCHER.rows(*mark, *_INSERT_REDEMPTION.args(redemption),
                                               *notify_repo.emit_args(notification),
                                               *events_repo.insert_args(event)))
    assert in_write_transaction(), "db.atomic_statement() opens SQLite's transaction"
    if not await _MARK_VOUCHER_REDEEMED.rows(*mark):
        return False
    await _INSERT_REDEMPTION.run(redemption)
    await notify_repo.emit(notification)
    await events_repo.insert(event)
    return True


async def unredeem_voucher(voucher_id: uuid.UUID, redemption_id: uuid.UUID) -> bool:
    rows = await Voucher.update(status="issued", redeemed_at=None, redemption_id=None,
                                redeemed_store=None).where(
        (Voucher.id == voucher_id) & (Voucher.status == "redeemed")
        & (Voucher.redemption_id == redemption_id)).returning(Voucher.id).run()
    return bool(rows)


# Gifting (issue 20): each move of a voucher is one conditional update, so it happens only
# from the status (and owner) it was judged in. The gift's own row decides races between
# accept, cancel and expiry; these make sure the voucher follows exactly once.
_HOLD_FOR_GIFT = Sql(
    "UPDATE voucher SET status = 'gifting' WHERE id = {} AND member = {} "
    "AND status = 'issued' AND valid_until > {} RETURNING id")
_RETURN_GIFT = Sql(
    "UPDATE voucher SET status = 'issued' WHERE id = {} AND member = {} "
    "AND status = 'gifting' RETURNING id")
_TRANSFER_GIFT = Sql(
    "UPDATE voucher SET member = {}, status = 'issued', code = {}, short_code = {}, "
    "valid_until = {} WHERE id = {} AND member = {} AND status = 'gifting' RETURNING id")


async def hold_for_gift(voucher_id: uuid.UUID, member_id: uuid.UUID, now: datetime) -> bool:
    """issued (the member's, not past its end) → gifting; False otherwise."""
    return bool(await _HOLD_FOR_GIFT.rows(voucher_id, member_id, now))


async def return_gift(voucher_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    """gifting → issued, still the giver's; False when it was not being gifted."""
    return bool(await _RETURN_GIFT.rows(voucher_id, member_id))


async def transfer_gift(voucher_id: uuid.UUID, giver_id: uuid.UUID, acceptor_id: uuid.UUID,
                        code: str, short_code: str, valid_until: datetime) -> bool:
    """gifting (the giver's) → issued, the acceptor's, with its new codes and end."""
    return bool(await _TRANSFER_GIFT.rows(acceptor_id, code, short_code, valid_until,
                                          voucher_id, giver_id))


async def revoke_voucher(voucher_id: uuid.UUID, at: datetime) -> bool:
    rows = await Voucher.update(status="revoked", revoked_at=at).where(
        (Voucher.id == voucher_id) & (Voucher.status == "issued")).returning(Voucher.id).run()
    return bool(rows)


# --- the feed's events (app.core.events) ------------------------------------------------

async def insert_events(rows: Sequence[NewEvent]) -> None:
    """Feed events in the caller's write transaction, in the given order: one statement
    for one row, a multi-row insert per 500 for a batch (bulk issue, an import)."""
    await events_repo.insert_many(rows)


async def sync_receipt(chain_id: uuid.UUID, client_ref: str) -> SyncReceiptRow | None:
    return cast("SyncReceiptRow | None", await SyncReceipt.select().where(
        (SyncReceipt.chain == chain_id) & (SyncReceipt.client_ref == client_ref)).first().run())


async def insert_sync_receipt(values: Values) -> None:
    await SyncReceipt.insert(SyncReceipt(id=uuid.uuid4(), **values)).run()


# --- campaign claim state, results and the offline bundle (issue 17) ---------------------

async def member_claims(member_id: uuid.UUID,
                        campaign_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many vouchers the member holds of each campaign (any status): the per-member
    count the claim's conditional upsert keeps (``campaign_claims``)."""
    if not campaign_ids:
        return {}
    rows = await CampaignClaims.select(CampaignClaims.campaign, CampaignClaims.claimed).where(
        (CampaignClaims.member == member_id)
        & CampaignClaims.campaign.is_in(campaign_ids)).run()
    return {row["campaign"]: int(row["claimed"]) for row in rows}


_TALLY_VOUCHERS = Sql(
    "SELECT COUNT(*) AS issued, "
    "COALESCE(SUM(CASE WHEN status = 'redeemed' THEN 1 ELSE 0 END), 0) AS redeemed, "
    "COALESCE(SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0) AS revoked, "
    "COALESCE(SUM(CASE WHEN status = 'expired' OR (status = 'issued' AND valid_until < {}) "
    "THEN 1 ELSE 0 END), 0) AS expired "
    "FROM voucher WHERE campaign = {}")
# Through the voucher's own redemption index (redemption.object_id): one campaign's
# vouchers, then their redemptions; reversed ones left out.
_TALLY_REDEMPTIONS = Sql(
    "SELECT COALESCE(SUM(r.discount_cents), 0) AS discount_cents, "
    "COALESCE(SUM(r.amount_cents), 0) AS bill_cents "
    "FROM voucher v JOIN redemption r ON r.object_id = v.id "
    "WHERE v.campaign = {} AND r.kind = 'voucher' AND r.reversed_at IS NULL")


async def campaign_tally(campaign_id: uuid.UUID, now: datetime) -> CampaignTally:
    vouchers = await _TALLY_VOUCHERS.first(now, campaign_id)
    money = await _TALLY_REDEMPTIONS.first(campaign_id)
    assert vouchers is not None and money is not None
    return {"issued": int(vouchers["issued"]), "redeemed": int(vouchers["redeemed"]),
            "revoked": int(vouchers["revoked"]), "expired": int(vouchers["expired"]),
            "discount_cents": int(money["discount_cents"]),
            "bill_cents": int(money["bill_cents"])}


async def live_campaigns(chain_id: uuid.UUID, now: datetime) -> list[CampaignRow]:
    """The chain's active campaigns not over yet (the offline bundle's)."""
    return cast("list[CampaignRow]", await Campaign.select().where(
        (Campaign.chain == chain_id) & (Campaign.status == "active")
        & (Campaign.valid_until > now)).order_by(Campaign.created_at).order_by(
        Campaign.id).output(load_json=True).run())


async def issued_vouchers(campaign_ids: list[uuid.UUID], now: datetime,
                          limit: int) -> list[BundleVoucher]:
    """Vouchers of these campaigns still ``issued`` (or being given: ``gifting``) and not
    past their end, newest first, at most ``limit``."""
    if not campaign_ids:
        return []
    return cast("list[BundleVoucher]", await Voucher.select(
        Voucher.id, Voucher.campaign, Voucher.status, Voucher.valid_until).where(
        Voucher.campaign.is_in(campaign_ids) & Voucher.status.is_in(["issued", "gifting"])
        & (Voucher.valid_until > now)).order_by(Voucher.created_at, ascending=False).order_by(
        Voucher.id).limit(limit).run())


# --- member import and export (issue 18, decision 045) ----------------------------------
# Reads batch their keys (IN lists of IMPORT_BATCH); writes go in bulk on the write
# transaction's own connection: COPY on PostgreSQL, executemany on SQLite.

IMPORT_BATCH = 1000
EXPORT_MEMBER = ("id", "external_id", "name", "phone", "birthday", "created_at")


def _batches(items: Sequence[Any], size: int = IMPORT_BATCH) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def _rows_in(select: str, column: str, keys: Sequence[Any],
                   *args: Any) -> list[dict[str, Any]]:
    """Rows of ``select`` (its ``{}`` take ``args``; it ends in a WHERE clause) whose
    ``column`` is one of ``keys``, in batches: one array parameter on PostgreSQL, an IN
    list on SQLite. Plain SQL: Piccolo's ``is_in`` costs more to build than to run."""
    found: list[dict[str, Any]] = []
    if is_sqlite(current_engine()):
        for batch in _batches(keys, 500):
            marks = ", ".join("{}" for _ in batch)
            found += await Sql(f"{select} AND {column} IN ({marks})").rows(*args, *batch)
    else:
        for batch in _batches(keys, 10 * IMPORT_BATCH):
            found += await Sql(f"{select} AND {column} = ANY({{}})").rows(*args, list(batch))
    return found


_MEMBERS_OF_CHAIN = f"SELECT {select_list(Member, 'm')} FROM member m WHERE m.chain = {{}}"  # noqa: S608


async def members_by_external_ids(chain_id: uuid.UUID,
                                  external_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The chain's members carrying these external ids (whole member rows)."""
    rows = await _rows_in(_MEMBERS_OF_CHAIN, "m.external_id", external_ids, chain_id)
    for row in rows:  # as Piccolo reads them (SQLite keeps a flag as 0 or 1)
        row["phone_verified"] = bool(row["phone_verified"])
    return rows


async def members_by_phones(chain_id: uuid.UUID,
                            phones: Sequence[str]) -> list[dict[str, Any]]:
    """(id, phone) of the chain's members holding any of these phones."""
    return await _rows_in("SELECT m.id AS id, m.phone AS phone FROM member m "
                          "WHERE m.chain = {}", "m.phone", phones, chain_id)


async def held_templates(member_ids: Sequence[uuid.UUID],
                         template_ids: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(member, template) of every card these members hold of these templates, whatever
    its status."""
    wanted = set(template_ids)
    rows = await _rows_in("SELECT c.member AS member, c.template AS template FROM card c "
                          "WHERE TRUE", "c.member", member_ids)
    return {(r["member"], r["template"]) for r in rows if r["template"] in wanted}


async def numbers_taken(numbers: Sequence[str]) -> set[str]:
    """Which of these card numbers some card has already."""
    rows = await _rows_in("SELECT c.number AS number FROM card c WHERE TRUE", "c.number",
                          numbers)
    return {r["number"] for r in rows}


def _connection() -> Any:
    assert in_write_transaction(), "bulk writes run inside the import's write transaction"
    transaction = current_engine().current_transaction.get()
    assert transaction is not None
    return transaction.connection


async def insert_many(tablename: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys: the columns written; the others take
    their defaults) into ``tablename`` in bulk, in the open write transaction."""
    if not rows:
        return
    columns = list(rows[0])
    records = [tuple(row[c] for c in columns) for row in rows]
    connection = _connection()
    if is_sqlite(current_engine()):
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        await connection.executemany(
            f'INSERT INTO "{tablename}" ({names}) VALUES ({marks})', records)  # noqa: S608
    else:
        await connection.copy_records_to_table(tablename, records=records, columns=columns)


async def insert_members(rows: Sequence[Mapping[str, Any]]) -> None:
    await insert_many(Member._meta.tablename, rows)


async def insert_cards(rows: Sequence[Mapping[str, Any]]) -> None:
    await insert_many(Card._meta.tablename, rows)


async def insert_ledger_entries(rows: Sequence[Mapping[str, Any]]) -> None:
    await insert_many(LedgerEntry._meta.tablename, rows)


_UPDATE_MEMBER = Sql("UPDATE member SET name = {}, phone = {}, phone_verified = {}, "
                     "birthday = {} WHERE id = {}")


async def update_members(rows: Sequence[Mapping[str, Any]]) -> None:
    """Set name, phone, phone_verified and birthday of each member row (by id)."""
    if not rows:
        return
    records = [(r["name"], r["phone"], r["phone_verified"], r["birthday"], r["id"])
               for r in rows]
    connection = _connection()
    if is_sqlite(current_engine()):
        await connection.executemany(_UPDATE_MEMBER._sqlite, records)
    else:
        await connection.executemany(_UPDATE_MEMBER._pg, records)


async def export_members(chain_id: uuid.UUID, after: uuid.UUID | None,
                         limit: int) -> list[dict[str, Any]]:
    """The next ``limit`` members of the chain by id, after ``after`` (keyset pages)."""
    query = Member.select(*(getattr(Member, c) for c in EXPORT_MEMBER)).where(
        Member.chain == chain_id)
    if after is not None:
        query = query.where(Member.id > after)
    return await query.order_by(Member.id).limit(limit).run()


async def export_cards(member_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The cards of these members with their template's name and kind, oldest first."""
    if not member_ids:
        return []
    return await Card.select(
        Card.id, Card.member, Card.template, Card.template.name.as_alias("template_name"),
        Card.template.kind.as_alias("kind"), Card.status, Card.expires_at,
        Card.balance_cents, Card.bonus_balance_cents, Card.points, Card.visits_left,
        Card.tier).where(Card.member.is_in(list(member_ids))).order_by(Card.created_at).order_by(
        Card.id).run()


