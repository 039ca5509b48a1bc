"""Segments' queries: the saved segments, and the members matching a set of filters.

PostgreSQL reads the per-member visit rollup ``segment_visits`` (see the raw migration:
one row per member, a binary search per member for the window); SQLite reads the
redemptions themselves, grouped per member (its deployments are small). Both build the
same conditions on ``member`` and ``card``. Every instant arrives computed (the service
turns the chain's local days into instants), so no query knows a time zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from piccolo.querystring import QueryString

from app.core.db import current_engine, is_sqlite
from cards.tables import CardTemplate
from marketing.segments.tables import Segment
from stores.tables import Store


@dataclass(frozen=True)
class Match:
    """What a member must be, in instants and ids (the service's translation of the
    filters). ``scope_store_ids``: a manager's stores (their members only); None: all."""

    chain_id: uuid.UUID
    now: datetime
    window_start: datetime
    last_visit_since: datetime | None = None
    last_visit_before: datetime | None = None
    joined_since: datetime | None = None
    joined_before: datetime | None = None
    visits_min: int | None = None
    visits_max: int | None = None
    spend_min: int | None = None
    spend_max: int | None = None
    tiers: list[str] | None = None
    template_ids: list[uuid.UUID] | None = None
    store_ids: list[uuid.UUID] | None = None
    birthday_month: int | None = None
    has_phone: bool | None = None
    scope_store_ids: list[uuid.UUID] | None = None


@dataclass
class _Sql:
    """A statement being built: its text with ``{}`` placeholders and their values."""

    parts: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, text: str, *args: Any) -> None:
        self.parts.append(text)
        self.args.extend(args)

    def query(self, separator: str = " ") -> QueryString:
        return QueryString(separator.join(self.parts), *self.args)


def _sqlite() -> bool:
    return is_sqlite(current_engine())


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("{}" for _ in values)


# --- what the rollup (PostgreSQL) or the redemptions (SQLite) say ------------------------

# PostgreSQL: k = the member's visits before the window (binary search over ``at``).
_PG_K = "width_bucket({}::timestamptz, v.at)"
_PG_VISITS = f"coalesce(cardinality(v.at) - {_PG_K}, 0)"
_PG_SPEND = (f"coalesce(v.spend[cardinality(v.spend)] - coalesce(v.spend[{_PG_K}], "
             "v.base_spend), 0)")


def _before_window(match: Match) -> datetime:
    """The last instant before the window: ``width_bucket`` counts the visits at or
    before it, i.e. before the window (instants are whole microseconds)."""
    return match.window_start - timedelta(microseconds=1)


def _needs_visit_row(match: Match) -> bool:
    """Whether only members with a visit can match (an inner join to the rollup)."""
    return (match.last_visit_since is not None or match.last_visit_before is not None
            or match.store_ids is not None or (match.visits_min or 0) > 0
            or (match.spend_min or 0) > 0)


def _needs_member(match: Match) -> bool:
    """Whether a condition reads the member's own row (not only the rollup)."""
    return any(value is not None for value in (
        match.joined_since, match.joined_before, match.birthday_month, match.has_phone,
        match.scope_store_ids))


def _facts_pg(match: Match, lean: bool) -> tuple[str, str, str, list[Any]]:
    """(the FROM clause, the visits and spend expressions, their arguments). ``lean``
    (the ids of the matches): no member row when no condition reads it, and an inner join
    when only members with a visit can match, so the planner reads what it must."""
    if lean and _needs_visit_row(match):
        source = ("FROM member m JOIN segment_visits v ON v.member_id = m.id"
                  if _needs_member(match) else "FROM segment_visits v")
    else:
        source = "FROM member m LEFT JOIN segment_visits v ON v.member_id = m.id"
    return source, _PG_VISITS, _PG_SPEND, [_before_window(match)]


def _facts_sqlite(match: Match, lean: bool) -> tuple[str, str, str, list[Any]]:
    return ("FROM member m LEFT JOIN (SELECT r.member_id, max(r.created_at) AS last_at, "
            "sum(CASE WHEN r.created_at >= {} THEN 1 ELSE 0 END) AS visits, "
            "sum(CASE WHEN r.created_at >= {} THEN r.charged_cents ELSE 0 END) AS spend "
            "FROM redemption r WHERE r.chain = {} AND r.reversed_at IS NULL "
            "AND r.member_id IS NOT NULL GROUP BY r.member_id) v ON v.member_id = m.id",
            "coalesce(v.visits, 0)", "coalesce(v.spend, 0)",
            [match.window_start, match.window_start, match.chain_id])


def _visited_stores(match: Match, stores: list[uuid.UUID], within_window: bool,
                    sql: _Sql) -> None:
    """The member visited one of ``stores`` (in the window, or ever)."""
    if not _sqlite():
        if within_window:
            sql.add(f"v.stores[{_PG_K} + 1:cardinality(v.stores)] && {{}}::uuid[]",
                    _before_window(match), stores)
        else:
            sql.add("v.visited && {}::uuid[]", stores)
        return
    since = " AND r.created_at >= {}" if within_window else ""
    sql.add(f"EXISTS (SELECT 1 FROM redemption r WHERE r.member_id = m.id "  # noqa: S608
            f"AND r.reversed_at IS NULL AND r.store IN ({_marks(stores)}){since})",
            *stores, *([match.window_start] if within_window else []))


def _in(column: str, values: Sequence[Any], cast_to: str, sql: _Sql) -> None:
    if _sqlite():
        sql.add(f"{column} IN ({_marks(values)})", *values)
    else:
        sql.add(f"{column} = ANY({{}}::{cast_to}[])", list(values))


def _live_card(match: Match, member: str, column: str, values: Sequence[Any],
               cast_to: str, sql: _Sql) -> None:
    """The member holds a live card (active, not past its validity) matching."""
    inner = _Sql()
    _in(f"c.{column}", values, cast_to, inner)
    sql.add(f"EXISTS (SELECT 1 FROM card c WHERE c.member = {member} "  # noqa: S608
            "AND c.status = 'active' "
            "AND (c.expires_at IS NULL OR c.expires_at > {}) AND " + inner.parts[0] + ")",
            match.now, *inner.args)


def _conditions(match: Match, visits: str, spend: str, facts_args: list[Any],
                member: str = "m") -> _Sql:
    """The WHERE clause; ``member``: "m" (the member row is read) or "v" (only the
    rollup's: no condition reads the member)."""
    where = _Sql()
    where.add("m.chain = {}" if member == "m" else "v.chain_id = {}", match.chain_id)
    ident = "m.id" if member == "m" else "v.member_id"
    for bound, op, value in (("last", ">=", match.last_visit_since),
                             ("last", "<", match.last_visit_before),
                             ("joined", ">=", match.joined_since),
                             ("joined", "<", match.joined_before)):
        if value is not None:
            column = "v.last_at" if bound == "last" else "m.created_at"
            where.add(f"{column} {op} {{}}", value)
    for expression, op, number in ((visits, ">=", match.visits_min),
                                  (visits, "<=", match.visits_max),
                                  (spend, ">=", match.spend_min),
                                   (spend, "<=", match.spend_max)):
        if number is not None:
            where.add(f"{expression} {op} {{}}", *facts_args * expression.count("{}"), number)
    if match.store_ids is not None:
        _visited_stores(match, match.store_ids, True, where)
    if match.tiers is not None:
        _live_card(match, ident, "tier", match.tiers, "varchar", where)
    if match.template_ids is not None:
        _live_card(match, ident, "template", match.template_ids, "uuid", where)
    if match.birthday_month is not None:
        month = ("CAST(strftime('%m', m.birthday) AS INTEGER)" if _sqlite()
                 else "EXTRACT(MONTH FROM m.birthday)")
        where.add(f"{month} = {{}}", match.birthday_month)
    if match.has_phone is not None:
        where.add("(m.phone IS NOT NULL AND m.phone <> '')" if match.has_phone
                  else "(m.phone IS NULL OR m.phone = '')")
    if match.scope_store_ids is not None:
        mine = _Sql()
        _in("m.registered_store", match.scope_store_ids, "uuid", mine)
        _visited_stores(match, match.scope_store_ids, False, mine)
        where.add(f"({mine.parts[0]} OR {mine.parts[1]})", *mine.args)
    return where


def _select(match: Match, columns: str, tail: str = "", *tail_args: Any,
            lean: bool = False) -> QueryString:
    """SELECT ``columns`` (``{visits}``, ``{spend}``: the window's figures; ``{id}``: the
    member's id) of the matching members. ``lean``: the ids only, reading no more than
    the conditions need (PostgreSQL)."""
    facts = _facts_sqlite if _sqlite() else _facts_pg
    source, visits, spend, facts_args = facts(match, lean)
    member = "v" if source == "FROM segment_visits v" else "m"
    where = _conditions(match, visits, spend, facts_args, member)
    select = columns.replace("{visits}", visits).replace("{spend}", spend).replace(
        "{id}", "m.id" if member == "m" else "v.member_id")
    args = facts_args * (columns.count("{visits}") * visits.count("{}")
                         + columns.count("{spend}") * spend.count("{}"))
    source_args = facts_args if _sqlite() else []
    return QueryString(f"SELECT {select} {source} WHERE "
                       + " AND ".join(where.parts) + tail,
                       *args, *source_args, *where.args, *tail_args)


_MEMBER_COLUMNS = ("m.id, m.name, m.phone, m.birthday, m.created_at AS joined_at, "
                   "m.registered_store AS registered_store_id, v.last_at AS last_visit_at, "
                   "{visits} AS visits, {spend} AS spend_cents")


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else value if isinstance(value, uuid.UUID) \
        else uuid.UUID(str(value))


def _instant(value: Any) -> datetime | None:
    """PostgreSQL types it; SQLite may give the UTC text of an aggregate."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _member(row: dict[str, Any]) -> dict[str, Any]:
    birthday = row["birthday"]
    if isinstance(birthday, str):
        birthday = date.fromisoformat(birthday[:10])
    return {"id": _uuid(row["id"]), "name": row["name"], "phone": row["phone"],
            "birthday": birthday, "joined_at": _instant(row["joined_at"]),
            "registered_store_id": _uuid(row["registered_store_id"]),
            "last_visit_at": _instant(row["last_visit_at"]),
            "visits": int(row["visits"] or 0), "spend_cents": int(row["spend_cents"] or 0)}


async def _run(query: QueryString) -> list[dict[str, Any]]:
    return cast("list[dict[str, Any]]", await Segment.raw(query.template, *query.args).run())


_WORK_MEM = "64MB"


async def _planned(query: QueryString) -> list[dict[str, Any]]:
    """A scan of the chain's members on PostgreSQL, planned as one: hash joins (the
    filters' selectivity is unknown to the planner, which then believed a handful of rows
    and probed the cards' index once per member: 80k probes, a second on the large demo),
    no JIT (compiling cost more than it saved), and room for the hashes and the list of
    ids in memory (4 MB spilled 100k ids to disk)."""
    engine = current_engine()
    outer = engine.current_transaction.get() is not None  # a caller's (a job's) own
    async with engine.transaction():
        saved = (await Segment.raw(
            "SELECT current_setting('enable_nestloop') AS nestloop, "
            "current_setting('jit') AS jit, current_setting('work_mem') AS work_mem, "
            "set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true), "
            "set_config('work_mem', {}, true)", _WORK_MEM).run())[0]
        rows = await _run(query)
        if outer:  # the rest of the caller's transaction plans as before
            await Segment.raw("SELECT set_config('enable_nestloop', {}, true), "
                              "set_config('jit', {}, true), set_config('work_mem', {}, true)",
                              saved["nestloop"], saved["jit"], saved["work_mem"]).run()
        return rows


async def matching_page(match: Match, limit: int, offset: int
                        ) -> tuple[int, list[dict[str, Any]]]:
    """(how many members match, the page of them ordered by id).

    PostgreSQL evaluates the filters once into a materialized list of ids, counts it and
    takes the page's ids from it (a top-N sort of ids only); the page's members are then
    read by id. (One statement with ``count(*) OVER ()`` computed every column of every
    match and sorted them whole: 3 to 5 times slower on the large demo.)"""
    if _sqlite():
        rows = await _run(_select(match, _MEMBER_COLUMNS + ", count(*) OVER () AS total",
                                  " ORDER BY m.id LIMIT {} OFFSET {}", limit, offset))
        if rows or offset == 0:
            return (int(rows[0]["total"]) if rows else 0), [_member(r) for r in rows]
        counted = await _run(_select(match, "count(*) AS total"))
        return int(counted[0]["total"]), []
    hits = _select(match, "{id} AS id", lean=True)
    found = await _planned(QueryString(
        "WITH hits AS MATERIALIZED (" + hits.template + ") "  # noqa: S608
        "SELECT (SELECT count(*) FROM hits) AS total, "
        "array(SELECT id FROM hits ORDER BY id LIMIT {} OFFSET {}) AS page",
        *hits.args, limit, offset))
    page = list(found[0]["page"])
    return int(found[0]["total"]), await matching_members(match, page)


async def matching_ids(match: Match) -> list[uuid.UUID]:
    if _sqlite():
        rows = await _run(_select(match, "m.id", " ORDER BY m.id"))
    else:
        rows = await _planned(_select(match, "{id} AS id", " ORDER BY 1", lean=True))
    return [cast("uuid.UUID", _uuid(r["id"])) for r in rows]


async def matching_members(match: Match, member_ids: Sequence[uuid.UUID]
                           ) -> list[dict[str, Any]]:
    """The matching members among ``member_ids`` (an export's batch), by id."""
    if not member_ids:
        return []
    among = _Sql()
    _in("m.id", member_ids, "uuid", among)
    rows = await _run(_select(match, _MEMBER_COLUMNS, " AND " + among.parts[0]
                              + " ORDER BY m.id", *among.args))
    return [_member(r) for r in rows]


async def chain_store_ids(chain_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await Store.select(Store.id).where(
        (Store.chain == chain_id) & Store.id.is_in(list(ids))).run()
    return {r["id"] for r in rows}


async def chain_template_ids(chain_id: uuid.UUID,
                             ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await CardTemplate.select(CardTemplate.id).where(
        (CardTemplate.chain == chain_id) & CardTemplate.id.is_in(list(ids))).run()
    return {r["id"] for r in rows}


# --- PostgreSQL's rollup ---------------------------------------------------------------

async def rollup_stale() -> bool:
    """A bulk load (``o2o.stats_off``) skipped the trigger since the last rebuild."""
    if _sqlite():
        return False
    return bool(await _run(QueryString("SELECT 1 AS stale FROM segment_stale LIMIT 1")))


async def rebuild(chain_id: uuid.UUID | None) -> bool:
    """Recompute the rollup from the redemptions (PostgreSQL); False on SQLite."""
    if _sqlite():
        return False
    await Segment.raw("SELECT segment_visits_rebuild({}::uuid)", chain_id).run()
    return True


# --- saved segments --------------------------------------------------------------------

async def insert_segment(values: dict[str, Any]) -> None:
    await Segment.insert(Segment(**values)).run()


async def get_segment(segment_id: uuid.UUID, chain_id: uuid.UUID) -> dict[str, Any] | None:
    return await Segment.select().where(
        (Segment.id == segment_id) & (Segment.chain == chain_id)).output(
        load_json=True).first().run()


async def list_segments(chain_id: uuid.UUID) -> list[dict[str, Any]]:
    return await Segment.select().where(
        Segment.chain == chain_id).order_by(Segment.created_at, ascending=False).order_by(
        Segment.id).output(load_json=True).run()


async def update_segment(segment_id: uuid.UUID, values: dict[str, Any]) -> None:
    await Segment.update(values).where(Segment.id == segment_id).run()  # type: ignore[arg-type]


async def delete_segment(segment_id: uuid.UUID) -> None:
    await Segment.delete().where(Segment.id == segment_id).run()
