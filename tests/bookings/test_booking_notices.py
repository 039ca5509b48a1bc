"""A booking's notifications: confirmed and cancelled reach the member's inbox, the
reminder is due before the start (store setting) and moves or goes with the booking."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.core.notify import events
from app.core.settings import Settings
from tests.bookings.conftest import Salon
from tests.conftest import make_settings
from tests.core.notify.conftest import FAST, get_json, rows, wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, **FAST)


async def _events_in_inbox(salon: Salon) -> list[str]:
    inbox = await get_json(salon.client, "/me/inbox", salon.member())
    return [m["event"] for m in inbox]


async def test_booking_events_follow_the_booking(salon: Salon) -> None:
    booking = await salon.booked(salon.at("10:00", 2))
    member = salon.world.a.members[0].id

    async def inbox_has(*wanted: str) -> bool:
        got = await _events_in_inbox(salon)
        return all(got.count(e) == wanted.count(e) for e in set(wanted))

    await wait_for(lambda: inbox_has(events.BOOKING_CONFIRMED), what="the confirmation")
    reminders = await rows(event=events.BOOKING_REMINDER, member_id=member)
    assert len(reminders) == 1 and reminders[0]["status"] == "pending"
    start = datetime.fromisoformat(booking["start"])
    assert reminders[0]["due_at"] == start - timedelta(minutes=120)
    assert reminders[0]["data"]["service_name"] == "service 45"

    moved = await salon.post(f"/bookings/{booking['id']}/reschedule",
                             {"start": salon.at("14:00", 2)}, salon.member())
    assert moved.status_code == 200, moved.text
    await wait_for(lambda: inbox_has(events.BOOKING_CONFIRMED, events.BOOKING_CONFIRMED),
                   what="the second confirmation")
    reminders = await rows(event=events.BOOKING_REMINDER, member_id=member)
    assert sorted(r["status"] for r in reminders) == ["cancelled", "pending"]
    pending = next(r for r in reminders if r["status"] == "pending")
    assert pending["due_at"] == datetime.fromisoformat(moved.json()["start"]) - timedelta(
        minutes=120)

    assert (await salon.post(f"/bookings/{booking['id']}/cancel", {},
                             salon.member())).status_code == 200
    await wait_for(lambda: inbox_has(events.BOOKING_CONFIRMED, events.BOOKING_CONFIRMED,
                                      events.BOOKING_CANCELLED), what="the cancellation")
    reminders = await rows(event=events.BOOKING_REMINDER, member_id=member)
    assert [r["status"] for r in reminders] == ["cancelled", "cancelled"]
    inbox = await get_json(salon.client, "/me/inbox", salon.member())
    assert inbox[0]["event"] == events.BOOKING_CANCELLED  # newest first


async def test_a_refused_booking_notifies_nobody(salon: Salon) -> None:
    await salon.booked(salon.at("10:00", 2))
    before = len(await rows())
    refused = await salon.book(salon.at("10:15", 2), member=1)
    assert refused.json()["code"] == "slot_unavailable"
    assert len(await rows()) == before
    other = salon.world.a.members[1].id
    assert await rows(member_id=other) == []


async def test_a_reschedule_notice_names_the_old_start(salon: Salon) -> None:
    """Issue 17: the confirmation written on a reschedule carries ``previous_start`` (the
    same event as a new booking's, where it is None), so the notice says from when to
    when."""
    booking = await salon.booked(salon.at("10:00", 2))
    moved = await salon.post(f"/bookings/{booking['id']}/reschedule",
                             {"start": salon.at("14:00", 2)}, salon.member())
    assert moved.status_code == 200, moved.text
    member = salon.world.a.members[0].id
    confirmations = await rows(event=events.BOOKING_CONFIRMED, member_id=member)
    assert len(confirmations) == 2
    first, second = sorted((c["data"] for c in confirmations),
                           key=lambda d: d["previous_start"] is not None)
    assert first["previous_start"] is None
    assert datetime.fromisoformat(second["previous_start"]) == datetime.fromisoformat(
        booking["start"])
    assert datetime.fromisoformat(second["start"]) == datetime.fromisoformat(
        moved.json()["start"])
