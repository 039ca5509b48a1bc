"""Availability asks the database a fixed number of questions, whatever the number of
resources and bookings (no N+1), and the slot arithmetic holds on its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.db import Sql, current_engine
from app.core.hours import Interval
from bookings.slots import Bookable, Hold, day_grid, free_slots, peak_seats, within_hours
from tests.bookings.conftest import Salon

pytestmark = pytest.mark.postgres


_COUNTING: ContextVar[bool] = ContextVar("counting", default=False)


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """Every query run meanwhile by this task (the request, served in the test's task by
    httpx's ASGI transport), not by the app's background tasks (the event sequencer may
    number the bookings' events meanwhile): Piccolo's (the engine's class is patched:
    engines use slots) and the plain-SQL hot statements (``Sql``)."""
    engine_class = type(current_engine())
    seen: list[str] = []
    original = engine_class.run_querystring
    original_sql = Sql.rows

    async def counting(self: Any, querystring: Any, *args: Any, **kwargs: Any) -> Any:
        if _COUNTING.get():
            seen.append(str(querystring))
        return await original(self, querystring, *args, **kwargs)

    async def counting_sql(self: Sql, *args: Any) -> list[dict[str, Any]]:
        if _COUNTING.get():
            seen.append(self.text)
        return await original_sql(self, *args)

    engine_class.run_querystring = counting  # type: ignore[method-assign]
    Sql.rows = counting_sql  # type: ignore[method-assign]
    token = _COUNTING.set(True)
    try:
        yield seen
    finally:
        _COUNTING.reset(token)
        engine_class.run_querystring = original  # type: ignore[method-assign]
        Sql.rows = original_sql  # type: ignore[method-assign]


async def test_availability_query_count_does_not_grow(salon: Salon) -> None:
    day = salon.day(2)
    with counted_queries() as small:
        await salon.slots(day)
    for n in range(6):
        await salon.make_resource(salon.store_id, [salon.haircut], name=f"Stylist {n}")
    for hour in range(9, 18):
        await salon.booked(salon.at(f"{hour:02d}:00", 2), member=hour % 2)
    with counted_queries() as large:
        slots = await salon.slots(day)
    assert len(large) == len(small) == 4, large
    assert all(len(s["resource_ids"]) >= 6 for s in slots)


SHANGHAI = ZoneInfo("Asia/Shanghai")
OPEN: list[Interval] = [{"weekday": d, "open": "09:00", "close": "12:00"} for d in range(7)]


def test_peak_is_a_sweep_not_a_sum() -> None:
    t = datetime(2030, 1, 1, 10, tzinfo=UTC)
    h = timedelta(hours=1)
    holds = [Hold(t, t + h, 2), Hold(t + h, t + 2 * h, 2)]
    assert peak_seats(holds, t, t + 2 * h) == 2  # back to back: never 4 at once
    assert peak_seats([*holds, Hold(t + h / 2, t + 3 * h / 2, 1)], t, t + 2 * h) == 3
    assert peak_seats(holds, t + 2 * h, t + 3 * h) == 0


def test_hours_close_at_midnight_and_must_hold_the_whole_service() -> None:
    late: list[Interval] = [{"weekday": 0, "open": "22:00", "close": "24:00"}]
    monday = datetime(2030, 1, 7, 23, 0, tzinfo=SHANGHAI)
    assert within_hours(late, monday, monday + timedelta(hours=1), SHANGHAI)
    assert not within_hours(late, monday, monday + timedelta(minutes=75), SHANGHAI)


def test_grid_has_96_quarters_on_a_normal_day_and_92_or_100_on_dst_days() -> None:
    new_york = ZoneInfo("America/New_York")
    assert len(list(day_grid(date(2030, 1, 7), new_york))) == 96
    assert len(list(day_grid(date(2030, 3, 10), new_york))) == 92
    assert len(list(day_grid(date(2030, 11, 3), new_york))) == 100


def test_free_slots_list_every_resource_with_room() -> None:
    day = date(2030, 1, 7)
    a, b = Bookable("a", 1, None), Bookable("b", 1, [
        {"weekday": 0, "open": "10:00", "close": "12:00"}])
    ten = datetime(2030, 1, 7, 10, tzinfo=SHANGHAI)
    slots = free_slots(day=day, zone=SHANGHAI, earliest=datetime(2000, 1, 1, tzinfo=UTC),
                       store_hours=OPEN, resources=[a, b],
                       holds={"a": [Hold(ten, ten + timedelta(hours=1), 1)]},
                       duration=timedelta(minutes=60), buffer=timedelta(0), seats=1)
    by_time = {s.start.astimezone(SHANGHAI).strftime("%H:%M"): s.resource_ids for s in slots}
    assert by_time == {"09:00": ["a"], "10:00": ["b"], "10:15": ["b"], "10:30": ["b"],
                       "10:45": ["b"], "11:00": ["a", "b"]}
