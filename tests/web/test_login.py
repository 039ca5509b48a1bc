"""The pages' one login view (common/login.js) in a real browser: a refusal is told under
the form, a login survives a reload, a logout forgets the staff record; the member's
form hides the chain a link already named."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import PASSWORD, PHONE, Demo, assert_accessible, set_lang

STAFF_PAGES = [("/admin/", "admin", "demo-operator"), ("/clerk/", "clerk", "demo-clerk-jingan")]


@pytest.mark.parametrize(("path", "ns", "username"), STAFF_PAGES)
def test_staff_login_refusal_reload_and_logout(demo_server: Demo, context: Any, path: str,
                                               ns: str, username: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server.base_url}{path}")
    page.fill("#username", f"  {username} ")  # the username is trimmed, as before
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    page.wait_for_selector(".login p.error:not(:empty)")
    assert page.locator("header.topbar").count() == 0

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    assert page.evaluate(f"JSON.parse(localStorage.getItem('o2o.{ns}.staff')).username") \
        == username
    page.reload()
    page.wait_for_selector("header.topbar")  # token and staff record kept

    page.click(f"header.topbar button:has-text('{'Log out'}')")
    page.wait_for_selector("#username")
    assert page.evaluate(f"localStorage.getItem('o2o.{ns}.staff')") is None
    assert page.evaluate(f"localStorage.getItem('o2o.{ns}.token')") is None


def test_member_login_refusal_and_a_chain_named_by_the_link(demo_server: Demo,
                                                            context: Any) -> None:
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/m/?chain={demo_server.chain_id}")
    assert page.locator("#chain").is_hidden()  # the link named the chain
    assert page.input_value("#chain") == demo_server.chain_id
    page.fill("#code", "not-a-code")
    page.click("button[type=submit]")
    page.wait_for_selector(".login p.error:not(:empty)")
    page.fill("#code", " sandbox:demo-member-1 ")  # trimmed, as before
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")


@pytest.mark.parametrize("path", ["/", "/m/", "/clerk/", "/admin/"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_front_and_login_views_pass_axe_in_both_languages(demo_server: Demo, context: Any,
                                                              path: str, lang: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server.base_url}{path}")
    set_lang(page, lang)
    page.wait_for_selector("h1")
    if path != "/":  # the front door is bilingual, in zh-CN markup
        assert page.evaluate("document.documentElement.lang") == (
            "zh-CN" if lang == "zh" else "en")
    assert_accessible(page, f"{path} ({lang})")


@pytest.mark.parametrize(("browser_lang", "shown"), [("zh-TW", "zh"), ("zh-CN", "zh"),
                                                      ("en-US", "en"), ("fr-FR", "en")])
def test_the_browsers_language_picks_the_first_language_until_the_reader_switches(
        browser: Any, demo_server: Demo, browser_lang: str, shown: str) -> None:
    ctx = browser.new_context(viewport=PHONE, locale=browser_lang)
    try:
        page = ctx.new_page()
        page.goto(f"{demo_server.base_url}/clerk/")
        page.wait_for_selector("h1")
        assert page.evaluate("document.documentElement.lang") == (
            "zh-CN" if shown == "zh" else "en")
        toggle = page.locator("button.lang")
        assert toggle.get_attribute("aria-label") == (
            "EN: switch to English" if shown == "zh" else "中文\uff1a切换到中文")
        toggle.click()  # the reader's choice now outlives the browser's language
        page.reload()
        page.wait_for_selector("h1")
        assert page.evaluate("document.documentElement.lang") == (
            "en" if shown == "zh" else "zh-CN")
    finally:
        ctx.close()


def test_money_has_thousands_separators_and_errors_never_show_the_servers_detail(
        demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/clerk/")
    page.wait_for_selector("h1")
    shown = page.evaluate("""async () => {
      const ui = await import('/static/common/ui.js');
      const i18n = await import('/static/common/i18n.js');
      const { ApiError } = await import('/static/common/api.js');
      const raw = new ApiError(409, {code: 'no_such_code_yet', detail: 'amount_cents: nope'});
      const phone = new ApiError(409, {code: 'phone_taken', detail: 'phone 139 is registered'});
      return [ui.money(420000), ui.money(-123456789), ui.money(5), ui.money(0),
              i18n.errorText(raw), i18n.errorText(phone)];
    }""")
    assert shown[:4] == ["¥4,200.00", "-¥1,234,567.89", "¥0.05", "¥0.00"]
    assert "amount_cents" not in shown[4] and "139" not in shown[5]
    assert shown[5] == "This phone number is registered already"
