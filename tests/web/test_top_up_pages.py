"""Online top-up (issue 19) in a real browser against a real server in sandbox mode.

The member taps "Pay ¥500.00, get ¥50.00 bonus" on a stored-value card (a double tap places
one order), pays with the sandbox button and sees the card's new balance with its paid and
bonus parts; inside WeChat the page hands the server's pay_params to
WeixinJSBridge.invoke('getBrandWCPayRequest') and says a cancel. The operator saves the
WeChat Pay settings (the secrets never come back), refunds an order (and is told in words
when the refund is more than the order's unspent paid money), creates a template with its
top-up options, and reads the top-ups split into paid and bonus and the prepaid liability.
Every new view passes axe-core in both languages."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.sync_api import expect

from tests.web.conftest import API, Demo, assert_accessible, screenshot, set_lang
from tests.web.test_admin_members import yuan
from tests.web.test_admin_views import open_dashboard
from tests.web.test_member_page import go, member_page

OPTIONS = [{"amount_cents": 50000, "bonus_cents": 5000},
           {"amount_cents": 100000, "bonus_cents": 15000}]

# A stand-in for WeChat's JSAPI bridge: records what the page hands over and answers with
# window.__wxAnswer (ok unless the test says otherwise).
WEIXIN_BRIDGE = """
window.__wxCalls = [];
window.WeixinJSBridge = {
  invoke(name, params, cb) {
    window.__wxCalls.push({ name, params });
    setTimeout(() => cb({ err_msg: window.__wxAnswer || 'get_brand_wcpay_request:ok' }), 50);
  },
};
"""


def keyed(demo: Demo, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A member's POST with an Idempotency-Key."""
    response = httpx.post(demo.base_url + API + path, json=body, timeout=10, headers={
        "Authorization": f"Bearer {demo.member_token}", "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code < 300, f"POST {path}: {response.text}"
    return dict(response.json())


def prepaid_card_with_options(demo: Demo) -> dict[str, Any]:
    """A new stored-value template with top-up options, and the demo member's card of it."""
    template = demo.api("POST", "/card-templates", demo.operator_token, json={
        "name": f"E2E 储值 {uuid.uuid4().hex[:6]}", "kind": "stored_value",
        "top_up_options": OPTIONS, "bonus_policy": "proportional", "claimable": True})
    return keyed(demo, f"/card-templates/{template['id']}/claim", {})


def paid_order(demo: Demo, card_id: str, amount_cents: int = 50000) -> dict[str, Any]:
    """An order placed and paid in sandbox mode through the API (the member's)."""
    order = keyed(demo, f"/cards/{card_id}/top-up-orders", {"amount_cents": amount_cents})
    demo.api("POST", f"/top-up-orders/{order['id']}/sandbox-pay", demo.member_token, json={})
    return dict(demo.api("GET", f"/top-up-orders/{order['id']}", demo.member_token))


def card_orders(demo: Demo, card_id: str) -> list[dict[str, Any]]:
    orders = demo.api("GET", "/me/top-up-orders", demo.member_token)
    orders = orders["items"] if isinstance(orders, dict) else orders
    return [o for o in orders if o["card_id"] == card_id]


def test_member_tops_up_in_sandbox_and_sees_the_new_balance(demo_server: Demo,
                                                             context: Any) -> None:
    card = prepaid_card_with_options(demo_server)
    page = member_page(demo_server, context)
    go(page, f"#card/{card['id']}", "#top-up")
    page.click("#top-up")
    option = page.locator("[data-option='50000']")
    expect(option).to_contain_text("Pay ¥500.00, get ¥50.00 bonus")
    expect(option).to_contain_text("¥550.00 on the card")
    assert_accessible(page, "top-up options (en)")
    screenshot(page, "member-top-up")

    option.dblclick()  # a double tap: one order
    page.wait_for_selector("#sandbox-pay")
    orders = card_orders(demo_server, card["id"])
    assert len(orders) == 1 and orders[0]["status"] == "pending", orders
    expect(page.locator("#order-status")).to_have_attribute("data-status", "pending")
    assert_accessible(page, "order awaiting payment (en)")

    page.click("#sandbox-pay")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "paid", timeout=15_000)
    expect(page.locator("#order-status")).to_contain_text("Topped up")
    # The live stream told of it too, in words.
    expect(page.locator("#live-notice")).to_contain_text(
        "Online top-up credited (with ¥50.00 bonus). Balance ¥550.00")
    result = page.locator("#new-balance")
    expect(result.locator("[data-figure=balance]")).to_have_text("¥550.00")
    expect(result.locator("[data-figure=paid]")).to_have_text("¥500.00")
    expect(result.locator("[data-figure=bonus]")).to_have_text("¥50.00")
    after = demo_server.api("GET", f"/cards/{card['id']}", demo_server.member_token)
    assert (after["balance_cents"], after["paid_balance_cents"],
            after["bonus_balance_cents"]) == (55000, 50000, 5000)
    assert len(card_orders(demo_server, card["id"])) == 1
    screenshot(page, "member-top-up-paid")
    assert_accessible(page, "order paid (en)")

    # The card shows the two parts; the history lists the order.
    go(page, f"#card/{card['id']}", "#card-tile [data-split]")
    expect(page.locator("#card-tile [data-split]")).to_have_text(
        "of which ¥500.00 paid, ¥50.00 bonus")
    expect(page.locator("#ledger [data-kind=top_up_bonus]")).to_contain_text("Top-up bonus")
    page.click("#top-up-orders")
    row = page.locator(f"#orders [data-order='{orders[0]['id']}']")
    expect(row).to_have_attribute("data-status", "paid")
    expect(row).to_contain_text("Paid")
    assert_accessible(page, "top-up orders (en)")

    set_lang(page, "zh")
    page.wait_for_selector("#orders")
    expect(row).to_contain_text("充 ¥500.00 送 ¥50.00")
    expect(row).to_contain_text("已到账")
    assert_accessible(page, "top-up orders (zh)")
    go(page, f"#order/{orders[0]['id']}", "#new-balance")
    expect(page.locator("#order-status")).to_contain_text("充值成功")
    assert_accessible(page, "order paid (zh)")
    go(page, f"#topup/{card['id']}", "[data-option='100000']")
    expect(page.locator("[data-option='100000']")).to_contain_text("充 ¥1,000.00 送 ¥150.00")
    assert_accessible(page, "top-up options (zh)")


def test_inside_wechat_the_page_pays_through_the_bridge(demo_server: Demo,
                                                        context: Any) -> None:
    card = prepaid_card_with_options(demo_server)
    context.add_init_script(WEIXIN_BRIDGE + "window.__wxAnswer = 'get_brand_wcpay_request:cancel';")
    placed: list[dict[str, Any]] = []

    def live_params(route: Any) -> None:
        # What a live server answers: the same order, pay_params signed for the bridge.
        response = route.fetch()
        order = response.json()
        placed.append(order)
        order["pay_params"] = {**order["pay_params"], "signType": "RSA"}
        route.fulfill(response=response, body=json.dumps(order))

    page = member_page(demo_server, context)
    page.route("**/api/v1/cards/*/top-up-orders", live_params)
    go(page, f"#topup/{card['id']}", "[data-option='100000']")
    page.click("[data-option='100000']")
    # Placed, then handed to WeChat at once; the member cancels in WeChat's sheet.
    expect(page.locator("#order-status")).to_contain_text("You cancelled the payment")
    calls = page.evaluate("window.__wxCalls")
    assert len(calls) == 1 and calls[0]["name"] == "getBrandWCPayRequest"
    assert calls[0]["params"] == {**placed[0]["pay_params"], "signType": "RSA"}
    assert not page.locator("#sandbox-pay").count()

    # Paid on the second try: WeChat Pay credits the order (here: the sandbox path) and the
    # page, told "ok", follows the order until it is paid.
    page.evaluate("window.__wxAnswer = 'get_brand_wcpay_request:ok'")
    demo_server.api("POST", f"/top-up-orders/{placed[0]['id']}/sandbox-pay",
                    demo_server.member_token, json={})
    page.click("#wechat-pay")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "paid", timeout=15_000)
    expect(page.locator("#new-balance [data-figure=balance]")).to_have_text("¥1,150.00")
    assert len(page.evaluate("window.__wxCalls")) == 2


def test_outside_wechat_a_live_order_says_to_open_wechat(demo_server: Demo,
                                                         context: Any) -> None:
    card = prepaid_card_with_options(demo_server)

    def live_params(route: Any) -> None:
        response = route.fetch()
        order = response.json()
        order["pay_params"] = {**order["pay_params"], "signType": "RSA"}
        route.fulfill(response=response, body=json.dumps(order))

    page = member_page(demo_server, context)
    page.route("**/api/v1/cards/*/top-up-orders", live_params)
    go(page, f"#topup/{card['id']}", "[data-option='50000']")
    page.click("[data-option='50000']")
    expect(page.locator("#order-status")).to_contain_text("Open this page in WeChat to pay")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "pending")


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_the_wechat_pay_settings_save_and_never_show_the_secrets(demo_server: Demo,
                                                                  context: Any) -> None:
    private_pem, _ = _pem_pair()
    _, platform_pem = _pem_pair()
    apiv3 = "A" * 16 + uuid.uuid4().hex[:16]
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=settings]")
    page.wait_for_selector("#wechat-pay")
    assert_accessible(page, "settings with WeChat Pay (en)")
    page.fill("#pay-mchid", "1900000109")
    page.fill("#pay-appid", "wx8888888888888888")
    page.fill("#pay-serial", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
    page.fill("#pay-key", private_pem)
    page.fill("#pay-apiv3", apiv3[:10])  # too short: said on the field, nothing sent
    page.fill("#pay-pub-id", "PUB_KEY_ID_0114232134912410000000000000")
    page.fill("#pay-pub-pem", platform_pem)
    page.click("#pay-save")
    expect(page.locator("#pay-apiv3")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#pay-apiv3-error")).to_contain_text("at least 32 characters")
    page.fill("#pay-apiv3", apiv3)
    page.click("#pay-save")
    expect(page.locator("#toast")).to_have_text("WeChat Pay settings saved")
    expect(page.locator("#pay-state")).to_have_attribute("data-configured", "true")
    expect(page.locator("#pay-mchid")).to_have_value("1900000109")
    expect(page.locator("#pay-key")).to_have_value("")
    expect(page.locator("#pay-apiv3")).to_have_value("")
    page.reload()
    page.wait_for_selector("#pay-state[data-configured=true]")
    html = page.content()
    assert apiv3 not in html and "PRIVATE KEY" not in html
    stored = demo_server.api("GET", "/wechat-pay-config", demo_server.operator_token)
    assert stored["configured"] is True and stored["mchid"] == "1900000109"
    assert apiv3 not in json.dumps(stored) and "PRIVATE" not in json.dumps(stored)
    page.evaluate("document.getElementById('pay-h').scrollIntoView()")
    page.evaluate("window.scrollBy(0, -70)")
    screenshot(page, "admin-wechat-pay")
    set_lang(page, "zh")
    page.wait_for_selector("#pay-state[data-configured=true]")
    expect(page.locator("#pay-state")).to_contain_text("已配置")
    assert_accessible(page, "settings with WeChat Pay (zh)")


def test_the_operator_refunds_an_order_and_is_told_when_it_is_too_much(
        demo_server: Demo, context: Any) -> None:
    card = prepaid_card_with_options(demo_server)
    order = paid_order(demo_server, card["id"])
    assert order["status"] == "paid"
    # ¥450 spent at the till: proportionally ¥409.09 of it paid money, so ¥90.91 of the
    # order's paid money is left unspent.
    code = demo_server.api("GET", f"/cards/{card['id']}/code", demo_server.member_token)
    demo_server.api("POST", "/redemptions", demo_server.clerk_token, json={
        "code": code["code"], "store_id": demo_server.store_id, "action": "charge",
        "amount_cents": 45000})
    spent = demo_server.api("GET", f"/cards/{card['id']}", demo_server.member_token)
    unspent = spent["paid_balance_cents"]
    assert 0 < unspent < 10000, spent

    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=topups]")
    page.wait_for_selector("#top-up-orders")
    page.fill("#to-card", card["id"])
    page.click("#to-show")
    row = page.locator(f"tr[data-order='{order['id']}']")
    expect(row).to_have_attribute("data-status", "paid")
    expect(row).to_contain_text("¥500.00")
    assert_accessible(page, "top-up orders (en)")
    row.locator("[data-refund]").click()
    page.fill("#refund-amount", "100")
    page.fill("#refund-reason", "Moving away")
    page.click("#refund-submit")
    expect(page.locator("#refund-error")).to_have_text(
        f"More than can be refunded: at most {yuan(unspent)} of this top-up can go back now.")
    expect(page.locator("#refund-amount")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "admin-top-up-refund")
    assert_accessible(page, "refund refused (en)")

    page.fill("#refund-amount", yuan(5000).lstrip("¥"))
    page.click("#refund-submit")
    expect(page.locator("#toast")).to_contain_text("Refund asked")
    expect(page.locator("#refund-form")).to_have_count(0)
    # Sandbox orders are refunded as soon as asked: the list drawn again says so.
    expect(row).to_have_attribute("data-status", "partially_refunded")
    expect(row.locator("[data-field=refunded]")).to_have_text("¥50.00")
    after = demo_server.api("GET", f"/top-up-orders/{order['id']}", demo_server.operator_token)
    assert (after["status"], after["refunded_cents"]) == ("partially_refunded", 5000), after
    card_after = demo_server.api("GET", f"/cards/{card['id']}", demo_server.member_token)
    assert card_after["paid_balance_cents"] == unspent - 5000

    set_lang(page, "zh")
    page.wait_for_selector("#top-up-orders table")
    assert_accessible(page, "top-up orders (zh)")


def test_a_template_takes_top_up_options_and_a_bonus_policy(demo_server: Demo,
                                                             context: Any) -> None:
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=templates]")
    page.wait_for_selector("#t-options")
    name = f"E2E 充送 {uuid.uuid4().hex[:4]}"
    page.fill("#t-name", name)
    page.select_option("#t-kind", "stored_value")
    page.fill("#t-options", "300:20\n300:30")  # the same amount twice
    page.click("form:has(#t-options) button[type=submit]")
    expect(page.locator("#t-options")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#t-options-error")).to_contain_text("all different")
    page.fill("#t-options", "300:20\n800:100")
    page.select_option("#t-policy", "paid_first")
    page.click("form:has(#t-options) button[type=submit]")
    row = page.locator("tr[data-template]", has_text=name)
    expect(row.locator("[data-field=top-up-options]")).to_have_text(
        "Pay ¥300.00, get ¥20.00 bonus; Pay ¥800.00, get ¥100.00 bonus")
    expect(row).to_contain_text("Paid money first")
    templates = demo_server.api("GET", "/card-templates", demo_server.operator_token)
    made = next(t for t in templates if t["name"] == name)
    assert made["top_up_options"] == [{"amount_cents": 30000, "bonus_cents": 2000},
                                      {"amount_cents": 80000, "bonus_cents": 10000}]
    assert made["bonus_policy"] == "paid_first"
    assert_accessible(page, "templates with top-up options (en)")


def test_the_overview_splits_top_ups_and_shows_the_liability(demo_server: Demo,
                                                             context: Any) -> None:
    card = prepaid_card_with_options(demo_server)
    paid_order(demo_server, card["id"], 100000)
    page = context.new_page()
    open_dashboard(page, demo_server)
    tile = page.locator("[data-stat=top_ups]")
    overview = demo_server.api("GET", "/stats/overview", demo_server.operator_token, params={
        "from": page.input_value("#from"), "to": page.input_value("#to")})["top_ups"]
    expect(tile.locator(".value")).to_have_text(yuan(overview["paid_cents"]))
    expect(tile).to_contain_text(f"plus {yuan(overview['bonus_cents'])} bonus")
    liability = page.locator("#liability")
    today = page.input_value("#liability-date")
    expected = demo_server.api("GET", "/stats/liability", demo_server.operator_token,
                               params={"date": today})

    def figure(key: str) -> Any:
        return liability.locator(f"[data-liability={key}] .value")

    expect(figure("paid")).to_have_text(yuan(expected["paid_cents"]))
    expect(figure("bonus")).to_have_text(yuan(expected["bonus_cents"]))
    expect(figure("total")).to_have_text(
        yuan(expected["paid_cents"] + expected["bonus_cents"]))
    assert expected["bonus_cents"] >= 15000
    page.evaluate("document.querySelector('[data-stat=redemptions_count]').scrollIntoView()")
    page.evaluate("window.scrollBy(0, -70)")
    screenshot(page, "admin-liability")

    # A day before the demo's history: less (or nothing) on cards.
    before = (date.fromisoformat(today) - timedelta(days=60)).isoformat()
    earlier = demo_server.api("GET", "/stats/liability", demo_server.operator_token,
                              params={"date": before})
    page.fill("#liability-date", before)
    page.click("#liability-show")
    expect(figure("paid")).to_have_text(yuan(earlier["paid_cents"]))
    assert_accessible(page, "overview with liability (en)")
    set_lang(page, "zh")
    page.wait_for_selector("#liability [data-liability=paid]")
    expect(page.locator("[data-stat=top_ups]")).to_contain_text("另赠送")
    assert_accessible(page, "overview with liability (zh)")


def test_a_manager_reads_the_orders_but_neither_refunds_nor_sees_the_liability(
        demo_server: Demo, context: Any) -> None:
    card = prepaid_card_with_options(demo_server)
    order = paid_order(demo_server, card["id"])
    page = context.new_page()
    open_dashboard(page, demo_server, "demo-manager")
    assert page.locator("#liability").count() == 0  # the chain's figure: operators only
    page.click("[data-nav=topups]")
    row = page.locator(f"tr[data-order='{order['id']}']")
    expect(row).to_have_attribute("data-status", "paid")
    assert row.locator("[data-refund]").count() == 0
    expect(page.locator("#top-up-orders")).to_contain_text("Only operators can refund.")
