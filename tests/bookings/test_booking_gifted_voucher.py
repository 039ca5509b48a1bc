"""A booking holding a voucher its member has given away since (issue 20's gifting): the
clerk's completion is refused with a code saying why (409 voucher_gifting while the gift is
pending, 409 voucher_not_held once a friend holds it), never a bare 404, and the friend's
voucher is never spent by the giver's booking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.clock import utcnow
from tests.bookings.conftest import Salon
from tests.bookings.test_bookings import _travel


async def test_completing_a_booking_whose_voucher_was_given_away(salon: Salon,
                                                                 monkeypatch: Any) -> None:
    now = utcnow()
    campaign = await salon.post("/campaigns", {
        "name": "Gift wash", "kind": "cash", "value_cents": 2000, "total_quantity": 10,
        "giftable": True, "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat()}, salon.operator())
    assert campaign.status_code == 201, campaign.text
    voucher = (await salon.post(f"/campaigns/{campaign.json()['id']}/claim", {},
                                salon.member())).json()
    booking = await salon.booked(salon.at("11:00", 1), voucher_id=voucher["id"])
    gift = await salon.post(f"/vouchers/{voucher['id']}/gift", {}, salon.member())
    assert gift.status_code == 201, gift.text
    _travel(monkeypatch, booking["start"])
    complete = f"/bookings/{booking['id']}/complete"

    pending = await salon.post(complete, {"amount_cents": 8800})
    assert (pending.status_code, pending.json()["code"]) == (409, "voucher_gifting"), \
        pending.text
    assert "gift" in pending.json()["detail"]

    accepted = await salon.post(f"/gifts/{gift.json()['token']}/accept", {}, salon.member(1))
    assert accepted.status_code == 200, accepted.text
    given = await salon.post(complete, {"amount_cents": 8800})
    assert (given.status_code, given.json()["code"]) == (409, "voucher_not_held"), given.text
    assert "another member" in given.json()["detail"]
    # Nothing moved: the booking waits, the friend's voucher is whole.
    assert (await salon.get(f"/bookings/{booking['id']}")).json()["status"] == "confirmed"
    friends = (await salon.get(f"/vouchers/{voucher['id']}", salon.member(1))).json()
    assert friends["status"] == "issued"
