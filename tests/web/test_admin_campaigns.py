"""The operator's Campaigns view in a real browser (issue 17): a campaign's results equal the
API's after a redemption; the create form's store limits and usage rules (days of the week,
hours) round-trip; a bad rule is named on its field; axe-core clean in zh and en."""

from __future__ import annotations

import random
from typing import Any

from tests.web.conftest import Demo, assert_accessible, screenshot, set_lang, staff_login

DESKTOP = {"width": 1280, "height": 800}


def yuan(cents: int) -> str:
    return f"¥{cents // 100:,}.{cents % 100:02d}"


def open_campaigns(page: Any, demo: Demo, hash_: str = "#campaigns") -> None:
    page.set_viewport_size(DESKTOP)
    staff_login(page, demo, f"/admin/{hash_}", "demo-operator")
    page.wait_for_selector("#campaign-form")


def test_results_equal_the_api_after_a_redemption(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    tag = "".join(random.choices("ABCDEFGHJK", k=5))
    campaign = demo_server.api("POST", "/campaigns", demo_server.operator_token, json={
        "name": f"E2E results {tag}", "kind": "discount", "percent_off": 20,
        "total_quantity": 100, "per_member_limit": 5,
        "valid_from": "2020-01-01T00:00:00+08:00", "valid_until": "2099-01-01T00:00:00+08:00"})
    vouchers = [demo_server.fresh_voucher(campaign["id"]) for _ in range(3)]
    demo_server.api("POST", "/redemptions", demo_server.clerk_token, json={
        "code": vouchers[0]["code"], "store_id": demo_server.store_id, "amount_cents": 456700})

    page = context.new_page()
    open_campaigns(page, demo_server)
    page.click(f"[data-results='{campaign['id']}']")
    panel = page.locator(f"#campaign-results[data-campaign='{campaign['id']}']")
    expect(panel.locator("[data-result=issued] .value")).to_have_text("3")
    assert page.evaluate("document.activeElement.id") == "results-title"
    results = demo_server.api("GET", f"/campaigns/{campaign['id']}/results",
                              demo_server.operator_token)
    assert (results["issued"], results["redeemed"]) == (3, 1)
    expect(panel.locator("[data-result=redeemed] .value")).to_have_text(str(results["redeemed"]))
    expect(panel.locator("[data-result=redemption_rate] .value")).to_have_text(
        f"{results['redemption_rate'] * 100:.1f}%")
    expect(panel.locator("[data-result=discount_cents] .value")).to_have_text(
        yuan(results["discount_cents"]))
    expect(panel.locator("[data-result=bill_cents] .value")).to_have_text(
        yuan(results["bill_cents"]))
    assert results["bill_cents"] == 456700
    assert page.inner_text("[data-result=bill_cents] .value") == "¥4,567.00"
    screenshot(page, "admin-campaign-results")
    for lang in ("zh", "en"):
        set_lang(page, lang)
        page.wait_for_selector("#campaign-results .stats")
        assert page.locator("main").count() == 1 and page.locator("h1").count() == 1
        assert_accessible(page, f"campaign results ({lang})")
    page.click("#campaign-results a")  # close
    page.wait_for_selector("#campaign-results", state="detached")


def test_a_bad_rule_is_named_on_its_field(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    open_campaigns(page, demo_server)
    for lang, words in (("zh", "每天结束时间\uff1a须晚于开始时间"),
                        ("en", "Usable until (daily): must be later than the start time")):
        set_lang(page, lang)
        page.wait_for_selector("#campaign-form")
        page.fill("#c-name", "E2E bad hours")
        page.fill("#c-value", "10")
        page.fill("#c-time-from", "14:00")
        page.fill("#c-time-until", "10:00")
        page.click("#campaign-form button[type=submit]")
        until = page.locator("#c-time-until")
        expect(until).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#c-time-until-error")).to_contain_text(words)
        assert "c-time-until-error" in (until.get_attribute("aria-describedby") or "")
        assert page.evaluate("document.activeElement.id") == "c-time-until"
        assert_accessible(page, f"campaign form with an error ({lang})")
    # Only one time: the missing one is named; a cash voucher without its value too.
    page.fill("#c-time-until", "")
    page.fill("#c-value", "")
    page.click("#campaign-form button[type=submit]")
    expect(page.locator("#c-time-until-error")).to_contain_text("give both times or neither")
    expect(page.locator("#c-value-error")).to_contain_text(
        "Value (yuan): required for a Cash voucher")
    assert not any(c["name"] == "E2E bad hours" for c in
                   demo_server.api("GET", "/campaigns", demo_server.operator_token))


def test_store_limits_and_weekday_rules_round_trip(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    name = "E2E weekdays " + "".join(random.choices("ABCDEFGHJK", k=5))
    page = context.new_page()
    open_campaigns(page, demo_server)
    page.fill("#c-name", name)
    page.select_option("#c-kind", "discount")
    page.fill("#c-percent", "20")
    page.fill("#c-cap", "50")
    for day in range(5):  # Monday..Friday, by keyboard: focus and Space
        page.focus(f"#c-days-{day}")
        page.keyboard.press("Space")
    page.check(f"#c-stores input[value='{demo_server.store_id}']")
    page.fill("#c-time-from", "10:00")
    page.fill("#c-time-until", "14:00")
    page.click("#campaign-form button[type=submit]")
    row = page.locator("tr[data-campaign]", has_text=name)
    expect(row).to_have_count(1)
    created = next(c for c in demo_server.api("GET", "/campaigns", demo_server.operator_token)
                   if c["name"] == name)
    assert created["weekdays"] == [0, 1, 2, 3, 4]
    assert (created["time_from"], created["time_until"]) == ("10:00", "14:00")
    assert created["store_ids"] == [demo_server.store_id]
    assert (created["percent_off"], created["max_discount_cents"]) == (20, 5000)
    rules = row.locator("[data-rules]")
    expect(rules).to_contain_text("Mon\u2013Fri")
    expect(rules).to_contain_text("10:00\u201314:00")
    expect(rules).to_contain_text("Only at 静安店 Jing'an")
    # Pause and resume: the pill says so, the API agrees, the focus stays on the button.
    row.locator("button[data-toggle]").click()
    expect(row.locator(".pill")).to_have_text("Paused")
    assert demo_server.api("GET", f"/campaigns/{created['id']}",
                           demo_server.operator_token)["status"] == "paused"
    assert page.evaluate("document.activeElement.textContent") == "Resume"
    page.keyboard.press("Enter")
    expect(row.locator(".pill")).to_have_text("Active")
    set_lang(page, "zh")
    rules = page.locator("tr[data-campaign]", has_text=name).locator("[data-rules]")
    expect(rules).to_contain_text("周一至周五")
    assert_accessible(page, "campaigns list (zh)")
    set_lang(page, "en")
    page.wait_for_selector("#campaign-form")
    assert_accessible(page, "campaigns list (en)")


def test_an_until_of_midnight_is_the_end_of_the_day(demo_server: Demo, context: Any) -> None:
    """A time input stops at 23:59: "until 00:00" is sent as the API's "24:00"."""
    from playwright.sync_api import expect

    name = "E2E evenings " + "".join(random.choices("ABCDEFGHJK", k=5))
    page = context.new_page()
    open_campaigns(page, demo_server)
    page.fill("#c-name", name)
    page.select_option("#c-kind", "discount")
    page.fill("#c-percent", "10")
    page.fill("#c-time-from", "18:00")
    page.fill("#c-time-until", "00:00")
    page.click("#campaign-form button[type=submit]")
    row = page.locator("tr[data-campaign]", has_text=name)
    expect(row).to_have_count(1)
    created = next(c for c in demo_server.api("GET", "/campaigns", demo_server.operator_token)
                   if c["name"] == name)
    assert (created["time_from"], created["time_until"]) == ("18:00", "24:00")
    expect(row.locator("[data-rules]")).to_contain_text("18:00\u201324:00")
