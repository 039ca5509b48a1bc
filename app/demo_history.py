"""The demo chain's last four weeks, so its dashboard shows weeks of bars, not one on today.

Thirty more members join on different days of the 28 days before today (the cohorts),
hold stored-value, times and membership cards, top them up, pay with them, redeem the
vouchers of two campaigns that ran over those weeks, and book haircuts, colours and
washes with the stylists of both stores: most bookings completed (paid with a visit or a
charge on the member's card), some cancelled, some no-shows. Nothing happens today:
today's demo (王芳 and the four members beside her, their cards, vouchers and booking) is
the one ``app.demo`` seeds through the services, and the pages' tests rely on it.

Like ``o2o demo --size large`` (bench/demo_large.py), the history is planned in Python
and written as rows, in the demo's one write transaction: a service call would stamp
every row with today. Each row is the one the services would write: every ledger entry
comes from ``cards.ledger.next_move`` (hash-chained, so ``o2o verify-ledger`` passes, and
each card's figures are its ledger's sums) and every redemption from
``cards.redemption.redemption_row``, with the rules of a charge, visit or earn
(``cards.card_scans``) and of a voucher's discount (``cards.voucher_scans``). The rows
are inserted with the stats triggers on, so PostgreSQL's rollups count them on their own
local days as they count the live ones (SQLite's stats read the rows).

Deterministic: one seeded ``random.Random`` and fixed counts, each day placed relative
to today in Shanghai, so two runs on the same day give the same figures.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner
from bookings.tables import Booking
from cards import ledger
from cards.redemption import redemption_row
from cards.rows import CardRow, LedgerRow, TierRow
from cards.tables import Campaign, CampaignClaims, Card, LedgerEntry, Redemption, Voucher
from stores.tables import Member

SEED = 17
DAYS = 28  # today - 28 .. today - 1
ZONE = ZoneInfo("Asia/Shanghai")
OPEN, CLOSE = 10, 21  # the demo stores' hours
BILLS = [4800, 8800, 8800, 12800, 16800, 19800, 38800]
TOP_UPS = [50_000, 100_000, 200_000]
# (name, joined by WeChat): the others were registered at the counter of their store.
MEMBERS = [
    ("赵敏", False), ("钱多多", False), ("孙丽", True), ("Li Wei", False), ("周杰", False),
    ("吴倩", False), ("郑爽", True), ("冯小刚", False), ("陈晨", False), ("Zhou Yan", False),
    ("褚颖", False), ("卫东", True), ("蒋欣", False), ("沈月", False), ("韩雪", False),
    ("杨洋", False), ("朱琳", True), ("秦岚", False), ("尤佳", False), ("许晴", False),
    ("何炅", False), ("吕方", True), ("施琪", False), ("Wang Lei", False), ("曹颖", False),
    ("严宽", False), ("华晨", False), ("金莎", True), ("魏晨", False), ("陶虹", False),
]


def phone_of(index: int) -> str:
    return f"1860021{index:04d}"


# --- what the demo set up, as the history needs it ---------------------------------------

@dataclass(frozen=True, slots=True)
class ServiceSetup:
    id: uuid.UUID
    duration_minutes: int
    price_cents: int
    buffer_minutes: int


@dataclass(frozen=True, slots=True)
class StoreSetup:
    id: uuid.UUID
    clerk_id: uuid.UUID
    services: list[ServiceSetup]  # haircut, colour, wash
    stylists: list[uuid.UUID]


@dataclass(frozen=True, slots=True)
class TemplateSetup:
    id: uuid.UUID
    kind: str
    points_per_yuan: int
    tiers: list[TierRow]
    initial_visits: int | None
    validity_days: int | None


@dataclass(frozen=True, slots=True)
class CampaignSetup:
    id: uuid.UUID
    kind: str  # cash | discount
    value_cents: int | None
    percent_off: int | None
    max_discount_cents: int | None
    min_spend_cents: int
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Setup:
    chain_id: uuid.UUID
    manager_id: uuid.UUID
    stores: list[StoreSetup]  # Jing'an, Xuhui
    prepaid: TemplateSetup
    times: TemplateSetup
    membership: TemplateSetup
    thank_you: CampaignSetup  # cash, one per member, on joining
    member_day: CampaignSetup  # a discount, sent to every member on two days


def campaign_window(now: datetime) -> tuple[datetime, datetime]:
    """The history campaigns' validity: from the day before the first day of history to
    the end of yesterday (they are over today)."""
    today = now.astimezone(ZONE).date()
    return (datetime.combine(today - timedelta(days=DAYS + 1), time.min, ZONE),
            datetime.combine(today, time.min, ZONE))


# --- the plan ------------------------------------------------------------------------------

Row = dict[str, Any]


@dataclass
class History:
    """Every row of the history, in the order they are inserted."""

    members: list[Row] = field(default_factory=list)
    cards: list[CardRow] = field(default_factory=list)
    entries: list[LedgerRow] = field(default_factory=list)
    vouchers: list[Row] = field(default_factory=list)
    claims: list[Row] = field(default_factory=list)
    redemptions: list[Row] = field(default_factory=list)
    bookings: list[Row] = field(default_factory=list)
    issued: dict[uuid.UUID, int] = field(default_factory=dict)


@dataclass
class _Card:
    row: CardRow
    template: TemplateSetup
    entries: list[LedgerRow] = field(default_factory=list)


@dataclass
class _Voucher:
    row: Row
    campaign: CampaignSetup


@dataclass
class _Member:
    id: uuid.UUID
    home: int  # index of the store where they joined or mostly go
    joined: datetime
    wechat: bool
    cards: dict[str, _Card] = field(default_factory=dict)  # by template kind
    vouchers: list[_Voucher] = field(default_factory=list)  # unused
    busy: list[tuple[datetime, datetime]] = field(default_factory=list)

    def free(self, start: datetime, end: datetime) -> bool:
        return all(end <= lo or hi <= start for lo, hi in self.busy)


@dataclass(frozen=True, slots=True)
class _Staff:
    """The clerk or manager at the till, as ``redemption_row`` wants them."""

    id: uuid.UUID
    chain_id: uuid.UUID

    @property
    def staff_id(self) -> uuid.UUID:
        return self.id


@dataclass(order=True)
class _Intent:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # walk_in | booking
    store: int = field(compare=False)
    booking: dict[str, Any] = field(default_factory=dict, compare=False)


def _luhn(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


class Planner:
    """Plans the 28 days: pure Python, no database (the codes are signed when written)."""

    def __init__(self, setup: Setup, now: datetime) -> None:
        self.s = setup
        self.rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        self.now = now
        self.today = now.astimezone(ZONE).date()
        self.h = History()
        self.members: list[_Member] = []
        self.claims: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
        self.numbers: set[str] = set()
        self.short_codes: set[str] = set()
        self.seq = 0

    # -- helpers --

    def _at(self, day: date, minutes_from_open: int) -> datetime:
        local = datetime.combine(day, time(OPEN), ZONE) + timedelta(minutes=minutes_from_open)
        return local.astimezone(self.now.tzinfo)

    def _staff(self, store: int) -> _Staff:
        return _Staff(self.s.stores[store].clerk_id, self.s.chain_id)

    def _number(self) -> str:
        while True:
            digits = f"{self.rng.randint(1, 9)}{self.rng.randrange(10**10):010d}"
            number = _luhn(digits)
            if number not in self.numbers:
                self.numbers.add(number)
                return number

    def _short_code(self) -> str:
        """12 digits, never a leading 9 (the card short codes' first digit). Drawn with
        ``secrets``, not the seeded generator: a voucher still issued is spendable by its
        short code, so no two installs may share them (the history's figures never depend
        on these digits)."""
        while True:
            code = f"{secrets.randbelow(9)}{secrets.randbelow(10**11):011d}"
            if code not in self.short_codes:
                self.short_codes.add(code)
                return code

    def _move(self, card: _Card, delta: ledger.Delta, at: datetime, store: int | None,
              staff: uuid.UUID | None, redemption: uuid.UUID | None) -> LedgerRow:
        move = ledger.next_move(card.row, delta, tiers=card.template.tiers, now=at,
                                store_id=None if store is None else self.s.stores[store].id,
                                staff_id=staff, redemption_id=redemption)
        card.row.update(move.figures)  # type: ignore[typeddict-item]  # a part of CardRow
        card.entries.append(move.entry)
        return move.entry

    # -- joining --

    def _issue(self, member: _Member, template: TemplateSetup, at: datetime,
               store: int | None) -> _Card:
        staff = None if store is None else self.s.stores[store].clerk_id
        row: CardRow = {
            "id": uuid.uuid4(), "chain": self.s.chain_id, "template": template.id,
            "member": member.id, "number": self._number(), "status": "active",
            "balance_cents": 0, "points": 0,
            "visits_left": 0 if template.kind == "times" else None,
            "tier": ledger.tier_for(0, template.tiers),
            "expires_at": (at + timedelta(days=template.validity_days)
                           if template.validity_days else None),
            "ledger_seq": 0, "ledger_hash": ledger.GENESIS, "issued_by": staff,
            "issued_store": None if store is None else self.s.stores[store].id,
            "created_at": at,
        }
        card = _Card(row, template)
        self._move(card, ledger.Delta("issue", visits=template.initial_visits or 0), at,
                   store, staff, None)
        member.cards[template.kind] = card
        return card

    def _voucher(self, member: _Member, campaign: CampaignSetup, at: datetime) -> None:
        row: Row = {
            "id": uuid.uuid4(), "chain": self.s.chain_id, "campaign": campaign.id,
            "member": member.id, "status": "issued", "code": "",  # signed when written
            "short_code": self._short_code(), "valid_until": campaign.valid_until,
            "redeemed_at": None, "redemption_id": None, "redeemed_store": None,
            "revoked_at": None, "created_at": at}
        self.h.vouchers.append(row)
        self.claims[(campaign.id, member.id)] += 1
        self.h.issued[campaign.id] = self.h.issued.get(campaign.id, 0) + 1
        member.vouchers.append(_Voucher(row, campaign))

    def _join(self, index: int, name: str, wechat: bool, day: date) -> None:
        rng = self.rng
        home = 0 if rng.random() < 0.6 else 1
        joined = self._at(day, rng.randrange(0, (CLOSE - OPEN - 1) * 60))
        member = _Member(uuid.uuid4(), home, joined, wechat)
        store = self.s.stores[home]
        self.h.members.append({
            "id": member.id, "chain": self.s.chain_id,
            "openid": f"demo-history-{index + 1}" if wechat else None, "unionid": None,
            "name": name, "phone": phone_of(index + 1), "birthday": None,
            "registered_by": None if wechat else store.clerk_id,
            "registered_store": None if wechat else store.id, "created_at": joined,
            "phone_verified": not wechat})
        if wechat:  # claimed the membership card in the mini program
            self._issue(member, self.s.membership, joined + timedelta(minutes=1), None)
        else:
            if rng.random() < 0.7:
                card = self._issue(member, self.s.prepaid, joined + timedelta(minutes=2), home)
                self._move(card, ledger.Delta("top_up", cents=rng.choice(TOP_UPS)),
                           joined + timedelta(minutes=3), home, store.clerk_id, None)
            if rng.random() < 0.35:
                self._issue(member, self.s.times, joined + timedelta(minutes=4), home)
            if not member.cards or rng.random() < 0.2:
                self._issue(member, self.s.membership, joined + timedelta(minutes=5), home)
        if self.s.thank_you.valid_from <= joined:
            self._voucher(member, self.s.thank_you, joined + timedelta(minutes=6))
        member.busy.append((joined, joined + timedelta(minutes=20)))
        self.members.append(member)

    # -- a day at the stores --

    def _pick_member(self, store: int, start: datetime, end: datetime,
                     lead: timedelta = timedelta(minutes=30)) -> _Member | None:
        for _ in range(6):
            regulars = [m for m in self.members if m.joined + lead < start]
            if not regulars:
                return None
            home = [m for m in regulars if m.home == store]
            pool = home if home and self.rng.random() < 0.8 else regulars
            member = self.rng.choice(pool)
            if member.free(start, end):
                return member
        return None

    def _walk_in(self, store: int, at: datetime) -> None:
        rng = self.rng
        member = self._pick_member(store, at, at + timedelta(minutes=30))
        if member is None:
            return
        usable = [v for v in member.vouchers if v.campaign.valid_from <= at
                  < v.campaign.valid_until]
        if usable and rng.random() < 0.4:
            self._redeem_voucher(member, store, at, usable[0])
        else:
            choices = [c for c in member.cards.values()
                       if c.template.kind != "times" or (c.row["visits_left"] or 0) > 0]
            if not choices:
                return
            card = rng.choice(choices)
            if card.template.kind == "times":
                self._use_card(card, store, at, "visit", None)
            elif card.template.kind == "stored_value":
                redemption = self._use_card(card, store, at, "charge", rng.choice(BILLS))
                if rng.random() < 0.04:  # a slip at the till, undone by the manager
                    self._reverse(card, redemption, at + timedelta(minutes=8))
            else:
                self._use_card(card, store, at, "earn", rng.choice(BILLS))
        member.busy.append((at, at + timedelta(minutes=30)))

    def _use_card(self, card: _Card, store: int, at: datetime, action: str,
                  amount: int | None) -> Row:
        """A charge, visit or earn as ``cards.card_scans._card_move`` computes it (a charge
        the balance cannot cover is preceded by a top-up at the counter)."""
        template = card.template
        staff = self._staff(store)
        discount = charged = 0
        if action == "charge":
            assert amount is not None
            percent = ledger.discount_percent(card.row["tier"], template.tiers)
            discount = amount * percent // 100
            charged = amount - discount
            if card.row["balance_cents"] < charged:
                top_up = max(self.rng.choice(TOP_UPS), charged)
                self._move(card, ledger.Delta("top_up", cents=top_up),
                           at - timedelta(minutes=2), store, staff.id, None)
            delta = ledger.Delta("charge", cents=-charged,
                                 points=charged // 100 * template.points_per_yuan)
        elif action == "visit":
            delta = ledger.Delta("visit", visits=-1)
        else:
            assert amount is not None
            delta = ledger.Delta("earn", points=amount // 100 * template.points_per_yuan)
        redemption_id = uuid.uuid4()
        entry = self._move(card, delta, at, store, staff.id, redemption_id)
        row: Row = dict(redemption_row(
            staff, "card", card.row, self.s.stores[store].id, at,
            redemption_id=redemption_id, action=action, amount=amount, discount=discount,
            charged=charged, points_earned=delta.points, entry=entry))
        self.h.redemptions.append(row)
        return row

    def _reverse(self, card: _Card, redemption: Row, at: datetime) -> None:
        entry = card.entries[-1]
        store = next(i for i, s in enumerate(self.s.stores) if s.id == redemption["store"])
        self._move(card, ledger.Delta("reversal", cents=-entry["delta_cents"],
                                      points=-entry["delta_points"],
                                      visits=-entry["delta_visits"]),
                   at, store, self.s.manager_id, redemption["id"])
        redemption["reversed_at"], redemption["reversed_by"] = at, self.s.manager_id

    def _redeem_voucher(self, member: _Member, store: int, at: datetime,
                        voucher: _Voucher) -> None:
        """The discount as ``cards.voucher_scans`` computes it; the rest paid in cash."""
        campaign = voucher.campaign
        bill = max(self.rng.choice(BILLS), campaign.min_spend_cents)
        if campaign.kind == "cash":
            discount = min(campaign.value_cents or 0, bill)
        else:
            discount = bill * (campaign.percent_off or 0) // 100
            if campaign.max_discount_cents is not None:
                discount = min(discount, campaign.max_discount_cents)
        row: Row = dict(redemption_row(
            self._staff(store), "voucher", voucher.row, self.s.stores[store].id, at,
            amount=bill, discount=discount, charged=max(bill - discount, 0)))
        voucher.row.update(status="redeemed", redeemed_at=at, redemption_id=row["id"],
                           redeemed_store=self.s.stores[store].id)
        member.vouchers.remove(voucher)
        self.h.redemptions.append(row)

    def _slot(self, store: int, day: date, taken: dict[uuid.UUID, list[tuple[datetime, datetime]]]
              ) -> dict[str, Any] | None:
        """A service with a free stylist at a half hour of the day, or None."""
        rng = self.rng
        service = rng.choices(self.s.stores[store].services, weights=[5, 2, 3])[0]
        for _ in range(6):
            stylist = rng.choice(self.s.stores[store].stylists)
            last = (CLOSE - OPEN) * 60 - service.duration_minutes
            start = self._at(day, 30 * rng.randint(0, last // 30))
            end = start + timedelta(minutes=service.duration_minutes)
            block = end + timedelta(minutes=service.buffer_minutes)
            if all(block <= lo or hi <= start for lo, hi in taken[stylist]):
                taken[stylist].append((start, block))
                return {"service": service, "stylist": stylist, "start": start, "end": end,
                        "block_end": block}
        return None

    def _booking(self, store: int, slot: dict[str, Any]) -> None:
        rng = self.rng
        start, end = slot["start"], slot["end"]
        member = self._pick_member(store, start, end, lead=timedelta(hours=3))
        if member is None:
            return
        member.busy.append((start, end + timedelta(minutes=10)))  # and paying after
        created = max(member.joined + timedelta(minutes=10),
                      start - timedelta(days=rng.randint(0, 6), hours=rng.randint(2, 20)))
        roll = rng.random()
        status = "cancelled" if roll < 0.12 else "no_show" if roll < 0.22 else "completed"
        service: ServiceSetup = slot["service"]
        card_id = redemption_id = None
        changed = created
        if status == "completed":
            changed = end
            times, prepaid = member.cards.get("times"), member.cards.get("stored_value")
            card = (times if times is not None and (times.row["visits_left"] or 0) > 0
                    and service.id == self.s.stores[store].services[0].id else prepaid)
            if card is not None:  # completed with the member's card, as bookings.complete
                action = "visit" if card.template.kind == "times" else "charge"
                paid = self._use_card(card, store, end, action,
                                      None if action == "visit" else service.price_cents)
                card_id, redemption_id = card.row["id"], paid["id"]
        elif status == "cancelled":
            changed = created + (start - created) * rng.uniform(0.3, 0.9)
        else:
            changed = start + timedelta(minutes=20)
        self.h.bookings.append({
            "id": uuid.uuid4(), "chain": self.s.chain_id, "store": self.s.stores[store].id,
            "service": service.id, "resource": slot["stylist"], "member": member.id,
            "start_at": start, "end_at": end, "block_end_at": slot["block_end"],
            "party_size": 1, "status": status, "exclusive": True,
            "any_resource": rng.random() < 0.5, "card": card_id, "voucher": None,
            "redemption": redemption_id, "note": "",
            "booked_by": self.s.stores[store].clerk_id if rng.random() < 0.3 else None,
            "created_at": created, "updated_at": changed,
            "cancelled_at": changed if status == "cancelled" else None,
            "checked_in_at": start - timedelta(minutes=5) if status == "completed" else None,
            "completed_at": changed if status == "completed" else None,
            "no_show_at": changed if status == "no_show" else None})

    def _day(self, day: date) -> None:
        rng = self.rng
        weekend = day.weekday() >= 5
        intents: list[_Intent] = []
        for store in range(len(self.s.stores)):
            walk_ins = rng.randint(3, 6) if store == 0 else rng.randint(2, 4)
            bookings = rng.randint(2, 4) if store == 0 else rng.randint(1, 3)
            if weekend:
                walk_ins, bookings = walk_ins + 2, bookings + 1
            for _ in range(walk_ins):
                at = self._at(day, rng.randrange(10, (CLOSE - OPEN) * 60 - 10))
                intents.append(_Intent(at, self._next(), "walk_in", store))
            taken: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
            for _ in range(bookings):
                slot = self._slot(store, day, taken)
                if slot is not None:
                    intents.append(_Intent(slot["start"], self._next(), "booking", store, slot))
        for intent in sorted(intents):  # each card's moves in the order of time
            if intent.kind == "walk_in":
                self._walk_in(intent.store, intent.at)
            else:
                self._booking(intent.store, intent.booking)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _blast(self, campaign: CampaignSetup, at: datetime) -> None:
        """The operator sends the campaign to every member who has joined."""
        for member in self.members:
            if member.joined < at and campaign.valid_from <= at < campaign.valid_until:
                self._voucher(member, campaign, at)

    # -- everything --

    def plan(self) -> History:
        rng = self.rng
        # The first eight members joined in the first days, the others over the weeks.
        offsets = [rng.randint(DAYS - 2, DAYS) if i < 8 else rng.randint(2, DAYS - 3)
                   for i in range(len(MEMBERS))]
        for back in range(DAYS, 0, -1):
            day = self.today - timedelta(days=back)
            for index, (name, wechat) in enumerate(MEMBERS):
                if offsets[index] == back:
                    self._join(index, name, wechat, day)
            if back in (21, 7):  # member days: a voucher for everyone, sent at 9:30
                self._blast(self.s.member_day, self._at(day, -30))
            self._day(day)
        members = {m.id: m for m in self.members}
        self.h.members.sort(key=lambda r: r["created_at"])
        for row in self.h.members:
            for card in members[row["id"]].cards.values():
                self.h.cards.append(card.row)
                self.h.entries.extend(card.entries)
        self.h.claims = [{"id": uuid.uuid4(), "campaign": campaign, "member": member,
                          "claimed": claimed}
                         for (campaign, member), claimed in self.claims.items()]
        return self.h


def plan(setup: Setup, now: datetime) -> History:
    return Planner(setup, now).plan()


# --- writing it -----------------------------------------------------------------------------

CHUNK = 200


async def _insert(table: Any, rows: Sequence[Any]) -> None:
    """Insert the rows through the table class, so a column the rows do not name gets its
    default (defaults of columns added later included)."""
    for first in range(0, len(rows), CHUNK):
        await table.insert(*(table(**row) for row in rows[first:first + CHUNK])).run()


async def _unique(history: History) -> None:
    """Card numbers and voucher short codes are unique in the whole database: one drawn
    here that another chain holds already is drawn again (at random: it never happens)."""
    numbers = [c["number"] for c in history.cards]
    for taken in await Card.select(Card.number).where(Card.number.is_in(numbers)).output(
            as_list=True).run():
        for card in history.cards:
            if card["number"] == taken:
                card["number"] = _luhn(
                    f"{secrets.randbelow(9) + 1}{secrets.randbelow(10**10):010d}")
    codes = [v["short_code"] for v in history.vouchers]
    for taken in await Voucher.select(Voucher.short_code).where(
            Voucher.short_code.is_in(codes)).output(as_list=True).run():
        for voucher in history.vouchers:
            if voucher["short_code"] == taken:
                voucher["short_code"] = (f"{secrets.randbelow(9)}"
                                         f"{secrets.randbelow(10**11):011d}")


async def seed_history(setup: Setup, signer: CodeSigner, now: datetime) -> History:
    """Plan and write the history, inside the caller's write transaction."""
    history = plan(setup, now)
    await _unique(history)
    for voucher in history.vouchers:
        voucher["code"] = await signer.sign(setup.chain_id, CodeKind.VOUCHER, voucher["id"],
                                            voucher["valid_until"])
    await _insert(Member, history.members)
    await _insert(Card, history.cards)
    await _insert(LedgerEntry, history.entries)
    await _insert(Voucher, history.vouchers)
    await _insert(CampaignClaims, history.claims)
    await _insert(Redemption, history.redemptions)
    await _insert(Booking, history.bookings)
    first_day = datetime.combine(now.astimezone(ZONE).date() - timedelta(days=DAYS + 1),
                                 time(9), ZONE)
    for campaign in (setup.thank_you, setup.member_day):
        # Made before the weeks they ran over, like the vouchers they issued.
        await Campaign.update({Campaign.issued_count: history.issued.get(campaign.id, 0),
                               Campaign.created_at: first_day}).where(
            Campaign.id == campaign.id).run()
    return history
