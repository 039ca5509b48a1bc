"""The dashboard's views, one module each: every view in the navigation opens, under one
main landmark and its own h1, without a JavaScript error, and passes axe-core in both
languages."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import Demo, assert_accessible, screenshot, set_lang, staff_login

DESKTOP = {"width": 1280, "height": 800}
VIEWS = ["overview", "members", "campaigns", "templates", "topups", "stores", "staff",
         "notifications", "settings"]
# The views H7a answers for (campaigns and members are H7b's: tests/web/test_admin_members*.py).
MINE = ["overview", "templates", "topups", "stores", "staff", "notifications", "settings"]


def open_dashboard(page: Any, demo: Demo, username: str = "demo-operator") -> None:
    page.set_viewport_size(DESKTOP)
    staff_login(page, demo, "/admin/", username)
    page.wait_for_selector("[data-stat=redemptions_count]")


def test_every_view_opens_under_one_main_and_its_h1(demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    for view in VIEWS:
        page.click(f"[data-nav={view}]")
        page.wait_for_selector(f"#view[data-view={view}] .panel")
        assert page.locator("main").count() == 1
        assert page.locator("h1").count() == 1
        assert page.inner_text("h1") == page.inner_text(f"[data-nav={view}]")
        assert page.get_attribute(f"[data-nav={view}]", "aria-current") == "page"
        assert page.locator("#view [role=alert]").count() == 0, view


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_view_passes_axe_in_both_languages(demo_server: Demo, context: Any,
                                                 lang: str) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    set_lang(page, lang)
    page.wait_for_selector("#cohorts h2")  # the overview is drawn to its end
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    assert_accessible(page, f"overview ({lang})")
    if lang == "zh":
        screenshot(page, "admin-overview-zh", full_page=True)
    for view in MINE[1:]:
        page.click(f"[data-nav={view}]")
        page.wait_for_selector(f"#view[data-view={view}] .panel")
        page.wait_for_selector("#view p.muted:has-text('…')", state="detached")
        assert page.locator("th:empty").count() == 0, f"{view}: an empty table header"
        assert_accessible(page, f"{view} ({lang})")


def test_the_dashboard_works_from_the_keyboard(demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.focus("[data-nav=staff]")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_be_focused()  # a new view: focus on its heading
    expect(page.locator("h1")).to_have_text("Staff")
    page.wait_for_selector("[data-edit]")
    page.focus("[data-edit]")
    page.keyboard.press("Enter")
    expect(page.locator("#staff-edit-h")).to_be_focused()
    page.focus("[data-nav=overview]")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-preset=last7]")
    page.focus("[data-preset=last7]")
    page.keyboard.press("Enter")
    expect(page.locator("[data-preset=last7]")).to_have_attribute("aria-pressed", "true")
    page.click("[data-nav=notifications]")
    page.focus("#n-status")
    page.keyboard.press("ArrowDown")  # a select changes on arrows; the view redraws
    expect(page.locator("#n-status")).to_be_focused()


def test_a_manager_sees_no_chain_settings(demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server, "demo-manager")
    assert page.locator("[data-nav=settings]").count() == 0
    page.goto(f"{demo_server.base_url}/admin/#settings")
    page.wait_for_selector("#view[data-view=overview] [data-stat=redemptions_count]")
    page.click("[data-nav=staff]")
    page.wait_for_selector("#staff-new")
    assert page.locator("#u-role option").all_inner_texts() == ["Clerk"]
