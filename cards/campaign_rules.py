"""A campaign's usage rules beyond its dates (issue 17): the days of the week and the hours
of the day its vouchers may be spent, judged in the redeeming store's zone at the time of
use (now at the till; an offline scan's ``redeemed_at``). ``weekdays`` counts 0 = Monday
.. 6 = Sunday, as store opening hours do; ``time_until`` is exclusive and after
``time_from`` (no window across midnight), and may be ``"24:00"``: to the end of the day
(a local time is at most ``"23:59"``, which ``"24:00"`` sorts after). NULL rules: every
day, all day. The contract spells the hours ``hours: {"from", "to"}`` (issue 20); they are
stored as ``time_from``/``time_until``, the older spelling, still accepted and answered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from app.core.errors import ValidationError
from cards.errors import OutsideUsageHours

_HH_MM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
END_OF_DAY = "24:00"  # time_until only: up to midnight, the last minute included


class UsageRules(TypedDict):
    weekdays: list[int] | None
    time_from: str | None
    time_until: str | None


def hours_of(campaign: Any) -> dict[str, str] | None:
    """The campaign's hours as the contract spells them: {"from", "to"}, or None."""
    start, end = campaign.get("time_from"), campaign.get("time_until")
    return {"from": start, "to": end} if start and end else None


def merged_hours(hours: Any, time_from: str | None,
                 time_until: str | None) -> tuple[str | None, str | None, tuple[str, str]]:
    """The hours from either spelling (``hours: {"from", "to"}``, the contract's, or the
    older ``time_from``/``time_until``) and the field names to blame. Both spellings at
    once must agree."""
    if hours is None:
        return time_from, time_until, ("time_from", "time_until")
    if (time_from, time_until) not in ((None, None), (hours.from_, hours.to)):
        raise ValidationError("hours", "give hours or time_from/time_until, not both")
    return hours.from_, hours.to, ("hours.from", "hours.to")


def checked_rules(weekdays: Sequence[int] | None, time_from: str | None,
                  time_until: str | None,
                  names: tuple[str, str] = ("time_from", "time_until")) -> UsageRules:
    """The rules as stored (weekdays sorted), or 400 naming the field at fault (``names``:
    what the caller called the two hours)."""
    from_name, to_name = names
    days: list[int] | None = None
    if weekdays is not None:
        if not weekdays:
            raise ValidationError("weekdays", "give at least one day, or null for every day")
        if any(isinstance(d, bool) or not 0 <= d <= 6 for d in weekdays):
            raise ValidationError("weekdays", "each day is 0 (Monday) to 6 (Sunday)")
        if len(set(weekdays)) != len(weekdays):
            raise ValidationError("weekdays", "a day is listed twice")
        days = sorted(weekdays)
    if time_from is not None and not _HH_MM.match(time_from):
        raise ValidationError(from_name, "must be HH:MM (00:00 to 23:59)")
    if time_until is not None and time_until != END_OF_DAY and not _HH_MM.match(time_until):
        raise ValidationError(to_name, "must be HH:MM (00:01 to 24:00, 24:00 being "
                                       "the end of the day)")
    if (time_from is None) != (time_until is None):
        raise ValidationError(to_name if time_until is None else from_name,
                              f"give both {from_name} and {to_name}, or neither")
    if time_from is not None and time_until is not None and time_until <= time_from:
        raise ValidationError(to_name, f"must be after {from_name}")
    return {"weekdays": days, "time_from": time_from, "time_until": time_until}


def has_rules(campaign: Any) -> bool:
    return bool(campaign.get("weekdays") is not None or campaign.get("time_from"))


def usable_at(campaign: Any, at: datetime, zone: str) -> bool:
    """Whether the rules of ``campaign`` (a mapping with weekdays, time_from, time_until)
    allow a use at ``at`` in a store of ``zone``."""
    local = at.astimezone(ZoneInfo(zone))
    weekdays = campaign.get("weekdays")
    if weekdays is not None and local.weekday() not in weekdays:
        return False
    start, end = campaign.get("time_from"), campaign.get("time_until")
    if start and end:
        # "HH:MM" strings sort as times; END_OF_DAY sorts after every local time.
        return bool(start <= local.strftime("%H:%M") < end)
    return True


def require_usable(campaign: Any, at: datetime, zone: str) -> None:
    """409 ``outside_usage_hours`` with the rules, so a page words it itself."""
    if usable_at(campaign, at, zone):
        return
    local = at.astimezone(ZoneInfo(zone))
    raise OutsideUsageHours(
        f"not usable on {local.strftime('%A %H:%M')} ({zone})",
        weekdays=campaign.get("weekdays"), hours=hours_of(campaign),
        time_from=campaign.get("time_from"),
        time_until=campaign.get("time_until"), timezone=zone)
