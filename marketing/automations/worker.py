"""Automations' sweeps, run from marketing's runner (``tick``) in every process.

**Once per occurrence, whatever the processes.** A member's occurrence is a row of
``automation_run``, unique on (automation, member, occurrence), inserted (``ON CONFLICT DO
NOTHING``) in the write transaction that issues the voucher through
``cards.public.issue_voucher``: two processes sweeping the same members at once both try,
one inserts and issues, the other's insert finds the row (PostgreSQL makes it wait for
the first's commit) and does nothing. A refused issue (sold out, the member's limit) is
kept as a *skipped* run with its code: the occurrence is taken, not tried again every
round, and the run log says why.

**Occurrences.** birthday: the year of the birthday celebrated, fired ``days_before``
days before it (dates in the chain's zone, ``chain.timezone``); a 29 February birthday is
celebrated on 28 February in a common year. inactive: the local date of the member's
last visit (their latest redemption not reversed; a member who never visited counts from
joining, the join date): one per spell, so a member who comes back and lapses again is
another occurrence. welcome: once per member, on their first card, for first cards
created after the automation started (the existing base is not flooded). nth_visit:
once per n, for members whose visits not reversed reach n after it started.

**Cheap when nothing is due.** birthday and inactive sweep each local day once
(``swept_through``: the last birthday date swept; the last last-visit date swept): a
round on a day already swept reads nothing but the automations.
welcome and nth_visit read only the cards and redemptions created since the last round
(``cursor_at``, less :data:`OVERLAP` for rows whose transaction committed late), through
indexes, and skip members who already have their run. Nothing here runs in the
redemption's transaction: the redemption hot path pays nothing for automations.

**Paused campaign.** While the automation's campaign cannot issue (paused, not yet or
no longer valid) its sweeps wait without moving their watermark, and catch up when it
can (or when the automation is given another campaign).
"""

from __future__ import annotations

import calendar
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.core.db import savepoint, write_transaction
from app.core.errors import AppError
from cards import public as cards
from marketing.automations import repository as repo
from marketing.automations.rows import AutomationRow
from marketing.tick import Tick
from stores import service as stores

log = logging.getLogger("o2o.marketing.automations")

# How far back each round reads again rows created before the last round's end: a
# transaction that wrote a card or a redemption stamped before that end but committed
# after it is still seen.
OVERLAP = timedelta(minutes=2)
BATCH = 500  # birthday members read at once
WELCOME = "welcome"


async def tick(ctx: Tick) -> None:
    """One round of every active automation of every chain."""
    for automation in await repo.active_automations():
        try:
            done = await sweep(automation, ctx)
        except Exception:
            log.exception("automation %s: sweep failed", automation["id"])
            continue
        if done:
            log.info("automation %s (%s): %s", automation["id"], automation["trigger"],
                     dict(done))


async def sweep(automation: AutomationRow, ctx: Tick) -> Counter[str]:
    """What one automation has due at ``ctx.now``; counts issued / skipped runs."""
    sweeper = SWEEPS[automation["trigger"]]
    return await sweeper(automation, ctx)


# --- issuing one occurrence -------------------------------------------------------------

async def issue(automation: AutomationRow, member_id: uuid.UUID, occurrence: str,
                ctx: Tick) -> str:
    """The member's voucher for ``occurrence``, once: ``issued``, ``skipped`` (refused;
    the run keeps the code) or ``taken`` (another sweep had it)."""
    run_id = uuid.uuid4()
    async with write_transaction():
        if not await repo.claim_run(run_id, automation["id"], member_id, occurrence,
                                    ctx.now):
            return "taken"
        try:
            async with savepoint():
                voucher = await cards.issue_voucher(
                    automation["chain"], automation["campaign"], member_id,
                    signer=ctx.signer, source="automation", source_id=automation["id"],
                    notify=automation["notify"], now=ctx.now)
        except AppError as exc:
            await repo.finish_run(run_id, voucher_id=None, skipped_code=exc.code)
            return "skipped"
        await repo.finish_run(run_id, voucher_id=voucher.id, skipped_code=None)
    return "issued"


async def _issue_all(automation: AutomationRow, found: Iterable[tuple[uuid.UUID, str]],
                     ctx: Tick, done: Counter[str]) -> None:
    for member_id, occurrence in found:
        done[await issue(automation, member_id, occurrence, ctx)] += 1


async def _can_issue(automation: AutomationRow, now: datetime) -> bool:
    campaign = await cards.campaign_in_chain(automation["chain"], automation["campaign"])
    return campaign is not None and campaign.status == "active" \
        and campaign.valid_from <= now < campaign.valid_until


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone)


# --- birthday ---------------------------------------------------------------------------

def celebrated_days(day: date) -> tuple[int, int]:
    """The birth days (of ``day``'s month) celebrated on ``day``: itself, and on 28
    February of a common year also the 29th (a 29 February birthday is celebrated the
    day before 1 March, in February, where the member's year began)."""
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        return 28, 29
    return day.day, day.day


async def _birthday(automation: AutomationRow, ctx: Tick) -> Counter[str]:
    """Birthdays from today to today + days_before not yet swept. The watermark
    (``swept_through``) is the last *birthday date* swept, not the day of the sweep: an
    operator raising days_before (on the day → a week before) brings the coming week's
    birthdays in at once, lowering it sweeps nothing twice. Never a birthday already
    past: at the first round (and after a resumption) today's upcoming ones."""
    done: Counter[str] = Counter()
    zone = await stores.chain_timezone(automation["chain"])
    today = ctx.now.astimezone(zone).date()
    last = today + timedelta(days=int(automation["params"].get("days_before", 0)))
    swept = automation["swept_through"]
    celebrated = today if swept is None else max(today, swept + timedelta(days=1))
    if not await _can_issue(automation, ctx.now):
        return done
    await _joined_after_their_day(automation, ctx, today,
                                  min(last + timedelta(days=1), celebrated), done)
    while celebrated <= last:
        occurrence = str(celebrated.year)
        after = repo.NIL
        while True:
            members = await repo.birthday_members(
                automation["chain"], celebrated.month, celebrated_days(celebrated),
                automation_id=automation["id"], occurrence=occurrence, after=after,
                limit=BATCH)
            await _issue_all(automation, ((m, occurrence) for m in members), ctx, done)
            if len(members) < BATCH:
                break
            after = members[-1]
        await repo.advance_swept_through(automation["id"], celebrated)
        celebrated += timedelta(days=1)
    return done


async def _joined_after_their_day(automation: AutomationRow, ctx: Tick, today: date,
                                  end: date, done: Counter[str]) -> None:
    """Members who joined since the last round with a birthday on a day already swept
    (``today`` up to before ``end``): joining at the counter on one's birthday is common,
    and the midnight sweep could not see them. A birthday typed in later by an existing
    member waits for next year (no updated-at to find it by, and no gaming of the day)."""
    lo, hi = _window(automation, ctx.now)
    due: list[tuple[uuid.UUID, str]] = []
    for member_id, birthday in await repo.joined_with_birthday(automation["chain"], lo, hi):
        day = today
        while day < end:
            if birthday.month == day.month and birthday.day in celebrated_days(day):
                due.append((member_id, str(day.year)))
                break
            day += timedelta(days=1)
    await _issue_all(automation, due, ctx, done)
    await repo.advance_cursor(automation["id"], hi)


# --- inactive ---------------------------------------------------------------------------

async def _inactive(automation: AutomationRow, ctx: Tick) -> Counter[str]:
    """Members whose last visit's local date is inactive_days or more before today, swept
    by that date: each round takes the dates after the last one swept, up to today less
    inactive_days."""
    done: Counter[str] = Counter()
    zone = await stores.chain_timezone(automation["chain"])
    today = ctx.now.astimezone(zone).date()
    cutoff = today - timedelta(days=int(automation["params"]["inactive_days"]))
    swept = automation["swept_through"]
    if (swept is not None and swept >= cutoff) or not await _can_issue(automation, ctx.now):
        return done
    lo = None if swept is None else _day_start(swept + timedelta(days=1), zone)
    hi = _day_start(cutoff + timedelta(days=1), zone)
    lapsed = [(m, last.astimezone(zone).date().isoformat())
              for m, last in await repo.lapsed_visitors(automation["chain"], lo, hi)]
    lapsed += [(m, joined.astimezone(zone).date().isoformat())
               for m, joined in await repo.never_visited(automation["chain"], lo, hi)]
    await _issue_all(automation, lapsed, ctx, done)
    await repo.advance_swept_through(automation["id"], cutoff)
    return done


# --- welcome and nth_visit: what happened since the last round --------------------------

def _window(automation: AutomationRow, now: datetime) -> tuple[datetime, datetime]:
    since = automation["active_since"]
    cursor = automation["cursor_at"] or since
    return max(cursor - OVERLAP, since - OVERLAP), now


async def _welcome(automation: AutomationRow, ctx: Tick) -> Counter[str]:
    done: Counter[str] = Counter()
    if not await _can_issue(automation, ctx.now):
        return done
    lo, hi = _window(automation, ctx.now)
    members = await repo.first_cards(automation["chain"], lo, hi, automation["active_since"],
                                     automation_id=automation["id"], occurrence=WELCOME)
    await _issue_all(automation, ((m, WELCOME) for m in members), ctx, done)
    await repo.advance_cursor(automation["id"], hi)
    return done


def nth_visit_occurrence(n: int) -> str:
    return f"visit:{n}"


async def _nth_visit(automation: AutomationRow, ctx: Tick) -> Counter[str]:
    done: Counter[str] = Counter()
    if not await _can_issue(automation, ctx.now):
        return done
    n = int(automation["params"]["n"])
    occurrence = nth_visit_occurrence(n)
    lo, hi = _window(automation, ctx.now)
    members = await repo.reached_nth_visit(automation["chain"], lo, hi, n,
                                           automation["active_since"],
                                           automation_id=automation["id"],
                                           occurrence=occurrence)
    await _issue_all(automation, ((m, occurrence) for m in members), ctx, done)
    await repo.advance_cursor(automation["id"], hi)
    return done


SWEEPS = {"birthday": _birthday, "inactive": _inactive, "welcome": _welcome,
          "nth_visit": _nth_visit}
