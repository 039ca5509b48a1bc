"""The dashboard's settings (the chain's notification language and offline window) and the
forms' errors: a server's 400 lands on the field it names, in the page's words."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Demo, assert_accessible, screenshot, set_lang
from tests.web.test_admin_views import open_dashboard


def test_the_chains_settings_language_and_offline_window(demo_server: Demo,
                                                         context: Any) -> None:
    before = demo_server.api("GET", "/chain", demo_server.operator_token)
    page = context.new_page()
    open_dashboard(page, demo_server)
    try:
        page.click("[data-nav=settings]")
        expect(page.locator("#set-locale")).to_have_value(before.get("locale", "zh-CN"))
        screenshot(page, "admin-settings")
        page.fill("#set-offline", "3")
        page.click("#settings button[type=submit]")
        offline = page.locator("#set-offline")
        expect(offline).to_have_attribute("aria-invalid", "true")
        assert offline.get_attribute("aria-describedby") == "set-offline-error set-offline-hint"
        expect(page.locator("#set-offline-error")).to_contain_text("at least 5")
        expect(page.locator("#set-offline-error")).to_contain_text("Offline scans")

        page.select_option("#set-locale", "en")
        page.fill("#set-offline", "60")
        page.click("#settings button[type=submit]")
        expect(page.locator("#toast")).to_have_text("Saved")
        after = demo_server.api("GET", "/chain", demo_server.operator_token)
        assert after["locale"] == "en" and after["offline_window_minutes"] == 60
        expect(page.locator("#set-offline")).to_have_value("60")
    finally:
        demo_server.api("PATCH", "/chain", demo_server.operator_token, json={
            "locale": before.get("locale", "zh-CN"),
            "offline_window_minutes": before["offline_window_minutes"]})


def test_a_servers_field_error_lands_on_its_field_in_the_pages_words(
        demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    set_lang(page, "zh")
    page.wait_for_selector("[data-nav=stores]")
    page.click("[data-nav=stores]")
    page.fill("#st-name", "火星店")
    page.fill("#st-tz", "Mars/Olympus")  # only the server knows the zones
    page.click("form:has(#st-tz) button[type=submit]")
    zone = page.locator("#st-tz")
    expect(zone).to_have_attribute("aria-invalid", "true")
    assert zone.get_attribute("aria-describedby") == "st-tz-error"
    error = page.locator("#st-tz-error")
    expect(error).to_have_text("时区\uff1a必填\uff0cIANA 时区名\uff0c如 Asia/Shanghai")
    assert "unknown" not in page.inner_text("body")  # never the server's English detail
    expect(zone).to_be_focused()
    assert_accessible(page, "stores form with a server error (zh)")
