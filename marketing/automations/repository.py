"""Every query of automations. No rules here: the service and the worker decide what a row
means. The sweeps read other domains' tables (member, card, redemption) as stats does:
indexed reads only, never a write there (a voucher is issued through ``cards.public``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from app.core.db import Sql, current_engine, is_sqlite
from marketing.automations.rows import AutomationRow, AutomationRunRow
from marketing.automations.tables import Automation, AutomationRun

Values = Mapping[str, Any]


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _instant(value: Any) -> datetime:
    """An aggregate's timestamp: PostgreSQL types it, SQLite gives its UTC text."""
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- automations ------------------------------------------------------------------------

async def insert_automation(values: Values) -> None:
    await Automation.insert(Automation(**values)).run()


async def get_automation(automation_id: uuid.UUID, chain_id: uuid.UUID) -> AutomationRow | None:
    row = await Automation.select().where(
        (Automation.id == automation_id) & (Automation.chain == chain_id)).first().output(
        load_json=True).run()
    return cast("AutomationRow | None", row)


async def list_automations(chain_id: uuid.UUID) -> list[AutomationRow]:
    rows = await Automation.select().where(Automation.chain == chain_id).order_by(
        Automation.created_at, Automation.id).output(load_json=True).run()
    return cast("list[AutomationRow]", rows)


async def update_automation(automation_id: uuid.UUID, values: Values) -> None:
    await Automation.update({getattr(Automation, k): v for k, v in values.items()}).where(
        Automation.id == automation_id).run()


async def active_automations() -> list[AutomationRow]:
    """Every chain's active automations (the status index), in one order for every
    process: two processes sweeping at once meet the same rows in the same order."""
    rows = await Automation.select().where(Automation.status == "active").order_by(
        Automation.id).output(load_json=True).run()
    return cast("list[AutomationRow]", rows)


_ADVANCE_DAY = Sql("UPDATE automation SET swept_through = {} WHERE id = {} "
                   "AND (swept_through IS NULL OR swept_through < {})")
_ADVANCE_CURSOR = Sql("UPDATE automation SET cursor_at = {} WHERE id = {} "
                      "AND (cursor_at IS NULL OR cursor_at < {})")


async def advance_swept_through(automation_id: uuid.UUID, day: date) -> None:
    """Forward only: a slower process finishing an older day never moves it back."""
    await _ADVANCE_DAY.rows(day, automation_id, day)


async def advance_cursor(automation_id: uuid.UUID, at: datetime) -> None:
    await _ADVANCE_CURSOR.rows(at, automation_id, at)


# --- runs -------------------------------------------------------------------------------

# A conflict does nothing and returns no row; on PostgreSQL it waits for the twin's
# transaction to end first, so the loser never issues.
_CLAIM_RUN = Sql(
    "INSERT INTO automation_run (id, automation, member, occurrence, status, voucher, "
    "skipped_code, created_at) VALUES ({}, {}, {}, {}, 'issued', NULL, NULL, {}) "
    "ON CONFLICT (automation, member, occurrence) DO NOTHING RETURNING id")


async def claim_run(run_id: uuid.UUID, automation_id: uuid.UUID, member_id: uuid.UUID,
                    occurrence: str, now: datetime) -> bool:
    """Take the member's occurrence (the caller's write transaction); False when another
    sweep (this process or another) took it first."""
    return bool(await _CLAIM_RUN.rows(run_id, automation_id, member_id, occurrence, now))


async def finish_run(run_id: uuid.UUID, *, voucher_id: uuid.UUID | None,
                     skipped_code: str | None) -> None:
    await AutomationRun.update({
        AutomationRun.voucher: voucher_id,
        AutomationRun.status: "issued" if skipped_code is None else "skipped",
        AutomationRun.skipped_code: skipped_code,
    }).where(AutomationRun.id == run_id).run()


async def list_runs(automation_id: uuid.UUID, *, limit: int,
                    offset: int) -> list[AutomationRunRow]:
    """Newest first (index automation_run_log)."""
    rows = await AutomationRun.select().where(
        AutomationRun.automation == automation_id).order_by(
        AutomationRun.created_at, AutomationRun.id, ascending=False).limit(limit).offset(
        offset).run()
    return cast("list[AutomationRunRow]", rows)


# --- what the sweeps read ---------------------------------------------------------------

_BIRTHDAYS = {
    engine: Sql(
        f"SELECT m.id FROM member m WHERE m.chain = {{}} AND m.birthday IS NOT NULL "  # noqa: S608
        f"AND {month} = {{}} AND {day} IN ({{}}, {{}}) AND m.id > {{}} "
        "AND NOT EXISTS (SELECT 1 FROM automation_run ar WHERE ar.automation = {} "
        "AND ar.member = m.id AND ar.occurrence = {}) ORDER BY m.id LIMIT {}")
    for engine, month, day in (
        ("sqlite", "CAST(strftime('%m', m.birthday) AS INTEGER)",
         "CAST(strftime('%d', m.birthday) AS INTEGER)"),
        ("postgres", "CAST(EXTRACT(MONTH FROM m.birthday) AS INTEGER)",
         "CAST(EXTRACT(DAY FROM m.birthday) AS INTEGER)"))
}
NIL = uuid.UUID(int=0)


async def birthday_members(chain_id: uuid.UUID, month: int, days: tuple[int, int], *,
                           automation_id: uuid.UUID, occurrence: str,
                           after: uuid.UUID = NIL, limit: int = 500) -> list[uuid.UUID]:
    """The chain's members born on ``month``/``days`` (two days: 28 February also takes
    the 29th in a common year) who have no run of this occurrence yet, by id from
    ``after``. Index member_chain_birthday (PostgreSQL) on the chain, month and day, once
    a day per automation."""
    sql = _BIRTHDAYS["sqlite" if is_sqlite(current_engine()) else "postgres"]
    rows = await sql.rows(chain_id, month, days[0], days[1], after, automation_id,
                          occurrence, limit)
    return [_uuid(r["id"]) for r in rows]


_JOINED_WITH_BIRTHDAY = Sql(
    "SELECT m.id, m.birthday FROM member m WHERE m.created_at > {} AND m.created_at <= {} "
    "AND m.chain = {} AND m.birthday IS NOT NULL ORDER BY m.id")


async def joined_with_birthday(chain_id: uuid.UUID, lo: datetime,
                               hi: datetime) -> list[tuple[uuid.UUID, date]]:
    """(member, birthday) of the chain's members who joined in (lo, hi] (index on
    member.created_at: a round's few new members)."""
    rows = await _JOINED_WITH_BIRTHDAY.rows(lo, hi, chain_id)
    return [(_uuid(r["id"]), _date(r["birthday"])) for r in rows]


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# Members whose latest redemption not reversed falls in [lo, hi): the window's rows
# grouped by member (redemption's created_at index; the whole chain once, at the first
# sweep), then for each member none later (index redemption_member_created).
_LAPSED = (
    "SELECT g.member, g.last FROM (SELECT r.member_id AS member, MAX(r.created_at) AS last "
    "FROM redemption r WHERE r.chain = {} AND r.reversed_at IS NULL "
    "AND r.member_id IS NOT NULL AND r.created_at < {} LOWER GROUP BY r.member_id) g "
    "WHERE NOT EXISTS (SELECT 1 FROM redemption l WHERE l.member_id = g.member "
    "AND l.reversed_at IS NULL AND l.created_at >= {})")
_LAPSED_SINCE = Sql(_LAPSED.replace("LOWER", "AND r.created_at >= {}"))
_LAPSED_EVER = Sql(_LAPSED.replace("LOWER", ""))


async def lapsed_visitors(chain_id: uuid.UUID, lo: datetime | None,
                          hi: datetime) -> list[tuple[uuid.UUID, datetime]]:
    """(member, last visit) of the chain's members whose last visit not reversed is in
    [lo, hi) (``lo`` None: ever before ``hi``)."""
    if lo is None:
        rows = await _LAPSED_EVER.rows(chain_id, hi, hi)
    else:
        rows = await _LAPSED_SINCE.rows(chain_id, hi, lo, hi)
    return sorted((_uuid(r["member"]), _instant(r["last"])) for r in rows)


_NEVER_VISITED = (
    "SELECT m.id, m.created_at FROM member m WHERE m.chain = {} AND m.created_at < {} "
    "LOWER AND NOT EXISTS (SELECT 1 FROM redemption r WHERE r.member_id = m.id "
    "AND r.reversed_at IS NULL) ORDER BY m.id")
_NEVER_VISITED_SINCE = Sql(_NEVER_VISITED.replace("LOWER", "AND m.created_at >= {}"))
_NEVER_VISITED_EVER = Sql(_NEVER_VISITED.replace("LOWER", ""))


async def never_visited(chain_id: uuid.UUID, lo: datetime | None,
                        hi: datetime) -> list[tuple[uuid.UUID, datetime]]:
    """(member, joined) of the chain's members who joined in [lo, hi) and have no visit
    not reversed."""
    if lo is None:
        rows = await _NEVER_VISITED_EVER.rows(chain_id, hi)
    else:
        rows = await _NEVER_VISITED_SINCE.rows(chain_id, hi, lo)
    return [(_uuid(r["id"]), _instant(r["created_at"])) for r in rows]


# A chain's cards created in (lo, hi] (index marketing_card_chain_created) that are their
# member's first card, and whose member has no welcome yet.
_FIRST_CARDS = Sql(
    "SELECT DISTINCT c.member FROM card c WHERE c.chain = {} AND c.created_at > {} "
    "AND c.created_at <= {} AND c.created_at > {} AND NOT EXISTS (SELECT 1 FROM card e "
    "WHERE e.member = c.member AND (e.created_at < c.created_at "
    "OR (e.created_at = c.created_at AND e.id < c.id))) "
    "AND NOT EXISTS (SELECT 1 FROM automation_run ar WHERE ar.automation = {} "
    "AND ar.member = c.member AND ar.occurrence = {}) ORDER BY c.member")


async def first_cards(chain_id: uuid.UUID, lo: datetime, hi: datetime, since: datetime, *,
                      automation_id: uuid.UUID, occurrence: str) -> list[uuid.UUID]:
    """Members of the chain whose first card was created in (lo, hi], after ``since``,
    with no run of ``occurrence`` yet."""
    rows = await _FIRST_CARDS.rows(chain_id, lo, hi, since, automation_id, occurrence)
    return [_uuid(r["member"]) for r in rows]


# Members with a visit not reversed in (lo, hi] (redemption's created_at index) whose
# visits not reversed now number at least n, of which fewer than n came by ``since``:
# they reached n after the automation started.
_REACHED_N = Sql(
    "SELECT v.member FROM (SELECT DISTINCT r.member_id AS member FROM redemption r "
    "WHERE r.chain = {} AND r.created_at > {} AND r.created_at <= {} "
    "AND r.reversed_at IS NULL AND r.member_id IS NOT NULL) v "
    "WHERE NOT EXISTS (SELECT 1 FROM automation_run ar WHERE ar.automation = {} "
    "AND ar.member = v.member AND ar.occurrence = {}) "
    "AND (SELECT COUNT(*) FROM redemption a WHERE a.member_id = v.member "
    "AND a.reversed_at IS NULL) >= {} "
    "AND (SELECT COUNT(*) FROM redemption b WHERE b.member_id = v.member "
    "AND b.reversed_at IS NULL AND b.created_at <= {}) < {} ORDER BY v.member")


async def reached_nth_visit(chain_id: uuid.UUID, lo: datetime, hi: datetime, n: int,
                            since: datetime, *, automation_id: uuid.UUID,
                            occurrence: str) -> list[uuid.UUID]:
    rows = await _REACHED_N.rows(chain_id, lo, hi, automation_id, occurrence, n, since, n)
    return [_uuid(r["member"]) for r in rows]
