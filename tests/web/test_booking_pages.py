"""Booking through the pages: the member books tomorrow's first free slot, the clerk sees
it on the store's day list, the member cancels it; a stylist chosen by name; the
cancellation cut-off told before confirming, and a booking past it offers no change that
can only fail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.web.conftest import Demo, assert_accessible, screenshot, staff_login


def member_page(demo: Demo, context: Any) -> Any:
    page = context.new_page()
    page.goto(f"{demo.base_url}/m/?chain={demo.chain_id}")
    page.fill("#code", "sandbox:demo-member-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-card]")
    return page


def pick(page: Any, store_id: str, stylist: str, day: int) -> None:
    """Store, the first service, a stylist ('any' or a resource id), a day from today."""
    page.click("[data-tab=book]")
    page.click(f"[data-store='{store_id}']")
    page.click("[data-service] >> nth=0")
    page.click(f"[data-stylist='{stylist}']")
    page.click(f"[data-date] >> nth={day}")  # tomorrow or later: today may have no time left


def test_member_books_clerk_sees_it_member_cancels(demo_server: Demo, context: Any) -> None:
    page = member_page(demo_server, context)
    pick(page, demo_server.store_id, "any", 1)
    start = page.get_attribute("[data-slot] >> nth=-1", "data-slot")
    page.click("[data-slot] >> nth=-1")  # the last: it shows beside the confirmation
    page.locator("#confirm-booking").scroll_into_view_if_needed()
    assert "Free to cancel or reschedule until" in page.inner_text("#cutoff-ok")
    assert page.inner_text("#summary-stylist") == "Stylist: Any stylist"
    screenshot(page, "member-booking")
    page.click("#confirm-booking")
    page.wait_for_selector("text=Booked")
    mine = demo_server.api("GET", "/me/bookings", demo_server.member_token)
    booking = next(b for b in mine if b["start"] == start)
    assert booking["status"] == "confirmed" and booking["any_resource"] is True
    assert booking["store_id"] == demo_server.store_id
    # The server picked a stylist: the page names them.
    assert booking["resource_name"] in page.inner_text("[data-stylist-name]")

    clerk = context.browser.new_context(viewport={"width": 390, "height": 844})
    try:
        desk = clerk.new_page()
        staff_login(desk, demo_server, "/clerk/", "demo-clerk-jingan")
        desk.wait_for_selector("#scan-input")
        desk.click("[data-tab=bookings]")
        desk.wait_for_selector("#view .panel")
        desk.click("#day-next")
        row = desk.wait_for_selector(f"[data-booking='{booking['id']}']")
        assert "王芳" in row.inner_text()
        screenshot(desk, "clerk-bookings")
    finally:
        clerk.close()

    page.click("[data-tab=bookings]")
    card = page.wait_for_selector(f"[data-booking='{booking['id']}']")
    cancel = card.query_selector("button.danger")
    assert cancel is not None and cancel.is_enabled()
    cancel.click()
    cancel.click()  # the second tap confirms
    page.wait_for_selector(f"[data-booking='{booking['id']}'] .pill.cancelled")
    assert demo_server.api("GET", f"/bookings/{booking['id']}",
                           demo_server.member_token)["status"] == "cancelled"


def test_member_chooses_a_stylist_and_sees_them_on_the_booking(demo_server: Demo,
                                                              context: Any) -> None:
    resources = demo_server.api("GET", f"/stores/{demo_server.store_id}/resources",
                                demo_server.member_token)
    amy = next(r for r in resources if r["name"] == "Amy")
    page = member_page(demo_server, context)
    pick(page, demo_server.store_id, amy["id"], 2)
    assert page.locator("[data-stylist]").count() == 4  # any + the three stylists, no room
    page.click("[data-slot] >> nth=0")
    assert page.inner_text("#summary-stylist") == "Stylist: Amy"
    page.click("#confirm-booking")
    made = page.wait_for_selector("[data-booked]").get_attribute("data-booked")
    assert page.inner_text("[data-stylist-name]") == "Stylist: Amy"
    assert page.locator("h1").count() == 1
    assert_accessible(page, "booked")
    booking = demo_server.api("GET", f"/bookings/{made}", demo_server.member_token)
    assert booking["resource_id"] == amy["id"] and booking["any_resource"] is False
    page.click("[data-tab=bookings]")
    row = page.wait_for_selector(f"[data-booking='{made}'] [data-stylist-name]")
    assert row.inner_text() == "Stylist: Amy"
    demo_server.api("POST", f"/bookings/{made}/cancel", demo_server.member_token)


@pytest.fixture
def long_cutoff(demo_server: Demo) -> Iterator[dict[str, Any]]:
    """The other store (not the clerks' one) with a cut-off of 7 days: every slot of the
    coming days is inside it. Put back afterwards."""
    stores = demo_server.api("GET", "/stores", demo_server.operator_token)
    store = next(s for s in stores if s["id"] != demo_server.store_id)
    demo_server.api("PATCH", f"/stores/{store['id']}", demo_server.operator_token,
                    json={"cancel_cutoff_minutes": 10080})
    try:
        yield store
    finally:
        demo_server.api("PATCH", f"/stores/{store['id']}", demo_server.operator_token,
                        json={"cancel_cutoff_minutes": store["cancel_cutoff_minutes"]})


def test_a_slot_inside_the_cut_off_is_told_before_and_its_changes_are_disabled(
        demo_server: Demo, context: Any, long_cutoff: dict[str, Any]) -> None:
    """Wrong 6: told before confirming; after, cancel and reschedule are disabled with the
    reason instead of buttons that can only fail."""
    page = member_page(demo_server, context)
    pick(page, long_cutoff["id"], "any", 1)
    assert page.get_attribute("[data-slot] >> nth=0", "data-inside-cutoff") == "true"
    page.click("[data-slot] >> nth=0")
    warning = page.wait_for_selector("#cutoff-warning")
    assert "inside the cancellation cut-off" in warning.inner_text()
    assert "cannot cancel or reschedule it yourself" in warning.inner_text()
    assert page.get_attribute("#confirm-booking", "aria-describedby") == "cutoff-warning"
    assert_accessible(page, "booking inside the cut-off")
    screenshot(page, "member-booking-cutoff")
    page.click("#confirm-booking")
    made = page.wait_for_selector("[data-booked]").get_attribute("data-booked")
    assert page.locator("[data-reason=cutoff_passed]").count() == 1

    page.click("[data-tab=bookings]")
    row = page.wait_for_selector(f"[data-booking='{made}']")
    cancel = row.query_selector("[data-action=cancel]")
    move = row.query_selector("[data-action=reschedule]")
    assert cancel is not None and move is not None
    assert cancel.is_disabled() and move.is_disabled()
    reason = row.query_selector("[data-reason=cutoff_passed]")
    assert reason is not None and "call the store" in reason.inner_text()
    assert cancel.get_attribute("aria-describedby") == reason.get_attribute("id")
    assert_accessible(page, "a booking past its cut-off")
    row.scroll_into_view_if_needed()
    screenshot(page, "member-bookings")
    # The store may still cancel it.
    demo_server.api("POST", f"/bookings/{made}/cancel", demo_server.operator_token)


def test_member_reschedules_on_the_page_and_the_inbox_names_both_times(
        demo_server: Demo, context: Any) -> None:
    service = demo_server.api("GET", f"/stores/{demo_server.store_id}/services",
                              demo_server.member_token)[0]
    day = (date.today() + timedelta(days=4)).isoformat()
    slots = demo_server.api("GET", f"/stores/{demo_server.store_id}/availability",
                            demo_server.member_token,
                            params={"service_id": service["id"], "date": day})["slots"]
    made = demo_server.api("POST", "/bookings", demo_server.member_token, json={
        "store_id": demo_server.store_id, "service_id": service["id"],
        "start": slots[0]["start"]})
    page = member_page(demo_server, context)
    page.click("[data-tab=bookings]")
    row = page.wait_for_selector(f"[data-booking='{made['id']}']")
    move = row.query_selector("[data-action=reschedule]")
    assert move is not None and move.is_enabled()
    move.click()
    page.click(f"[data-booking='{made['id']}'] [data-date='{day}']")
    target = page.locator(f"[data-booking='{made['id']}'] [data-slot] >> nth=-1")
    new_start = target.get_attribute("data-slot")
    target.click()
    page.wait_for_selector(f"[data-booking='{made['id']}']")
    moved = demo_server.api("GET", f"/bookings/{made['id']}", demo_server.member_token)
    assert moved["start"] == new_start
    inbox_has_reschedule(demo_server, made["id"])  # written by the outbox a moment later
    page.click("[data-tab=inbox]")
    page.wait_for_selector("#inbox [data-message]")
    texts = page.locator("#inbox [data-message]").all_inner_texts()
    assert any(slots[0]["start"][11:16] in text and new_start[11:16] in text
               for text in texts), texts
    demo_server.api("POST", f"/bookings/{made['id']}/cancel", demo_server.member_token)


def inbox_has_reschedule(demo: Demo, booking_id: str) -> None:
    deadline = time.monotonic() + 10
    while not any((m.get("data") or {}).get("previous_start")
                  and m["data"].get("booking_id") == booking_id
                  for m in demo.api("GET", "/me/inbox", demo.member_token)):
        assert time.monotonic() < deadline, "no reschedule notice in the inbox"
        time.sleep(0.1)
