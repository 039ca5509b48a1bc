"""The rules of the operator stats: who sees which stores, what a range is, what each
figure means. Read-only but for folding the figures the triggers queued (PostgreSQL).

- Scope: an operator sees the whole chain (or one store with ``store_id``); a manager
  their own stores (one of them with ``store_id``; another store is 404 ``not_found``).
- A range is inclusive local dates: at each store, from its local midnight of ``from`` to
  its local midnight after ``to``, in the store's own time zone (a chain's stores may sit
  in different zones, so "a day" is each store's own). At most 366 days.
- What belongs to the chain rather than a store (members who joined through WeChat, cards
  members claimed themselves, vouchers, online top-ups and refunds) counts in the
  whole-chain view only, by the local days of the chain's home zone (its first store's);
  a store's view counts the vouchers of campaigns valid at its stores.
- The liability (money held on the chain's cards at a local date's end, the home zone's)
  is the chain's: operators only.
- Figures: see :mod:`app.stats.repository`. Rates are 0 when their denominator is.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import uuid
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.errors import Forbidden, NotFound, ValidationError
from app.stats import repository as repo
from app.stats.repository import Span
from app.stats.rows import StoreZone
from app.stats.schemas import (
    BookingsOut,
    CardsOut,
    Cohort,
    CohortMonth,
    CohortsOut,
    LiabilityOut,
    MembersOut,
    Metric,
    OverviewOut,
    Point,
    RedemptionKinds,
    RedemptionsOut,
    ServiceFigures,
    ServicesOut,
    StoreFigures,
    StoresOut,
    TimeseriesOut,
    TopUpsOut,
    VouchersOut,
)

MAX_DAYS = 366
MAX_MONTHS = 24
FIRST_YEAR, LAST_YEAR = 2000, 2100
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Scope:
    chain_id: uuid.UUID
    store_id: uuid.UUID | None  # as asked
    stores: list[StoreZone]  # oldest first
    whole_chain: bool  # the chain's own events (not a store's) count too
    home: ZoneInfo  # the zone of chain-level days
    every_store: bool  # the stores are all the chain's

    @property
    def activity_scope(self) -> uuid.UUID | None:
        """Whose activity rows answer "distinct members": the chain's (every store), the
        one store's; None for some stores of a chain."""
        if self.every_store:
            return self.chain_id
        if len(self.stores) == 1:
            return uuid.UUID(str(self.stores[0]["id"]))
        return None

    @property
    def store_ids(self) -> list[uuid.UUID]:
        return [s["id"] for s in self.stores]

    def spans(self, first: date, last: date) -> list[Span]:
        return [Span(s["id"], zone, _midnight(first, zone), _midnight(last + timedelta(1), zone))
                for s in self.stores for zone in (ZoneInfo(s["timezone"]),)]

    def home_bounds(self, first: date, last: date) -> tuple[datetime, datetime]:
        return _midnight(first, self.home), _midnight(last + timedelta(1), self.home)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts (where midnight is skipped, the instant of the jump)."""
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def resolve_scope(principal: Principal, store_id: uuid.UUID | None) -> Scope:
    if principal.role not in ("operator", "manager"):
        raise Forbidden("stats are for operators and managers")
    stores = await repo.chain_stores(principal.chain_id)
    home = ZoneInfo(stores[0]["timezone"]) if stores else UTC_ZONE
    if store_id is not None:
        chosen = [s for s in stores if s["id"] == store_id and principal.covers_store(s["id"])]
        if not chosen:
            raise NotFound("no such store")
        return Scope(principal.chain_id, store_id, chosen, False,
                     ZoneInfo(chosen[0]["timezone"]), len(stores) == 1)
    if principal.is_operator:
        return Scope(principal.chain_id, None, stores, True, home, True)
    mine = [s for s in stores if principal.covers_store(s["id"])]
    return Scope(principal.chain_id, None, mine, False,
                 ZoneInfo(mine[0]["timezone"]) if mine else home,
                 bool(mine) and len(mine) == len(stores))


def check_range(first: date, last: date) -> None:
    for name, day in (("from", first), ("to", last)):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValidationError(name, f"must be a date between {FIRST_YEAR} and {LAST_YEAR}")
    if last < first:
        raise ValidationError("to", "must not be before from")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError("to", f"a range is at most {MAX_DAYS} days")


async def _usable_campaigns(scope: Scope) -> list[uuid.UUID] | None:
    """None for the whole chain (every campaign); else those valid at a store of the scope."""
    if scope.whole_chain:
        return None
    mine = {str(s) for s in scope.store_ids}
    return [c["id"] for c in await repo.chain_campaigns(scope.chain_id)
            if c["store_ids"] is None or mine & set(c["store_ids"])]


# --- at most a few reports at once per process ----------------------------------------

# A report reads and folds many rows. Sixty-four at once in one process would only hold
# sixty-four results in memory side by side (they share the process's one core: none is
# faster for it); a few run, the rest queue in the event loop. Measured with
# bench/load_bench.py at 64 in flight on SQLite (which reads the events themselves):
# 30 -> 42 overviews/s and RSS 154 -> 132 MB; on PostgreSQL p99 388 -> 177 ms.
REPORTS_AT_ONCE = 4
_report_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())
P = ParamSpec("P")
R = TypeVar("R")


def _report(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A report: one of a few at once, reading the rollups once the queue is folded."""
    @functools.wraps(function)
    async def bounded(*args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()  # one semaphore per loop: tests run several
        slots = _report_slots.get(loop)
        if slots is None:
            slots = _report_slots[loop] = asyncio.Semaphore(REPORTS_AT_ONCE)
        async with slots:
            await fold_queue(wait=True)
            return await function(*args, **kwargs)

    return bounded


# --- the queue of figures (PostgreSQL) --------------------------------------------------

# A batch is 5,000 rows; a report folds until the queue is empty (every event committed
# before it was asked is counted) but gives up after this many batches under a write
# storm that outruns it, and reads what is folded.
_FOLDS_AT_MOST = 100


async def fold_queue(*, wait: bool) -> None:
    """Move the queued figures into the rollups (the stores' and the chain's money).
    ``wait``: behind a fold already running (a report); else skip the turn (housekeeping,
    every second in every process)."""
    for fold in (repo.fold, repo.fold_money):
        for _ in range(_FOLDS_AT_MOST):
            if await fold(wait=wait) < repo.FOLD_BATCH:
                break


async def fold_queue_now() -> None:
    """Housekeeping's sweep."""
    await fold_queue(wait=False)


# --- overview ---------------------------------------------------------------------------

@_report
async def overview(principal: Principal, first: date, last: date,
                   store_id: uuid.UUID | None) -> OverviewOut:
    check_range(first, last)
    scope = await resolve_scope(principal, store_id)
    spans = scope.spans(first, last)
    lo, hi = scope.home_bounds(first, last)
    chain = scope.chain_id
    campaigns = await _usable_campaigns(scope)

    async def chain_own() -> tuple[int, int, int, dict[str, int]]:
        """New and all members, cards, and money moves (online top-ups and refunds) of
        the chain rather than a store."""
        money = repo.empty_online()
        if not scope.whole_chain:
            return 0, 0, 0, money
        new, total, cards, days = await asyncio.gather(
            repo.unattributed_members(chain, lo, hi), repo.unattributed_members(chain, None, hi),
            repo.unattributed_cards(chain, lo, hi),
            repo.online_money(chain, scope.home, first, last))
        for figures in days.values():
            for name, value in figures.items():
                money[name] += value
        return new, total, cards, money

    # Independent reads, each on its own pooled connection (PostgreSQL).
    t, joined, activity, vouchers, cards_active, own = await asyncio.gather(
        repo.totals(spans, first, last),
        repo.members_joined_by(spans, last),
        repo.activity(scope.activity_scope, spans, first, last),
        repo.vouchers_issued(chain, campaigns, scope.home, first, last),
        repo.active_cards(chain, None if scope.whole_chain else scope.store_ids, utcnow()),
        chain_own(),
    )
    own_new, own_total, own_cards, money = own
    paid = t["top_up_cents"] + money["online_paid_cents"]  # a counter top-up is paid money
    bonus = money["online_bonus_cents"]
    active, repeat = activity
    outcomes = t["bookings_checked_in"] + t["bookings_completed"] + t["bookings_no_show"]
    return OverviewOut(
        from_=first, to=last, store_id=store_id,
        members=MembersOut(total=joined + own_total, new=t["members_new"] + own_new,
                           active=active, repeat=repeat, repeat_rate=_rate(repeat, active)),
        cards=CardsOut(issued=t["cards_issued"] + own_cards, active=cards_active),
        vouchers=VouchersOut(issued=vouchers, redeemed=t["voucher_redemptions"],
                             redemption_rate=_rate(t["voucher_redemptions"], vouchers)),
        redemptions=RedemptionsOut(
            count=t["redemptions"], value_cents=t["redemption_value_cents"],
            by_kind=RedemptionKinds(card=t["card_redemptions"],
                                    voucher=t["voucher_redemptions"],
                                    booking=t["booking_redemptions"])),
        top_ups=TopUpsOut(count=t["top_ups"] + money["online_top_ups"],
                          amount_cents=paid + bonus, paid_cents=paid, bonus_cents=bonus,
                          refunded_paid_cents=money["refunded_paid_cents"],
                          refunded_bonus_cents=money["refunded_bonus_cents"]),
        bookings=BookingsOut(total=t["bookings"], completed=t["bookings_completed"],
                             cancelled=t["bookings_cancelled"], no_show=t["bookings_no_show"],
                             checked_in=t["bookings_checked_in"],
                             no_show_rate=_rate(t["bookings_no_show"], outcomes)),
    )


# --- daily series -----------------------------------------------------------------------

_METRIC_FIGURE: dict[str, str] = {
    "new_members": "members_new", "redemptions": "redemptions",
    "redemption_value": "redemption_value_cents", "bookings": "bookings",
    "top_ups": "top_ups", "top_up_amount": "top_up_cents", "top_up_paid": "top_up_cents",
    "cards_issued": "cards_issued",
    "vouchers_redeemed": "voucher_redemptions", "bookings_completed": "bookings_completed",
    "bookings_cancelled": "bookings_cancelled", "bookings_no_show": "bookings_no_show",
}
# Metrics with a chain-level part (counted in the home zone's days for the whole chain).
_CHAIN_PART = {"new_members": "members", "cards_issued": "cards"}
# ... and those whose chain part is the chain's money (online top-ups: the figures added);
# a store's top-up at the counter is paid money only. The amount is paid + bonus money.
_MONEY_PART: dict[str, tuple[str, ...]] = {
    "top_ups": ("online_top_ups",),
    "top_up_amount": ("online_paid_cents", "online_bonus_cents"),
    "top_up_paid": ("online_paid_cents",), "top_up_bonus": ("online_bonus_cents",)}


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@_report
async def timeseries(principal: Principal, metric: Metric, first: date, last: date,
                     store_id: uuid.UUID | None) -> TimeseriesOut:
    check_range(first, last)
    scope = await resolve_scope(principal, store_id)
    spans = scope.spans(first, last)
    values: dict[date, int] = defaultdict(int)
    if metric == "active_members":
        values.update(await repo.active_per_day(scope.activity_scope, scope.every_store,
                                                spans, first, last))
    elif metric == "vouchers_issued":
        values.update(await repo.per_day("vouchers", scope.chain_id, scope.home, first, last,
                                         await _usable_campaigns(scope)))
    elif metric == "top_up_bonus":
        pass  # online top-ups only: below
    else:
        values.update(await repo.figure_per_day(spans, first, last, _METRIC_FIGURE[metric]))
        if scope.whole_chain and metric in _CHAIN_PART:
            for day, count in (await repo.per_day(_CHAIN_PART[metric], scope.chain_id,
                                                  scope.home, first, last)).items():
                values[day] += count
    if scope.whole_chain and metric in _MONEY_PART:
        for day, figures in (await repo.online_money(scope.chain_id, scope.home, first,
                                                     last)).items():
            values[day] += sum(figures[name] for name in _MONEY_PART[metric])
    return TimeseriesOut(metric=metric, from_=first, to=last, store_id=store_id,
                         points=[Point(date=d, value=values.get(d, 0))
                                 for d in _dates(first, last)])


# --- CSV: a row per store and day -------------------------------------------------------

CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("new_members", "members_new"), ("active_members", "active_members"),
    ("cards_issued", "cards_issued"), ("redemptions", "redemptions"),
    ("redemption_value_cents", "redemption_value_cents"),
    ("vouchers_redeemed", "voucher_redemptions"), ("top_ups", "top_ups"),
    ("top_up_amount_cents", "top_up_cents"), ("bookings", "bookings"),
    ("bookings_completed", "bookings_completed"), ("bookings_cancelled", "bookings_cancelled"),
    ("bookings_no_show", "bookings_no_show"),
)


def csv_cell(text: str) -> str:
    """A spreadsheet must not run a store's name as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@_report
async def export_csv(principal: Principal, first: date, last: date,
                     store_id: uuid.UUID | None) -> str:
    check_range(first, last)
    scope = await resolve_scope(principal, store_id)
    days = await repo.store_days(scope.spans(first, last), first, last)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", "store_id", "store_name", *(c for c, _ in CSV_COLUMNS)])
    zero = repo.empty()
    for day in _dates(first, last):
        for store in scope.stores:
            figures = days.get((store["id"], day), zero)
            writer.writerow([day.isoformat(), str(store["id"]), csv_cell(store["name"]),
                             *(figures[f] for _, f in CSV_COLUMNS)])
    return out.getvalue()


# --- stores side by side ----------------------------------------------------------------

@_report
async def compare_stores(principal: Principal, first: date, last: date) -> StoresOut:
    check_range(first, last)
    scope = await resolve_scope(principal, None)
    spans = scope.spans(first, last)
    per_store, activity = await asyncio.gather(repo.totals_per_store(spans, first, last),
                                               repo.activity_per_store(spans, first, last))
    result = []
    for store in scope.stores:
        t = per_store.get(store["id"]) or repo.empty()
        active, repeat = activity.get(store["id"], (0, 0))
        outcomes = t["bookings_checked_in"] + t["bookings_completed"] + t["bookings_no_show"]
        result.append(StoreFigures(
            store_id=store["id"], name=store["name"], timezone=store["timezone"],
            members_new=t["members_new"], active_members=active, repeat_members=repeat,
            repeat_rate=_rate(repeat, active), cards_issued=t["cards_issued"],
            redemptions=t["redemptions"], redemption_value_cents=t["redemption_value_cents"],
            vouchers_redeemed=t["voucher_redemptions"], top_ups=t["top_ups"],
            top_up_amount_cents=t["top_up_cents"], bookings=t["bookings"],
            bookings_completed=t["bookings_completed"],
            bookings_cancelled=t["bookings_cancelled"],
            bookings_no_show=t["bookings_no_show"],
            no_show_rate=_rate(t["bookings_no_show"], outcomes)))
    return StoresOut(from_=first, to=last, stores=result)


# --- top services -----------------------------------------------------------------------

@_report
async def top_services(principal: Principal, first: date, last: date,
                       store_id: uuid.UUID | None, limit: int) -> ServicesOut:
    """Services by bookings that went ahead (completed), then by all bookings."""
    check_range(first, last)
    scope = await resolve_scope(principal, store_id)
    counts: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in await repo.bookings_per_service(scope.spans(first, last)):
        counts[row["service_id"]][row["status"]] += row["n"]
        counts[row["service_id"]]["all"] += row["n"]
    names = await repo.services_named(counts)
    ranked = sorted(counts.items(), key=lambda item: (
        -item[1]["completed"], -item[1]["all"], names[item[0]]["name"], str(item[0])))
    return ServicesOut(from_=first, to=last, store_id=store_id, services=[
        ServiceFigures(service_id=service, store_id=names[service]["store"],
                       name=names[service]["name"], bookings=c["all"],
                       completed=c["completed"], cancelled=c["cancelled"],
                       no_show=c["no_show"])
        for service, c in ranked[:limit]])


# --- cohorts ----------------------------------------------------------------------------

def parse_month(text: str, field: str) -> date:
    try:
        month = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValidationError(field, "must be a month YYYY-MM") from None
    if not FIRST_YEAR <= month.year <= LAST_YEAR or len(text) != 7:
        raise ValidationError(field, f"must be a month YYYY-MM between {FIRST_YEAR} and "
                                     f"{LAST_YEAR}")
    return month


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _month_text(month: date) -> str:
    return month.strftime("%Y-%m")


@_report
async def cohorts(principal: Principal, first_text: str | None, last_text: str | None,
                  store_id: uuid.UUID | None) -> CohortsOut:
    """Members by the month they joined, and how many of them were active in that month
    and each later one (at the scope's stores) up to ``to``."""
    scope = await resolve_scope(principal, store_id)
    last = (parse_month(last_text, "to") if last_text
            else utcnow().astimezone(scope.home).date().replace(day=1))
    first = parse_month(first_text, "from") if first_text else last
    if not first_text:
        for _ in range(11):
            first = (first - timedelta(days=1)).replace(day=1)
    if last < first:
        raise ValidationError("to", "must not be before from")
    months = [first]
    while months[-1] < last:
        months.append(_next_month(months[-1]))
    if len(months) > MAX_MONTHS:
        raise ValidationError("to", f"at most {MAX_MONTHS} months")
    end = _next_month(last)
    spans = scope.spans(first, end - timedelta(days=1))
    # The chain's cohorts count every member; a store's, those who joined there.
    rollup = (scope.chain_id if scope.whole_chain
              else scope.store_ids[0] if len(scope.stores) == 1 else None)
    sizes, active = await repo.cohorts(scope.chain_id, rollup, spans, scope.home,
                                       scope.whole_chain, first, end)
    result = []
    for index, month in enumerate(months):
        members = sizes.get(month, 0)
        result.append(Cohort(month=_month_text(month), members=members, activity=[
            CohortMonth(month=_month_text(later), active=active.get((month, later), 0),
                        rate=_rate(active.get((month, later), 0), members))
            for later in months[index:]]))
    return CohortsOut(from_=_month_text(first), to=_month_text(last), store_id=store_id,
                      cohorts=result)


# --- the prepaid liability --------------------------------------------------------------

@_report
async def liability(principal: Principal, day: date) -> LiabilityOut:
    """Money held on the chain's cards at the end of ``day`` in the chain's home zone: the
    ledger's paid and bonus deltas before that instant, and the cards holding money then.
    A date still to come answers what is held now (every entry so far); a date before the
    chain's first entry, zeros."""
    if not principal.is_operator:
        raise Forbidden("the liability is the chain's figure: operators only")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValidationError("date", f"must be a date between {FIRST_YEAR} and {LAST_YEAR}")
    stores = await repo.chain_stores(principal.chain_id)
    home = ZoneInfo(stores[0]["timezone"]) if stores else UTC_ZONE
    paid, bonus, cards = await repo.liability(principal.chain_id,
                                              _midnight(day + timedelta(days=1), home))
    return LiabilityOut(date=day, paid_cents=paid, bonus_cents=bonus, cards=cards)


# --- maintenance ------------------------------------------------------------------------

async def rebuild(chain_id: uuid.UUID | None) -> bool:
    return await repo.rebuild(chain_id)
