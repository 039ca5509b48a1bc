"""The member's H5 page in a real browser: the card QR on screen decodes to a live code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Demo, screenshot

ZBARIMG = shutil.which("zbarimg")


def decode(png: Path) -> str:
    result = subprocess.run([ZBARIMG or "zbarimg", "--raw", "-q", str(png)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"zbarimg found no QR code: {result.stderr}"
    return result.stdout.strip()


@pytest.mark.skipif(ZBARIMG is None, reason="zbarimg is not installed (apt-get install zbar-tools)")
def test_member_logs_in_and_shows_a_card_qr_that_decodes_and_redeems(
        demo_server: Demo, context: Any, tmp_path: Path) -> None:
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/m/?chain={demo_server.chain_id}")
    page.fill("#code", "sandbox:demo-member-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-card]")
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


def test_member_sees_voucher_qr_and_short_code(demo_server: Demo, context: Any,
                                               campaign_id: str) -> None:
    voucher = demo_server.fresh_voucher(campaign_id)
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/m/?chain={demo_server.chain_id}")
    page.fill("#code", "sandbox:demo-member-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-card]")
    page.goto(f"{demo_server.base_url}/m/#voucher/{voucher['id']}")
    page.wait_for_selector("#voucher-qr canvas")
    assert page.get_attribute("#voucher-qr canvas", "data-code") == voucher["code"]
    assert page.inner_text("#short-code").replace(" ", "") == voucher["short_code"]
    screenshot(page, "member-voucher")

    page.click("header .lang")  # the language switch: Chinese is the pages' default
    page.wait_for_selector("header .title:has-text('会员中心')")
    assert page.inner_text("[data-tab=vouchers]") == "优惠券"
