"""`o2o demo --size large`: a year of a ten-store chain, big enough to measure the stats.

100,000 members, about 1,000,000 redemptions (card charges and visits, vouchers), their
card ledgers (hash-chained, so `o2o verify-ledger` passes), top-ups, about 620,000
vouchers (every one signed; 150,000 unused) and about 175,000 bookings (200,000 asked,
less the slots already taken), spread over the last year at stores in three time zones.
``scale`` shrinks every count (the test uses a five-hundredth).

Two steps. The chain, its stores, staff, services, resources, card templates and
campaigns go through the services like the small demo, committed (so the chain's signing
key can sign the voucher codes from cache). Then every bulk row is written in one
write transaction on its connection: PostgreSQL COPY, SQLite executemany; with
``o2o.stats_off`` set, so the stats triggers stay quiet and the rollups are rebuilt once
at the end, in the same transaction. A run that stops half way leaves a chain without
members, which the next run fills. Seeded random numbers: the same data each time.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner
from app.core.db import current_engine, is_sqlite, write_transaction
from app.demo import PASSWORD
from app.stats import repository as stats_repo
from bookings.tables import Booking
from cards import ledger, vouchers
from cards import repository as card_repo
from cards import service as card_service
from cards.redemption import redemption_row
from cards.rows import CardRow, LedgerRow, TemplateRow, TierRow
from cards.schemas import CampaignCreate, TemplateCreate, Tier
from cards.tables import Campaign, CampaignClaims, Card, LedgerEntry, Redemption, Voucher
from marketing.segments import service as segments
from stores import repository as store_repo
from stores import service as stores
from stores.schemas import OpeningHours, ResourceCreate, ServiceCreate, StaffCreate, StoreCreate
from stores.tables import Member, Resource, Service, Staff

CHAIN_NAME = "Silk Hair Salon 丝发廊 (large demo)"
OPERATOR, MANAGER = "large-operator", "large-manager"
MEMBERS, REDEMPTIONS, BOOKINGS, UNUSED_VOUCHERS = 100_000, 1_000_000, 200_000, 150_000
DAYS = 365
SEED = 2026
STORES = [  # name, zone, share of the members
    ("静安店 Jing'an", "Asia/Shanghai", 16), ("徐汇店 Xuhui", "Asia/Shanghai", 14),
    ("浦东店 Pudong", "Asia/Shanghai", 14), ("长宁店 Changning", "Asia/Shanghai", 10),
    ("杭州店 Hangzhou", "Asia/Shanghai", 10), ("南京店 Nanjing", "Asia/Shanghai", 9),
    ("成都店 Chengdu", "Asia/Shanghai", 9), ("深圳店 Shenzhen", "Asia/Shanghai", 8),
    ("乌鲁木齐店 Urumqi", "Asia/Urumqi", 5), ("东京店 Tokyo", "Asia/Tokyo", 5),
]
SERVICES = [("Haircut 剪发", 45, 8800), ("Colour 染发", 45, 38800), ("Treatment 护理", 45, 19800)]
STYLISTS = 8
OPEN, CLOSE = 10, 21  # bookable hours on the hour; a booking blocks its stylist an hour
BILLS = [4800, 8800, 12800, 19800, 26800, 38800, 58800]
TOP_UPS = [50_000, 100_000, 200_000]
TIERS = [Tier(name="银卡 Silver", min_points=500, discount_percent=5),
         Tier(name="金卡 Gold", min_points=3000, discount_percent=10)]
FLUSH_ROWS = 5_000

Progress = Callable[[int, int], None]


def _hours() -> list[OpeningHours]:
    return [OpeningHours(weekday=d, open=f"{OPEN:02d}:00", close=f"{CLOSE:02d}:00")
            for d in range(7)]


@dataclass
class Setup:
    chain_id: uuid.UUID
    manager_id: uuid.UUID
    stores: list[tuple[uuid.UUID, ZoneInfo, int]]  # id, zone, weight
    clerks: dict[uuid.UUID, list[uuid.UUID]]
    services: dict[uuid.UUID, list[uuid.UUID]]
    stylists: dict[uuid.UUID, list[uuid.UUID]]
    prepaid: TemplateRow
    times: TemplateRow
    campaigns: list[dict[str, Any]]


# --- step 1: the chain, through the services --------------------------------------------

async def _setup() -> None:
    chain_id, operator_id = await stores.create_chain_with_operator(
        CHAIN_NAME, OPERATOR, PASSWORD)
    operator = Principal(kind="staff", id=operator_id, chain_id=chain_id, role="operator")
    store_ids = []
    for index, (name, zone, _) in enumerate(STORES):
        store = await stores.create_store(operator, StoreCreate(
            name=name, timezone=zone, opening_hours=_hours(), address=f"No. {index + 1}"))
        store_ids.append(store.id)
        service_ids = [(await stores.create_service(operator, store.id, ServiceCreate(
            name=s, duration_minutes=d, price_cents=p, buffer_minutes=15))).id
            for s, d, p in SERVICES]
        for n in range(STYLISTS):
            await stores.create_resource(operator, store.id, ResourceCreate(
                name=f"Stylist {n + 1}", kind="staff", capacity=1, service_ids=service_ids))
        for n in range(2):
            await stores.create_staff(operator, StaffCreate(
                username=f"large-clerk-{index + 1:02d}-{n + 1}", password=PASSWORD,
                role="clerk", store_ids=[store.id]))
    await stores.create_staff(operator, StaffCreate(
        username=MANAGER, password=PASSWORD, role="manager", store_ids=store_ids))
    await card_service.create_template(operator, TemplateCreate(
        name="储值卡 Prepaid", kind="stored_value", points_per_yuan=1, tiers=TIERS))
    await card_service.create_template(operator, TemplateCreate(
        name="剪发十次卡 10 haircuts", kind="times", initial_visits=10, validity_days=365,
        claimable=False))
    now = utcnow()
    start, end = now - timedelta(days=DAYS + 40), now + timedelta(days=90)
    for body in (
        CampaignCreate(name="立减 ¥20", kind="cash", value_cents=2000, min_spend_cents=10000,
                       total_quantity=10_000_000, per_member_limit=1000, valid_from=start,
                       valid_until=end),
        CampaignCreate(name="8 折", kind="discount", percent_off=20, max_discount_cents=5000,
                       total_quantity=10_000_000, per_member_limit=1000, valid_from=start,
                       valid_until=end),
        CampaignCreate(name="免费护发 Hair mask", kind="gift", item_name="Hair mask",
                       total_quantity=10_000_000, per_member_limit=1000, valid_from=start,
                       valid_until=end),
    ):
        await vouchers.create_campaign(operator, body)


async def _load_setup(chain_id: uuid.UUID) -> Setup:
    store_rows = await store_repo.list_stores(chain_id)
    weights = {name: weight for name, _, weight in STORES}
    staff = await Staff.select(Staff.id, Staff.role, Staff.username).where(
        Staff.chain == chain_id).run()
    links = await store_repo.staff_store_ids([s["id"] for s in staff])
    clerks: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for row in sorted(staff, key=lambda r: r["username"]):
        if row["role"] == "clerk":
            clerks[links[row["id"]][0]].append(row["id"])
    manager = next(s["id"] for s in staff if s["role"] == "manager")
    services, stylists = {}, {}
    for store in store_rows:
        services[store["id"]] = [r["id"] for r in await Service.select(Service.id).where(
            Service.store == store["id"]).order_by(Service.created_at).run()]
        stylists[store["id"]] = [r["id"] for r in await Resource.select(Resource.id).where(
            Resource.store == store["id"]).order_by(Resource.name).run()]
    templates = {t["kind"]: t for t in await card_repo.list_templates(chain_id)}
    campaigns = await Campaign.select().where(Campaign.chain == chain_id).order_by(
        Campaign.created_at).output(load_json=True).run()
    return Setup(
        chain_id=chain_id, manager_id=manager,
        stores=[(s["id"], ZoneInfo(s["timezone"]), weights.get(s["name"], 1))
                for s in store_rows],
        clerks=dict(clerks), services=services, stylists=stylists,
        prepaid=templates["stored_value"], times=templates["times"], campaigns=campaigns)


# --- step 2: the rows, in bulk ----------------------------------------------------------

_TABLES: dict[str, Any] = {t._meta.tablename: t for t in (
    Member, Card, LedgerEntry, Redemption, Voucher, CampaignClaims, Booking)}


_PARENTS = {"card": ("member",), "card_ledger": ("card",), "voucher": ("member",),
            "campaign_claims": ("member",), "booking": ("member",)}


class Writer:
    """Buffers rows per table and writes them on the transaction's own connection."""

    def __init__(self, connection: Any, sqlite: bool) -> None:
        self._connection, self._sqlite = connection, sqlite
        self._rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self._columns = {name: [c._meta.db_column_name for c in table._meta.columns]
                         for name, table in _TABLES.items()}
        self.written: dict[str, int] = defaultdict(int)

    async def add(self, table: str, row: Mapping[str, Any]) -> None:
        self._rows[table].append(tuple(row[c] for c in self._columns[table]))
        if len(self._rows[table]) >= FLUSH_ROWS:
            await self._flush(table)

    async def close(self) -> None:
        for table in list(self._rows):
            await self._flush(table)

    async def _flush(self, table: str) -> None:
        for parent in _PARENTS.get(table, ()):  # foreign keys are checked row by row
            await self._flush(parent)
        rows, columns = self._rows.pop(table, []), self._columns[table]
        if not rows:
            return
        if self._sqlite:
            marks = ", ".join("?" for _ in columns)
            await self._connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                rows)
        else:
            await self._connection.copy_records_to_table(table, records=rows, columns=columns)
        self.written[table] += len(rows)


def _luhn(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


@dataclass(frozen=True, slots=True)
class _Clerk:
    """A clerk at the till, as the one redemption builder wants it (``Staffer``)."""

    chain_id: uuid.UUID
    id: uuid.UUID

    @property
    def staff_id(self) -> uuid.UUID:
        return self.id

    @property
    def api_key_id(self) -> None:
        return None


@dataclass
class CardState:
    row: CardRow  # the card row this generator writes and moves (bulk insert)
    tiers: list[TierRow]
    entries: list[LedgerRow] = field(default_factory=list)


def _birthday(index: int) -> date | None:
    """Most members gave a birthday (birthday automations and segments find them), spread
    over every day of the year, some on 29 February; one in ten gave none. From the index,
    not the generator's random numbers, so every other figure stays as it was."""
    if index % 10 == 9:
        return None
    if index % 1461 == 0:
        return date(1988, 2, 29)
    return date(1960 + index % 45, 1, 1) + timedelta(days=(index * 7919) % 365)


class Generator:
    def __init__(self, setup: Setup, writer: Writer, signer: CodeSigner, scale: float,
                 progress: Progress | None) -> None:
        self.s, self.w, self.signer, self.progress = setup, writer, signer, progress
        self.rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        self.now = utcnow().replace(microsecond=0)
        self.first_day = self.now - timedelta(days=DAYS + 35)
        self.members = max(int(MEMBERS * scale), 10)
        self.redemptions = max(int(REDEMPTIONS * scale), 10)
        self.bookings = max(int(BOOKINGS * scale), 10)
        self.unused_vouchers = int(UNUSED_VOUCHERS * scale)
        self.card_numbers = 0
        self.short_codes: set[str] = set()
        self.slots: set[tuple[uuid.UUID, date, int, int]] = set()
        self.claims: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
        self.issued: dict[uuid.UUID, int] = defaultdict(int)
        self.store_weights = [w for _, _, w in setup.stores]
        self.joined: list[tuple[uuid.UUID, datetime]] = []

    # -- helpers --

    def _store(self) -> tuple[uuid.UUID, ZoneInfo, int]:
        return self.rng.choices(self.s.stores, weights=self.store_weights)[0]

    def _moment(self, zone: ZoneInfo, after: datetime, before: datetime) -> datetime:
        """A local business-hours instant between two instants (``after`` if none fits)."""
        span = max(int((before - after).total_seconds() // 86400), 0)
        for _ in range(4):
            day = (after.astimezone(zone).date() + timedelta(days=self.rng.randint(0, span)))
            local = datetime.combine(day, time(self.rng.randint(OPEN, CLOSE - 1),
                                               self.rng.randint(0, 59)), zone)
            moment = local.astimezone(after.tzinfo)
            if after < moment < before:
                return moment
        return after + timedelta(seconds=1)

    def _card_number(self) -> str:
        self.card_numbers += 1
        return _luhn(f"9{self.card_numbers:010d}")

    def _short_code(self) -> str:
        while True:
            code = f"{self.rng.randrange(9 * 10**11):012d}"  # no leading 9 (decision 038)
            if code not in self.short_codes:
                self.short_codes.add(code)
                return code

    def _entry(self, card: CardState, delta: ledger.Delta, at: datetime,
               store: uuid.UUID | None, staff: uuid.UUID | None,
               redemption: uuid.UUID | None) -> LedgerRow:
        """One ledger entry, hash-chained by ``cards.ledger.next_move`` as a payment's."""
        move = ledger.next_move(card.row, delta, tiers=card.tiers, now=at, store_id=store,
                                staff_id=staff, redemption_id=redemption)
        card.row.update(move.figures)  # type: ignore[typeddict-item]  # a part of CardRow
        card.entries.append(move.entry)  # written after the card row, which ends with them
        return move.entry

    async def _card(self, template: TemplateRow, member: uuid.UUID, at: datetime,
                    store: uuid.UUID | None) -> CardState:
        times = template["kind"] == "times"
        row: CardRow = {
            "id": uuid.uuid4(), "chain": self.s.chain_id, "template": template["id"],
            "member": member, "number": self._card_number(), "status": "active",
            "balance_cents": 0, "points": 0, "visits_left": 0 if times else None,
            "tier": None, "expires_at": at + timedelta(days=365) if times else None,
            "ledger_seq": 0, "ledger_hash": ledger.GENESIS,
            "issued_by": self.s.clerks[store][0] if store else None, "issued_store": store,
            "created_at": at,
        }
        card = CardState(row, template["tiers"])
        self._entry(card, ledger.Delta("issue", visits=10 if times else 0), at, store,
                          row["issued_by"], None)
        return card

    async def _voucher(self, member: uuid.UUID, at: datetime, campaign: dict[str, Any],
                       **values: Any) -> uuid.UUID:
        voucher_id = uuid.uuid4()
        code = await self.signer.sign(self.s.chain_id, CodeKind.VOUCHER, voucher_id,
                                      campaign["valid_until"])
        self.claims[(campaign["id"], member)] += 1
        self.issued[campaign["id"]] += 1
        await self.w.add("voucher", {
            "id": voucher_id, "chain": self.s.chain_id, "campaign": campaign["id"],
            "member": member, "status": "issued", "code": code,
            "short_code": self._short_code(), "valid_until": campaign["valid_until"],
            "redeemed_at": None, "redemption_id": None, "redeemed_store": None,
            "revoked_at": None, "created_at": at, "source": "claim", "source_id": None,
            **values})
        return voucher_id

    # -- one member's year --

    async def member(self, index: int, activity: int, bookings: int) -> None:
        s, rng = self.s, self.rng
        home, zone, _ = self._store()
        wechat = index % 5 == 0
        member_id = uuid.uuid4()
        joined = self._moment(zone, self.first_day, self.now - timedelta(hours=1))
        self.joined.append((member_id, joined))
        await self.w.add("member", {
            "id": member_id, "chain": s.chain_id,
            "openid": f"large-{index}" if wechat else None, "unionid": None,
            "name": f"会员 Member {index + 1}", "phone": f"1{index + 3_000_000_000:010d}",
            "birthday": _birthday(index), "registered_by": None if wechat else s.clerks[home][0],
            "registered_store": None if wechat else home, "created_at": joined,
            "phone_verified": not wechat,  # a clerk typed it; a WeChat member did not
            "external_id": None})
        issued_at = joined + timedelta(minutes=2)
        prepaid = (await self._card(s.prepaid, member_id, issued_at, None if wechat else home)
                   if rng.random() < 0.7 else None)
        times = (await self._card(s.times, member_id, issued_at, home)
                 if rng.random() < 0.15 else None)
        moments = sorted(self._moment(zone, issued_at, self.now) for _ in range(activity))
        for at in moments:
            store = home if rng.random() < 0.85 else self._store()[0]
            clerk = rng.choice(s.clerks[store])
            pick = rng.random()
            # A times card is issued with visits and an expiry (the ``or``s are for mypy).
            if times is not None and pick < 0.15 and (times.row["visits_left"] or 0) > 0 \
                    and at < (times.row["expires_at"] or self.now):
                await self._visit(times, member_id, store, clerk, at)
            elif prepaid is not None and pick < 0.75:
                await self._charge(prepaid, member_id, store, clerk, at)
            else:
                await self._redeem_voucher(member_id, store, clerk, at)
        for card in (prepaid, times):
            if card is not None:
                await self.w.add("card", card.row)
                for entry in card.entries:
                    await self.w.add("card_ledger", entry)
        for _ in range(bookings):
            await self._booking(member_id, home, zone, joined)

    async def _visit(self, card: CardState, member: uuid.UUID, store: uuid.UUID,
                     clerk: uuid.UUID, at: datetime) -> None:
        redemption_id = uuid.uuid4()
        entry = self._entry(card, ledger.Delta("visit", visits=-1), at, store, clerk,
                            redemption_id)
        await self.w.add("redemption", redemption_row(
            _Clerk(self.s.chain_id, clerk), "card", card.row, store, at,
            redemption_id=redemption_id, action="visit", entry=entry))

    async def _charge(self, card: CardState, member: uuid.UUID, store: uuid.UUID,
                      clerk: uuid.UUID, at: datetime) -> None:
        bill = self.rng.choice(BILLS)
        percent = ledger.discount_percent(card.row["tier"], card.tiers)
        discount = bill * percent // 100
        charged = bill - discount
        if card.row["balance_cents"] < charged:
            amount = max(self.rng.choice(TOP_UPS), charged)
            self._entry(card, ledger.Delta("top_up", cents=amount),
                              at - timedelta(minutes=5), store, clerk, None)
        redemption_id = uuid.uuid4()
        points = charged // 100
        entry = self._entry(card, ledger.Delta("charge", cents=-charged, points=points),
                                  at, store, clerk, redemption_id)
        reversed_at = None
        if self.rng.random() < 0.005:  # a slip at the till, undone ten minutes later
            reversed_at = at + timedelta(minutes=10)
            self._entry(card, ledger.Delta("reversal", cents=charged, points=-points),
                              reversed_at, store, self.s.manager_id, redemption_id)
        row = redemption_row(_Clerk(self.s.chain_id, clerk), "card", card.row, store, at,
                             redemption_id=redemption_id, action="charge", amount=bill,
                             discount=discount, charged=charged, points_earned=points,
                             entry=entry)
        if reversed_at is not None:
            row["reversed_at"], row["reversed_by"] = reversed_at, self.s.manager_id
        await self.w.add("redemption", row)

    async def _redeem_voucher(self, member: uuid.UUID, store: uuid.UUID, clerk: uuid.UUID,
                              at: datetime) -> None:
        campaign = self.rng.choices(self.s.campaigns, weights=[6, 3, 1])[0]
        if campaign["kind"] == "cash":
            bill: int | None = max(self.rng.choice(BILLS), campaign["min_spend_cents"])
            discount = int(campaign["value_cents"])
        elif campaign["kind"] == "discount":
            bill = self.rng.choice(BILLS)
            discount = min(bill * campaign["percent_off"] // 100,
                           int(campaign["max_discount_cents"]))
        else:
            bill, discount = None, 0
        redemption_id = uuid.uuid4()
        issued = max(at - timedelta(days=self.rng.randint(1, 20)), self.first_day)
        voucher_id = await self._voucher(member, issued, campaign, status="redeemed",
                                         redeemed_at=at, redemption_id=redemption_id,
                                         redeemed_store=store)
        # The redemption names the voucher it spent, as a scan's does: campaign results
        # join the two (before issue 20 a random id left every campaign at 0 redeemed).
        subject = {"id": voucher_id, "member": member}
        await self.w.add("redemption", redemption_row(
            _Clerk(self.s.chain_id, clerk), "voucher", subject, store, at,
            redemption_id=redemption_id, amount=bill, discount=discount,
            charged=max((bill or 0) - discount, 0)))

    async def _booking(self, member: uuid.UUID, store: uuid.UUID, zone: ZoneInfo,
                       joined: datetime) -> None:
        rng = self.rng
        first = joined.astimezone(zone).date()
        last = self.now.astimezone(zone).date() + timedelta(days=14)
        for _ in range(6):  # a free stylist at a free hour, else no booking
            day = first + timedelta(days=rng.randint(0, max((last - first).days, 0)))
            hour, stylist = rng.randrange(OPEN, CLOSE), rng.randrange(STYLISTS)
            key = (store, day, hour, stylist)
            start = datetime.combine(day, time(hour), zone)
            if key in self.slots or start <= joined:
                continue
            self.slots.add(key)
            break
        else:
            return
        future = start > self.now
        roll = rng.random()
        status = ("cancelled" if roll < 0.12 else "confirmed") if future else (
            "cancelled" if roll < 0.12 else "no_show" if roll < 0.20 else "completed")
        booked = max(joined, start - timedelta(days=rng.randint(0, 10), hours=2))
        changed = min(start + timedelta(hours=1), self.now) if not future else booked
        await self.w.add("booking", {
            "id": uuid.uuid4(), "chain": self.s.chain_id, "store": store,
            "service": rng.choice(self.s.services[store]),
            "resource": self.s.stylists[store][stylist], "member": member,
            "start_at": start, "end_at": start + timedelta(minutes=45),
            "block_end_at": start + timedelta(minutes=60), "party_size": 1, "status": status,
            "exclusive": True, "any_resource": False, "card": None, "voucher": None,
            "redemption": None, "note": "", "booked_by": None, "created_at": booked,
            "updated_at": changed,
            "cancelled_at": changed if status == "cancelled" else None, "checked_in_at": None,
            "completed_at": changed if status == "completed" else None,
            "no_show_at": changed if status == "no_show" else None})

    # -- everything --

    def _shares(self, total: int, weights: list[float]) -> Iterator[int]:
        whole = sum(weights)
        carry = 0.0
        for weight in weights:
            carry += total * weight / whole
            share = int(carry)
            carry -= share
            yield share

    async def run(self) -> None:
        weights = [min(self.rng.paretovariate(1.6), 40.0) for _ in range(self.members)]
        activity = list(self._shares(self.redemptions, weights))
        bookings = list(self._shares(self.bookings, weights))
        for index in range(self.members):
            await self.member(index, activity[index], bookings[index])
            if self.progress and (index % 500 == 0 or index == self.members - 1):
                self.progress(index + 1, self.members)
        for _ in range(self.unused_vouchers):  # issued, not (yet) used
            member, joined = self.joined[self.rng.randrange(len(self.joined))]
            campaign = self.rng.choices(self.s.campaigns, weights=[6, 3, 1])[0]
            span = int((self.now - joined).total_seconds())
            await self._voucher(member, joined + timedelta(seconds=self.rng.randint(1, span)),
                                campaign)
        for (campaign_id, member_id), claimed in self.claims.items():
            await self.w.add("campaign_claims", {"id": uuid.uuid4(), "campaign": campaign_id,
                                                 "member": member_id, "claimed": claimed})
        await self.w.close()


async def seed_large(secret_key: str, scale: float = 1.0,
                     progress: Progress | None = None) -> list[str]:
    chain = await store_repo.find_chain_by_name(CHAIN_NAME)
    if chain is None:
        async with write_transaction():
            await _setup()
        chain = await store_repo.find_chain_by_name(CHAIN_NAME)
        assert chain is not None
    chain_id = chain["id"]
    header = "Large demo chain already present."
    if not await Member.exists().where(Member.chain == chain_id).run():
        header = await _fill(await _load_setup(chain_id), secret_key, scale, progress)
    lines = [header, f"chain_id: {chain_id}", "Staff logins (username / password):",
             f"  operator {OPERATOR} / {PASSWORD}", f"  manager  {MANAGER} / {PASSWORD}",
             f"  clerks   large-clerk-01-1 ... large-clerk-{len(STORES):02d}-2 / {PASSWORD}"]
    return lines


async def _fill(setup: Setup, secret_key: str, scale: float,
                progress: Progress | None) -> str:
    engine = current_engine()
    sqlite = is_sqlite(engine)
    signer = CodeSigner(secret_key)
    # The chain's signing key, made and committed now, then signs from cache.
    await signer.sign(setup.chain_id, CodeKind.VOUCHER, uuid.uuid4(), utcnow())
    async with write_transaction():
        transaction = engine.current_transaction.get()
        assert transaction is not None
        connection = transaction.connection
        if not sqlite:  # the triggers stay quiet; the rollups are rebuilt once below
            await connection.execute("SET LOCAL o2o.stats_off = 'on'")
        writer = Writer(connection, sqlite)
        generator = Generator(setup, writer, signer, scale, progress)
        await generator.run()
        for campaign, count in generator.issued.items():
            await Campaign.update(issued_count=count).where(Campaign.id == campaign).run()
        await stats_repo.rebuild(setup.chain_id)
        await segments.rebuild(setup.chain_id)
    if not sqlite:  # fresh statistics and visibility maps, as autovacuum would leave them
        for table in (*_TABLES, "stats_store_day", "stats_activity"):
            await engine.run_ddl(f"VACUUM ANALYZE {table}", in_pool=False)
    counts = ", ".join(f"{n:,} {t}" for t, n in sorted(writer.written.items()))
    return f"Large demo chain created: {counts}."
