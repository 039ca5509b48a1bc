"""The feed's booking.* events (issue 18): made, moved, cancelled, checked in (by id and by
scanning its code), completed (with the redemption its payment made) and no-show. Each
writes exactly one event whose ``data`` is the booking as staff read it, without its
check-in code; a refused change writes none; a replay (Idempotency-Key) writes none again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bookings.conftest import Salon
from tests.cards.events_feed import one, types, written


async def _staff_view(salon: Salon, booking_id: str) -> dict[str, Any]:
    """GET /bookings/{id} by staff, without the check-in code (the event never has it)."""
    response = await salon.get(f"/bookings/{booking_id}")
    assert response.status_code == 200, response.text
    return {**response.json(), "code": None}


def _travel(monkeypatch: Any, iso: str, minutes: int = 0) -> None:
    """Move the clocks of the bookings service and of the scan to a booking's start (in
    UTC, as the real clock answers)."""
    moment = (datetime.fromisoformat(iso) + timedelta(minutes=minutes)).astimezone(UTC)
    import bookings.service as booking_service
    import cards.redemption as redemption

    monkeypatch.setattr(booking_service, "utcnow", lambda: moment)
    monkeypatch.setattr(redemption, "utcnow", lambda: moment)


async def _times_card(salon: Salon, visits: int) -> dict[str, Any]:
    template = await salon.post("/card-templates", {
        "name": f"cuts {uuid.uuid4().hex[:4]}", "kind": "times", "initial_visits": visits},
        salon.operator())
    assert template.status_code == 201, template.text
    card = await salon.post(f"/card-templates/{template.json()['id']}/claim", {},
                            salon.member())
    assert card.status_code == 201, card.text
    return dict(card.json())


async def test_a_booking_made_moved_and_cancelled(salon: Salon) -> None:
    keyed = {**salon.member(), "Idempotency-Key": "book-events-1"}
    made = await salon.book(salon.at("10:00", 2), headers=keyed)
    assert made.status_code == 201, made.text
    replay = await salon.book(salon.at("10:00", 2), headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    booking = made.json()

    created = await one("booking.created", booking["id"])
    assert created["store_id"] == salon.store_id
    assert created["data"]["code"] is None and booking["code"] is not None
    assert created["data"] == await _staff_view(salon, booking["id"])

    # Refused: a slot already taken (by another member), a move onto it.
    theirs = await salon.booked(salon.at("14:00", 2), member=1)
    taken = await salon.book(salon.at("14:00", 2))
    assert (taken.status_code, taken.json()["code"]) == (409, "slot_unavailable")
    clash = await salon.post(f"/bookings/{booking['id']}/reschedule",
                             {"start": theirs["start"]}, salon.member())
    assert clash.status_code == 409, clash.text

    moved = await salon.post(f"/bookings/{booking['id']}/reschedule",
                             {"start": salon.at("11:00", 2)}, salon.member())
    assert moved.status_code == 200, moved.text
    event = await one("booking.rescheduled", booking["id"])
    assert event["data"] == await _staff_view(salon, booking["id"])
    assert event["data"]["start"] == moved.json()["start"]

    cancelled = await salon.post(f"/bookings/{booking['id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    again = await salon.post(f"/bookings/{booking['id']}/cancel", {})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    event = await one("booking.cancelled", booking["id"])
    assert event["data"] == {**cancelled.json(), "code": None}
    assert event["data"] == await _staff_view(salon, booking["id"])
    assert await types() == ["booking.created", "booking.created", "booking.rescheduled",
                             "booking.cancelled"]


async def test_check_in_by_id_then_complete_with_the_attached_card(salon: Salon,
                                                                  monkeypatch: Any) -> None:
    card = await _times_card(salon, 2)
    booking = await salon.booked(salon.at("10:00", 1), card_id=card["id"])
    early = await salon.post(f"/bookings/{booking['id']}/check-in", {})
    assert (early.status_code, early.json()["code"]) == (409, "invalid_state")
    assert await written("booking.checked_in") == []

    _travel(monkeypatch, booking["start"], minutes=-10)
    checked = await salon.post(f"/bookings/{booking['id']}/check-in", {})
    assert checked.status_code == 200, checked.text
    event = await one("booking.checked_in", booking["id"])
    assert (event["store_id"], event["data"]) == (salon.store_id, checked.json())

    _travel(monkeypatch, booking["start"], minutes=40)
    keyed = {**salon.clerk(), "Idempotency-Key": "complete-1"}
    done = await salon.post(f"/bookings/{booking['id']}/complete", {}, keyed)
    assert done.status_code == 200, done.text
    replay = await salon.post(f"/bookings/{booking['id']}/complete", {}, keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    twice = await salon.post(f"/bookings/{booking['id']}/complete", {})
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_state")

    completed = await one("booking.completed", booking["id"])
    assert completed["data"] == done.json() == await _staff_view(salon, booking["id"])
    redemption = await one("redemption.created", done.json()["redemption_id"])
    assert redemption["store_id"] == salon.store_id
    assert redemption["data"]["object_id"] == card["id"]
    assert redemption["data"]["visits_left"] == 1
    assert await types() == ["card.issued", "booking.created", "booking.checked_in",
                             "redemption.created", "booking.completed"]


async def test_check_in_by_scanning_writes_the_redemption_and_the_check_in(
        salon: Salon, monkeypatch: Any) -> None:
    booking = await salon.booked(salon.at("10:00", 1))
    _travel(monkeypatch, booking["start"], minutes=-30)
    scan = await salon.post("/redemptions", {"code": booking["code"],
                                             "store_id": salon.store_id})
    assert scan.status_code == 201, scan.text
    twice = await salon.post("/redemptions", {"code": booking["code"],
                                              "store_id": salon.store_id})
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_state")

    redemption = await one("redemption.created", scan.json()["id"])
    assert (redemption["store_id"], redemption["data"]) == (salon.store_id, scan.json())
    checked = await one("booking.checked_in", booking["id"])
    assert checked["data"] == await _staff_view(salon, booking["id"])
    assert checked["data"]["status"] == "checked_in"

    # Undoing the check-in scanned by mistake: redemption.reversed.
    undone = await salon.post(f"/redemptions/{scan.json()['id']}/reverse", {},
                              salon.operator())
    assert undone.status_code == 200, undone.text
    assert (await one("redemption.reversed", scan.json()["id"]))["data"] == undone.json()


async def test_a_no_show_with_its_penalty_visit(salon: Salon, monkeypatch: Any) -> None:
    patched = await salon.client.patch(f"/api/v1/stores/{salon.store_id}",
                                       json={"no_show_consumes_visit": True},
                                       headers=salon.operator())
    assert patched.status_code == 200, patched.text
    card = await _times_card(salon, 3)
    booking = await salon.booked(salon.at("10:00", 1), card_id=card["id"])
    not_yet = await salon.post(f"/bookings/{booking['id']}/no-show", {})
    assert not_yet.status_code == 409
    _travel(monkeypatch, booking["start"], minutes=30)
    missed = await salon.post(f"/bookings/{booking['id']}/no-show", {})
    assert missed.status_code == 200, missed.text
    event = await one("booking.no_show", booking["id"])
    assert event["data"] == missed.json() == await _staff_view(salon, booking["id"])
    penalty = await one("redemption.created", missed.json()["redemption_id"])
    assert (penalty["data"]["action"], penalty["data"]["visits_left"]) == ("visit", 2)
    again = await salon.post(f"/bookings/{booking['id']}/no-show", {})
    assert again.status_code == 409
    assert len(await written("booking.no_show")) == 1
