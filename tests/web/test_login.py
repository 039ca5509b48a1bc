"""The pages' one login view (common/login.js) in a real browser: a refusal is told under
the form, a login survives a reload, a logout forgets the staff record; the member's
form hides the chain a link already named."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import PASSWORD, Demo

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
