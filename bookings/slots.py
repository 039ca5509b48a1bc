"""Pure slot arithmetic: the 15-minute grid of a local day, opening hours, occupancy.

No I/O here, so the same rules decide what availability shows and what a booking may
take. Instants are aware datetimes; the grid is stepped in real (UTC) time from the local
midnight, which keeps it on local quarter hours through DST changes (offsets change by
multiples of 15 minutes) and never yields a wall time that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.hours import Interval, minutes_of

GRID = timedelta(minutes=15)
Hours = Sequence[Interval]


@dataclass(frozen=True, slots=True)
class Hold:
    """Seats a booking holds on its resource over [start, end) (service plus buffer)."""

    start: datetime
    end: datetime
    seats: int


@dataclass(frozen=True, slots=True)
class Bookable:
    """A resource as the rules see it: its capacity and its own hours (None: the store's)."""

    id: Any
    capacity: int
    hours: Hours | None


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    resource_ids: list[Any]


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next day) of a local date, in UTC."""
    first = datetime.combine(day, time.min, zone).astimezone(UTC)
    after = datetime.combine(day + timedelta(days=1), time.min, zone).astimezone(UTC)
    return first, after


def day_grid(day: date, zone: ZoneInfo) -> Iterator[datetime]:
    start, after = local_day_bounds(day, zone)
    at = start
    while at < after:
        yield at
        at += GRID


def on_grid(at: datetime, zone: ZoneInfo) -> bool:
    local = at.astimezone(zone)
    return local.minute % 15 == 0 and local.second == 0 and local.microsecond == 0


def within_hours(hours: Hours, start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """True when [start, end] lies inside one opening interval of start's local weekday."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    begin = local_start.hour * 60 + local_start.minute
    finish = ((local_end.date() - local_start.date()).days * 1440
              + local_end.hour * 60 + local_end.minute)
    weekday = local_start.weekday()
    return any(
        interval["weekday"] == weekday
        and minutes_of(interval["open"]) <= begin
        and finish <= minutes_of(interval["close"])
        for interval in hours
    )


def peak_seats(holds: Sequence[Hold], start: datetime, end: datetime) -> int:
    """The most seats held at any one instant of [start, end) (a sweep, not a sum: two
    bookings that each overlap the window but not each other never add up)."""
    events: list[tuple[datetime, int]] = []
    for hold in holds:
        if hold.start < end and hold.end > start:
            events.append((max(hold.start, start), hold.seats))
            events.append((min(hold.end, end), -hold.seats))
    events.sort(key=lambda event: (event[0], event[1]))  # an end frees before a start takes
    current = best = 0
    for _, change in events:
        current += change
        best = max(best, current)
    return best


def fits(resource: Bookable, store_hours: Hours, holds: Sequence[Hold], start: datetime,
         service_end: datetime, block_end: datetime, seats: int, zone: ZoneInfo) -> bool:
    """May ``resource`` take ``seats`` from ``start``: the service inside the store's and
    the resource's hours, and room for the party until the buffer ends."""
    return within_hours(store_hours, start, service_end, zone) and _resource_fits(
        resource, holds, start, service_end, block_end, seats, zone)


def _resource_fits(resource: Bookable, holds: Sequence[Hold], start: datetime,
                   service_end: datetime, block_end: datetime, seats: int,
                   zone: ZoneInfo) -> bool:
    if seats > resource.capacity:
        return False
    if resource.hours is not None and not within_hours(resource.hours, start, service_end,
                                                       zone):
        return False
    return peak_seats(holds, start, block_end) + seats <= resource.capacity


class _ExclusiveSweep:
    """For a party that fills the resource (a stylist): which starts, taken in increasing
    order, no hold overlaps. A hold blocks the starts in (hold.start - block, hold.end);
    one pass over the grid instead of every hold at every start."""

    def __init__(self, holds: Sequence[Hold], block: timedelta) -> None:
        self._spans = sorted((h.start - block, h.end) for h in holds)
        self._next = 0
        self._reach: datetime | None = None  # the latest end of the spans begun so far

    def blocked(self, start: datetime) -> bool:
        while self._next < len(self._spans) and self._spans[self._next][0] < start:
            end = self._spans[self._next][1]
            self._reach = end if self._reach is None else max(self._reach, end)
            self._next += 1
        return self._reach is not None and self._reach > start


def free_slots(*, day: date, zone: ZoneInfo, earliest: datetime, store_hours: Hours,
               resources: Sequence[Bookable], holds: dict[Any, list[Hold]],
               duration: timedelta, buffer: timedelta, seats: int) -> list[Slot]:
    """Every grid start of ``day`` from ``earliest`` on where some resource fits."""
    slots: list[Slot] = []
    sweeps = {r.id: _ExclusiveSweep(holds.get(r.id, []), duration + buffer)
              for r in resources if r.capacity == seats}
    for start in day_grid(day, zone):  # increasing instants, as the sweeps need
        if start < earliest:
            continue
        service_end, block_end = start + duration, start + duration + buffer
        if not within_hours(store_hours, start, service_end, zone):
            continue
        free = []
        for r in resources:
            if r.id in sweeps:  # the same answer as _resource_fits, faster
                if not sweeps[r.id].blocked(start) and (
                        r.hours is None or within_hours(r.hours, start, service_end, zone)):
                    free.append(r.id)
            elif _resource_fits(r, holds.get(r.id, []), start, service_end, block_end,
                                seats, zone):
                free.append(r.id)
        if free:
            slots.append(Slot(start=start, end=service_end, resource_ids=free))
    return slots
