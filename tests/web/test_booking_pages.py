"""Booking through the pages: the member books tomorrow's first free slot, the clerk sees
it on the store's day list, the member cancels it."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Demo, screenshot, staff_login


def test_member_books_clerk_sees_it_member_cancels(demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/m/?chain={demo_server.chain_id}")
    page.fill("#code", "sandbox:demo-member-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-card]")
    page.click("[data-tab=book]")
    page.click(f"[data-store='{demo_server.store_id}']")
    page.click("[data-service] >> nth=0")
    page.click("[data-date] >> nth=1")  # tomorrow: today may have no time left
    start = page.get_attribute("[data-slot] >> nth=-1", "data-slot")
    page.click("[data-slot] >> nth=-1")  # the last: it shows beside the confirmation
    page.locator("#confirm-booking").scroll_into_view_if_needed()
    screenshot(page, "member-booking")
    page.click("#confirm-booking")
    page.wait_for_selector("text=Booked")
    mine = demo_server.api("GET", "/me/bookings", demo_server.member_token)
    booking = next(b for b in mine if b["start"] == start)
    assert booking["status"] == "confirmed"
    assert booking["store_id"] == demo_server.store_id

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
    assert cancel is not None
    cancel.click()
    cancel.click()  # the second tap confirms
    page.wait_for_selector(f"[data-booking='{booking['id']}'] .pill.cancelled")
    assert demo_server.api("GET", f"/bookings/{booking['id']}",
                           demo_server.member_token)["status"] == "cancelled"
