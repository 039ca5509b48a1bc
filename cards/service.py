"""Business rules of card templates, cards, dynamic card codes, top-ups and the ledger."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import msgspec

from app.core import events as feed
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner
from app.core.db import atomic_statement, is_unique_violation, write_transaction
from app.core.errors import Forbidden, NotFound, RateLimited, ValidationError
from app.core.notify import events, outbox
from cards import ledger
from cards import repository as repo
from cards.errors import CardExists, CardInactive, InvalidCardState, WrongCardKind, WrongStore
from cards.rows import CardRow, CardView, LedgerRow, TemplateRow, TopUpOptionRow
from cards.schemas import (
    MAX_BALANCE_CENTS,
    CardCode,
    CardIssue,
    CardOut,
    CardWechat,
    LedgerEntryOut,
    TemplateCreate,
    TemplateMoneyUpdate,
    TemplateOut,
    Tier,
    TopUp,
    TopUpOption,
)
from stores import service as stores
from stores.rows import MemberFacts, StoreRow

CARD_CODE_TTL_S = 60
CARD_CODE_TTL = timedelta(seconds=CARD_CODE_TTL_S)
KIND_CARD = CodeKind.CARD


# --- rendering --------------------------------------------------------------------------

def template_out(row: TemplateRow) -> TemplateOut:
    store_ids = row["store_ids"]
    return TemplateOut(
        id=row["id"], chain_id=row["chain"], name=row["name"], kind=row["kind"],
        validity_days=row["validity_days"], initial_visits=row["initial_visits"],
        points_per_yuan=row["points_per_yuan"], tiers=[Tier(**t) for t in row["tiers"] or []],
        store_ids=None if store_ids is None else [uuid.UUID(s) for s in store_ids],
        claimable=row["claimable"], active=row["active"], created_at=row["created_at"],
        top_up_options=[TopUpOption(amount_cents=o["amount_cents"],
                                    bonus_cents=o["bonus_cents"])
                        for o in row["top_up_options"] or []],
        bonus_policy=row["bonus_policy"])


def effective_status(card: CardRow, now: datetime) -> str:
    """A card past its validity is expired even before a sweep writes it down."""
    if card["status"] == "active" and card["expires_at"] is not None \
            and card["expires_at"] <= now:
        return "expired"
    return str(card["status"])


def card_out(row: CardView, now: datetime | None = None) -> CardOut:
    bonus = row.get("bonus_balance_cents", 0)
    return CardOut(
        id=row["id"], template_id=row["template"], member_id=row["member"],
        number=row["number"], status=effective_status(row, now or utcnow()),  # type: ignore[arg-type]
        balance_cents=row["balance_cents"], points=row["points"],
        visits_left=row["visits_left"], tier=row["tier"], expires_at=row["expires_at"],
        kind=row["kind"], template_name=row["template_name"], created_at=row["created_at"],
        paid_balance_cents=row["balance_cents"] - bonus, bonus_balance_cents=bonus)


WechatLookup = Callable[[Sequence[uuid.UUID]], Awaitable[Mapping[uuid.UUID, CardWechat]]]
"""card ids -> those in their member's WeChat card bag (``CardOut.wechat``). Cards never
imports the card bag: create_app puts its lookup in the app's state (``card_wechat``)."""


async def with_wechat(lookup: WechatLookup | None, cards: list[CardOut]) -> list[CardOut]:
    """The cards with ``wechat`` filled (one query for them all; none without a lookup)."""
    if lookup is None or not cards:
        return cards
    found = await lookup([c.id for c in cards])
    return [msgspec.structs.replace(c, wechat=found[c.id]) if c.id in found else c
            for c in cards]


def entry_out(row: LedgerRow) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=row["id"], kind=row["kind"], delta_cents=row["delta_cents"],
        delta_points=row["delta_points"], delta_visits=row["delta_visits"],
        balance_after_cents=row["balance_after_cents"], points_after=row["points_after"],
        visits_after=row["visits_after"], store_id=row["store_id"], staff_id=row["staff_id"],
        redemption_id=row["redemption_id"], created_at=row["created_at"],
        delta_paid_cents=row["delta_paid_cents"], delta_bonus_cents=row["delta_bonus_cents"])


def moved_card(card: CardRow, template: TemplateRow, entry: LedgerRow) -> CardView:
    """The card as the ledger ``entry`` leaves it (its figures after, the tier they
    reach), with what its template adds for a reader: built, not read again."""
    return cast("CardView", {
        **card, "balance_cents": entry["balance_after_cents"],
        "bonus_balance_cents": entry["bonus_after_cents"], "points": entry["points_after"],
        "visits_left": entry["visits_after"],
        "tier": ledger.tier_for(entry["points_after"], template["tiers"]),
        "ledger_seq": entry["seq"], "ledger_hash": entry["hash"], "kind": template["kind"],
        "template_name": template["name"]})


def card_event(event_type: str, card: CardOut, *, chain_id: uuid.UUID,
               store_id: uuid.UUID | None, **extra: Any) -> feed.NewEvent:
    """The feed's event about a card: the card as the API answers it (``CardOut``), plus
    ``extra`` keys (card.topped_up's ``ledger_entry``). Not written (the caller does)."""
    data = msgspec.to_builtins(card)
    # ``wechat`` stays null here: a write path never asks the card bag (issue 21 adds
    # nothing to the hot paths); GET /cards/{id} answers it.
    data.update(extra)
    return feed.event(event_type, chain_id=chain_id, object_id=card.id, store_id=store_id,
                      data=data)


async def emit_card(event_type: str, row: CardView, *, chain_id: uuid.UUID,
                    store_id: uuid.UUID | None, now: datetime | None = None,
                    **extra: Any) -> CardOut:
    """Write the feed's event about the card ``row`` in the caller's write transaction;
    the card as answered (``card_out``)."""
    out = card_out(row, now)
    await repo.insert_events([card_event(event_type, out, chain_id=chain_id,
                                         store_id=store_id, **extra)])
    return out


async def _expire_lapsed(template_id: uuid.UUID, member_id: uuid.UUID, chain_id: uuid.UUID,
                         store_id: uuid.UUID | None, now: datetime) -> None:
    """Write down the expiry of the member's lapsed card of the template (a stored change
    of its status: card.updated), in the caller's write transaction."""
    for card_id in await repo.expire_lapsed(template_id, member_id, now):
        row = await repo.get_card(card_id, chain_id)
        assert row is not None
        await emit_card(feed.types.CARD_UPDATED, row, chain_id=chain_id, store_id=store_id,
                        now=now)


def store_data(store: StoreRow | None) -> dict[str, str | int | None]:
    """What a notification needs of the store where something happened."""
    if store is None:
        return {}
    return {"store_name": store["name"], "timezone": store["timezone"]}


def valid_at(store_ids: list[str] | None, store_id: uuid.UUID) -> bool:
    """The one store rule: a card template's or campaign's stores (None: every store of
    the chain) include ``store_id``."""
    return store_ids is None or str(store_id) in store_ids


def require_store(store_ids: list[str] | None, store_id: uuid.UUID, what: str) -> None:
    """:func:`valid_at`, or 403 ``wrong_store``: for a payment, a scan and a top-up."""
    if not valid_at(store_ids, store_id):
        raise WrongStore(f"this {what} is not valid at this store")


def check_usable_at(card: CardRow, template: TemplateRow, store_id: uuid.UUID,
                    now: datetime) -> None:
    """A card pays only where its template is valid and while it is active: the rule of
    a scan, of a booking's payment and of the check when the booking is made."""
    require_store(template["store_ids"], store_id, "card")
    status = effective_status(card, now)
    if status != "active":
        raise CardInactive(f"the card is {status}")


def _card_number() -> str:
    """12 digits a clerk can read out: 11 random digits and a Luhn check digit."""
    digits = [secrets.randbelow(10) for _ in range(11)]
    digits[0] = digits[0] or 8  # never a leading zero
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


# --- templates --------------------------------------------------------------------------

async def create_template(principal: Principal, body: TemplateCreate) -> TemplateOut:
    if body.kind == "times" and body.initial_visits is None:
        raise ValidationError("initial_visits", "a times card needs initial_visits")
    if body.kind != "times" and body.initial_visits is not None:
        raise ValidationError("initial_visits", "only times cards have visits")
    names = [t.name for t in body.tiers]
    if len(set(names)) != len(names):
        raise ValidationError("tiers", "tier names must be unique")
    if body.top_up_options and body.kind != "stored_value":
        raise ValidationError("top_up_options", "only stored-value cards are topped up")
    options = _top_up_options(body.top_up_options)
    store_ids = await stores.stores_of_chain(principal.chain_id, body.store_ids)
    values: TemplateRow = {
        "id": uuid.uuid4(), "chain": principal.chain_id, "name": body.name.strip(),
        "kind": body.kind, "validity_days": body.validity_days,
        "initial_visits": body.initial_visits, "points_per_yuan": body.points_per_yuan,
        "tiers": [{"name": t.name, "min_points": t.min_points,
                   "discount_percent": t.discount_percent}
                  for t in sorted(body.tiers, key=lambda t: t.min_points)],
        "store_ids": store_ids, "claimable": body.claimable, "active": True,
        "created_at": utcnow(),
        "top_up_options": options, "bonus_policy": body.bonus_policy,
    }
    async with write_transaction():
        await repo.insert_template(values)
    return template_out(values)


def _top_up_options(options: Sequence[TopUpOption]) -> list[TopUpOptionRow]:
    """The options as stored (by amount), or 400 when two share an amount."""
    amounts = [o.amount_cents for o in options]
    if len(set(amounts)) != len(amounts):
        raise ValidationError("top_up_options", "top-up amounts must be distinct")
    return [{"amount_cents": o.amount_cents, "bonus_cents": o.bonus_cents}
            for o in sorted(options, key=lambda o: o.amount_cents)]


async def update_template_money(principal: Principal, template_id: uuid.UUID,
                                body: TemplateMoneyUpdate) -> TemplateOut:
    """Change a stored-value template's online top-up options and bonus policy (issue 19:
    how a chain turns online top-up on for a template it already has). Cards keep their
    money; the next top-up and the next charge use the new terms. 409 wrong_card_kind for
    a template of another kind."""
    row = await repo.get_template(template_id, principal.chain_id)
    if row is None:
        raise NotFound("no such card template")
    if row["kind"] != "stored_value":
        raise WrongCardKind("only stored-value templates have top-up options and a bonus "
                            "policy")
    values: dict[str, Any] = {}
    if body.top_up_options is not None:
        values["top_up_options"] = _top_up_options(body.top_up_options)
    if body.bonus_policy is not None:
        values["bonus_policy"] = body.bonus_policy
    if values:
        async with write_transaction():
            await repo.update_template(template_id, values)
    return template_out({**row, **values})  # type: ignore[typeddict-item]


async def list_templates(principal: Principal) -> list[TemplateOut]:
    return [template_out(r) for r in await repo.list_templates(principal.chain_id)]


async def get_template(principal: Principal, template_id: uuid.UUID) -> TemplateOut:
    row = await repo.get_template(template_id, principal.chain_id)
    if row is None:
        raise NotFound("no such card template")
    return template_out(row)


# --- cards ------------------------------------------------------------------------------

async def _issue(principal: Principal, template_id: uuid.UUID, member_id: uuid.UUID,
                 store_id: uuid.UUID | None) -> CardOut:
    template = await repo.get_template(template_id, principal.chain_id)
    if template is None or not template["active"]:
        raise NotFound("no such card template")
    if await stores.chain_member(member_id, principal.chain_id) is None:
        raise NotFound("no such member")
    store = None
    if store_id is not None:
        store = await stores.visible_store(principal, store_id)
        if not valid_at(template["store_ids"], store_id):
            raise WrongStore("this card template is not offered at this store")
    now = utcnow()
    card_id = uuid.uuid4()
    expires_at = (now + timedelta(days=template["validity_days"])
                  if template["validity_days"] else None)
    try:
        async with write_transaction():
            await _expire_lapsed(template_id, member_id, principal.chain_id, store_id, now)
            if await repo.active_card_exists(template_id, member_id):
                raise CardExists()
            number = _card_number()
            while await repo.number_taken(number):
                number = _card_number()
            await repo.insert_card({
                "id": card_id, "chain": principal.chain_id, "template": template_id,
                "member": member_id, "number": number, "status": "active",
                "balance_cents": 0, "points": 0,
                "visits_left": 0 if template["kind"] == "times" else None,
                "tier": ledger.tier_for(0, template["tiers"]), "expires_at": expires_at,
                "ledger_seq": 0, "ledger_hash": ledger.GENESIS,
                "issued_by": principal.staff_id,
                "issued_store": store_id, "created_at": now,
            })
            card = await repo.lock_card(card_id)
            assert card is not None
            await ledger.append(card, ledger.Delta("issue", visits=template["initial_visits"] or 0),
                                tiers=template["tiers"], now=now, store_id=store_id,
                                staff_id=principal.staff_id,
                                redemption_id=None)
            await outbox.emit(events.CARD_ISSUED, chain_id=principal.chain_id,
                              member_id=member_id, store_id=store_id,
                              data={"card_name": template["name"], "card_number": number,
                                    **store_data(store)},
                              dedupe_key=f"card:{card_id}:issued")
            row = await repo.get_card(card_id, principal.chain_id)
            assert row is not None
            return await emit_card(feed.types.CARD_ISSUED, row, chain_id=principal.chain_id,
                                   store_id=store_id, now=now)
    except Exception as exc:
        if is_unique_violation(exc):  # a racing twin issued the same card first
            raise CardExists() from None
        raise


async def claim_card(principal: Principal, template_id: uuid.UUID) -> CardOut:
    """A member takes a card for themselves, unless the template is sold at the counter
    (``claimable`` false: e.g. prepaid visits), which only staff issue."""
    template = await repo.get_template(template_id, principal.chain_id)
    if template is not None and not template["claimable"]:
        raise Forbidden("this card is issued at the counter, not claimed")
    return await _issue(principal, template_id, principal.id, None)


async def issue_card(principal: Principal, body: CardIssue) -> CardOut:
    if body.store_id is None and principal.role != "operator":
        raise ValidationError("store_id", "the store issuing the card is required")
    return await _issue(principal, body.template_id, body.member_id, body.store_id)


async def visible_card(principal: Principal, card_id: uuid.UUID) -> CardView:
    """Members see their own cards; staff every card of their chain. Otherwise 404."""
    row = await repo.get_card(card_id, principal.chain_id)
    if row is None or not principal.may_see_member_data(row["member"]):
        raise NotFound("no such card")
    return row


async def get_card(principal: Principal, card_id: uuid.UUID) -> CardOut:
    return card_out(await visible_card(principal, card_id))


async def my_cards(principal: Principal) -> list[CardOut]:
    now = utcnow()
    return [card_out(r, now) for r in await repo.member_cards(principal.id)]


async def card_code(principal: Principal, card_id: uuid.UUID, signer: CodeSigner) -> CardCode:
    """A fresh signed code valid for 60 s, for the card's own member only."""
    card = await visible_card(principal, card_id)
    if principal.role != "member":
        raise Forbidden("only the card's member can show its code")
    now = utcnow()
    if effective_status(card, now) != "active":
        raise CardInactive(f"the card is {effective_status(card, now)}")
    expires_at = await _distinct_expiry(card_id, (now + CARD_CODE_TTL).replace(microsecond=0))
    code = await signer.sign(principal.chain_id, KIND_CARD, card_id, expires_at)
    return CardCode(code=code, expires_at=expires_at,
                    short_code=await _card_short_code(principal.chain_id, card_id, code,
                                                      expires_at))


_MIN_CODE_LIFE_S = 30


async def _distinct_expiry(card_id: uuid.UUID, wanted: datetime) -> datetime:
    """The format has no nonce: two codes of one card that end on the same second are the
    same code, and spending one would spend both. So each code ends on a second no other
    live code of the card ends on, whichever server process made it (a row per second,
    ``repo.reserve_code_expiry``): the promised 60 s, or a second earlier for each code
    asked for meanwhile, down to 30 s of life; past that the member is asking too fast."""
    for back in range(CARD_CODE_TTL_S - _MIN_CODE_LIFE_S + 1):
        candidate = wanted - timedelta(seconds=back)
        async with atomic_statement():  # one statement; SQLite needs its write lock
            reserved = await repo.reserve_code_expiry(card_id, candidate)
        if reserved:
            return candidate
    raise RateLimited("too many codes for this card at once; try again in a few seconds",
                      retry_after=5)


async def purge_code_expiries() -> None:
    """Forget the seconds of codes that have expired, and card short codes a day after
    they expired (housekeeping)."""
    now = utcnow()
    await repo.purge_code_expiries(now)
    await repo.purge_card_short_codes(now - SHORT_CODE_KEPT)


async def top_up(principal: Principal, card_id: uuid.UUID, body: TopUp) -> LedgerEntryOut:
    """Add to a stored-value card's balance, in its own write transaction (or the
    caller's, which it joins: an Idempotency-Key's)."""
    store = await stores.visible_store(principal, body.store_id)
    card = await visible_card(principal, card_id)
    template = await repo.get_template(card["template"], principal.chain_id)
    assert template is not None
    if template["kind"] != "stored_value":
        raise WrongCardKind("only stored-value cards take top-ups")
    require_store(template["store_ids"], body.store_id, "card")
    now = utcnow()
    async with write_transaction():
        locked = await repo.lock_card(card_id)
        assert locked is not None
        if effective_status(locked, now) != "active":
            raise CardInactive(f"the card is {effective_status(locked, now)}")
        if locked["balance_cents"] + body.amount_cents > MAX_BALANCE_CENTS:
            raise ValidationError("amount_cents", "the balance would pass the card's cap")
        entry = await ledger.append(locked, ledger.Delta("top_up", cents=body.amount_cents),
                                    tiers=template["tiers"], now=now, store_id=body.store_id,
                                    staff_id=principal.staff_id, redemption_id=None)
        answer = entry_out(entry)
        await emit_card(feed.types.CARD_TOPPED_UP, moved_card(locked, template, entry),
                        chain_id=principal.chain_id, store_id=body.store_id, now=now,
                        ledger_entry=msgspec.to_builtins(answer))
        await outbox.emit(events.BALANCE_CHANGED, chain_id=principal.chain_id,
                          member_id=locked["member"], store_id=body.store_id,
                          data={"card_name": template["name"], "reason": "top_up",
                                "delta_cents": body.amount_cents,
                                "balance_cents": entry["balance_after_cents"],
                                **store_data(store)},
                          dedupe_key=f"ledger:{entry['id']}")
    return answer


async def card_ledger(principal: Principal, card_id: uuid.UUID) -> list[LedgerEntryOut]:
    await visible_card(principal, card_id)
    return [entry_out(r) for r in await repo.card_ledger(card_id)]


_MOVES = {"freeze": ({"active"}, "frozen"), "unfreeze": ({"frozen"}, "active"),
          "cancel": ({"active", "frozen"}, "cancelled")}


async def change_status(principal: Principal, card_id: uuid.UUID, move: str) -> CardOut:
    allowed_from, to = _MOVES[move]
    await visible_card(principal, card_id)
    try:
        async with write_transaction():
            card = await repo.lock_card(card_id)
            assert card is not None
            if effective_status(card, utcnow()) not in allowed_from:
                raise InvalidCardState(f"cannot {move} a card that is {card['status']}")
            if to == "active" and await repo.active_card_exists(card["template"],
                                                                card["member"]):
                raise CardExists("the member has another active card of this template")
            await repo.set_card_status(card_id, to)
            row = await repo.get_card(card_id, principal.chain_id)
            assert row is not None
            return await emit_card(feed.types.CARD_UPDATED, row, chain_id=principal.chain_id,
                                   store_id=None)
    except Exception as exc:
        if is_unique_violation(exc):  # a racing unfreeze of a sibling card won
            raise CardExists("the member has another active card of this template") from None
        raise


# --- members found through their cards (stores asks: it may not import cards) -----------

async def member_by_card_number(chain_id: uuid.UUID, number: str) -> uuid.UUID | None:
    return await repo.card_holder(chain_id, number)


async def card_holders_at(chain_id: uuid.UUID,
                          store_ids: frozenset[uuid.UUID]) -> stores.MemberIdSelect | None:
    """Members holding a card usable at one of these stores (its template lists one of
    them, or every store): a manager's clerks serve them."""
    if not store_ids:
        return None
    wanted = {str(s) for s in store_ids}
    template_ids = [t["id"] for t in await repo.list_templates(chain_id)
                    if t["store_ids"] is None or wanted & set(t["store_ids"])]
    return repo.holders_of(template_ids) if template_ids else None


async def narrow_members(chain_id: uuid.UUID,
                         search: stores.MemberSearch) -> list[stores.MemberIdQuery]:
    """The operator's member search, in what cards keep: a live card at the tier or of
    the template, the last visit (latest redemption not reversed) in the range."""
    now = utcnow()
    narrowed: list[stores.MemberIdQuery] = []
    if search.tier is not None:
        narrowed.append(repo.holders_at_tier(chain_id, search.tier, now))
    if search.template_id is not None:
        narrowed.append(repo.holders_of_template(chain_id, search.template_id, now))
    if search.visited_since is not None or search.not_visited_since is not None:
        narrowed.append(repo.visitors(chain_id, search.visited_since,
                                      search.not_visited_since))
    return narrowed


async def member_facts(chain_id: uuid.UUID,
                       member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, MemberFacts]:
    """Each member's last visit and the cards they hold, for the members list."""
    visits = await repo.last_visits(chain_id, member_ids)
    held = await repo.held_cards(member_ids, utcnow())
    return {m: {"last_visit_at": visits.get(m), "cards_count": held.get(m, 0)}
            for m in member_ids}


MEMBER_FINDERS = stores.MemberFinders(by_card_number=(member_by_card_number,),
                                      at_stores=(card_holders_at,),
                                      narrowing=(narrow_members,), facts=(member_facts,))
"""What cards tells stores about members (joined by create_app, like the scan handlers)."""


# --- card short codes (issue 17, decision 038) ------------------------------------------

CARD_SHORT_CODE_PREFIX = "9"
"""Every card short code starts with it; voucher short codes never do (from issue 17 on;
an older voucher's that does is never handed out to a card)."""
SHORT_CODE_KEPT = timedelta(days=1)
"""How long an expired card short code still answers code_expired (then: not_found)."""


def _draw_card_short_code() -> str:
    return CARD_SHORT_CODE_PREFIX + f"{secrets.randbelow(10**11):011d}"


async def _card_short_code(chain_id: uuid.UUID, card_id: uuid.UUID, code: str,
                           expires_at: datetime) -> str:
    """12 digits standing for the dynamic ``code`` until it expires: drawn until one is
    free (neither a live card code's nor a voucher's)."""
    for _ in range(20):
        short_code = _draw_card_short_code()
        async with atomic_statement():  # one statement; SQLite needs its write lock
            if await repo.insert_card_short_code(short_code, chain_id, card_id, code,
                                                 expires_at):
                return short_code
    raise RuntimeError("no free card short code in 20 draws")  # 1e11 codes: never


def is_card_short_code(short_code: str) -> bool:
    return short_code.startswith(CARD_SHORT_CODE_PREFIX)


async def card_code_of_short_code(short_code: str, chain_id: uuid.UUID) -> str | None:
    """The dynamic card code the digits stand for, or None (not a card short code)."""
    if not is_card_short_code(short_code):
        return None
    return await repo.card_code_by_short_code(short_code, chain_id)
