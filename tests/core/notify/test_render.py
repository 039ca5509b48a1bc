"""What each event says, within WeChat's field rules, in the store's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.notify import events
from app.core.notify.render import character_string, check, render, thing, yuan

CREATED = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)


def test_field_rules() -> None:
    assert thing("A" * 20) == "A" * 20
    assert thing("染发 " * 10) == "染发 染发 染发 染发 染发 染发 染…"
    assert len(thing("染发 " * 10)) == 20
    assert thing("  ") == "-"
    assert thing("two\nlines") == "two lines"
    assert character_string("No. 8123 4567 8903 中文") == "No.812345678903"
    assert character_string("x" * 40) == "x" * 32
    assert (yuan(0), yuan(5), yuan(12_345), yuan(-12_345)) == ("0.00元", "0.05元", "123.45元",
                                                              "123.45元")


def test_times_are_in_the_store_zone_across_daylight_saving() -> None:
    """New York moves its clocks on 2026-03-08 at 02:00 local (07:00 UTC)."""
    data = {"service_name": "Cut", "store_name": "5th Ave",
            "timezone": "America/New_York"}
    before = render(events.BOOKING_REMINDER, {**data, "start": "2026-03-08T06:30:00Z"}, CREATED)
    after = render(events.BOOKING_REMINDER, {**data, "start": "2026-03-08T07:30:00Z"}, CREATED)
    assert before.fields["time2"] == "2026年3月8日 01:30"
    assert after.fields["time2"] == "2026年3月8日 03:30"
    assert after.text == "Reminder: Cut at 5th Ave starts at 2026-03-08 03:30."
    # Without a store: the chain's customers are in China.
    card = render(events.CARD_ISSUED, {"card_name": "Club"}, CREATED)
    assert card.fields["time3"] == "2026年3月8日 14:59"


def test_bad_data_renders_without_failing() -> None:
    """A delivery must never fail on data; emit already refused wrong types."""
    odd = render(events.BOOKING_CONFIRMED, {"start": "yesterday", "timezone": "Mars/Base"},
                 CREATED)
    assert odd.fields == {"thing1": thing("your booking"), "time2": "-", "thing3": "-"}
    for event in events.ALL:
        assert render(event, {}, CREATED).title


@pytest.mark.parametrize("event,data", [
    ("card_lost", {}), (events.REDEEMED, {"amount_cents": 1.5}),
    (events.REDEEMED, {"amount_cents": True}), (events.REDEEMED, {"item": ["a"]})])
def test_check_refuses(event: str, data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check(event, data)  # type: ignore[arg-type]
