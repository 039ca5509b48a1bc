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
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
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
    assert isinstance(orders, list), orders  # a JSON array, like every /me/ list
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

    # Paid on the second try: the page, told "ok", follows the order until WeChat Pay
    # credits it (here: the sandbox path). The member pays first and the credit comes
    # after, as in WeChat; paying before the click let the live update remove the button.
    page.evaluate("window.__wxAnswer = 'get_brand_wcpay_request:ok'")
    page.click("#wechat-pay")
    demo_server.api("POST", f"/top-up-orders/{placed[0]['id']}/sandbox-pay",
                    demo_server.member_token, json={})
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
    # Sandbox refunds are done at once: the answer says so, with the bonus taken back.
    card_after = demo_server.api("GET", f"/cards/{card['id']}", demo_server.member_token)
    bonus_back = spent["bonus_balance_cents"] - card_after["bonus_balance_cents"]
    expect(page.locator("#toast")).to_have_text(
        f"Refunded ¥50.00 ({yuan(bonus_back)} bonus taken back)")
    expect(page.locator("#refund-form")).to_have_count(0)
    # Sandbox orders are refunded as soon as asked: the list drawn again says so.
    expect(row).to_have_attribute("data-status", "partially_refunded")
    expect(row.locator("[data-field=refunded]")).to_have_text("¥50.00")
    after = demo_server.api("GET", f"/top-up-orders/{order['id']}", demo_server.operator_token)
    assert (after["status"], after["refunded_cents"]) == ("partially_refunded", 5000), after
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
    # amount_cents is what went onto cards: the paid money and the bonus, both shown.
    assert overview["amount_cents"] == overview["paid_cents"] + overview["bonus_cents"]
    assert overview["bonus_cents"] >= 15000
    expect(tile.locator(".value")).to_have_text(yuan(overview["amount_cents"]))
    expect(tile.locator(".label")).to_have_text("Topped up (paid + bonus)")
    expect(tile.locator("[data-parts]")).to_have_text(
        f"{yuan(overview['paid_cents'])} paid + {yuan(overview['bonus_cents'])} bonus")
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
    expect(page.locator("[data-stat=top_ups] [data-parts]")).to_have_text(
        f"其中实付 {yuan(overview['paid_cents'])}\uff0c赠送 {yuan(overview['bonus_cents'])}")
    assert_accessible(page, "overview with liability (zh)")


def test_a_manager_sees_neither_the_online_top_ups_nor_the_liability(
        demo_server: Demo, context: Any) -> None:
    """GET /top-up-orders and GET /stats/liability are the operators': a manager's
    dashboard has neither (no link from a member's card either)."""
    card = prepaid_card_with_options(demo_server)
    paid_order(demo_server, card["id"])
    page = context.new_page()
    open_dashboard(page, demo_server, "demo-manager")
    assert page.locator("#liability").count() == 0
    assert page.locator("[data-nav=topups]").count() == 0
    page.goto(f"{demo_server.base_url}/admin/#topups/card/{card['id']}")
    page.wait_for_selector("#view[data-view=overview] [data-stat=redemptions_count]")
    assert page.locator("#top-up-orders").count() == 0
    page.goto(f"{demo_server.base_url}/admin/#members/{demo_server.member_id}")
    page.wait_for_selector(f"#member-cards [data-ledger='{card['id']}']")
    assert page.locator("a[href^='#topups']").count() == 0
    assert page.locator("#view [role=alert]").count() == 0


def _anomaly(conn: sqlite3.Connection, demo: Demo, kind: str, out_trade_no: str,
             amount_cents: int | None, minutes_ago: int) -> str:
    """A pay_anomaly row as the server records one (no API makes one in sandbox mode)."""
    anomaly_id = str(uuid.uuid4())
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S+00:00")
    conn.execute(
        "INSERT INTO pay_anomaly (id, chain, kind, out_trade_no, transaction_id, amount_cents,"
        " detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (anomaly_id, demo.chain_id, kind, out_trade_no,
         f"42000{uuid.uuid4().int % 10**23:023d}" if out_trade_no else "", amount_cents,
         json.dumps({"note": "e2e"}), at))
    return anomaly_id


def test_the_operator_sees_what_needs_a_person(demo_server: Demo, context: Any) -> None:
    """GET /pay-anomalies on the online top-ups view: each in words (a kind the page does
    not know yet as it comes), its order no, amount and when, newest first."""
    tag = uuid.uuid4().hex[:10].upper()
    with sqlite3.connect(demo_server.db) as conn:
        mismatch = _anomaly(conn, demo_server, "amount_mismatch", f"T{tag}MISMATCH", 9000, 30)
        unknown = _anomaly(conn, demo_server, "unknown_order", f"T{tag}UNKNOWN", 50000, 20)
        abnormal = _anomaly(conn, demo_server, "refund_abnormal", f"T{tag}ABNORMAL", 2000, 10)
        newer = _anomaly(conn, demo_server, "brand_new_kind", "", None, 5)
    answer = demo_server.api("GET", "/pay-anomalies", demo_server.operator_token)
    items = answer["items"] if isinstance(answer, dict) else answer
    assert {mismatch, unknown, abnormal, newer} <= {a["id"] for a in items}

    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=topups]")
    panel = page.locator("#pay-anomalies")
    expect(panel.locator("h2")).to_have_text("Needs a person")
    expect(panel.locator("tbody tr").first).to_have_attribute("data-anomaly", newer)
    row = panel.locator(f"tr[data-anomaly='{mismatch}']")
    expect(row.locator("[data-field=kind]")).to_have_text(
        "Paid another amount than the order (not credited)")
    expect(row.locator("[data-field=out_trade_no]")).to_have_text(f"T{tag}MISMATCH")
    expect(row.locator("[data-field=amount]")).to_have_text("¥90.00")
    expect(row.locator("td").first).not_to_be_empty()
    expect(panel.locator(f"tr[data-anomaly='{unknown}'] [data-field=kind]")).to_have_text(
        "Paid for an order we never placed")
    expect(panel.locator(f"tr[data-anomaly='{abnormal}'] [data-field=kind]")).to_contain_text(
        "Refund abnormal")
    later = panel.locator(f"tr[data-anomaly='{newer}']")
    expect(later.locator("[data-field=kind]")).to_have_text("Something else (brand_new_kind)")
    expect(later.locator("[data-field=out_trade_no]")).to_have_text("—")
    expect(later.locator("[data-field=amount]")).to_have_text("—")
    assert_accessible(page, "needs a person (en)")
    screenshot(page, "admin-pay-anomalies")
    set_lang(page, "zh")
    page.wait_for_selector("#pay-anomalies table")
    expect(page.locator("#pay-anomalies h2")).to_have_text("需要人工处理")
    expect(page.locator(f"tr[data-anomaly='{mismatch}'] [data-field=kind]")).to_have_text(
        "实付金额与订单不符\uff08未到账\uff09")
    assert_accessible(page, "needs a person (zh)")


def test_statuses_the_pages_do_not_know_yet_are_said_sensibly(demo_server: Demo,
                                                              context: Any) -> None:
    """A newer server's order status, an order closed for a mismatched amount, a refund left
    open as abnormal or in a status the page has no words for: said as such, never a bare
    message key, and the member's order page stops following an order that is settled."""
    card = prepaid_card_with_options(demo_server)
    order = paid_order(demo_server, card["id"])
    other = paid_order(demo_server, card["id"], 100000)
    fine = paid_order(demo_server, card["id"])
    elsewhere = paid_order(demo_server, card["id"])
    refund_status = ["abnormal"]

    def orders_list(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        for o in body["items"] if isinstance(body, dict) else body:
            if o["id"] == order["id"]:
                o.update(status="on_hold", refunding_cents=2000)
            if o["id"] == other["id"]:
                o.update(status="closed", anomaly="amount_mismatch")
            if o["id"] == elsewhere["id"]:
                o.update(status="closed", anomaly="refunded_elsewhere")
        route.fulfill(response=response, body=json.dumps(body))

    def refund_answer(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        route.fulfill(status=202, content_type="application/json", body=json.dumps({
            "id": str(uuid.uuid4()), "order_id": fine["id"], "out_refund_no": "R" + "0" * 31,
            "amount_cents": body.get("amount_cents", 1000), "bonus_cents": 0,
            "status": refund_status[0], "reason": body["reason"], "refund_id": None,
            "created_at": datetime.now(UTC).isoformat(), "finished_at": None}))

    page = context.new_page()
    open_dashboard(page, demo_server)
    page.route("**/api/v1/top-up-orders?*", orders_list)
    page.route("**/api/v1/top-up-orders/*/refund", refund_answer)
    page.goto(f"{demo_server.base_url}/admin/#topups/card/{card['id']}")
    held = page.locator(f"tr[data-order='{order['id']}']")
    expect(held.locator(".pill")).to_have_text("Being handled (on_hold)")
    expect(held.locator("[data-field=refunding]")).to_have_text("¥20.00 being refunded")
    closed = page.locator(f"tr[data-order='{other['id']}']")
    expect(closed.locator(".pill")).to_have_text(
        "Closed: paid another amount than the order (not credited)")
    expect(page.locator(f"tr[data-order='{elsewhere['id']}'] .pill")).to_have_text(
        "Closed: Refunded outside this system (not credited)")
    # A paid order's refund answered "abnormal", then a status with no words yet.
    paid_row = page.locator(f"tr[data-order='{fine['id']}'] [data-refund]")
    for status, said in [("abnormal", "Refund asked: Refund abnormal: needs a person"),
                         ("settling_v2", "Refund asked: Status: settling_v2")]:
        refund_status[0] = status
        paid_row.click()
        page.fill("#refund-amount", "10")
        page.fill("#refund-reason", "E2E")
        page.click("#refund-submit")
        expect(page.locator("#toast")).to_have_text(said)
        expect(page.locator("#refund-form")).to_have_count(0)
    assert "refund.status" not in page.inner_text("body")
    assert_accessible(page, "unknown statuses (en)")

    # The member's order page: an order in a status it does not know is settled, in words.
    member = member_page(demo_server, context)

    def one_order(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["status"] = "on_hold"
        route.fulfill(response=response, body=json.dumps(body))

    member.route(f"**/api/v1/top-up-orders/{order['id']}", one_order)
    go(member, f"#order/{order['id']}", "#order-status p")
    expect(member.locator("#order-status")).to_have_attribute("data-status", "on_hold")
    expect(member.locator("#order-status")).to_contain_text("The shop is checking this order")
    expect(member.locator("[data-order] .pill")).to_have_text("Being handled (on_hold)")
    expect(member.locator("#check-again")).to_be_visible()
    assert_accessible(member, "order in an unknown status (en)")


def test_an_amount_no_longer_offered_is_said_and_the_options_drawn_again(
        demo_server: Demo, context: Any) -> None:
    """The server answers 400 validation_error naming amount_cents for an amount the
    template does not offer (here: a stale option the page was shown)."""
    card = prepaid_card_with_options(demo_server)
    page = member_page(demo_server, context)
    stale = [True]

    def with_stale_option(route: Any) -> None:
        response = route.fetch()
        template = response.json()
        if stale[0]:
            template["top_up_options"] = [*template["top_up_options"],
                                          {"amount_cents": 77700, "bonus_cents": 0}]
        route.fulfill(response=response, body=json.dumps(template))

    page.route("**/api/v1/card-templates/*", with_stale_option)
    go(page, f"#topup/{card['id']}", "[data-option='77700']")
    stale[0] = False  # the options as the server has them from now on
    page.click("[data-option='77700']")
    expect(page.locator("#toast")).to_have_text(
        "This amount is no longer offered: choose again from the amounts shown now")
    expect(page.locator("[data-option='77700']")).to_have_count(0)
    expect(page.locator("[data-option='50000']")).to_be_enabled()
    assert card_orders(demo_server, card["id"]) == []


def test_keys_the_server_refuses_are_marked_on_their_fields(demo_server: Demo,
                                                           context: Any) -> None:
    """PUT /wechat-pay-config answers 400 validation_error naming each unusable key (here
    EC keys: PEM text the page cannot tell from an RSA key); the form marks those fields."""
    ec_private = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    ec_public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    before = demo_server.api("GET", "/wechat-pay-config", demo_server.operator_token)
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-nav=settings]")
    page.wait_for_selector("#pay-state")
    page.fill("#pay-mchid", "1900000109")
    page.fill("#pay-appid", "wx8888888888888888")
    page.fill("#pay-serial", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
    page.fill("#pay-key", ec_private)
    page.fill("#pay-apiv3", "B" * 32)
    page.fill("#pay-pub-id", "PUB_KEY_ID_0114232134912410000000000000")
    page.fill("#pay-pub-pem", ec_public)
    page.click("#pay-save")
    expect(page.locator("#pay-key")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#pay-key-error")).to_contain_text("RSA private key")
    expect(page.locator("#pay-pub-pem")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#pay-pub-pem-error")).to_contain_text("RSA public key")
    expect(page.locator("#pay-mchid")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#toast")).to_have_text("2 fields need a change")
    assert_accessible(page, "WeChat Pay keys refused (en)")
    after = demo_server.api("GET", "/wechat-pay-config", demo_server.operator_token)
    assert after == before
