"""The operator's side of WeChat's card bag (issue 21) in a real browser, against the real
endpoints of a server in sandbox mode (where WeChat's review passes at once).

On a card template's row, "WeChat card": without one (GET .../wechat-card answers 404) a
form that creates it in WeChat (logo, brand name, one of WeChat's named colours, notice,
description: checked in the page's words before sending), then its review status (waiting,
approved, rejected with WeChat's reason) and the sync's health (cards in bags, removed,
waiting, failing, the last sync, the recent failures in words). In Settings, the official
account's form takes the message server's Token and EncodingAESKey and the card bag switch,
and shows the callback URL to paste into WeChat's console. axe-clean in zh and en."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Demo, assert_accessible, screenshot, set_lang
from tests.web.test_admin_views import open_dashboard


def _new_template(demo: Demo) -> dict[str, Any]:
    """A template of its own (no other test made it a WeChat card)."""
    return dict(demo.api("POST", "/card-templates", demo.operator_token, json={
        "name": f"E2E 微信卡 {uuid.uuid4().hex[:6]}", "kind": "stored_value", "claimable": True}))


SYNC = {"in_bag": 12, "removed": 3, "pending": 2, "failing": 1,
        "last_synced_at": "2026-12-07T04:58:00Z",
        "recent_failures": [
            {"card_id": "6c1f0a5e-0000-4000-8000-000000000001", "action": "update", "seq": 7,
             "errcode": 40056, "note": "invalid serial code", "at": "2026-12-07T04:50:00Z",
             "outcome": "failed"},
            {"card_id": "6c1f0a5e-0000-4000-8000-000000000002", "action": "activate", "seq": None,
             "errcode": -1, "note": "system busy", "at": "2026-12-07T04:49:00Z",
             "outcome": "retry"}]}


def _open_wechat_card(page: Any, demo: Demo, tp: dict[str, Any]) -> None:
    open_dashboard(page, demo)
    page.click("[data-nav=templates]")
    page.click(f"[data-wechat-card='{tp['id']}']")
    expect(page.locator("#wc-title")).to_have_text(f"WeChat card: {tp['name']}")


def test_the_operator_creates_a_templates_wechat_card(demo_server: Demo, context: Any) -> None:
    tp = _new_template(demo_server)
    page = context.new_page()
    _open_wechat_card(page, demo_server, tp)
    expect(page.locator("#wechat-card-form")).to_be_visible()  # GET answered 404
    assert_accessible(page, "WeChat card form (en)")

    # Checked before sending, in the page's words.
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.fill("#wc-logo", "mmbiz.qpic.cn/logo.png")
    page.click("#wc-create")
    expect(page.locator("#wc-logo")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#wc-brand")).to_have_attribute("aria-invalid", "true")
    assert posted == []

    page.fill("#wc-logo", "http://mmbiz.qpic.cn/mmbiz/logo/0")
    page.fill("#wc-brand", "丝域养发")
    page.select_option("#wc-color", "Color090")
    expect(page.locator("#wc-swatch")).to_have_class("swatch big wx-Color090")
    page.fill("#wc-description", "出示会员码给店员扫码")
    # Without the chain's WeChat app the API refuses (409 wechat_not_configured): said
    # beside the button, the form kept.
    page.route(f"**/api/v1/card-templates/{tp['id']}/wechat-card",
               lambda route: route.fulfill(status=409, content_type="application/problem+json",
                                           body=json.dumps({"status": 409,
                                                            "code": "wechat_not_configured"}))
               if route.request.method == "POST" else route.continue_(), times=1)
    page.click("#wc-create")
    expect(page.locator("#wc-error")).to_have_text(
        "Set the WeChat official account\u2019s AppID and AppSecret in Settings first")
    demo_server.api("PUT", "/wechat-config", demo_server.operator_token, json={
        "app_id": "wx0123456789abcdef", "app_secret": "demo-app-secret"})
    page.click("#wc-create")
    # Sandbox mode: WeChat's review passes at once.
    expect(page.locator("#wc-status")).to_have_attribute("data-status", "approved")
    expect(page.locator("#wc-status")).to_contain_text("Approved")
    card = demo_server.api("GET", f"/card-templates/{tp['id']}/wechat-card",
                           demo_server.operator_token)
    assert (card["logo_url"], card["brand_name"], card["color"], card["notice"],
            card["description"]) == ("http://mmbiz.qpic.cn/mmbiz/logo/0", "丝域养发", "Color090",
                                     "Show member code", "出示会员码给店员扫码")
    expect(page.locator("#wc-card-id")).to_have_text(card["wechat_card_id"])
    expect(page.locator("[data-sync=in_bag] .value")).to_have_text("0")
    expect(page.locator("#wc-no-failures")).to_be_visible()
    assert_accessible(page, "WeChat card approved (en)")

    # A second creation is refused (409 conflict): a form drawn before the first one was
    # made (its GET answered 404 here) says so and shows the card that exists.
    gets: list[str] = []

    def stale_first(route: Any) -> None:
        if route.request.method == "GET" and not gets:
            gets.append(route.request.url)
            route.fulfill(status=404, content_type="application/problem+json",
                          body=json.dumps({"status": 404, "code": "not_found"}))
        else:
            route.continue_()

    other = context.new_page()
    other.route(f"**/api/v1/card-templates/{tp['id']}/wechat-card", stale_first)
    other.goto(f"{demo_server.base_url}/admin/#templates/{tp['id']}/wechat")  # signed in
    other.fill("#wc-logo", "http://mmbiz.qpic.cn/mmbiz/other/0")
    other.fill("#wc-brand", "别的名字")
    other.click("#wc-create")
    expect(other.locator("#toast")).to_have_text(
        "This template\u2019s WeChat card is already being created or exists: shown again")
    expect(other.locator("#wc-status")).to_have_attribute("data-status", "approved")
    again = demo_server.api("GET", f"/card-templates/{tp['id']}/wechat-card",
                            demo_server.operator_token)
    assert again["brand_name"] == "丝域养发"


def test_the_review_and_the_sync_health_are_said(demo_server: Demo, context: Any) -> None:
    # The chain's WeChat app, whatever the tests before left (the demo server is shared).
    demo_server.api("PUT", "/wechat-config", demo_server.operator_token, json={
        "app_id": "wx0123456789abcdef", "app_secret": "demo-app-secret"})
    tp = _new_template(demo_server)
    demo_server.api("POST", f"/card-templates/{tp['id']}/wechat-card", demo_server.operator_token,
                    json={"logo_url": "http://mmbiz.qpic.cn/mmbiz/logo/0",
                          "brand_name": "丝域养发", "color": "Color090"})
    # What sandbox mode cannot make (WeChat's review is real elsewhere, the sync needs
    # members' bags): the server's answer, with the review and the sync replaced.
    state: dict[str, Any] = {"status": "rejected", "reject_reason": "logo 不清晰",
                             "reviewed_at": "2026-12-07T05:10:00Z"}

    def answer(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=json.dumps({**response.json(), **state}))

    page = context.new_page()
    page.route(f"**/api/v1/card-templates/{tp['id']}/wechat-card", answer)
    _open_wechat_card(page, demo_server, tp)
    expect(page.locator("#wc-reason")).to_have_text("Reason: logo 不清晰")
    expect(page.locator("#wc-status")).to_contain_text("Rejected by WeChat")
    assert_accessible(page, "WeChat card rejected (en)")

    state.update(status="approved", reject_reason=None, sync=SYNC)
    page.click("#wc-reload")
    expect(page.locator("#wc-status")).to_contain_text("Approved")
    for key, value in (("in_bag", "12"), ("removed", "3"), ("pending", "2"), ("failing", "1")):
        expect(page.locator(f"[data-sync={key}] .value")).to_have_text(value)
    rows = page.locator("#wc-sync tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Update points and balance")
    expect(rows.nth(0)).to_contain_text("40056")
    expect(rows.nth(0)).to_contain_text("Failed (not retried")
    expect(rows.nth(1)).to_contain_text("Activate")
    expect(rows.nth(1)).to_contain_text("Will retry")
    assert_accessible(page, "WeChat card status and sync (en)")
    screenshot(page, "admin-wechat-card")

    set_lang(page, "zh")
    expect(page.locator("#wc-status")).to_contain_text("审核通过")
    expect(page.locator("#wc-sync tbody tr").nth(1)).to_contain_text("稍后重试")
    assert_accessible(page, "WeChat card status and sync (zh)")

    # A creation that failed offers the form again, with what was sent; a status the page
    # has no words for yet is said as it comes.
    state.update(status="failed")
    page.click("#wc-reload")
    expect(page.locator("#wc-status")).to_contain_text("创建失败")
    expect(page.locator("#wc-brand")).to_have_value("丝域养发")
    expect(page.locator("#wc-color")).to_have_value("Color090")
    assert_accessible(page, "WeChat card failed, form again (zh)")
    state.update(status="suspended")
    page.click("#wc-reload")
    expect(page.locator("#wc-status")).to_contain_text("状态：suspended")  # noqa: RUF001


def test_a_manager_sees_no_wechat_card_action(demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server, "demo-manager")
    page.click("[data-nav=templates]")
    page.wait_for_selector("tr[data-template]")
    expect(page.locator("[data-wechat-card]")).to_have_count(0)


def test_the_official_account_form_takes_the_message_server_and_the_card_bag(
        demo_server: Demo, context: Any) -> None:
    puts: list[dict[str, Any]] = []
    page = context.new_page()
    page.on("request", lambda r: puts.append(json.loads(r.post_data or "{}"))
            if r.method == "PUT" and r.url.endswith("/wechat-config") else None)
    open_dashboard(page, demo_server)
    page.click("[data-nav=settings]")
    expect(page.locator("#wechat-config")).to_be_visible()
    expect(page.locator("#wx-callback")).to_have_value(
        f"{demo_server.base_url}/api/v1/wechat/callback/{demo_server.chain_id}")
    assert_accessible(page, "settings with the official account (en)")

    # The card bag needs the message server; a short key is refused before sending.
    page.fill("#wx-app-id", "wx0123456789abcdef")
    page.fill("#wx-secret", "s3cret-s3cret")
    page.fill("#wx-token", "")
    page.check("#wx-card-bag")
    page.fill("#wx-aes", "tooShort")
    page.click("#wx-save")
    expect(page.locator("#wx-token")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#wx-aes")).to_have_attribute("aria-invalid", "true")
    assert puts == []

    page.fill("#wx-token", "o2oToken2026")
    page.click("#wx-aes-make")
    key = page.input_value("#wx-aes")
    assert len(key) == 43 and key.isalnum()
    page.click("#wx-save")
    expect(page.locator("#wx-state")).to_have_attribute("data-configured", "true")
    assert puts[0]["server_token"] == "o2oToken2026" and puts[0]["encoding_aes_key"] == key
    saved = demo_server.api("GET", "/wechat-config", demo_server.operator_token)
    assert (saved["app_id"], saved["server_token_set"], saved["encoding_aes_key_set"],
            saved["card_bag"]) == ("wx0123456789abcdef", True, True, True)
    # The secrets never come back: blank fields saying they are saved, and that a save
    # replaces the whole configuration.
    expect(page.locator("#wx-secret")).to_have_value("")
    expect(page.locator("#wx-token")).to_have_value("")
    expect(page.locator("#wx-token")).to_have_attribute("placeholder", "Saved (hidden)")
    expect(page.locator("#wx-aes")).to_have_attribute("placeholder", "Saved (hidden)")
    expect(page.locator("#wx-card-bag")).to_be_checked()
    expect(page.locator("#wx-replaces")).to_be_visible()
    assert_accessible(page, "settings, official account configured (en)")
    set_lang(page, "zh")
    expect(page.locator("#wx-replaces")).to_contain_text("每次保存都会替换整套配置")
    assert_accessible(page, "settings, official account configured (zh)")

    # A key the server refuses (here: not letters and digits, past the page's own check)
    # is marked on its field in the page's words.
    page.fill("#wx-secret", "s3cret-s3cret")
    page.fill("#wx-token", "o2oToken2026")
    page.evaluate("document.getElementById('wx-aes').removeAttribute('pattern')")
    page.fill("#wx-aes", "-" * 43)
    page.click("#wx-save")
    expect(page.locator("#wx-aes")).to_have_attribute("aria-invalid", "true")
    assert len(puts) == 2
