"""The dashboard's staff view in a real browser: edit a staff member's name, role and
stores, deactivate and activate them, set a new password; the last operator's refusal is
worded; form errors name the field and the rule."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.web.conftest import API, Demo, assert_accessible, screenshot, set_lang
from tests.web.test_admin_views import open_dashboard


def _staff(demo: Demo, staff_id: str) -> dict[str, Any]:
    listed = demo.api("GET", "/staff", demo.operator_token)
    rows = listed["items"] if isinstance(listed, dict) else listed
    return next(s for s in rows if s["id"] == staff_id)


def _login_status(demo: Demo, username: str, password: str) -> int:
    return httpx.post(f"{demo.base_url}{API}/auth/staff/login", timeout=10,
                      json={"username": username, "password": password}).status_code


def test_edit_deactivate_activate_and_a_new_password(demo_server: Demo, context: Any) -> None:
    username = f"e2e-{uuid.uuid4().hex[:8]}"
    created = demo_server.api("POST", "/staff", demo_server.operator_token, json={
        "username": username, "password": "first-pass-2026", "role": "clerk",
        "store_ids": [demo_server.store_id]})
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=staff]")
    page.click(f"[data-edit='{created['id']}']")
    expect(page.locator("#staff-edit-h")).to_be_focused()

    page.fill("#e-name", "Lin 林")
    page.select_option("#e-role", "manager")
    for box in page.locator("#e-stores input").all():
        box.check()
    page.click("#staff-edit-form button[type=submit]")
    expect(page.locator(f"[data-staff='{created['id']}'] td").first).to_have_text("Manager")
    after = _staff(demo_server, created["id"])
    assert after["name"] == "Lin 林" and after["role"] == "manager"
    assert len(after["store_ids"]) == page.locator("#e-stores input").count() >= 2

    # no store for a manager: said before anything is sent, on the stores' group
    for box in page.locator("#e-stores input").all():
        box.uncheck()
    page.click("#staff-edit-form button[type=submit]")
    expect(page.locator("#e-stores")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-stores-error")).to_contain_text("at least one store")
    assert len(_staff(demo_server, created["id"])["store_ids"]) >= 2

    page.click("#staff-toggle")  # asks first
    expect(page.locator("#staff-toggle")).to_have_text("Tap again to confirm")
    page.click("#staff-toggle")
    expect(page.locator(f"[data-staff='{created['id']}'] .pill")).to_have_text("Deactivated")
    assert _staff(demo_server, created["id"])["active"] is False
    page.click("#staff-toggle")
    expect(page.locator(f"[data-staff='{created['id']}'] .pill")).to_have_text("Active")

    page.fill("#e-pass", "short")
    page.click("#staff-password button[type=submit]")
    expect(page.locator("#e-pass-error")).to_contain_text("at least 10 characters")
    page.fill("#e-pass", "second-pass-2026")
    page.click("#staff-password button[type=submit]")
    expect(page.locator("#toast")).to_contain_text("Password changed")
    assert _login_status(demo_server, username, "second-pass-2026") == 200
    assert _login_status(demo_server, username, "first-pass-2026") == 401
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar at the top of the picture
    screenshot(page, "admin-staff-edit", full_page=True)


def test_the_last_operator_cannot_be_demoted_and_is_told_why(demo_server: Demo,
                                                             context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    set_lang(page, "zh")
    page.wait_for_selector("[data-nav=staff]")
    page.click("[data-nav=staff]")
    me = page.evaluate("JSON.parse(localStorage.getItem('o2o.admin.staff')).id")
    page.click(f"[data-edit='{me}']")
    page.select_option("#e-role", "manager")
    page.check("#e-stores-0")
    page.click("#staff-edit-form button[type=submit]")
    expect(page.locator("#staff-edit-status")).to_contain_text("最后一位启用的运营人员")
    assert "operator" not in page.inner_text("#staff-edit-status")
    assert _staff(demo_server, me)["role"] == "operator"


def test_the_new_staff_form_names_the_field_and_the_rule(demo_server: Demo,
                                                         context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=staff]")
    page.fill("#u-name", "a b")
    page.fill("#u-pass", "short")
    page.click("#staff-new button[type=submit]")
    name = page.locator("#u-name")
    expect(name).to_have_attribute("aria-invalid", "true")
    assert name.get_attribute("aria-describedby") == "u-name-error"
    expect(page.locator("#u-name-error")).to_contain_text("Username:")
    expect(page.locator("#u-name-error")).to_contain_text("letters, digits")
    expect(page.locator("#u-pass-error")).to_contain_text("at least 10 characters")
    expect(page.locator("#u-stores-error")).to_contain_text("at least one store")
    expect(name).to_be_focused()
    assert_accessible(page, "staff form with errors (en)")
    # Fixed, the marks go away with the next try.
    username = f"e2e-{uuid.uuid4().hex[:8]}"
    page.fill("#u-name", username)
    page.fill("#u-pass", "a-good-pass-2026")
    page.check("#u-stores-0")
    page.click("#staff-new button[type=submit]")
    expect(page.locator("#staff-list")).to_be_visible()
    expect(page.locator(f"tr:has-text('{username}')")).to_have_count(1)
    assert page.locator("[aria-invalid=true]").count() == 0
