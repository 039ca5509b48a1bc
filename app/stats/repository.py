"""Every query of the stats.

Two ways to the same figures, chosen by engine and hidden from the service:
- PostgreSQL reads the rollups (``stats_store_day``, ``stats_activity``): triggers queue
  each event's figures in its own transaction and ``fold`` moves them into the rollups
  in batches (see the stats migrations), so a year of a million redemptions is a few
  thousand rows to add up.
- SQLite reads the event tables in the range and groups them here, by each store's local
  day (SQLite has no time zones; its deployments are small).

Raw SQL here is built only from constant fragments; every value is a placeholder
(hence the ``noqa: S608``).

Figures mean the same on both: members who joined at the store; cards the store issued;
top-ups at the store; redemptions not reversed (value = charged + discount); bookings by
the local day of their start; a member is active on a day with a non-reversed
redemption or a booking (any status) at the store.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from app.core.db import Sql, current_engine, is_sqlite
from app.stats.rows import (
    BookingBucket,
    CampaignStores,
    RedemptionBucket,
    ServiceCount,
    ServiceName,
    StoreZone,
)
from app.stats.tables import Activity, ChainDay, CohortMonth, StoreDay, VoucherDay
from bookings.tables import Booking
from cards.tables import Campaign, Card, LedgerEntry, Voucher
from stores.tables import Member, Service, Store

Figures = dict[str, int]

FIGURES = (
    "members_new", "cards_issued", "redemptions", "redemption_value_cents",
    "card_redemptions", "voucher_redemptions", "booking_redemptions", "top_ups",
    "top_up_cents", "bookings", "bookings_checked_in", "bookings_completed",
    "bookings_cancelled", "bookings_no_show", "active_members",
)
_STATUS_FIGURE = {"checked_in": "bookings_checked_in", "completed": "bookings_completed",
                  "cancelled": "bookings_cancelled", "no_show": "bookings_no_show"}
_KIND_FIGURE = {"card": "card_redemptions", "voucher": "voucher_redemptions",
                "booking": "booking_redemptions"}


def empty() -> Figures:
    return dict.fromkeys(FIGURES, 0)


@dataclass(frozen=True, slots=True)
class Span:
    """One store's part of a range: the local dates ``first``..``last`` of its own zone,
    i.e. the instants [lo, hi)."""

    store_id: uuid.UUID
    zone: ZoneInfo
    lo: datetime
    hi: datetime

    def local_day(self, at: datetime) -> date | None:
        """The store's local date of ``at``, or None outside the span."""
        if not self.lo <= at < self.hi:
            return None
        return at.astimezone(self.zone).date()


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts (where midnight is skipped, the instant of the jump)."""
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def _sqlite() -> bool:
    return is_sqlite(current_engine())


def _ids(spans: Sequence[Span]) -> list[uuid.UUID]:
    return [s.store_id for s in spans]


def _bounds(spans: Sequence[Span]) -> tuple[datetime, datetime]:
    return min(s.lo for s in spans), max(s.hi for s in spans)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- lookups ----------------------------------------------------------------------------

async def chain_stores(chain_id: uuid.UUID) -> list[StoreZone]:
    """The chain's stores, oldest first (the first one's zone is the chain's home zone)."""
    return cast("list[StoreZone]", await Store.select(
        Store.id, Store.name, Store.timezone, Store.created_at).where(
        Store.chain == chain_id).order_by(Store.created_at).order_by(Store.id).run())


async def chain_campaigns(chain_id: uuid.UUID) -> list[CampaignStores]:
    return cast("list[CampaignStores]", await Campaign.select(
        Campaign.id, Campaign.store_ids).where(Campaign.chain == chain_id).output(
        load_json=True).run())


async def services_named(service_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ServiceName]:
    ids = list(service_ids)
    if not ids:
        return {}
    rows = cast("list[ServiceName]", await Service.select(
        Service.id, Service.name, Service.store).where(Service.id.is_in(ids)).run())
    return {r["id"]: r for r in rows}


# --- what belongs to the chain, not a store (both engines) ------------------------------

async def unattributed_members(chain_id: uuid.UUID, lo: datetime | None,
                               hi: datetime) -> int:
    """Members who joined by themselves (WeChat), in [lo, hi) (from the start: lo None)."""
    query = Member.count().where((Member.chain == chain_id) & Member.registered_store.is_null()
                                 & (Member.created_at < hi))
    if lo is not None:
        query = query.where(Member.created_at >= lo)
    return int(await query.run())


async def unattributed_cards(chain_id: uuid.UUID, lo: datetime, hi: datetime) -> int:
    """Cards members claimed themselves (no issuing store), in [lo, hi)."""
    return int(await Card.count().where(
        (Card.chain == chain_id) & Card.issued_store.is_null() & (Card.created_at >= lo)
        & (Card.created_at < hi)).run())


async def vouchers_issued(chain_id: uuid.UUID, campaign_ids: list[uuid.UUID] | None,
                          zone: ZoneInfo, first: date, last: date) -> int:
    """Vouchers issued on the local days ``first``..``last`` of ``zone``, of
    ``campaign_ids`` only when given."""
    if campaign_ids is not None and not campaign_ids:
        return 0
    if not _sqlite():
        sql = ("SELECT coalesce(sum(issued), 0)::bigint AS n FROM stats_voucher_day "
               "WHERE chain_id = {} AND zone = {} AND day BETWEEN {} AND {}")
        args: list[Any] = [chain_id, zone.key, first, last]
        if campaign_ids is not None:
            sql += " AND campaign_id = ANY({})"
            args.append(campaign_ids)
        return int((await VoucherDay.raw(sql, *args).run())[0]["n"])
    lo, hi = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    query = Voucher.count().where((Voucher.chain == chain_id) & (Voucher.created_at >= lo)
                                  & (Voucher.created_at < hi))
    if campaign_ids is not None:
        query = query.where(Voucher.campaign.is_in(campaign_ids))
    return int(await query.run())


async def active_cards(chain_id: uuid.UUID, store_ids: list[uuid.UUID] | None,
                       now: datetime) -> int:
    """Cards active now (not frozen, cancelled or past their validity); of the stores that
    issued them when ``store_ids`` is given."""
    if store_ids is not None and not store_ids:
        return 0
    query = Card.count().where(
        (Card.chain == chain_id) & (Card.status == "active")
        & (Card.expires_at.is_null() | (Card.expires_at > now)))
    if store_ids is not None:
        query = query.where(Card.issued_store.is_in(store_ids))
    return int(await query.run())


_PER_DAY_PG = {
    "members": ("SELECT (created_at AT TIME ZONE {}) ::date AS day, count(*) AS n FROM member "
                "WHERE chain = {} AND registered_store IS NULL AND created_at >= {} "
                "AND created_at < {} GROUP BY 1"),
    "cards": ("SELECT (created_at AT TIME ZONE {})::date AS day, count(*) AS n FROM card "
              "WHERE chain = {} AND issued_store IS NULL AND created_at >= {} "
              "AND created_at < {} GROUP BY 1"),
}


async def per_day(what: str, chain_id: uuid.UUID, zone: ZoneInfo, first: date, last: date,
                  campaign_ids: list[uuid.UUID] | None = None) -> dict[date, int]:
    """Per local day of ``zone``: members who joined by themselves or cards members
    claimed (``what`` members or cards), or vouchers issued (of ``campaign_ids`` when
    given)."""
    if campaign_ids is not None and not campaign_ids:
        return {}
    lo, hi = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    if not _sqlite():
        if what == "vouchers":
            sql = ("SELECT day, sum(issued)::bigint AS n FROM stats_voucher_day "
                   "WHERE chain_id = {} AND zone = {} AND day BETWEEN {} AND {}")
            args: list[Any] = [chain_id, zone.key, first, last]
            if campaign_ids is not None:
                sql += " AND campaign_id = ANY({})"
                args.append(campaign_ids)
            rows = await VoucherDay.raw(sql + " GROUP BY day", *args).run()
        else:
            rows = await Member.raw(_PER_DAY_PG[what], zone.key, chain_id, lo, hi).run()
        return {r["day"]: int(r["n"]) for r in rows}
    if what == "members":
        stamps = await Member.select(Member.created_at).where(
            (Member.chain == chain_id) & Member.registered_store.is_null()
            & (Member.created_at >= lo) & (Member.created_at < hi)).output(as_list=True).run()
    elif what == "cards":
        stamps = await Card.select(Card.created_at).where(
            (Card.chain == chain_id) & Card.issued_store.is_null() & (Card.created_at >= lo)
            & (Card.created_at < hi)).output(as_list=True).run()
    else:
        query = Voucher.select(Voucher.created_at).where(
            (Voucher.chain == chain_id) & (Voucher.created_at >= lo) & (Voucher.created_at < hi))
        if campaign_ids is not None:
            query = query.where(Voucher.campaign.is_in(campaign_ids))
        stamps = await query.output(as_list=True).run()
    counts: dict[date, int] = defaultdict(int)
    for stamp in stamps:
        counts[stamp.astimezone(zone).date()] += 1
    return dict(counts)


# --- the chain's money on cards (both engines) ------------------------------------------

# What the chain's own money figures are (no store: online top-ups, refunds), per entry:
# the same expressions as the stats money migration's (PostgreSQL folds them into
# ``stats_money``; SQLite computes them from the ledger here).
ONLINE = ("online_top_ups", "online_paid_cents", "online_bonus_cents", "refunded_paid_cents",
          "refunded_bonus_cents")
_REFUND = "l.kind IN ('refund', 'refund_reverted')"
_ONLINE_SQLITE = (
    "sum(CASE WHEN l.kind = 'top_up' AND l.store_id IS NULL THEN 1 ELSE 0 END)",
    "sum(CASE WHEN l.kind = 'top_up' AND l.store_id IS NULL THEN l.delta_paid_cents "
    "ELSE 0 END)",
    "sum(CASE WHEN l.kind IN ('top_up', 'top_up_bonus') AND l.store_id IS NULL "
    "THEN l.delta_bonus_cents ELSE 0 END)",
    f"sum(CASE WHEN {_REFUND} THEN -l.delta_paid_cents ELSE 0 END)",
    f"sum(CASE WHEN {_REFUND} THEN -l.delta_bonus_cents ELSE 0 END)",
)

_ONLINE_PG = (
    "SELECT (at AT TIME ZONE {}) ::date AS day, "  # noqa: S608
    + ", ".join(f"sum({f})::bigint AS {f}" for f in ONLINE)
    + " FROM stats_money WHERE chain_id = {} AND at >= {} AND at < {} GROUP BY 1")


def empty_online() -> Figures:
    return dict.fromkeys(ONLINE, 0)


async def online_money(chain_id: uuid.UUID, zone: ZoneInfo, first: date,
                       last: date) -> dict[date, Figures]:
    """Per local day of ``zone`` (``first``..``last``), the chain's money moves that belong
    to no store: online top-ups (count, paid and bonus money) and refunds (paid and bonus
    money taken back, net of refunds WeChat Pay failed or closed). Days without any are
    left out."""
    lo, hi = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    result: dict[date, Figures] = {}
    if not _sqlite():
        rows = await StoreDay.raw(_ONLINE_PG, zone.key, chain_id, lo, hi).run()
        for row in rows:
            result[row["day"]] = {f: int(row[f]) for f in ONLINE}
        return result
    rows = await Sql(
        f"SELECT {_bucket('l.created_at')} AS bucket, "  # noqa: S608
        + ", ".join(f"{x} AS {f}" for x, f in zip(_ONLINE_SQLITE, ONLINE, strict=True))
        + " FROM card_ledger l JOIN card c ON c.id = l.card WHERE c.chain = {} "
        "AND l.created_at >= {} AND l.created_at < {} AND (l.store_id IS NULL OR "
        f"{_REFUND}) AND l.kind IN ('top_up', 'top_up_bonus', 'refund', 'refund_reverted') "
        "GROUP BY bucket").rows(chain_id, lo, hi)
    for row in rows:
        day = _at(row["bucket"]).astimezone(zone).date()
        figures = result.setdefault(day, empty_online())
        for name in ONLINE:
            figures[name] += int(row[name] or 0)
    return result


async def liability(chain_id: uuid.UUID, at: datetime) -> tuple[int, int, int]:
    """(paid, bonus, cards) held on the chain's cards at the instant ``at``: the sums of
    the ledger's paid and bonus deltas before it, and the cards whose balance was above
    zero then (each entry moves that count by ``(after > 0) - (before > 0)``)."""
    if not _sqlite():
        # The whole UTC days before ``at``, then that day's quarter hours before it.
        day = at.astimezone(UTC).date()
        rows = await StoreDay.raw(
            "SELECT coalesce(sum(paid_cents), 0)::bigint AS paid, "
            "coalesce(sum(bonus_cents), 0)::bigint AS bonus, "
            "coalesce(sum(cards), 0)::bigint AS cards FROM ("
            "SELECT paid_cents, bonus_cents, cards FROM stats_money_day "
            "WHERE chain_id = {} AND day < {} UNION ALL "
            "SELECT paid_cents, bonus_cents, cards FROM stats_money "
            "WHERE chain_id = {} AND at >= {} AND at < {}) held",
            chain_id, day, chain_id, datetime.combine(day, time.min, UTC), at).run()
    else:
        rows = await Sql(
            "SELECT coalesce(sum(l.delta_paid_cents), 0) AS paid, "
            "coalesce(sum(l.delta_bonus_cents), 0) AS bonus, "
            "coalesce(sum((l.balance_after_cents > 0) "
            "- (l.balance_after_cents - l.delta_cents > 0)), 0) AS cards "
            "FROM card_ledger l JOIN card c ON c.id = l.card "
            "WHERE c.chain = {} AND l.created_at < {}").rows(chain_id, at)
    return int(rows[0]["paid"]), int(rows[0]["bonus"]), int(rows[0]["cards"])


# --- figures per store and local day ----------------------------------------------------

_SUMS = ", ".join(f"coalesce(sum({f}), 0)::bigint AS {f}" for f in FIGURES)
_FIGURES_OF = ("SELECT {group} {sums} FROM stats_store_day WHERE store_id = ANY({{}}) "
               "AND day BETWEEN {{}} AND {{}} {group_by}")


def _add(total: Figures, figures: Figures) -> None:
    for name in FIGURES:
        total[name] += figures[name]


async def totals(spans: Sequence[Span], first: date, last: date) -> Figures:
    """Every figure of the spans, added up."""
    total = empty()
    if not spans:
        return total
    if not _sqlite():
        rows = await StoreDay.raw(_FIGURES_OF.format(group="", sums=_SUMS, group_by=""),
                                  _ids(spans), first, last).run()
        return {f: int(rows[0][f]) for f in FIGURES}
    for figures in (await _raw_store_days(spans)).values():
        _add(total, figures)
    return total


async def totals_per_store(spans: Sequence[Span], first: date,
                           last: date) -> dict[uuid.UUID, Figures]:
    if not spans:
        return {}
    if not _sqlite():
        rows = await StoreDay.raw(
            _FIGURES_OF.format(group="store_id,", sums=_SUMS, group_by="GROUP BY store_id"),
            _ids(spans), first, last).run()
        return {r["store_id"]: {f: int(r[f]) for f in FIGURES} for r in rows}
    result: dict[uuid.UUID, Figures] = defaultdict(empty)
    for (store, _), figures in (await _raw_store_days(spans)).items():
        _add(result[store], figures)
    return dict(result)


async def figure_per_day(spans: Sequence[Span], first: date, last: date,
                         figure: str) -> dict[date, int]:
    """One figure per local day, the spans' stores added up."""
    if not spans:
        return {}
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}")
    if not _sqlite():
        rows = await StoreDay.raw(_FIGURES_OF.format(
            group="day,", sums=f"sum({figure})::bigint AS n", group_by="GROUP BY day"),
            _ids(spans), first, last).run()
        return {r["day"]: int(r["n"]) for r in rows}
    result: dict[date, int] = defaultdict(int)
    for (_, day), figures in (await _raw_store_days(spans)).items():
        result[day] += figures[figure]
    return dict(result)


async def store_days(spans: Sequence[Span], first: date,
                     last: date) -> dict[tuple[uuid.UUID, date], Figures]:
    """Every store-day of the spans that has any figure (zero days are left out)."""
    if not spans:
        return {}
    if not _sqlite():
        rows = await StoreDay.raw(
            _FIGURES_OF.format(group="store_id, day,", sums=_SUMS,
                               group_by="GROUP BY store_id, day"),
            _ids(spans), first, last).run()
        return {(r["store_id"], r["day"]): {f: int(r[f]) for f in FIGURES} for r in rows}
    return await _raw_store_days(spans)


async def members_joined_by(spans: Sequence[Span], last: date) -> int:
    """Members who joined at the spans' stores up to the end of their ranges."""
    if not spans:
        return 0
    if not _sqlite():
        rows = await StoreDay.raw(
            "SELECT coalesce(sum(members_new), 0)::bigint AS n FROM stats_store_day "
            "WHERE store_id = ANY({}) AND day <= {}", _ids(spans), last).run()
        return int(rows[0]["n"])
    total = 0
    for span in spans:
        total += int(await Member.count().where(
            (Member.registered_store == span.store_id) & (Member.created_at < span.hi)).run())
    return total


# --- distinct active members ------------------------------------------------------------

async def activity(scope_id: uuid.UUID | None, spans: Sequence[Span], first: date,
                   last: date) -> tuple[int, int]:
    """(active, repeat): members with activity in the range at the spans' stores, and those
    of them active on two or more local days. ``scope_id`` is the chain (all its stores)
    or the one store; None for some stores of a chain (a manager's)."""
    if not spans:
        return 0, 0
    if not _sqlite():
        if scope_id is not None:
            rows = await Activity.raw(
                "SELECT count(*) AS active, count(*) FILTER (WHERE next_day <= {}) AS repeat "
                "FROM stats_activity WHERE scope_id = {} AND day BETWEEN {} AND {} "
                "AND prev_day < {}", last, scope_id, first, last, first).run()
        else:  # a hash aggregate: two days or more when the first and last differ
            rows = await Activity.raw(
                "SELECT count(*) AS active, count(*) FILTER (WHERE repeat) AS repeat FROM ("
                "SELECT member_id, min(day) <> max(day) AS repeat FROM stats_activity "
                "WHERE scope_id = ANY({}) AND day BETWEEN {} AND {} GROUP BY member_id) m",
                _ids(spans), first, last).run()
        return int(rows[0]["active"]), int(rows[0]["repeat"])
    days = await _raw_member_days(spans)
    per_member: dict[uuid.UUID, set[date]] = defaultdict(set)
    for (_, member, day) in days:
        per_member[member].add(day)
    return len(per_member), sum(1 for d in per_member.values() if len(d) > 1)


async def activity_per_store(spans: Sequence[Span], first: date,
                             last: date) -> dict[uuid.UUID, tuple[int, int]]:
    """(active, repeat) of each store on its own."""
    if not spans:
        return {}
    if not _sqlite():
        rows = await Activity.raw(
            "SELECT scope_id, count(*) AS active, count(*) FILTER (WHERE next_day <= {}) "
            "AS repeat FROM stats_activity WHERE scope_id = ANY({}) AND day BETWEEN {} AND {} "
            "AND prev_day < {} GROUP BY scope_id", last, _ids(spans), first, last, first).run()
        return {r["scope_id"]: (int(r["active"]), int(r["repeat"])) for r in rows}
    per_store: dict[uuid.UUID, dict[uuid.UUID, set[date]]] = defaultdict(
        lambda: defaultdict(set))
    for (store, member, day) in await _raw_member_days(spans):
        per_store[store][member].add(day)
    return {store: (len(members), sum(1 for d in members.values() if len(d) > 1))
            for store, members in per_store.items()}


async def active_per_day(scope_id: uuid.UUID | None, whole_chain: bool,
                         spans: Sequence[Span], first: date, last: date) -> dict[date, int]:
    """Distinct active members per local day (scope as in :func:`activity`;
    ``whole_chain`` when ``scope_id`` is the chain)."""
    if not spans:
        return {}
    if not _sqlite():
        if whole_chain:
            rows = await ChainDay.raw(
                "SELECT day, sum(active_members)::bigint AS n FROM stats_chain_day "
                "WHERE chain_id = {} AND day BETWEEN {} AND {} GROUP BY day",
                scope_id, first, last).run()
        elif scope_id is not None:
            return await figure_per_day(spans, first, last, "active_members")
        else:
            rows = await Activity.raw(
                "SELECT day, count(DISTINCT member_id) AS n FROM stats_activity "
                "WHERE scope_id = ANY({}) AND day BETWEEN {} AND {} GROUP BY day",
                _ids(spans), first, last).run()
        return {r["day"]: int(r["n"]) for r in rows}
    per_day_members: dict[date, set[uuid.UUID]] = defaultdict(set)
    for (_, member, day) in await _raw_member_days(spans):
        per_day_members[day].add(member)
    return {day: len(members) for day, members in per_day_members.items()}


# --- services ---------------------------------------------------------------------------

async def bookings_per_service(spans: Sequence[Span]) -> list[ServiceCount]:
    """(service_id, status, n) over the spans; one index range per store (PostgreSQL reads
    only its covering index)."""
    if not spans:
        return []
    parts, args = [], []
    for span in spans:
        parts.append("SELECT service, status FROM booking "
                     "WHERE store = {} AND start_at >= {} AND start_at < {}")
        args += [span.store_id, span.lo, span.hi]
    rows = await Booking.raw(
        f"SELECT b.service AS service_id, b.status AS status, count(*) AS n FROM "  # noqa: S608
        f"({' UNION ALL '.join(parts)}) b GROUP BY b.service, b.status", *args).run()
    return [{"service_id": _uuid(r["service_id"]), "status": r["status"], "n": int(r["n"])}
            for r in rows]


# --- cohorts ----------------------------------------------------------------------------

async def cohorts(chain_id: uuid.UUID, scope_id: uuid.UUID | None, spans: Sequence[Span],
                  home: ZoneInfo, whole_chain: bool, first_month: date,
                  end: date) -> tuple[dict[date, int], dict[tuple[date, date], int]]:
    """Members per joining month (local: the joining store's zone, else ``home``) among
    those who joined in the months ``first_month``..before ``end``; and per (joining month,
    month) how many of them were active in that month at the spans' stores.
    ``whole_chain``: every member of the chain, else those who joined at the spans' stores.
    ``scope_id`` as in :func:`activity`.
    """
    if not spans:
        return {}, {}
    if _sqlite():
        return await _raw_cohorts(chain_id, spans, home, whole_chain, first_month, end)
    last = end - timedelta(days=1)
    sizes: dict[date, int] = defaultdict(int)
    for day, joined in (await figure_per_day(spans, first_month, last, "members_new")).items():
        sizes[day.replace(day=1)] += joined
    if whole_chain:
        for day, joined in (await per_day("members", chain_id, home, first_month,
                                          last)).items():
            sizes[day.replace(day=1)] += joined
    if scope_id is not None:
        rows = await CohortMonth.raw(
            "SELECT cohort, month, sum(active)::bigint AS n FROM stats_cohort "
            "WHERE scope_id = {} AND cohort >= {} AND cohort < {} AND month < {} "
            "GROUP BY cohort, month", scope_id, first_month, end, end).run()
    else:  # some stores: members who joined at one of them, active at one of them
        rows = await Member.raw(
            "WITH c AS (SELECT m.id, date_trunc('month', m.created_at AT TIME ZONE s.timezone)"
            "::date AS cohort FROM member m JOIN store s ON s.id = m.registered_store "
            "WHERE m.registered_store = ANY({}) AND m.created_at >= {} AND m.created_at < {}) "
            "SELECT c.cohort, date_trunc('month', a.day)::date AS month, "
            "count(DISTINCT a.member_id) AS n FROM stats_activity a "
            "JOIN c ON c.id = a.member_id WHERE a.scope_id = ANY({}) "
            "AND a.day >= {} AND a.day < {} AND c.cohort >= {} AND c.cohort < {} "
            "GROUP BY 1, 2", _ids(spans), *_bounds(spans), _ids(spans), first_month, end,
            first_month, end).run()
    return dict(sizes), {(r["cohort"], r["month"]): int(r["n"]) for r in rows}


# --- folding the queue ------------------------------------------------------------------

FOLD_BATCH = 5_000


async def fold(*, wait: bool) -> int:
    """Fold one batch of the queued figures into the rollups (PostgreSQL; 0 on SQLite):
    the rows folded, 0 when none was queued, -1 when another fold holds the lock and
    ``wait`` is false."""
    if _sqlite():
        return 0
    rows = await StoreDay.raw("SELECT stats_fold({}, {}) AS n", FOLD_BATCH, wait).run()
    return int(rows[0]["n"])


async def fold_money(*, wait: bool) -> int:
    """Fold one batch of the queued ledger moves into ``stats_money``, as :func:`fold`."""
    if _sqlite():
        return 0
    rows = await StoreDay.raw("SELECT stats_money_fold({}, {}) AS n", FOLD_BATCH,
                              wait).run()
    return int(rows[0]["n"])


# --- rebuilding the rollups -------------------------------------------------------------

async def rebuild(chain_id: uuid.UUID | None) -> bool:
    """Recompute the rollups from the events (PostgreSQL); False on SQLite (none kept)."""
    if _sqlite():
        return False
    await StoreDay.raw("SELECT stats_rebuild({})", chain_id).run()
    await StoreDay.raw("SELECT stats_money_rebuild({})", chain_id).run()
    return True


# --- SQLite: the events themselves ------------------------------------------------------

def _spans_by_store(spans: Sequence[Span]) -> dict[uuid.UUID, Span]:
    return {s.store_id: s for s in spans}


# SQLite groups the events by 15-minute bucket of UTC time, in SQL: every zone's offset is
# a whole number of quarter hours (2000-2100), so a local midnight is a bucket boundary and
# a bucket's local day is the day of every event in it. (Read row by row, a 30-day
# overview of a busy store took 200 ms of Python per request.)
_BUCKET_S = 900


def _bucket(column: str) -> str:
    return f"CAST(strftime('%s', {column}) AS INTEGER) / {_BUCKET_S}"


def _at(bucket: int) -> datetime:
    return datetime.fromtimestamp(bucket * _BUCKET_S, UTC)


def _in(count: int) -> str:
    return ", ".join("{}" for _ in range(count))


async def _raw_redemptions(spans: Sequence[Span]) -> list[RedemptionBucket]:
    """Per store, kind and bucket: how many, and their value (not reversed)."""
    lo, hi = _bounds(spans)
    ids = _ids(spans)
    return cast("list[RedemptionBucket]", await Sql(
        f"SELECT store, kind, {_bucket('created_at')} AS bucket, count(*) AS n, "  # noqa: S608
        "sum(charged_cents + discount_cents) AS value FROM redemption "
        f"WHERE store IN ({_in(len(ids))}) AND reversed_at IS NULL AND created_at >= {{}} "
        "AND created_at < {} GROUP BY store, kind, bucket").rows(*ids, lo, hi))


async def _raw_bookings(spans: Sequence[Span]) -> list[BookingBucket]:
    """Per store, status and bucket of the start: how many."""
    lo, hi = _bounds(spans)
    ids = _ids(spans)
    return cast("list[BookingBucket]", await Sql(
        f"SELECT store, status, {_bucket('start_at')} AS bucket, count(*) AS n "  # noqa: S608
        f"FROM booking WHERE store IN ({_in(len(ids))}) AND start_at >= {{}} "
        "AND start_at < {} GROUP BY store, status, bucket").rows(*ids, lo, hi))


async def _raw_member_days(spans: Sequence[Span]) -> set[tuple[uuid.UUID, uuid.UUID, date]]:
    """(store, member, local day) of every activity in the spans."""
    by_store = _spans_by_store(spans)
    lo, hi = _bounds(spans)
    ids = _ids(spans)
    rows = await Sql(
        f"SELECT DISTINCT store, member_id AS member, {_bucket('created_at')} AS bucket "  # noqa: S608
        f"FROM redemption WHERE store IN ({_in(len(ids))}) AND reversed_at IS NULL "
        "AND member_id IS NOT NULL AND created_at >= {} AND created_at < {} "
        f"UNION SELECT DISTINCT store, member, {_bucket('start_at')} FROM booking "
        f"WHERE store IN ({_in(len(ids))}) AND start_at >= {{}} AND start_at < {{}}"
    ).rows(*ids, lo, hi, *ids, lo, hi)
    days: set[tuple[uuid.UUID, uuid.UUID, date]] = set()
    for row in rows:
        store = _uuid(row["store"])
        day = by_store[store].local_day(_at(row["bucket"]))
        if day is not None:
            days.add((store, _uuid(row["member"]), day))
    return days


async def _raw_store_days(spans: Sequence[Span]) -> dict[tuple[uuid.UUID, date], Figures]:
    by_store = _spans_by_store(spans)
    ids = _ids(spans)
    lo, hi = _bounds(spans)
    result: dict[tuple[uuid.UUID, date], Figures] = defaultdict(empty)

    def add(store: uuid.UUID, at: datetime, **values: int) -> None:
        day = by_store[store].local_day(at)
        if day is not None:
            figures = result[(store, day)]
            for name, value in values.items():
                figures[name] += value

    for row in await Member.select(Member.registered_store, Member.created_at).where(
            Member.registered_store.is_in(ids) & (Member.created_at >= lo)
            & (Member.created_at < hi)).run():
        add(row["registered_store"], row["created_at"], members_new=1)
    for row in await Card.select(Card.issued_store, Card.created_at).where(
            Card.issued_store.is_in(ids) & (Card.created_at >= lo)
            & (Card.created_at < hi)).run():
        add(row["issued_store"], row["created_at"], cards_issued=1)
    for row in await LedgerEntry.select(LedgerEntry.store_id, LedgerEntry.created_at,
                                        LedgerEntry.delta_cents).where(
            (LedgerEntry.kind == "top_up") & LedgerEntry.store_id.is_in(ids)
            & (LedgerEntry.created_at >= lo) & (LedgerEntry.created_at < hi)).run():
        add(_uuid(row["store_id"]), row["created_at"], top_ups=1,
            top_up_cents=row["delta_cents"])
    for spent in await _raw_redemptions(spans):
        add(_uuid(spent["store"]), _at(spent["bucket"]), redemptions=spent["n"],
            redemption_value_cents=spent["value"],
            **{_KIND_FIGURE.get(spent["kind"], "card_redemptions"): spent["n"]})
    for booked in await _raw_bookings(spans):
        status = _STATUS_FIGURE.get(booked["status"])
        add(_uuid(booked["store"]), _at(booked["bucket"]), bookings=booked["n"],
            **({status: booked["n"]} if status else {}))
    active: dict[tuple[uuid.UUID, date], int] = defaultdict(int)
    for (store, _, day) in await _raw_member_days(spans):
        active[(store, day)] += 1
    for key, count in active.items():
        result[key]["active_members"] = count
    return dict(result)


async def _raw_cohorts(chain_id: uuid.UUID, spans: Sequence[Span], home: ZoneInfo,
                       whole_chain: bool, first_month: date,
                       end: date) -> tuple[dict[date, int], dict[tuple[date, date], int]]:
    zones = {row["id"]: ZoneInfo(row["timezone"]) for row in await chain_stores(chain_id)}
    # Joining instants: a day of margin each side for every zone; the month is exact.
    lo = datetime.combine(first_month, time.min, UTC) - timedelta(days=1)
    hi = datetime.combine(end, time.min, UTC) + timedelta(days=1)
    query = Member.select(Member.id, Member.registered_store, Member.created_at).where(
        (Member.chain == chain_id) & (Member.created_at >= lo) & (Member.created_at < hi))
    if not whole_chain:
        query = query.where(Member.registered_store.is_in(_ids(spans)))
    cohort_of: dict[uuid.UUID, date] = {}
    for row in await query.run():
        zone = zones.get(row["registered_store"], home)
        month = row["created_at"].astimezone(zone).date().replace(day=1)
        if first_month <= month < end:
            cohort_of[row["id"]] = month
    sizes: dict[date, int] = defaultdict(int)
    for month in cohort_of.values():
        sizes[month] += 1
    seen: dict[tuple[date, date], set[uuid.UUID]] = defaultdict(set)
    for (_, member, day) in await _raw_member_days(spans):
        if member in cohort_of:
            seen[(cohort_of[member], day.replace(day=1))].add(member)
    return dict(sizes), {key: len(members) for key, members in seen.items()}
