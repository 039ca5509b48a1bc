"""Segments: members picked by what they did, previewed, saved, listed, exported.

A segment is its filters, evaluated whenever it is used (never a frozen list). Who sees
what: operators the whole chain; a manager only their stores' members (registered at
one of their stores, or with a visit there, ever), whatever the filters say.

A **visit** is a non-reversed redemption of the member (any kind, any store of the
chain), at the instant the server recorded it (``created_at``, as the stats and the
members list read it); **spend** is the sum of those redemptions' ``charged_cents``
(what the member paid: money off the card, or the bill less the voucher's discount; a
times-card visit spends nothing). Dates are the chain's local days.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.errors import Forbidden, ValidationError
from cards.public import csv_cell
from marketing.segments import repository as repo
from marketing.segments.errors import SegmentNotFound
from marketing.segments.schemas import (
    FILTER_NAMES,
    MAX_WINDOW_DAYS,
    MembersOut,
    PreviewIn,
    SegmentFilters,
    SegmentIn,
    SegmentMember,
    SegmentOut,
    SegmentPatch,
)
from stores import service as stores

PREVIEW_MEMBERS = 50
EXPORT_BATCH = 1000
EXPORT_HEADER = ("member_id", "name", "phone", "birthday", "joined_at",
                 "registered_store_id", "last_visit_at", "visits", "spend_cents")
_MAX_LIST = 200
_MAX_COUNT = 1_000_000
_MAX_CENTS = 10**13


# --- the chain's days ------------------------------------------------------------------

async def chain_zone(chain_id: uuid.UUID) -> ZoneInfo:
    """The zone of the chain's days (``chain.timezone``, Asia/Shanghai by default): the one
    place segments ask."""
    return await stores.chain_timezone(chain_id)


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


# --- the filters -----------------------------------------------------------------------

def parse_filters(raw: Mapping[str, Any] | None) -> SegmentFilters:
    """The filters of a request or a saved segment, checked: 400 ``validation_error``
    naming the first wrong one (``filters.<name>``): unknown, mistyped or out of range."""
    raw = dict(raw or {})
    for name in raw:
        if name not in FILTER_NAMES:
            raise ValidationError(f"filters.{name}", "unknown filter (known: "
                                  + ", ".join(sorted(FILTER_NAMES)) + ")")
    for name, value in raw.items():
        try:
            msgspec.convert({name: value}, SegmentFilters)
        except msgspec.ValidationError as exc:
            raise ValidationError(f"filters.{name}", _reason(exc)) from None
    filters = msgspec.convert(raw, SegmentFilters)
    _check_ranges(filters)
    return filters


def _reason(exc: msgspec.ValidationError) -> str:
    return str(exc).split(" - at ")[0]


def _check_ranges(f: SegmentFilters) -> None:
    for name in ("last_visit_before", "last_visit_after", "joined_after", "joined_before"):
        day = getattr(f, name)
        if day is not None and not 2000 <= day.year <= 2100:
            raise ValidationError(f"filters.{name}", "must be a date between 2000 and 2100")
    for low, high, top in (("visits_min", "visits_max", _MAX_COUNT),
                           ("spend_min_cents", "spend_max_cents", _MAX_CENTS)):
        for name in (low, high):
            value = getattr(f, name)
            if value is not None and not 0 <= value <= top:
                raise ValidationError(f"filters.{name}", f"must be between 0 and {top}")
        if None not in (getattr(f, low), getattr(f, high)) \
                and getattr(f, low) > getattr(f, high):
            raise ValidationError(f"filters.{low}", f"must not exceed {high}")
    if f.window_days is not None and not 1 <= f.window_days <= MAX_WINDOW_DAYS:
        raise ValidationError("filters.window_days", f"must be between 1 and {MAX_WINDOW_DAYS}")
    if f.birthday_month is not None and not 1 <= f.birthday_month <= 12:
        raise ValidationError("filters.birthday_month", "must be between 1 and 12")
    for name in ("tiers", "card_template_ids", "store_ids"):
        values = getattr(f, name)
        if values is not None and not 1 <= len(values) <= _MAX_LIST:
            raise ValidationError(f"filters.{name}", f"must list 1 to {_MAX_LIST} (omit the "
                                  "filter to not filter)")
    if f.tiers is not None and any(not t.strip() or len(t) > 60 for t in f.tiers):
        raise ValidationError("filters.tiers", "tier names are 1 to 60 characters")


async def _check_ids(chain_id: uuid.UUID, f: SegmentFilters) -> None:
    """Stores and card templates must be the chain's (another chain's: 400, not a quiet
    empty segment)."""
    if f.store_ids is not None:
        unknown = set(f.store_ids) - await repo.chain_store_ids(chain_id, f.store_ids)
        if unknown:
            raise ValidationError("filters.store_ids", f"not a store of the chain: "
                                  f"{sorted(map(str, unknown))[0]}")
    if f.card_template_ids is not None:
        unknown = set(f.card_template_ids) - await repo.chain_template_ids(
            chain_id, f.card_template_ids)
        if unknown:
            raise ValidationError("filters.card_template_ids", f"not a card template of the "
                                  f"chain: {sorted(map(str, unknown))[0]}")


def _encoded(f: SegmentFilters) -> dict[str, Any]:
    """The filters as stored and answered (only those given)."""
    return msgspec.to_builtins(f)  # type: ignore[no-any-return]


# --- evaluation ------------------------------------------------------------------------

def _scope(principal: Principal) -> list[uuid.UUID] | None:
    if principal.role == "operator":
        return None
    if principal.role == "manager":
        return sorted(principal.store_ids)
    raise Forbidden("segments are for operators and managers")


async def _match(principal: Principal, f: SegmentFilters,
                 now: datetime | None = None) -> repo.Match:
    """The filters as instants of the chain's zone, within the caller's scope."""
    scope = _scope(principal)
    now = now or utcnow()
    zone = await chain_zone(principal.chain_id)
    today = now.astimezone(zone).date()

    def start(day: date | None) -> datetime | None:
        return None if day is None else _day_start(day, zone)

    if await repo.rollup_stale():  # a bulk load went by: recount once, then read
        await repo.rebuild(None)
    return repo.Match(
        chain_id=principal.chain_id, now=now,
        window_start=_day_start(today - timedelta(days=f.window - 1), zone),
        last_visit_since=start(f.last_visit_after), last_visit_before=start(f.last_visit_before),
        joined_since=start(f.joined_after), joined_before=start(f.joined_before),
        visits_min=f.visits_min, visits_max=f.visits_max,
        spend_min=f.spend_min_cents, spend_max=f.spend_max_cents,
        tiers=f.tiers, template_ids=f.card_template_ids, store_ids=f.store_ids,
        birthday_month=f.birthday_month, has_phone=f.has_phone, scope_store_ids=scope)


async def _page(principal: Principal, f: SegmentFilters, limit: int, offset: int,
                now: datetime | None = None) -> MembersOut:
    count, rows = await repo.matching_page(await _match(principal, f, now), limit, offset)
    return MembersOut(count=count, members=[SegmentMember(**r) for r in rows])


async def preview(principal: Principal, body: PreviewIn,
                  now: datetime | None = None) -> MembersOut:
    """How many members the filters pick, and the first 50 of them (by id)."""
    f = parse_filters(body.filters)
    await _check_ids(principal.chain_id, f)
    return await _page(principal, f, PREVIEW_MEMBERS, 0, now)


async def member_ids(principal: Principal, filters: SegmentFilters,
                     now: datetime | None = None) -> list[uuid.UUID]:
    """Every member the filters pick now, within the caller's scope, ordered by id (an
    issuing job's list)."""
    return await repo.matching_ids(await _match(principal, filters, now))


# --- saved segments --------------------------------------------------------------------

def _out(row: Mapping[str, Any]) -> SegmentOut:
    return SegmentOut(id=row["id"], name=row["name"], filters=dict(row["filters"] or {}),
                      created_by=row["created_by"], created_at=row["created_at"],
                      updated_at=row["updated_at"])


async def _segment(principal: Principal, segment_id: uuid.UUID) -> dict[str, Any]:
    _scope(principal)
    row = await repo.get_segment(segment_id, principal.chain_id)
    if row is None:
        raise SegmentNotFound()
    return row


def _name(text: str) -> str:
    name = text.strip()
    if not name:
        raise ValidationError("name", "must not be blank")
    return name


async def create_segment(principal: Principal, body: SegmentIn) -> SegmentOut:
    _scope(principal)
    f = parse_filters(body.filters)
    await _check_ids(principal.chain_id, f)
    now = utcnow()
    segment_id = uuid.uuid4()
    async with write_transaction():
        await repo.insert_segment({
            "id": segment_id, "chain": principal.chain_id, "name": _name(body.name),
            "filters": _encoded(f), "created_by": principal.staff_id, "created_at": now,
            "updated_at": now})
    return await get_segment(principal, segment_id)


async def list_segments(principal: Principal) -> list[SegmentOut]:
    _scope(principal)
    return [_out(r) for r in await repo.list_segments(principal.chain_id)]


async def get_segment(principal: Principal, segment_id: uuid.UUID) -> SegmentOut:
    return _out(await _segment(principal, segment_id))


def _may_change(principal: Principal, row: Mapping[str, Any]) -> None:
    if principal.role != "operator" and row["created_by"] != principal.staff_id:
        raise Forbidden("a manager changes only the segments they made")


async def update_segment(principal: Principal, segment_id: uuid.UUID,
                         body: SegmentPatch) -> SegmentOut:
    row = await _segment(principal, segment_id)
    _may_change(principal, row)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if body.name is not None:
        values["name"] = _name(body.name)
    if body.filters is not None:
        f = parse_filters(body.filters)
        await _check_ids(principal.chain_id, f)
        values["filters"] = _encoded(f)
    async with write_transaction():
        await repo.update_segment(segment_id, values)
    return await get_segment(principal, segment_id)


async def delete_segment(principal: Principal, segment_id: uuid.UUID) -> None:
    row = await _segment(principal, segment_id)
    _may_change(principal, row)
    async with write_transaction():
        await repo.delete_segment(segment_id)


async def segment_filters(principal: Principal, segment_id: uuid.UUID) -> SegmentFilters:
    """A saved segment's filters (404 ``not_found`` if it is not the chain's)."""
    return parse_filters((await _segment(principal, segment_id))["filters"])


async def segment_members(principal: Principal, segment_id: uuid.UUID, limit: int,
                          offset: int) -> MembersOut:
    return await _page(principal, await segment_filters(principal, segment_id), limit, offset)


# --- the CSV ---------------------------------------------------------------------------

def _lines(rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(row[k]) for k in (
            "id", "name", "phone", "birthday", "joined_at", "registered_store_id",
            "last_visit_at", "visits", "spend_cents")])
    return out.getvalue()


async def export_csv(principal: Principal, segment_id: uuid.UUID) -> AsyncIterator[str]:
    """The segment's members as CSV, header first, a batch of members at a time (the
    matching ids are found once; each batch's rows are read as it is sent). The segment
    is looked up before the first byte (a 404 is still an error answer)."""
    match = await _match(principal, await segment_filters(principal, segment_id))
    ids = await repo.matching_ids(match)

    async def stream() -> AsyncIterator[str]:
        yield ",".join(EXPORT_HEADER) + "\r\n"
        for first in range(0, len(ids), EXPORT_BATCH):
            yield _lines(await repo.matching_members(match, ids[first:first + EXPORT_BATCH]))

    return stream()


# --- maintenance -----------------------------------------------------------------------

async def rebuild(chain_id: uuid.UUID | None) -> bool:
    """Recompute PostgreSQL's visit rollup from the redemptions (``o2o stats rebuild``
    and after a bulk load); False on SQLite, which keeps none."""
    return await repo.rebuild(chain_id)
