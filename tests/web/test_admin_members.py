"""The operator's Members view in a real browser (issue 17): search by phone, filter by card
template, a member's cards / ledger / vouchers / bookings, freeze and cancel a card, revoke a
voucher, issue a campaign to selected members; axe-core clean in zh and en."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.web.conftest import (
    Demo,
    assert_accessible,
    screenshot,
    set_lang,
    staff_login,
    wait_until,
)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 834, "height": 1112}


def yuan(cents: int) -> str:
    """As the pages write money: ¥4,200.00."""
    return f"¥{cents // 100:,}.{cents % 100:02d}"


def new_member(demo: Demo, name: str) -> dict[str, Any]:
    phone = "139" + "".join(random.choices("0123456789", k=8))
    return dict(demo.api("POST", "/members", demo.operator_token,
                         json={"name": name, "phone": phone, "store_id": demo.store_id}))


def template_id(demo: Demo, kind: str) -> str:
    templates = demo.api("GET", "/card-templates", demo.operator_token)
    return str(next(t["id"] for t in templates if t["kind"] == kind))


def new_card(demo: Demo, member_id: str, kind: str = "stored_value") -> dict[str, Any]:
    return dict(demo.api("POST", "/cards", demo.operator_token, json={
        "template_id": template_id(demo, kind), "member_id": member_id,
        "store_id": demo.store_id}))


def status(demo: Demo, card: dict[str, Any]) -> str:
    return str(demo.api("GET", f"/cards/{card['id']}", demo.operator_token)["status"])


def open_members(page: Any, demo: Demo, viewport: dict[str, int] = DESKTOP) -> None:
    page.set_viewport_size(viewport)
    staff_login(page, demo, "/admin/#members", "demo-operator")
    page.wait_for_selector("#members table, #members p")


def search(page: Any, text: str) -> None:
    """Searches and waits for that search's answer to be drawn (the list says aria-busy
    while a request is on its way: a click before it lands would act on the old list)."""
    from playwright.sync_api import expect

    page.fill("#mb-q", text)
    page.press("#mb-q", "Enter")
    expect(page.locator("#members")).to_have_attribute("aria-busy", "false")


def test_search_by_phone_and_filter_by_template(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    holder = new_member(demo_server, "E2E 持卡 Holder")
    other = new_member(demo_server, "E2E 无卡 Other")
    new_card(demo_server, holder["id"], "times")
    page = context.new_page()
    open_members(page, demo_server, TABLET)

    search(page, holder["phone"])
    expect(page.locator("#members tbody tr")).to_have_count(1)
    row = page.locator(f"#members tr[data-member='{holder['id']}']")
    expect(row).to_contain_text("E2E 持卡 Holder")
    expect(row.locator("td.num")).to_have_text("1")  # one live card

    # A name fragment finds both; the times-card template keeps only the holder.
    search(page, "E2E 无卡")
    expect(page.locator(f"#members tr[data-member='{other['id']}']")).to_be_visible()
    page.fill("#mb-q", "E2E")
    page.select_option("#mb-template", template_id(demo_server, "times"))
    page.click("#mb-filters button[type=submit]")
    expect(page.locator(f"#members tr[data-member='{holder['id']}']")).to_be_visible()
    expect(page.locator(f"#members tr[data-member='{other['id']}']")).to_have_count(0)
    api = demo_server.api("GET", "/members", demo_server.operator_token, params={
        "q": "E2E", "template_id": template_id(demo_server, "times"), "limit": 200})
    assert holder["id"] in {m["id"] for m in api}
    assert other["id"] not in {m["id"] for m in api}
    # A tier nobody here holds: the list agrees with the API (empty).
    page.select_option("#mb-template", "")
    page.select_option("#mb-tier", "金卡 Gold")
    page.click("#mb-filters button[type=submit]")
    gold = demo_server.api("GET", "/members", demo_server.operator_token,
                           params={"q": "E2E", "tier": "金卡 Gold"})
    expect(page.locator("#members tbody tr")).to_have_count(len(gold))
    page.select_option("#mb-tier", "")
    # Visited "on or after" tomorrow: nobody (filters by last visit reach the API).
    page.fill("#mb-after", "2099-01-01")
    page.click("#mb-filters button[type=submit]")
    expect(page.locator("#members tbody tr")).to_have_count(0)
    page.click("#mb-filters button[type=button]")  # clear filters
    expect(page.locator("#mb-q")).to_have_value("")

    for lang in ("zh", "en"):
        set_lang(page, lang)
        page.wait_for_selector("#members tbody tr")
        assert page.locator("main").count() == 1 and page.locator("h1").count() == 1
        assert_accessible(page, f"members list ({lang})")


def test_paging_through_a_search(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    tag = "".join(random.choices("ABCDEFGHJK", k=6))
    for n in range(21):
        new_member(demo_server, f"E2E Page {tag} {n:02d}")
    page = context.new_page()
    open_members(page, demo_server)
    search(page, tag)
    expect(page.locator("#members tbody tr")).to_have_count(20)
    expect(page.locator("#mb-prev")).to_be_disabled()
    page.focus("#mb-next")
    page.keyboard.press("Enter")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    expect(page.locator("#mb-shown")).to_have_text("Members 21\u201321")
    expect(page.locator("#mb-next")).to_be_disabled()
    assert page.evaluate("document.activeElement.id") == "mb-prev"
    page.keyboard.press("Enter")
    expect(page.locator("#members tbody tr")).to_have_count(20)


def test_member_detail_cards_ledger_vouchers_bookings(demo_server: Demo, context: Any) -> None:
    """王芳 (the demo's member) holds a topped-up prepaid card, a times card, a welcome
    voucher and a booking tomorrow."""
    from playwright.sync_api import expect

    page = context.new_page()
    open_members(page, demo_server)
    # Her phone as it is now: another test has her type a new one (PATCH /me).
    phone = demo_server.api("GET", f"/members/{demo_server.member_id}",
                            demo_server.operator_token)["phone"]
    search(page, phone)
    page.click(f"#members tr[data-member='{demo_server.member_id}'] a")
    page.wait_for_selector("#member-cards")
    cards = demo_server.api("GET", f"/members/{demo_server.member_id}/cards",
                            demo_server.operator_token)
    prepaid = next(c for c in cards if c["kind"] == "stored_value")
    row = page.locator(f"tr[data-card='{prepaid['id']}']")
    expect(row).to_contain_text(prepaid["number"])
    expect(row.locator("[data-field=balance]")).to_have_text(yuan(prepaid["balance_cents"]))
    times = next(c for c in cards if c["kind"] == "times")
    expect(page.locator(f"tr[data-card='{times['id']}']")).to_contain_text(str(times["visits_left"]))
    vouchers = demo_server.api("GET", f"/members/{demo_server.member_id}/vouchers",
                               demo_server.operator_token)
    welcome = next(v for v in vouchers if "Welcome" in v["campaign_name"])
    welcome_row = page.locator(f"tr[data-voucher='{welcome['id']}']")
    expect(welcome_row).to_contain_text("Bill of ¥100.00 or more")
    bookings = demo_server.api("GET", f"/members/{demo_server.member_id}/bookings",
                               demo_server.operator_token)
    assert bookings
    expect(page.locator(f"tr[data-booking='{bookings[-1]['id']}']")).to_contain_text("Haircut")

    # The ledger names the store of the top-up.
    page.click(f"[data-ledger='{prepaid['id']}']")
    top_up = page.locator("#ledger tr[data-kind=top_up]").first
    expect(top_up).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "ledger-title"
    expect(top_up.locator("[data-field=store]")).to_contain_text("Jing'an")
    expect(top_up).to_contain_text("Top-up")
    screenshot(page, "admin-members", full_page=True)
    for lang, word in (("zh", "充值"), ("en", "Top-up")):
        set_lang(page, lang)
        page.wait_for_selector("#ledger table")
        expect(page.locator("#ledger tr[data-kind=top_up]").first).to_contain_text(word)
        assert_accessible(page, f"member detail with ledger ({lang})")

    # Keyboard: back to the list from the link.
    page.focus("#mb-back")
    page.keyboard.press("Enter")
    page.wait_for_selector("#mb-filters")


def test_freeze_unfreeze_and_cancel_a_card(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    member = new_member(demo_server, "E2E Freeze")
    card = new_card(demo_server, member["id"])
    page = context.new_page()
    open_members(page, demo_server, TABLET)
    page.goto(f"{demo_server.base_url}/admin/#members/{member['id']}")
    row = page.locator(f"tr[data-card='{card['id']}']")
    row.locator("[data-action=freeze]").click()
    expect(row.locator("[data-status]")).to_have_text("Frozen")
    # The focus stays on the card's row (now on Unfreeze) for keyboard users.
    assert page.evaluate("document.activeElement.dataset.action") == "unfreeze"
    assert_accessible(page, "member detail on a tablet (en)")
    assert status(demo_server, card) == "frozen"
    row.locator("[data-action=unfreeze]").click()
    expect(row.locator("[data-status]")).to_have_text("Active")
    # Cancel asks first: one click arms it, the second cancels.
    cancel = row.locator("[data-action=cancel]")
    cancel.click()
    expect(cancel).to_have_text("Click again to cancel for good")
    assert status(demo_server, card) == "active"
    cancel.click()
    expect(row.locator("[data-status]")).to_have_text("Cancelled")
    assert status(demo_server, card) == "cancelled"
    expect(row.locator("[data-action]")).to_have_count(0)


def test_revoke_a_voucher(demo_server: Demo, context: Any, campaign_id: str) -> None:
    from playwright.sync_api import expect

    member = new_member(demo_server, "E2E Revoke")
    issued = demo_server.api("POST", f"/campaigns/{campaign_id}/issue", demo_server.operator_token,
                             json={"member_ids": [member["id"]]})["issued"][0]
    page = context.new_page()
    open_members(page, demo_server)
    page.goto(f"{demo_server.base_url}/admin/#members/{member['id']}")
    row = page.locator(f"tr[data-voucher='{issued['id']}']")
    expect(row).to_contain_text("¥10.00 off")
    revoke = row.locator("[data-action=revoke]")
    revoke.click()
    revoke.click()
    expect(row.locator("[data-status]")).to_have_text("Revoked")
    assert demo_server.api("GET", f"/vouchers/{issued['id']}",
                           demo_server.operator_token)["status"] == "revoked"


def test_issue_a_campaign_to_two_selected_members(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    tag = "".join(random.choices("ABCDEFGHJK", k=5))
    first, second = (new_member(demo_server, f"E2E Pick {tag} {n}") for n in (1, 2))
    campaign = demo_server.api("POST", "/campaigns", demo_server.operator_token, json={
        "name": f"E2E one each {tag}", "kind": "cash", "value_cents": 500, "total_quantity": 10,
        "per_member_limit": 1, "valid_from": "2020-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00"})
    page = context.new_page()
    open_members(page, demo_server)
    search(page, f"E2E Pick {tag}")
    expect(page.locator("#members tbody tr")).to_have_count(2)
    for member in (first, second):
        page.check(f"#members tr[data-member='{member['id']}'] input.pick")
    expect(page.locator("#mb-selection")).to_have_text("2 members selected")
    page.select_option("#mb-campaign", campaign["id"])
    with page.expect_request(lambda r: r.url.endswith("/issue")) as sent:
        page.click("#mb-issue")
    assert sent.value.post_data_json == {"member_ids": [first["id"], second["id"]]}
    assert len(sent.value.headers.get("idempotency-key", "")) == 32
    expect(page.locator("#issue-result [data-issued]")).to_have_text("2 vouchers issued")
    for member in (first, second):
        vouchers = demo_server.api("GET", f"/members/{member['id']}/vouchers",
                                   demo_server.operator_token)
        assert [v["campaign_id"] for v in vouchers] == [campaign["id"]]
    # Again: both are at the per-member limit, said in words with their names.
    page.click("#mb-issue")
    skipped = page.locator("#issue-result [data-skipped]")
    expect(skipped).to_contain_text("2 not issued")
    expect(skipped.locator(f"li[data-member='{first['id']}']")).to_have_text(
        f"E2E Pick {tag} 1: already holds as many as allowed per member")
    assert "claim_limit_reached" not in page.inner_text("#issue-result")


@pytest.mark.parametrize("lang", ["zh"])
def test_manager_sees_members_without_operator_actions(demo_server: Demo, context: Any,
                                                       lang: str) -> None:
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    staff_login(page, demo_server, "/admin/#members", "demo-manager")
    page.wait_for_selector("#members table")
    set_lang(page, lang)
    page.wait_for_selector("#members table")
    assert page.locator("input.pick").count() == 0
    assert page.locator("#mb-issue-form").count() == 0
    page.goto(f"{demo_server.base_url}/admin/#members/{demo_server.member_id}")
    page.wait_for_selector("#member-cards table")
    assert page.locator("[data-action]").count() == 0
    wait_until(page, "document.querySelectorAll('[data-ledger]').length > 0")
