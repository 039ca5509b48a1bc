"""The operator's side of WeChat's card bag (issue 21) in a real browser.

On a card template's row, "WeChat card": without one (GET .../wechat-card answers 404) a
form that creates it in WeChat (logo, brand name, one of WeChat's named colours, notice,
description: checked in the page's words before sending), then its review status (waiting,
approved, rejected with WeChat's reason) and the sync's health (cards in bags, removed,
waiting, failing, the last sync, the recent failures in words). In Settings, the official
account's form takes the message server's Token and EncodingAESKey and the card bag switch,
and shows the callback URL to paste into WeChat's console. axe-clean in zh and en."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Demo, assert_accessible, screenshot, set_lang
from tests.web.test_admin_views import open_dashboard


def _template(demo: Demo, kind: str = "stored_value") -> dict[str, Any]:
    templates = demo.api("GET", "/card-templates", demo.operator_token)
    return dict(next(tp for tp in templates if tp["kind"] == kind))


SYNC = {"in_bag": 12, "removed": 3, "pending": 2, "failing": 1,
        "last_synced_at": "2026-12-07T04:58:00Z",
        "recent_failures": [
            {"card_id": "6c1f0a5e-0000-4000-8000-000000000001", "action": "updateuser", "seq": 7,
             "errcode": 40056, "note": "invalid serial code", "at": "2026-12-07T04:50:00Z",
             "outcome": "failed"},
            {"card_id": "6c1f0a5e-0000-4000-8000-000000000002", "action": "activate", "seq": None,
             "errcode": -1, "note": "system busy", "at": "2026-12-07T04:49:00Z",
             "outcome": "retry"}]}


class FakeWechatCard:
    """GET/POST /card-templates/{id}/wechat-card answered by the test (until served)."""

    def __init__(self, template_id: str) -> None:
        self.template_id = template_id
        self.card: dict[str, Any] | None = None
        self.posted: list[dict[str, Any]] = []

    def handle(self, route: Any) -> None:
        request = route.request
        if request.method == "POST":
            body = json.loads(request.post_data or "{}")
            self.posted.append(body)
            self.card = {"template_id": self.template_id, "wechat_card_id": "pWx0123456789",
                         "status": "pending", "reject_reason": None, **body,
                         "created_at": "2026-12-07T05:00:00Z", "reviewed_at": None,
                         "sync": {"in_bag": 0, "removed": 0, "pending": 0, "failing": 0,
                                  "last_synced_at": None, "recent_failures": []}}
            route.fulfill(status=201, content_type="application/json", body=json.dumps(
                {k: self.card[k] for k in ("template_id", "wechat_card_id", "status")}))
            return
        if self.card is None:
            route.fulfill(status=404, content_type="application/problem+json",
                          body=json.dumps({"status": 404, "code": "not_found"}))
            return
        route.fulfill(status=200, content_type="application/json", body=json.dumps(self.card))


def test_the_operator_creates_a_templates_wechat_card_and_follows_it(demo_server: Demo,
                                                                     context: Any) -> None:
    tp = _template(demo_server)
    fake = FakeWechatCard(tp["id"])
    page = context.new_page()
    page.route(f"**/api/v1/card-templates/{tp['id']}/wechat-card", fake.handle)
    open_dashboard(page, demo_server)
    page.click("[data-nav=templates]")
    page.click(f"[data-wechat-card='{tp['id']}']")
    form = page.locator("#wechat-card-form")
    expect(form).to_be_visible()
    expect(page.locator("#wc-title")).to_have_text(f"WeChat card: {tp['name']}")
    assert_accessible(page, "WeChat card form (en)")

    # Checked before sending, in the page's words.
    page.fill("#wc-logo", "mmbiz.qpic.cn/logo.png")
    page.click("#wc-create")
    expect(page.locator("#wc-logo")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#wc-brand")).to_have_attribute("aria-invalid", "true")
    assert fake.posted == []

    page.fill("#wc-logo", "https://mmbiz.qpic.cn/mmbiz/logo.png")
    page.fill("#wc-brand", "丝域养发")
    page.select_option("#wc-color", "Color090")
    expect(page.locator("#wc-swatch")).to_have_class("swatch big wx-Color090")
    page.fill("#wc-description", "出示会员码给店员扫码")
    page.click("#wc-create")
    expect(page.locator("#wc-status")).to_have_attribute("data-status", "pending")
    expect(page.locator("#wc-status")).to_contain_text("Waiting for WeChat\u2019s review")
    assert fake.posted == [{"logo_url": "https://mmbiz.qpic.cn/mmbiz/logo.png",
                            "brand_name": "丝域养发", "color": "Color090",
                            "notice": "Show the member code to the clerk",
                            "description": "出示会员码给店员扫码"}]
    expect(page.locator("#wc-card-id")).to_have_text("pWx0123456789")
    expect(page.locator("#wc-no-failures")).to_be_visible()

    # Rejected by WeChat: the reason is said.
    assert fake.card is not None
    fake.card.update(status="rejected", reject_reason="logo 不清晰",
                     reviewed_at="2026-12-07T05:10:00Z")
    page.click("#wc-reload")
    expect(page.locator("#wc-reason")).to_have_text("Reason: logo 不清晰")
    expect(page.locator("#wc-status")).to_contain_text("Rejected by WeChat")

    # Approved, with cards in bags and a failure or two.
    fake.card.update(status="approved", reject_reason=None, sync=SYNC)
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

    # A creation that failed offers the form again, with what was sent.
    fake.card.update(status="failed")
    page.click("#wc-reload")
    expect(page.locator("#wc-status")).to_contain_text("创建失败")
    expect(page.locator("#wc-brand")).to_have_value("丝域养发")
    expect(page.locator("#wc-color")).to_have_value("Color090")
    assert_accessible(page, "WeChat card failed, form again (zh)")


def test_a_manager_sees_no_wechat_card_action(demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server, "demo-manager")
    page.click("[data-nav=templates]")
    page.wait_for_selector("tr[data-template]")
    expect(page.locator("[data-wechat-card]")).to_have_count(0)


def test_the_official_account_form_takes_the_message_server_and_the_card_bag(
        demo_server: Demo, context: Any) -> None:
    puts: list[dict[str, Any]] = []
    saved: dict[str, Any] = {}

    def config(route: Any) -> None:
        request = route.request
        if request.method == "PUT":
            body = json.loads(request.post_data or "{}")
            puts.append(body)
            saved.update(chain_id=demo_server.chain_id, app_id=body["app_id"],
                         templates=body.get("templates", {}), app_secret_set=True,
                         updated_at="2026-12-07T05:00:00Z",
                         server_token_set=bool(body.get("server_token")),
                         encoding_aes_key_set=bool(body.get("encoding_aes_key")),
                         card_bag=body.get("card_bag", False))
            route.fulfill(status=200, content_type="application/json", body=json.dumps(saved))
        elif saved:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(saved))
        else:
            route.fulfill(status=404, content_type="application/problem+json",
                          body=json.dumps({"status": 404, "code": "not_found"}))

    page = context.new_page()
    page.route("**/api/v1/wechat-config", config)
    open_dashboard(page, demo_server)
    page.click("[data-nav=settings]")
    form = page.locator("#wechat-config")
    expect(form).to_be_visible()
    expect(page.locator("#wx-state")).to_have_attribute("data-configured", "false")
    expect(page.locator("#wx-callback")).to_have_value(
        f"{demo_server.base_url}/api/v1/wechat/callback/{demo_server.chain_id}")
    assert_accessible(page, "settings with the official account (en)")

    # The card bag needs the message server; a short key is refused before sending.
    page.fill("#wx-app-id", "wx0123456789abcdef")
    page.fill("#wx-secret", "s3cret-s3cret")
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
    assert puts == [{"app_id": "wx0123456789abcdef", "app_secret": "s3cret-s3cret",
                     "templates": {}, "server_token": "o2oToken2026", "encoding_aes_key": key,
                     "card_bag": True}]
    # The secrets never come back: blank fields saying they are saved, and that a save
    # replaces the whole configuration.
    expect(page.locator("#wx-secret")).to_have_value("")
    expect(page.locator("#wx-token")).to_have_attribute("placeholder", "Saved (hidden)")
    expect(page.locator("#wx-aes")).to_have_attribute("placeholder", "Saved (hidden)")
    expect(page.locator("#wx-card-bag")).to_be_checked()
    expect(page.locator("#wx-replaces")).to_be_visible()
    assert_accessible(page, "settings, official account configured (en)")
    set_lang(page, "zh")
    expect(page.locator("#wx-replaces")).to_contain_text("每次保存都会替换整套配置")
    assert_accessible(page, "settings, official account configured (zh)")
