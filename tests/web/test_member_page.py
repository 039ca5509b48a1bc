"""The member's H5 page in a real browser: the card QR on screen decodes to a live code, the
digits to read out under it, live updates pushed after a charge, voucher terms, claim
limits, store info, the card's history naming the store, the inbox in the chain's language,
every view accessible in both languages."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Demo, assert_accessible, screenshot, set_lang, wait_until

ZBARIMG = shutil.which("zbarimg")


def decode(png: Path) -> str:
    result = subprocess.run([ZBARIMG or "zbarimg", "--raw", "-q", str(png)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"zbarimg found no QR code: {result.stderr}"
    return result.stdout.strip()


def member_page(demo: Demo, context: Any, lang: str | None = None) -> Any:
    """A page logged in as the demo member (王芳), on the cards view."""
    page = context.new_page()
    page.goto(f"{demo.base_url}/m/?chain={demo.chain_id}")
    if lang:
        set_lang(page, lang)
    page.fill("#code", "sandbox:demo-member-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-card]")
    return page


def go(page: Any, hash_: str, selector: str) -> None:
    page.evaluate(f"location.hash = '{hash_}'")
    page.wait_for_selector(selector)


def prepaid_card(demo: Demo) -> dict[str, Any]:
    cards = demo.api("GET", "/me/cards", demo.member_token)
    return next(c for c in cards if c["kind"] == "stored_value")


@pytest.mark.skipif(ZBARIMG is None, reason="zbarimg is not installed (apt-get install zbar-tools)")
def test_member_logs_in_and_shows_a_card_qr_that_decodes_and_redeems(
        demo_server: Demo, context: Any, tmp_path: Path) -> None:
    page = member_page(demo_server, context)
    screenshot(page, "member-cards")
    card_id = page.get_attribute("[data-card] >> nth=0", "data-card")
    page.click("[data-card] >> nth=0")
    canvas = page.wait_for_selector("#card-qr canvas")
    assert "Refreshes in" in page.inner_text("#countdown")
    screenshot(page, "member-card-qr")

    shot = tmp_path / "qr.png"
    canvas.screenshot(path=str(shot))
    code = decode(shot)
    assert code.startswith("O2O1") and len(code) == 148

    # What the clerk's scanner would read: this member's card, and it redeems.
    preview = demo_server.api("GET", "/redemptions/preview", demo_server.clerk_token,
                              params={"code": code, "store_id": demo_server.store_id})
    assert preview["kind"] == "card" and preview["object_id"] == card_id
    earned = demo_server.api("POST", "/redemptions", demo_server.clerk_token, json={
        "code": code, "store_id": demo_server.store_id, "action": "earn",
        "amount_cents": 5000})
    assert earned["object_id"] == card_id


def test_member_sees_voucher_qr_short_code_and_terms(demo_server: Demo, context: Any,
                                                     campaign_id: str) -> None:
    voucher = demo_server.fresh_voucher(campaign_id)
    page = member_page(demo_server, context)
    go(page, f"#voucher/{voucher['id']}", "#voucher-qr canvas")
    assert page.get_attribute("#voucher-qr canvas", "data-code") == voucher["code"]
    assert page.inner_text("#short-code").replace(" ", "") == voucher["short_code"]
    assert page.inner_text("[data-term=value]") == "¥10.00 off"
    assert page.inner_text("[data-term=min-spend]") == "No minimum spend"
    assert page.inner_text("[data-term=stores]") == "Every store"
    assert page.inner_text("[data-term=days]") == "Every day"
    screenshot(page, "member-voucher")

    page.click("header .lang")  # the language switch
    page.wait_for_selector("header .title:has-text('会员中心')")
    assert page.inner_text("[data-tab=vouchers]") == "优惠券"
    assert page.inner_text("[data-term=value]") == "立减 ¥10.00"


def test_voucher_terms_name_stores_days_hours_and_a_campaign_at_its_limit_says_so(
        demo_server: Demo, context: Any) -> None:
    stores = demo_server.api("GET", "/stores", demo_server.operator_token)
    jingan = next(s for s in stores if s["id"] == demo_server.store_id)
    campaign = demo_server.api("POST", "/campaigns", demo_server.operator_token, json={
        "name": "E2E 午间 Lunch", "kind": "discount", "percent_off": 20,
        "max_discount_cents": 5000, "min_spend_cents": 10000, "total_quantity": 100,
        "per_member_limit": 1, "store_ids": [jingan["id"]], "weekdays": [0, 1, 2, 3, 4],
        "time_from": "10:00", "time_until": "14:00",
        "valid_from": "2020-01-01T00:00:00+08:00", "valid_until": "2099-01-01T00:00:00+08:00"})
    page = member_page(demo_server, context, "zh")
    go(page, "#vouchers", f"[data-campaign='{campaign['id']}'] [data-claim]")
    page.click(f"[data-campaign='{campaign['id']}'] [data-claim]")
    page.wait_for_selector("#voucher-qr canvas")
    assert page.inner_text("[data-term=value]") == "8 折\uff0c最多减 ¥50.00"
    assert page.inner_text("[data-term=min-spend]") == "满 ¥100.00 可用"
    assert page.inner_text("[data-term=stores]") == jingan["name"]
    assert page.inner_text("[data-term=days]") == "周一至周五"
    assert page.inner_text("[data-term=hours]") == "10:00\u201314:00"
    assert "2099" in page.inner_text("[data-term=until]")
    # At its per-member limit: the campaign says so instead of offering a claim.
    go(page, "#vouchers", f"[data-campaign='{campaign['id']}'] [data-cannot-claim]")
    row = page.locator(f"[data-campaign='{campaign['id']}']")
    assert row.locator("[data-claim]").count() == 0
    assert "已达每人上限" in row.inner_text()
    screenshot(page, "member-vouchers")


def test_the_chinese_page_shows_no_server_english(demo_server: Demo, context: Any) -> None:
    """Wrong 3: inbox messages in the chain's language (zh-CN), voucher terms from their
    fields, errors in the page's words (never the server's detail)."""
    deadline = time.monotonic() + 10  # the demo's messages come through the outbox
    while not demo_server.api("GET", "/me/inbox", demo_server.member_token):
        assert time.monotonic() < deadline, "the demo member's inbox stays empty"
        time.sleep(0.1)
    page = member_page(demo_server, context, "zh")
    go(page, "#inbox", "#inbox [data-message]")
    inbox = page.inner_text("#inbox")
    for english in ("is confirmed", "minimum spend", " at ", "Your "):
        assert english not in inbox, inbox
    assert "已确认" in inbox or "预约" in inbox
    go(page, "#vouchers", "[data-voucher]")
    text = page.inner_text("#view")
    assert "minimum spend" not in text and "满 ¥100.00 可用" in text  # the Welcome voucher
    go(page, "#me", "#me-phone")
    page.fill("#me-phone", "12")  # the server answers 400 with an English detail
    page.click("#view button[type=submit]")
    page.wait_for_selector("#me-error:not(:empty)")
    assert page.inner_text("#me-error") == "手机号格式不对\uff1a请填 11 位手机号"


def test_card_history_names_the_store(demo_server: Demo, context: Any) -> None:
    card = prepaid_card(demo_server)
    page = member_page(demo_server, context, "zh")
    go(page, f"#card/{card['id']}", "#ledger [data-store-name]")
    stores = {s["id"]: s["name"] for s in demo_server.api("GET", "/stores",
                                                           demo_server.member_token)}
    assert stores[demo_server.store_id] in page.inner_text("#ledger")


def test_store_info_address_hours_phone_and_map(demo_server: Demo, context: Any) -> None:
    store = demo_server.api("GET", f"/stores/{demo_server.store_id}", demo_server.member_token)
    page = member_page(demo_server, context)
    page.click("[data-tab=stores]")
    page.click(f"[data-store-info='{store['id']}'] h2 a")
    page.wait_for_selector("table.hours")
    assert page.inner_text("h1") == store["name"]
    assert page.inner_text("[data-address]") == store["address"]
    assert page.get_attribute("[data-phone]", "href") == f"tel:{store['phone']}"
    href = page.get_attribute("[data-map]", "href")
    assert href.startswith("https://uri.amap.com/search?keyword=") and "%E4%B8%8A" in href
    assert page.inner_text("table.hours").count("10:00\u201321:00") == 7
    screenshot(page, "member-store")
    page.click("[data-book-here]")
    page.wait_for_selector(f"[data-store='{store['id']}'].on")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_charge_at_the_till_shows_at_once_without_reload(demo_server: Demo, context: Any,
                                                           lang: str) -> None:
    """Pushed by Server-Sent Events: the balance, a fresh QR and a notice naming the store."""
    card = prepaid_card(demo_server)
    page = member_page(demo_server, context, lang)
    go(page, f"#card/{card['id']}", "#card-qr canvas")
    wait_until(page, "document.documentElement.dataset.live === 'on'")
    shown = page.get_attribute("#card-qr canvas", "data-code")
    page.evaluate("window.__notReloaded = true")
    code = demo_server.api("GET", f"/cards/{card['id']}/code", demo_server.member_token)
    charged = demo_server.api("POST", "/redemptions", demo_server.clerk_token, json={
        "code": code["code"], "store_id": demo_server.store_id, "action": "charge",
        "amount_cents": 8800})
    balance = charged["balance_after_cents"]
    store = demo_server.api("GET", f"/stores/{demo_server.store_id}", demo_server.member_token)
    page.wait_for_selector("[data-notice]")
    notice = page.inner_text("[data-notice]")
    assert (f"在{store['name']}消费 ¥88.00" if lang == "zh"
            else f"¥88.00 charged at {store['name']}") in notice
    expected = f"¥{balance // 100:,}.{balance % 100:02d}"
    wait_until(page, "document.querySelector('[data-figure=balance]').textContent"
                     f" === '{expected}'")
    wait_until(page, f"document.querySelector('#card-qr canvas').dataset.code !== '{shown}'")
    assert page.evaluate("window.__notReloaded === true")
    if lang == "zh":
        screenshot(page, "member-live-update")


def test_a_card_number_to_read_out_under_the_qr(demo_server: Demo, context: Any) -> None:
    card = prepaid_card(demo_server)
    page = member_page(demo_server, context)
    go(page, f"#card/{card['id']}", "#card-qr canvas")
    page.wait_for_selector("#card-short")
    digits = page.inner_text("#card-short")
    assert re.fullmatch(r"9\d{3} \d{4} \d{4}", digits), digits
    code = page.get_attribute("#card-qr canvas", "data-code")
    # Typed at the till, the digits are this card's code: the QR is spent with them.
    preview = demo_server.api("POST", "/redemptions/preview", demo_server.clerk_token, json={
        "short_code": digits.replace(" ", ""), "store_id": demo_server.store_id})
    assert preview["object_id"] == card["id"]
    assert code  # and the QR beside it is the same live code


def test_a_reschedule_notice_names_the_old_and_new_time(demo_server: Demo,
                                                        context: Any) -> None:
    stores = demo_server.api("GET", "/stores", demo_server.member_token)
    store = next(s for s in stores if s["id"] != demo_server.store_id)
    service = demo_server.api("GET", f"/stores/{store['id']}/services",
                              demo_server.member_token)[0]
    day = (date.today() + timedelta(days=3)).isoformat()
    slots = demo_server.api("GET", f"/stores/{store['id']}/availability",
                            demo_server.member_token,
                            params={"service_id": service["id"], "date": day})["slots"]
    made = demo_server.api("POST", "/bookings", demo_server.member_token, json={
        "store_id": store["id"], "service_id": service["id"], "start": slots[2]["start"]})
    demo_server.api("POST", f"/bookings/{made['id']}/reschedule", demo_server.member_token,
                    json={"start": slots[-1]["start"]})
    inbox_has_reschedule(demo_server, made["id"])  # written by the outbox a moment later
    page = member_page(demo_server, context, "zh")
    go(page, "#inbox", "#inbox [data-message]")
    texts = page.locator("#inbox [data-message]").all_inner_texts()
    moved = [text for text in texts
             if slots[2]["start"][11:16] in text and slots[-1]["start"][11:16] in text]
    assert moved and "预约已改期" in moved[0], texts
    screenshot(page, "member-inbox")
    demo_server.api("POST", f"/bookings/{made['id']}/cancel", demo_server.member_token)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_view_passes_axe_with_one_main_and_an_h1(demo_server: Demo, context: Any,
                                                       lang: str) -> None:
    card = prepaid_card(demo_server)
    voucher = demo_server.api("GET", "/me/vouchers", demo_server.member_token)[0]
    page = member_page(demo_server, context, lang)
    views = [("#cards", "[data-card]"), (f"#card/{card['id']}", "#card-qr canvas"),
             ("#vouchers", "[data-voucher]"), (f"#voucher/{voucher['id']}", "dl.terms"),
             ("#bookings", "[data-booking]"), ("#inbox", "#inbox"),
             ("#stores", "[data-store-info]"), (f"#store/{demo_server.store_id}", "table.hours"),
             ("#me", "#me-phone")]
    for hash_, selector in views:
        go(page, hash_, selector)
        assert page.locator("main").count() == 1 and page.locator("h1").count() == 1, hash_
        assert_accessible(page, f"{hash_} ({lang})")
    # The booking flow, step by step with the keyboard (Tab to a choice, Enter picks it).
    go(page, "#book", "[data-store]")
    for step in (f"[data-store='{demo_server.store_id}']", "[data-service] >> nth=0",
                 "[data-stylist] >> nth=1", "[data-date] >> nth=1", "[data-slot] >> nth=0"):
        page.locator(step).focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(f"{step.split(' >>')[0]}.on")
        assert_accessible(page, f"#book {step} ({lang})")
    page.wait_for_selector("#confirm-booking")
    assert page.locator("h1").count() == 1


def test_a_voucher_redeemed_at_the_till_shows_at_once(demo_server: Demo, context: Any,
                                                     campaign_id: str) -> None:
    voucher = demo_server.fresh_voucher(campaign_id)
    page = member_page(demo_server, context)
    go(page, f"#voucher/{voucher['id']}", "#voucher-qr canvas")
    wait_until(page, "document.documentElement.dataset.live === 'on'")
    demo_server.api("POST", "/redemptions", demo_server.clerk_token, json={
        "code": voucher["code"], "store_id": demo_server.store_id, "amount_cents": 5000})
    page.wait_for_selector("[data-notice]:has-text('Voucher redeemed at')")
    page.wait_for_selector("h1 + .panel .pill.redeemed")
    assert page.locator("#voucher-qr").count() == 0  # a spent code is not shown any more


def inbox_has_reschedule(demo: Demo, booking_id: str) -> None:
    deadline = time.monotonic() + 10
    while not any((m.get("data") or {}).get("previous_start")
                  and m["data"].get("booking_id") == booking_id
                  for m in demo.api("GET", "/me/inbox", demo.member_token)):
        assert time.monotonic() < deadline, "no reschedule notice in the inbox"
        time.sleep(0.1)
