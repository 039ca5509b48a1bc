"""Issue 17's bookings: the cut-off told before booking (availability) and after (what the
caller may still change, with the reason), the stylist by name, the day sheet's member
name or phone tail, a member's bookings for staff, and the completion's redemption.

Clocks are fixed (the bookings service's ``utcnow`` monkeypatched to a moment on a future
local day), never "an hour from now": that breaks late in the Shanghai day, where a
booking cannot cross local midnight.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from stores.tables import Member
from tests.bookings.conftest import API, Salon
from tests.bookings.test_bookings import _times_card, _travel, hhmm

pytestmark = pytest.mark.postgres


def _local(salon: Salon, hhmm_: str, ahead: int) -> datetime:
    hour, minute = map(int, hhmm_.split(":"))
    return datetime.combine(salon.day(ahead), time(hour, minute), salon.zone)


def _freeze(monkeypatch: Any, moment: datetime) -> None:
    import bookings.service as booking_service

    monkeypatch.setattr(booking_service, "utcnow", lambda: moment)


async def test_availability_tells_the_cutoff_before_booking(salon: Salon,
                                                            monkeypatch: Any) -> None:
    """Wrong 6: a slot inside the cut-off says so, with the last moment to change it."""
    patched = await salon.client.patch(f"{API}/stores/{salon.store_id}",
                                       json={"cancel_cutoff_minutes": 120},
                                       headers=salon.operator())
    assert patched.status_code == 200, patched.text
    _freeze(monkeypatch, _local(salon, "08:30", 2))
    response = await salon.client.get(
        f"{API}/stores/{salon.store_id}/availability",
        params={"service_id": salon.haircut, "date": salon.day(2).isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cancel_cutoff_minutes"] == 120
    slots = {hhmm(s["start"], salon): s for s in body["slots"]}
    assert "08:15" not in slots and "08:30" in slots  # the past is gone; the lead is 0
    for at in ("08:30", "09:00", "10:15"):
        assert slots[at]["inside_cutoff"] is True, at
    for at in ("10:30", "11:00", "18:00"):  # 10:30 - 2 h is 08:30: now, still allowed
        assert slots[at]["inside_cutoff"] is False, at
    ten = slots["10:30"]
    assert ten["cancellable_until"].endswith("+08:00")
    assert datetime.fromisoformat(ten["cancellable_until"]) == _local(salon, "08:30", 2)
    # The stylist by name, in the order of resource_ids.
    assert ten["resources"] == [{"id": salon.tony, "name": "Tony"}]
    assert [r["id"] for r in ten["resources"]] == ten["resource_ids"]


async def test_a_booking_says_what_its_reader_may_still_change(salon: Salon,
                                                               monkeypatch: Any) -> None:
    """Wrong 6: after the cut-off the member sees why cancel and reschedule are gone; the
    store can still do both; the flags agree with what the endpoints answer."""
    _freeze(monkeypatch, _local(salon, "07:00", 2))
    booking = await salon.booked(_local(salon, "10:00", 2).isoformat())
    assert datetime.fromisoformat(booking["cancellable_until"]) == _local(salon, "08:00", 2)
    assert (booking["can_cancel"], booking["can_reschedule"],
            booking["cannot_change_reason"]) == (True, True, None)
    assert booking["any_resource"] is True
    # Booked inside the cut-off: the answer already says it can't be changed.
    late = await salon.booked(_local(salon, "08:45", 2).isoformat(), member=1)
    assert (late["can_cancel"], late["cannot_change_reason"]) == (False, "cutoff_passed")

    _freeze(monkeypatch, _local(salon, "08:01", 2))
    path = f"/bookings/{booking['id']}"
    mine = (await salon.get(path, salon.member())).json()
    assert (mine["can_cancel"], mine["can_reschedule"],
            mine["cannot_change_reason"]) == (False, False, "cutoff_passed")
    listed = (await salon.get("/me/bookings", salon.member())).json()
    assert listed[0]["cannot_change_reason"] == "cutoff_passed"
    refused = await salon.post(f"{path}/cancel", {}, salon.member())
    assert (refused.status_code, refused.json()["code"]) == (409, "booking_not_cancellable")
    staff = (await salon.get(path)).json()
    assert (staff["can_cancel"], staff["can_reschedule"],
            staff["cannot_change_reason"]) == (True, True, None)

    _freeze(monkeypatch, _local(salon, "09:30", 2))  # the guest arrives
    checked = await salon.post(f"{path}/check-in", {})
    assert checked.status_code == 200, checked.text
    assert (checked.json()["can_cancel"], checked.json()["can_reschedule"],
            checked.json()["cannot_change_reason"]) == (True, False, "status")
    cancelled = await salon.post(f"{path}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    for who in (salon.clerk(), salon.member()):
        seen = (await salon.get(path, who)).json()
        assert (seen["can_cancel"], seen["can_reschedule"],
                seen["cannot_change_reason"]) == (False, False, "status")


async def test_a_member_books_the_stylist_they_chose_or_any(salon: Salon) -> None:
    amy = await salon.make_resource(salon.store_id, [salon.haircut], name="Amy")
    slot = next(s for s in await salon.slots(salon.day(2))
                if hhmm(s["start"], salon) == "15:00")
    assert {r["name"] for r in slot["resources"]} == {"Tony", "Amy"}
    chosen = await salon.booked(salon.at("15:00", 2), resource_id=amy)
    assert (chosen["resource_id"], chosen["resource_name"]) == (amy, "Amy")
    assert chosen["any_resource"] is False
    assert (chosen["service_name"], chosen["store_name"]) == ("service 45",
                                                              chosen["store_name"])
    assert chosen["store_name"].startswith("store ")
    # Amy is taken at 15:00; Tony is free, but she was asked for by name.
    again = await salon.book(salon.at("15:00", 2), resource_id=amy, member=1)
    assert (again.status_code, again.json()["code"]) == (409, "slot_unavailable")
    anyone = await salon.booked(salon.at("15:00", 2), member=1)
    assert (anyone["resource_id"], anyone["resource_name"]) == (salon.tony, "Tony")
    assert anyone["any_resource"] is True
    slot_after = [s for s in await salon.slots(salon.day(2))
                  if hhmm(s["start"], salon) == "15:00"]
    assert slot_after == []
    # A resource that does not offer the service is no slot either.
    other = await salon.book(salon.at("16:00", 2), resource_id=salon.table)
    assert (other.status_code, other.json()["code"]) == (409, "slot_unavailable")


async def test_the_day_sheet_names_the_member_or_their_phone_tail(salon: Salon) -> None:
    named = await salon.booked(salon.at("10:00", 2))
    nameless_member = salon.world.a.members[1]
    await Member.update({Member.name: ""}).where(Member.id == nameless_member.id).run()
    nameless = await salon.booked(salon.at("12:00", 2), member=1)
    sheet = await salon.get(f"/stores/{salon.store_id}/bookings",
                            date=salon.day(2).isoformat())
    assert sheet.status_code == 200, sheet.text
    rows = {b["id"]: b for b in sheet.json()}
    first, second = rows[named["id"]], rows[nameless["id"]]
    assert (first["member_name"], first["member_phone_tail"]) == ("alpha member 1", "7001")
    assert (second["member_name"], second["member_phone_tail"]) == (None, "7002")
    for row in (first, second):
        assert (row["resource_name"], row["service_name"]) == ("Tony", "service 45")
        assert row["card_id"] is None and row["voucher_id"] is None
        assert row["redemption"] is None


async def test_staff_read_a_members_bookings(salon: Salon) -> None:
    world = salon.world
    member = world.a.members[0]
    here = await salon.booked(salon.at("10:00", 2))
    later = await salon.booked(salon.at("10:00", 3))
    await salon.booked(salon.at("12:00", 2), member=1)  # someone else's
    path = f"/members/{member.id}/bookings"
    for who in (salon.clerk(), salon.operator()):
        response = await salon.get(path, who)
        assert response.status_code == 200, response.text
        assert [b["id"] for b in response.json()] == [later["id"], here["id"]]
    paged = (await salon.get(path, salon.operator(), limit=1, offset=1)).json()
    assert [b["id"] for b in paged] == [here["id"]]
    # A clerk of another store sees the member (chain-wide) but none of these bookings.
    other_clerk = world.headers(world.a.staff["alpha-clerk2"])
    assert (await salon.get(path, other_clerk)).json() == []
    assert (await salon.get(path, salon.member())).status_code == 403
    beta = world.headers(world.b.operator)
    for who, target in ((beta, member.id), (salon.operator(), uuid.uuid4())):
        hidden = await salon.get(f"/members/{target}/bookings", who)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert (await salon.client.get(f"{API}{path}")).status_code == 401
    bad = await salon.get(path, salon.operator(), limit=0)
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")


async def test_completing_tells_what_the_card_or_voucher_gave(salon: Salon,
                                                              monkeypatch: Any) -> None:
    card = await _times_card(salon, 10)
    booking = await salon.booked(salon.at("10:00", 1), card_id=card["id"])
    assert booking["redemption"] is None
    _travel(monkeypatch, booking["start"], minutes=5)
    done = await salon.post(f"/bookings/{booking['id']}/complete", {})
    assert done.status_code == 200, done.text
    redemption = done.json()["redemption"]
    assert redemption["id"] == done.json()["redemption_id"]
    assert (redemption["kind"], redemption["action"], redemption["visits_left"]) == (
        "card", "visit", 9)
    assert redemption["reversed_at"] is None
    # The same figures wherever the booking is read.
    again = (await salon.get(f"/bookings/{booking['id']}", salon.member())).json()
    assert again["redemption"] == redemption

    now = datetime.fromisoformat(booking["start"])
    campaign = await salon.post("/campaigns", {
        "name": "Wash", "kind": "cash", "value_cents": 2000, "total_quantity": 10,
        "valid_from": (now - timedelta(days=2)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat()}, salon.operator())
    assert campaign.status_code == 201, campaign.text
    voucher = (await salon.post(f"/campaigns/{campaign.json()['id']}/claim", {},
                                salon.member())).json()
    paid = await salon.booked(salon.at("11:00", 1), voucher_id=voucher["id"])
    _travel(monkeypatch, paid["start"])
    done = await salon.post(f"/bookings/{paid['id']}/complete", {"amount_cents": 8800})
    assert done.status_code == 200, done.text
    redemption = done.json()["redemption"]
    assert (redemption["kind"], redemption["discount_cents"]) == ("voucher", 2000)
    assert (redemption["visits_left"], redemption["balance_after_cents"]) == (None, None)

    plain = await salon.booked(salon.at("12:00", 1))
    _travel(monkeypatch, plain["start"])
    done = await salon.post(f"/bookings/{plain['id']}/complete", {})
    assert done.status_code == 200, done.text
    assert (done.json()["redemption"], done.json()["redemption_id"]) == (None, None)
