"""Marketing on the member's page (issue 20) in a real browser against a real server:
invite friends (the code, a QR that decodes to the link, the link to copy or hand to
WeChat's share, the counts), a friend signing in through the link and being counted, a
voucher given to a friend (the link, "being given", cancel), the friend accepting it (the
voucher is theirs with a new code and gone from the giver's), the clear words for a gift
that is taken, cancelled or one's own, and a voucher outside its days or hours saying so.
Every new view passes axe-core, in English and Chinese."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import API, Demo, assert_accessible, screenshot, set_lang
from tests.web.test_member_page import decode, go

ZBARIMG = shutil.which("zbarimg")

# A stand-in for WeChat's JS-SDK, configured by the host page: records the share data.
WX_SDK = """
window.__shared = [];
window.wx = {
  ready(fn) { fn(); },
  updateAppMessageShareData(data) { window.__shared.push(data); },
};
"""


def sign_in(demo: Demo, openid: str) -> dict[str, Any]:
    """A member's session through the API (the first login creates the member)."""
    response = httpx.post(f"{demo.base_url}{API}/auth/member/wechat", timeout=10, json={
        "chain_id": demo.chain_id, "code": f"sandbox:{openid}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def page_signed_in(context: Any, url: str, openid: str) -> Any:
    """Opens `url` (the member page, maybe through a link) and signs in with the form,
    which never asks a member for the chain (the link carries it)."""
    page = context.new_page()
    page.goto(url)
    page.fill("#code", f"sandbox:{openid}")
    assert not page.locator("#chain").is_visible()
    page.click("button[type=submit]")
    page.wait_for_selector("nav.tabs")
    return page


def local_url(demo: Demo, link: str) -> str:
    """The link on the server under test (the same path and query on its own origin)."""
    parts = urlsplit(link)
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{demo.base_url}{parts.path}?{parts.query}{fragment}"


def home(demo: Demo) -> str:
    return f"{demo.base_url}/m/?chain={demo.chain_id}"


def friend_context(browser: Any) -> Any:
    """A second phone: its own storage (no session, no chain), in English."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844},
                              timezone_id="Asia/Shanghai")
    ctx.add_init_script("try { if (!localStorage.getItem('o2o.lang')) "
                        "localStorage.setItem('o2o.lang', 'en'); } catch (e) {}")
    ctx.set_default_timeout(10_000)
    return ctx


def gift_token(link: str) -> str:
    query = parse_qs(urlsplit(link).query)
    return query["gift"][0] if "gift" in query else link.rsplit("/", 1)[-1]


def campaign(demo: Demo, name: str, **extra: Any) -> dict[str, Any]:
    return dict(demo.api("POST", "/campaigns", demo.operator_token, json={
        "name": name, "kind": "cash", "value_cents": 1500, "total_quantity": 100,
        "per_member_limit": 10, "valid_from": "2020-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00", **extra}))


def issue(demo: Demo, campaign_id: str, member_id: str) -> dict[str, Any]:
    issued = demo.api("POST", f"/campaigns/{campaign_id}/issue", demo.operator_token,
                      json={"member_ids": [member_id]})
    assert issued["issued"], issued
    return dict(issued["issued"][0])


@pytest.mark.skipif(ZBARIMG is None, reason="zbarimg is not installed (apt-get install zbar-tools)")
def test_invite_friends_code_qr_link_and_a_friend_counted(demo_server: Demo, context: Any,
                                                           browser: Any, tmp_path: Path) -> None:
    mine = campaign(demo_server, f"E2E 邀请人 {uuid.uuid4().hex[:4]}")
    theirs = campaign(demo_server, f"E2E 新朋友 {uuid.uuid4().hex[:4]}")
    demo_server.api("PUT", "/referral-program", demo_server.operator_token, json={
        "referrer_campaign_id": mine["id"], "invitee_campaign_id": theirs["id"],
        "status": "active", "require_verified_phone": True})
    a_openid, b_openid = f"e2e-ref-a-{uuid.uuid4().hex[:8]}", f"e2e-ref-b-{uuid.uuid4().hex[:8]}"
    a = sign_in(demo_server, a_openid)
    referral = demo_server.api("GET", "/me/referral", a["token"])
    assert referral["require_verified_phone"] is True

    context.add_init_script(WX_SDK)
    page = page_signed_in(context, home(demo_server), a_openid)
    page.click("[data-tab=me]")
    page.click("#invite-link")
    page.wait_for_selector("#referral-qr img, #referral-qr canvas")
    expect(page.locator("#referral-code")).to_have_text(referral["code"])
    expect(page.locator("#invite-how")).to_contain_text(mine["name"])
    # The program waits for the friend's verified phone: the member is told.
    expect(page.locator("#invite-phone")).to_contain_text("verify their phone through WeChat")
    expect(page.locator("#invite-share-link")).to_have_value(referral["link"])
    expect(page.locator("#invited-count")).to_have_text("0")
    # The QR on screen is the link, exactly.
    shot = tmp_path / "referral.png"
    page.locator("#referral-qr").screenshot(path=str(shot))
    assert decode(shot) == referral["link"]
    # Inside WeChat (the JS-SDK present) the share menu sends the link.
    shared = page.evaluate("window.__shared")
    assert shared and shared[-1]["link"] == referral["link"], shared
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#invite-share-copy")
    expect(page.locator("#toast")).to_have_text("Link copied")
    assert page.evaluate("navigator.clipboard.readText()") == referral["link"]
    assert_accessible(page, "invite friends (en)")
    screenshot(page, "member-invite")
    set_lang(page, "zh")
    page.wait_for_selector("#referral-code")
    expect(page.locator("h1")).to_have_text("邀请好友")
    assert_accessible(page, "invite friends (zh)")

    # A friend opens the link in their own browser, signs in, and is counted.
    friend = friend_context(browser)
    try:
        b_page = friend.new_page()
        b_page.goto(local_url(demo_server, referral["link"]))
        expect(b_page.locator("main.login")).to_contain_text("A friend invited you")
        assert "ref=" not in b_page.url  # read once, not carried on
        b_page.fill("#code", f"sandbox:{b_openid}")
        b_page.click("button[type=submit]")
        b_page.wait_for_selector("nav.tabs")
    finally:
        friend.close()
    assert demo_server.api("GET", "/me/referral", a["token"])["invited"] == 1
    page.reload()
    expect(page.locator("#invited-count")).to_have_text("1")
    expect(page.locator("#rewarded-count")).to_have_text("0")


def expire_gift(demo: Demo, gift_id: str) -> None:
    """Moves a gift's end an hour into the past, straight in the served SQLite file."""
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S+00:00")
    with sqlite3.connect(demo.db) as conn:
        moved = conn.execute("UPDATE gift SET expires_at = ? WHERE id = ?", (past, gift_id))
        assert moved.rowcount == 1


def _other_days(zone: str) -> list[int]:
    today = datetime.now(ZoneInfo(zone)).weekday()
    # Neither today nor tomorrow (a test started just before midnight stays outside).
    return [d for d in range(7) if d not in (today, (today + 1) % 7)]


def test_give_a_voucher_a_friend_accepts_it_and_a_gift_cancelled(
        demo_server: Demo, context: Any, browser: Any) -> None:
    gift_campaign = campaign(demo_server, f"E2E 转赠 {uuid.uuid4().hex[:4]}", giftable=True)
    a_openid, b_openid = f"e2e-gift-a-{uuid.uuid4().hex[:8]}", f"e2e-gift-b-{uuid.uuid4().hex[:8]}"
    a, b = sign_in(demo_server, a_openid), sign_in(demo_server, b_openid)
    given = issue(demo_server, gift_campaign["id"], a["member"]["id"])
    kept = issue(demo_server, gift_campaign["id"], a["member"]["id"])
    late = issue(demo_server, gift_campaign["id"], a["member"]["id"])
    late_gift = httpx.post(f"{demo_server.base_url}{API}/vouchers/{late['id']}/gift", json={},
                           headers={"Authorization": f"Bearer {a['token']}",
                                    "Idempotency-Key": uuid.uuid4().hex}, timeout=10).json()
    expire_gift(demo_server, late_gift["id"])

    page = page_signed_in(context, home(demo_server), a_openid)
    go(page, f"#voucher/{given['id']}", "#give-voucher")
    assert_accessible(page, "voucher with give to a friend (en)")
    page.click("#give-voucher")
    page.wait_for_selector("#gift-share-link")
    expect(page.locator("#voucher-status")).to_have_text("Being given")
    assert not page.locator("#voucher-qr").count()  # it cannot be redeemed meanwhile
    link = page.locator("#gift-share-link").input_value()
    token = gift_token(link)
    assert demo_server.api("GET", f"/vouchers/{given['id']}", a["token"])["status"] == "gifting"
    assert_accessible(page, "voucher being given (en)")
    screenshot(page, "member-gift-giving")

    # The giver opening their own link is told to send it to a friend.
    go(page, f"#gift/{token}", "#gift-view")
    expect(page.locator("#gift-reason")).to_contain_text("your own gift")
    assert not page.locator("#accept-gift").count()

    # The friend opens the link, signs in, sees the voucher and accepts it.
    friend = friend_context(browser)
    try:
        b_page = page_signed_in(friend, local_url(demo_server, link), b_openid)
        b_page.wait_for_selector("#accept-gift")
        expect(b_page.locator("#gift-view")).to_contain_text(gift_campaign["name"])
        assert_accessible(b_page, "accept a gift (en)")
        screenshot(b_page, "member-gift-accept")
        b_page.click("#accept-gift")
        b_page.wait_for_selector("#voucher-qr canvas")
        new_code = b_page.get_attribute("#voucher-qr canvas", "data-code")
        assert new_code and new_code != given["code"]
        assert b_page.url.endswith(f"#voucher/{given['id']}")
        mine = demo_server.api("GET", "/me/vouchers", b["token"])
        assert [v["id"] for v in mine] == [given["id"]]
        go(b_page, "#vouchers", f"[data-voucher='{given['id']}']")
        # A gift past its 24 hours: the voucher went back to the giver.
        go(b_page, f"#gift/{late_gift['token']}", "#gift-view[data-state=expired]")
        expect(b_page.locator("#gift-reason")).to_contain_text("This gift has expired")
        assert not b_page.locator("#accept-gift").count()
        # Opened again, the taken gift says so (in Chinese too).
        set_lang(b_page, "zh")
        go(b_page, f"#gift/{token}", "#gift-view")
        expect(b_page.locator("#gift-reason")).to_contain_text("已经被领走")
        assert_accessible(b_page, "a gift taken (zh)")
    finally:
        friend.close()
    theirs = [v["id"] for v in demo_server.api("GET", "/me/vouchers", a["token"])]
    assert given["id"] not in theirs and {kept["id"], late["id"]} <= set(theirs)
    go(page, "#vouchers", f"[data-voucher='{kept['id']}']")
    assert not page.locator(f"[data-voucher='{given['id']}']").count()

    # A second gift, cancelled by the giver: the voucher and its QR are back.
    go(page, f"#voucher/{kept['id']}", "#give-voucher")
    page.click("#give-voucher")
    page.wait_for_selector("#gift-panel .gift-cancel")
    set_lang(page, "zh")  # after a reload the link is still there (kept by this phone)
    page.wait_for_selector("#gift-share-link")
    expect(page.locator("#voucher-status")).to_have_text("转赠中")
    assert_accessible(page, "voucher being given (zh)")
    page.click("#gift-panel .gift-cancel")
    page.click("#gift-panel .gift-cancel")  # "tap again to confirm"
    page.wait_for_selector("#voucher-qr canvas")
    expect(page.locator("#voucher-status")).to_have_text("可使用")
    assert demo_server.api("GET", f"/vouchers/{kept['id']}", a["token"])["status"] == "issued"


def test_a_voucher_outside_its_days_says_so(demo_server: Demo, context: Any) -> None:
    store = demo_server.api("GET", f"/stores/{demo_server.store_id}", demo_server.member_token)
    days = _other_days(store.get("timezone") or "Asia/Shanghai")
    limited = campaign(demo_server, f"E2E 工作日 {uuid.uuid4().hex[:4]}", weekdays=days,
                       hours={"from": "09:30", "to": "24:00"})
    voucher = demo_server.fresh_voucher(limited["id"])
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/m/?chain={demo_server.chain_id}")
    page.fill("#code", "sandbox:demo-member-1")
    page.click("button[type=submit]")
    page.wait_for_selector("nav.tabs")
    go(page, f"#voucher/{voucher['id']}", "#usage-note")
    expect(page.locator("#usage-note")).to_contain_text("Not usable at this time: Only")
    expect(page.locator("#usage-note")).to_contain_text("09:30\u201324:00 (store time)")
    expect(page.locator("[data-term=hours]")).to_have_text("09:30\u201324:00")
    assert_accessible(page, "voucher outside its days (en)")
    go(page, "#vouchers", f"[data-voucher='{voucher['id']}']")
    expect(page.locator("[data-usage=outside_usage_hours]").first).to_be_visible()
    set_lang(page, "zh")
    go(page, f"#voucher/{voucher['id']}", "#usage-note")
    expect(page.locator("#usage-note")).to_contain_text("现在不在可用时段")
