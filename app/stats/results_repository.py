"""The queries of the campaign results (issue 20): the vouchers issued in a range, what
became of them, and whether their members came back. Reads cards' and bookings' tables
(allowed for the stats, as :mod:`app.stats.repository`); raw SQL from constant fragments,
every value a placeholder (hence the ``noqa: S608``).

Indexes used, none added: ``voucher_chain_created (chain, created_at, campaign)`` for the
vouchers of a range, ``redemption.object_id`` for a voucher's redemption,
``redemption_member_created (member_id, created_at) WHERE reversed_at IS NULL`` and
``booking.member`` for a member's later visits.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from piccolo.engine.postgres import PostgresEngine

from app.core.db import Sql, current_engine, is_sqlite
from cards.tables import Campaign

Group = Literal["campaign", "source"]
RETURN_DAYS = 30
# A voucher has at most one redemption not reversed (decision 017).
_REDEEMED = ("LEFT JOIN redemption r ON r.object_id = v.id AND r.kind = 'voucher' "
             "AND r.reversed_at IS NULL")
_IN_RANGE = "v.chain = {} AND v.created_at >= {} AND v.created_at < {}"


def _sqlite() -> bool:
    return is_sqlite(current_engine())


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts."""
    return datetime.combine(day, time.min, zone).astimezone(UTC)


# --- lookups ----------------------------------------------------------------------------

async def campaigns(chain_id: uuid.UUID) -> list[dict[str, Any]]:
    """The chain's campaigns, oldest first."""
    return list(await Campaign.select(
        Campaign.id, Campaign.name, Campaign.valid_from, Campaign.valid_until).where(
        Campaign.chain == chain_id).order_by(Campaign.created_at).order_by(
        Campaign.id).run())


async def campaign_name(chain_id: uuid.UUID, campaign_id: uuid.UUID) -> str | None:
    rows = await Campaign.select(Campaign.name).where(
        (Campaign.chain == chain_id) & (Campaign.id == campaign_id)).output(
        as_list=True).run()
    return str(rows[0]) if rows else None


async def names(table: Literal["automation"],
                ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``name`` of the rows of ``table`` (marketing/automations' table, read as the stats
    read the domains' tables) with these ids."""
    if not ids:
        return {}
    marks = ", ".join("{}" for _ in ids)
    rows = await Sql(f"SELECT id, name FROM {table} WHERE id IN ({marks})").rows(*ids)  # noqa: S608
    return {_uuid(r["id"]): str(r["name"]) for r in rows}


# --- the figures --------------------------------------------------------------------------

Side = Literal["referrer", "invitee"]
# A referral's voucher for either side (marketing/referral's table, read as the stats read
# the domains' tables): a set the planner hashes once, not a probe per voucher.
_SIDE = {"referrer": " AND v.id IN (SELECT f.referrer_voucher FROM referral f "
                     "WHERE f.chain = {} AND f.referrer_voucher IS NOT NULL)",
         "invitee": " AND v.id IN (SELECT f.invitee_voucher FROM referral f "
                    "WHERE f.chain = {} AND f.invitee_voucher IS NOT NULL)"}


@dataclass(frozen=True, slots=True)
class Only:
    """Which vouchers: of a source (claim, issue, job, automation, referral, gift), of one
    source id, of one side of the chain's referrals."""

    source: str | None = None
    source_id: uuid.UUID | None = None
    side: Side | None = None
    chain_id: uuid.UUID | None = None  # with ``side``


def _where(only: Only) -> tuple[str, list[Any]]:
    sql = ""
    args: list[Any] = []
    source, source_id = only.source, only.source_id
    if only.side is not None:
        sql += _SIDE[only.side]
        args.append(only.chain_id)
    if source is not None:
        sql += " AND v.source = {}"
        args.append(source)
    if source_id is not None:
        sql += " AND v.source_id = {}"
        args.append(source_id)
    return sql, args


Key = tuple[uuid.UUID, uuid.UUID | None]  # (campaign, source_id)


def _group(group: Group) -> tuple[str, str]:
    """(select list, group by) of a key: the campaign, or (campaign, source_id)."""
    if group == "campaign":
        return "v.campaign AS campaign, NULL AS source_id", "v.campaign"
    return "v.campaign AS campaign, v.source_id AS source_id", "v.campaign, v.source_id"


def _key(row: dict[str, Any]) -> Key:
    source = row["source_id"]
    return _uuid(row["campaign"]), None if source is None else _uuid(source)


async def tallies(chain_id: uuid.UUID, lo: datetime, hi: datetime, group: Group,
                  only: Only) -> dict[Key, dict[str, int]]:
    """Per key: the vouchers issued in [lo, hi), those of them redeemed, and the discount
    and bills of those redemptions."""
    select, group_by = _group(group)
    extra, args = _where(only)
    rows = await Sql(
        f"SELECT {select}, count(*) AS issued, count(r.id) AS redeemed, "  # noqa: S608
        "coalesce(sum(r.discount_cents), 0) AS discount_cents, "
        "coalesce(sum(r.amount_cents), 0) AS bill_cents "
        f"FROM voucher v {_REDEEMED} WHERE {_IN_RANGE}{extra} GROUP BY {group_by}"
    ).rows(chain_id, lo, hi, *args)
    return {_key(r): {"issued": int(r["issued"]), "redeemed": int(r["redeemed"]),
                      "discount_cents": int(r["discount_cents"]),
                      "bill_cents": int(r["bill_cents"])} for r in rows}


# A later visit: a redemption not reversed (any kind, any store of the chain), or a
# booking checked in (or completed without a check-in), on one of the 30 local days after
# the redemption's own (days d+1..d+30 of the chain's zone).
#
# PostgreSQL sorts the (campaign, member, day) that spent a voucher together with the
# members' visit days over the span those can reach, and counts for each spending day the
# visits 1 to 30 days after it (a window over each member's days): linear in the rows of
# the span. Measured on the large demo at a fifth (92 k voucher redemptions): a month's
# results took 0.6-0.9 s on a loaded two-core box, where an EXISTS per redemption (two
# index probes each) took 1.1-1.7 s and a join of each spending day with the member's
# visit days 0.4-1.3 s, but 4-5 s over a year (the days of a member multiply).
_RETURNING_PG = (
    "WITH spent AS MATERIALIZED ("  # noqa: S608
    "SELECT DISTINCT {select}, r.member_id AS member_id, "
    "(r.created_at AT TIME ZONE {{}})::date AS day FROM voucher v "
    "JOIN redemption r ON r.object_id = v.id AND r.kind = 'voucher' "
    "AND r.reversed_at IS NULL WHERE {where} AND r.member_id IS NOT NULL), "
    "span AS (SELECT (min(day) + 1)::timestamp AT TIME ZONE {{}} AS lo, "
    f"(max(day) + {RETURN_DAYS + 1})::timestamp AT TIME ZONE {{{{}}}} AS hi FROM spent), "
    "visits AS ("
    "SELECT x.member_id, (x.created_at AT TIME ZONE {{}})::date AS day "
    "FROM redemption x, span WHERE x.chain = {{}} AND x.reversed_at IS NULL "
    "AND x.member_id IS NOT NULL AND x.created_at >= span.lo AND x.created_at < span.hi "
    "UNION SELECT b.member, (coalesce(b.checked_in_at, b.completed_at) AT TIME ZONE {{}})"
    "::date FROM booking b, span WHERE b.chain = {{}} "
    "AND coalesce(b.checked_in_at, b.completed_at) >= span.lo "
    "AND coalesce(b.checked_in_at, b.completed_at) < span.hi), "
    "marks AS (SELECT campaign, source_id, member_id, day, false AS visit FROM spent "
    "UNION ALL SELECT NULL, NULL, member_id, day, true FROM visits), "
    "judged AS (SELECT campaign, source_id, member_id, visit, count(*) FILTER (WHERE visit) "
    "OVER (PARTITION BY member_id ORDER BY day RANGE BETWEEN interval '1 day' FOLLOWING "
    f"AND interval '{RETURN_DAYS} days' FOLLOWING) AS later FROM marks) "
    "SELECT campaign, source_id, count(DISTINCT member_id) AS n FROM judged "
    "WHERE NOT visit AND later > 0 GROUP BY campaign, source_id")


async def returning(chain_id: uuid.UUID, lo: datetime, hi: datetime, group: Group,
                    zone: ZoneInfo, only: Only) -> dict[Key, int]:
    """Per key: distinct members who redeemed one of the vouchers issued in [lo, hi) and
    visited again on one of the 30 local days (``zone``) after that redemption's."""
    if _sqlite():
        return await _returning_sqlite(chain_id, lo, hi, group, zone, only)
    select, _ = _group(group)
    extra, args = _where(only)
    z = zone.key
    rows = await _without_jit(_RETURNING_PG.format(select=select, where=_IN_RANGE + extra),
                              z, chain_id, lo, hi, *args, z, z, z, chain_id, z, chain_id)
    return {_key(r): int(r["n"]) for r in rows}


async def _without_jit(text: str, *args: Any) -> list[dict[str, Any]]:
    """A report's statement on PostgreSQL with JIT compilation off: its estimated cost (a
    window over many rows) crosses ``jit_above_cost``, and compiling took longer than
    the query itself (1-3 s of a 4 s year on the large demo at a fifth; the query alone,
    0.5-2 s). ``{}`` placeholders, as :class:`Sql`."""
    engine = current_engine()
    assert isinstance(engine, PostgresEngine) and engine.pool is not None
    parts = text.split("{}")
    numbered = "".join(p + (f"${n}" if n < len(parts) else "")
                       for n, p in enumerate(parts, start=1))
    async with engine.pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL jit = off")
        return [dict(r) for r in await connection.fetch(numbered, *args)]


async def _returning_sqlite(chain_id: uuid.UUID, lo: datetime, hi: datetime, group: Group,
                            zone: ZoneInfo, only: Only) -> dict[Key, int]:
    """SQLite has no time zones: the redemptions and the members' visits are read and the
    windows computed here (its deployments are small)."""
    select, _ = _group(group)
    extra, args = _where(only)
    spent = await Sql(
        f"SELECT {select}, r.member_id AS member_id, r.created_at AS at "  # noqa: S608
        f"FROM voucher v JOIN redemption r ON r.object_id = v.id AND r.kind = 'voucher' "
        f"AND r.reversed_at IS NULL WHERE {_IN_RANGE}{extra} AND r.member_id IS NOT NULL"
    ).rows(chain_id, lo, hi, *args)
    if not spent:
        return {}
    windows = [(_key(r), _uuid(r["member_id"]), _return_window(_instant(r["at"]), zone))
               for r in spent]
    visits = await _visits({m for _, m, _ in windows}, min(w[0] for _, _, w in windows),
                           max(w[1] for _, _, w in windows))
    members: dict[Key, set[uuid.UUID]] = defaultdict(set)
    for key, member, (start, end) in windows:
        times = visits.get(member, [])
        at = bisect.bisect_left(times, start)
        if at < len(times) and times[at] < end:
            members[key].add(member)
    return {key: len(found) for key, found in members.items()}


def _return_window(at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    day = at.astimezone(zone).date()
    return (midnight(day + timedelta(days=1), zone),
            midnight(day + timedelta(days=RETURN_DAYS + 1), zone))


async def _visits(members: set[uuid.UUID], lo: datetime,
                  hi: datetime) -> dict[uuid.UUID, list[datetime]]:
    """Each member's visits in [lo, hi), sorted."""
    found: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    ids = sorted(members)
    for start in range(0, len(ids), 400):
        batch = ids[start:start + 400]
        marks = ", ".join("{}" for _ in batch)
        rows = await Sql(
            "SELECT member_id AS member, created_at AS at FROM redemption "  # noqa: S608
            f"WHERE member_id IN ({marks}) AND reversed_at IS NULL AND created_at >= {{}} "
            "AND created_at < {} UNION ALL "
            "SELECT member, coalesce(checked_in_at, completed_at) AS at FROM booking "
            f"WHERE member IN ({marks}) AND coalesce(checked_in_at, completed_at) >= {{}} "
            "AND coalesce(checked_in_at, completed_at) < {}"
        ).rows(*batch, lo, hi, *batch, lo, hi)
        for row in rows:
            found[_uuid(row["member"])].append(_instant(row["at"]))
    for times in found.values():
        times.sort()
    return found


# --- per day ------------------------------------------------------------------------------

async def daily(campaign_id: uuid.UUID, lo: datetime, hi: datetime,
                zone: ZoneInfo) -> tuple[dict[date, int], dict[date, int]]:
    """(issued, redeemed) per local day of ``zone`` in [lo, hi): the campaign's vouchers
    created, and redemptions (not reversed) of its vouchers made, that day."""
    issued_sql = ("SELECT {day} AS day, count(*) AS n FROM voucher v "
                  "WHERE v.campaign = {{}} AND v.created_at >= {{}} AND v.created_at < {{}} "
                  "GROUP BY 1")
    redeemed_sql = ("SELECT {day} AS day, count(*) AS n FROM voucher v "
                    "JOIN redemption r ON r.object_id = v.id AND r.kind = 'voucher' "
                    "AND r.reversed_at IS NULL WHERE v.campaign = {{}} "
                    "AND r.created_at >= {{}} AND r.created_at < {{}} GROUP BY 1")
    result = []
    for sql, column in ((issued_sql, "v.created_at"), (redeemed_sql, "r.created_at")):
        if _sqlite():
            # Quarter hours of UTC time: every zone's offset is a whole number of them, so
            # a local day is whole buckets (as app.stats.repository does).
            bucket = f"CAST(strftime('%s', {column}) AS INTEGER) / 900"
            rows = await Sql(sql.format(day=bucket)).rows(campaign_id, lo, hi)
            days: dict[date, int] = defaultdict(int)
            for row in rows:
                moment = datetime.fromtimestamp(int(row["day"]) * 900, UTC)
                days[moment.astimezone(zone).date()] += int(row["n"])
            result.append(dict(days))
        else:
            rows = await Sql(sql.format(day=f"({column} AT TIME ZONE {{}})::date")).rows(
                zone.key, campaign_id, lo, hi)
            result.append({r["day"]: int(r["n"]) for r in rows})
    return result[0], result[1]
