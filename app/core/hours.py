"""IANA time zones and weekly opening hours: validation shared by stores and bookings."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any, TypedDict

from app.core.errors import ValidationError


class Interval(TypedDict):
    """One opening interval of a weekday, as stored in a JSON column (store, resource)."""

    weekday: int  # 0 Monday .. 6 Sunday
    open: str  # "HH:MM"
    close: str  # "HH:MM", "24:00" allowed


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


# IANA's "Factory" zone means "local time not set" (its abbreviation is -00): no store's.
_NOT_A_PLACE = frozenset({"Factory"})


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    """IANA zone names, as the tzdata package lists them, that this host can load.

    ``available_timezones()`` alone takes whatever TZif file the system's zoneinfo
    directory holds: ``localtime`` (the host's own zone, a symlink), ``posixrules`` and
    the like, which are no IANA names and mean another thing on another host."""
    iana = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return (frozenset(iana) & zoneinfo.available_timezones()) - _NOT_A_PLACE


def validate_timezone(name: str, field: str = "timezone") -> zoneinfo.ZoneInfo:
    """The zone for an IANA name, or a 400 naming ``field``."""
    if name not in _zones():
        raise ValidationError(field, f"unknown IANA time zone {name!r}")
    return zoneinfo.ZoneInfo(name)


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def validate_hours(intervals: Sequence[Any], field: str) -> list[Interval]:
    """Check a weekly list of {weekday, open, close}; returns it sorted, as plain dicts.

    ``close`` is after ``open`` on the same day ("24:00" allowed); intervals of one weekday
    must not overlap (a lunch break is two intervals).
    """
    cleaned: list[Interval] = []
    for index, item in enumerate(intervals):
        where = f"{field}[{index}]"
        weekday, open_, close = item.weekday, item.open, item.close
        if not 0 <= weekday <= 6:
            raise ValidationError(f"{where}.weekday", "must be 0 (Monday) to 6 (Sunday)")
        for name, value in (("open", open_), ("close", close)):
            if not _HHMM.match(value):
                raise ValidationError(f"{where}.{name}", "must be HH:MM (00:00 to 24:00)")
        if open_ == "24:00":
            raise ValidationError(f"{where}.open", "must be before 24:00")
        if minutes_of(close) <= minutes_of(open_):
            raise ValidationError(f"{where}.close", "must be after open")
        cleaned.append({"weekday": weekday, "open": open_, "close": close})
    cleaned.sort(key=lambda i: (i["weekday"], i["open"]))
    for previous, current in pairwise(cleaned):
        if previous["weekday"] == current["weekday"] and minutes_of(current["open"]) < minutes_of(
            previous["close"]
        ):
            raise ValidationError(field, f"intervals overlap on weekday {current['weekday']}")
    return cleaned
