"""The clerk's scanner in a real browser: online redemption, a second scan refused, and an
offline redemption synced when the network is back (with a conflict shown, and a scan
uploaded past the chain's offline window shown as rejected, with why)."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Demo, screenshot, staff_login, wait_until


def scan(page: Any, code: str) -> None:
    page.fill("#scan-input", code)
    page.click("#check")


def test_clerk_redeems_a_pasted_voucher_then_sees_already_redeemed(
        demo_server: Demo, context: Any, campaign_id: str) -> None:
    voucher = demo_server.fresh_voucher(campaign_id)
    page = context.new_page()
    staff_login(page, demo_server, "/clerk/", "demo-clerk-jingan")
    page.wait_for_selector("#scan-input")

    scan(page, voucher["code"])
    page.wait_for_selector("#confirm")
    assert "E2E ¥10" in page.inner_text("#preview")
    page.fill("#amount", "88")
    screenshot(page, "clerk-preview")
    page.click("#confirm")
    result = page.wait_for_selector("#result[data-outcome=done]")
    assert "Done" in result.inner_text()
    assert "Discount ¥10.00" in result.inner_text()
    assert "Customer pays ¥78.00" in result.inner_text()
    screenshot(page, "clerk-done")
    page.click("#next-scan")

    scan(page, voucher["code"])
    result = page.wait_for_selector("#result[data-outcome=already_redeemed]")
    assert "Already redeemed" in result.inner_text()
    assert "Used on" in result.inner_text() and "Jing'an" in result.inner_text()  # where
    assert demo_server.store_id not in result.inner_text()
    screenshot(page, "clerk-already-redeemed")
    assert demo_server.api("GET", f"/vouchers/{voucher['id']}",
                           demo_server.operator_token)["status"] == "redeemed"


def test_clerk_redeems_offline_and_the_queue_syncs_when_back_online(
        demo_server: Demo, context: Any, campaign_id: str) -> None:
    mine, contested, late = (demo_server.fresh_voucher(campaign_id) for _ in range(3))
    page = context.new_page()
    staff_login(page, demo_server, "/clerk/", "demo-clerk-jingan")
    page.wait_for_selector("#scan-input")
    wait_until(page, "localStorage.getItem('o2o.clerk.keys') !== null")
    wait_until(page, "navigator.serviceWorker.controller !== null")

    context.set_offline(True)
    page.reload()  # the service worker serves the scanner without a network
    page.wait_for_selector("#scan-input")
    page.wait_for_selector("#netstate.offline")
    for voucher in (mine, contested, late):
        scan(page, voucher["code"])
        page.wait_for_selector("#preview [data-offline=true]")
        page.fill("#amount", "50")
        page.click("#confirm")
        page.wait_for_selector("#result[data-outcome=pending]")
        page.click("#next-scan")
    # The same voucher again, still offline: refused on this device.
    scan(page, mine["code"])
    page.wait_for_selector("#result[data-outcome=already_redeemed]")
    page.click("#next-scan")
    # A code with one character changed fails the signature check in the browser.
    code = mine["code"]
    tampered = code[:100] + ("A" if code[100] != "A" else "B") + code[101:]
    scan(page, tampered)
    page.wait_for_selector("#result[data-outcome=invalid_code]")
    page.click("#next-scan")
    assert page.inner_text("#netstate") == "Offline"

    # Meanwhile another counter, online, redeems the second voucher first.
    demo_server.api("POST", "/redemptions", demo_server.clerk_token, json={
        "code": contested["code"], "store_id": demo_server.store_id})

    # One scan sat on the device for three days (past the chain's 24 h window).
    page.evaluate("""(id) => {
      const queue = JSON.parse(localStorage.getItem('o2o.clerk.queue'));
      const threeDaysAgo = new Date(Date.now() - 3 * 86400e3).toISOString();
      for (const item of queue) if (item.object_id === id) item.redeemed_at = threeDaysAgo;
      localStorage.setItem('o2o.clerk.queue', JSON.stringify(queue));
    }""", late["id"])

    page.click("[data-tab=pending]")
    page.wait_for_selector("#pending-list [data-status=pending]")
    screenshot(page, "clerk-offline-queue")
    # The pills are words, not the queue's raw statuses.
    assert page.inner_text("#pending-list [data-status=pending] .pill") == "Waiting"
    context.set_offline(False)
    # Back online, the conflict and the refusal are announced as loudly as a failed scan:
    # the full-screen red result, naming the other store by its name (never its UUID).
    announced = page.wait_for_selector("#result[data-outcome=sync_problem]", timeout=15_000)
    text = announced.inner_text()
    assert "2 offline redemption(s) failed" in text
    assert "Conflict: this voucher was used" in text and "Jing'an" in text
    assert "Uploaded too late" in text
    assert demo_server.store_id not in text
    screenshot(page, "clerk-sync-conflict")
    page.click("#next-scan")
    page.wait_for_selector("#pending-list [data-status=conflict]")
    page.wait_for_selector("#synced-list [data-status=synced]")
    pending = page.inner_text("#pending-list")
    assert "Conflict: this voucher was used" in pending and demo_server.store_id not in pending
    assert page.inner_text("#pending-list [data-status=conflict] .pill") == "Conflict"
    assert page.inner_text("#synced-list [data-status=synced] .pill") == "Synced"
    rejected = page.wait_for_selector("#pending-list [data-status=rejected]")
    assert "Uploaded too late" in rejected.inner_text()  # the clerk's words, not a code
    assert "offline window" not in rejected.inner_text()  # never the server's English
    assert page.inner_text("#pending-list [data-status=rejected] .pill") == "Not accepted"
    pills = page.eval_on_selector_all("#view .pill", "els => els.map(e => e.textContent)")
    assert not {"pending", "conflict", "rejected", "synced"} & set(pills), pills
    screenshot(page, "clerk-synced")

    redeemed = demo_server.api("GET", f"/vouchers/{mine['id']}", demo_server.operator_token)
    assert redeemed["status"] == "redeemed" and redeemed["redemption_id"]
    assert demo_server.api("GET", f"/vouchers/{late['id']}",
                           demo_server.operator_token)["status"] == "issued"


def test_clerk_finds_a_member_by_phone_or_card_number_and_sees_an_unverified_phone(
        demo_server: Demo, context: Any) -> None:
    # A member registered at the counter, with a card; and a WeChat member who typed the
    # same kind of number themselves (unverified).
    phone = "13900002468"
    member = demo_server.api("POST", "/members", demo_server.clerk_token, json={
        "name": "Find Me", "phone": phone, "store_id": demo_server.store_id})
    template = next(tp for tp in demo_server.api("GET", "/card-templates",
                                                 demo_server.clerk_token)
                    if tp.get("store_ids") in (None, [demo_server.store_id])
                    or demo_server.store_id in (tp.get("store_ids") or []))
    card = demo_server.api("POST", "/cards", demo_server.clerk_token, json={
        "template_id": template["id"], "member_id": member["id"],
        "store_id": demo_server.store_id})
    demo_server.api("PATCH", "/me", demo_server.member_token, json={"phone": "13900001357"})

    page = context.new_page()
    staff_login(page, demo_server, "/clerk/", "demo-clerk-jingan")
    page.click("[data-tab=members]")
    page.wait_for_selector("#find-phone")

    page.fill("#find-phone", card["number"])
    page.press("#find-phone", "Enter")
    found = page.wait_for_selector(f"[data-member-detail='{member['id']}']")
    assert "Find Me" in found.inner_text()
    assert "not verified" not in found.inner_text()  # registered at the counter
    page.click("#back-to-find")

    page.fill("#find-phone", "139 0000 1357")
    page.press("#find-phone", "Enter")
    found = page.wait_for_selector(f"[data-member-detail='{demo_server.member_id}']")
    assert "phone not verified" in found.inner_text()
