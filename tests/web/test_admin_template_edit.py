"""The operator edits a stored-value template's online top-up in a real browser (issue 20's
rebuild): the options (amount + bonus) and the bonus policy go out as
PATCH /card-templates/{id}, a wrong line is refused in the page's words before any request,
and only stored-value rows offer the edit. On a phone-sized screen, axe-clean in zh and en."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import Demo, assert_accessible, set_lang, staff_login


def _templates(demo: Demo) -> list[dict[str, Any]]:
    return list(demo.api("GET", "/card-templates", demo.operator_token))


def test_edit_online_top_up_of_a_stored_value_template(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    templates = _templates(demo_server)
    stored = next(tp for tp in templates if tp["kind"] == "stored_value")
    other = next(tp for tp in templates if tp["kind"] != "stored_value")
    options: list[dict[str, int]] = stored.get("top_up_options") or []
    before: dict[str, Any] = {"top_up_options": options,
                              "bonus_policy": stored.get("bonus_policy") or "proportional"}
    page = context.new_page()
    staff_login(page, demo_server, "/admin/#templates", "demo-operator")
    expect(page.locator(f"tr[data-template='{other['id']}'] [data-edit-top-up]")).to_have_count(0)
    try:
        page.click(f"[data-edit-top-up='{stored['id']}']")
        form = page.locator("#template-top-up")
        expect(form).to_be_visible()
        assert page.evaluate("document.activeElement.id") == "te-title"
        # The form starts from what the template has now.
        first = options[0] if options else None
        if first:
            expect(page.locator("#te-options")).to_have_value(
                re.compile(rf"^{first['amount_cents'] // 100}:"))

        # A line that is not "amount:bonus": said beside the field, nothing sent.
        page.fill("#te-options", "500:50\nfive hundred")
        page.click("#template-top-up button[type=submit]")
        expect(page.locator("#te-options")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#te-options-error")).to_contain_text("500:50")
        unchanged = next(tp for tp in _templates(demo_server) if tp["id"] == stored["id"])
        assert (unchanged.get("top_up_options") or []) == before["top_up_options"]

        page.fill("#te-options", "300:30\n800.50:100")
        page.select_option("#te-policy", "paid_first")
        page.click("#template-top-up button[type=submit]")
        cell = page.locator(f"tr[data-template='{stored['id']}'] [data-field=top-up-options]")
        expect(cell).to_contain_text("¥800.50")
        expect(page.locator("#template-top-up")).to_have_count(0)  # back to the list
        saved = next(tp for tp in _templates(demo_server) if tp["id"] == stored["id"])
        assert saved["top_up_options"] == [{"amount_cents": 30000, "bonus_cents": 3000},
                                           {"amount_cents": 80050, "bonus_cents": 10000}]
        assert saved["bonus_policy"] == "paid_first"

        page.click(f"[data-edit-top-up='{stored['id']}']")
        expect(page.locator("#te-options")).to_have_value("300:30\n800.50:100")
        expect(page.locator("#te-policy")).to_have_value("paid_first")
        for lang in ("zh", "en"):
            set_lang(page, lang)
            page.wait_for_selector("#template-top-up")
            assert_accessible(page, f"template top-up edit ({lang})")
        # Nothing sticks out of a phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        # Other tests read the demo's options (the member's top-up page).
        demo_server.api("PATCH", f"/card-templates/{stored['id']}", demo_server.operator_token,
                        json=before)
