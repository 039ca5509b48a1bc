"""The operator's Marketing view in a real browser against a real server (issue 20): the
segment builder's live count follows each edit (and equals the API's preview for the same
filters), a segment is saved, listed, opened, exported as CSV and issued a campaign (from
the segment and from the campaign's row) with the job followed to its end; automations are
created, paused and resumed with their run log; the referral program is set; campaign
results show a table, a chart and a CSV; the campaign form sends `hours` and `giftable`.
axe-clean in zh and en; the default context is a phone-sized screen."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.web.conftest import (
    API,
    PASSWORD,
    Demo,
    assert_accessible,
    screenshot,
    set_lang,
    staff_login,
)
from tests.web.test_admin_members import new_member, template_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A job ends when the marketing runner has ticked; the browser polls GET /jobs/{id}.
JOB_TIMEOUT_MS = 30_000


def _tag() -> str:
    return "".join(random.choices("ABCDEFGHJK", k=6))


def phoneless_member(demo: Demo, code: str, birthday: str) -> str:
    """A member who signed in with WeChat (no phone) and told us their birthday."""
    signed = httpx.post(f"{demo.base_url}{API}/auth/member/wechat", timeout=10,
                        json={"chain_id": demo.chain_id, "code": f"sandbox:{code}"})
    assert signed.status_code == 200, signed.text
    member_id = str(signed.json()["member"]["id"])
    demo.api("PATCH", f"/members/{member_id}", demo.operator_token, json={"birthday": birthday})
    return member_id


def preview_count(demo: Demo, filters: dict[str, Any]) -> int:
    return int(demo.api("POST", "/segments/preview", demo.operator_token,
                        json={"filters": filters})["count"])


def shows_count(page: Any, n: int) -> None:
    """The builder's newest answer is drawn and says n (the state goes to "waiting" the
    moment a control changes, so "done" is the answer to the latest edit)."""
    from playwright.sync_api import expect

    count = page.locator("#sg-count")
    expect(count).to_have_attribute("data-state", "done")
    expect(count).to_have_attribute("data-count", str(n))


def downloaded_lines(page: Any, selector: str) -> list[str]:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()


def job_done(page: Any, box: str) -> dict[str, str]:
    from playwright.sync_api import expect

    job = page.locator(f"{box} .job")
    expect(job).to_have_attribute("data-status", "done", timeout=JOB_TIMEOUT_MS)
    return {key: str(job.get_attribute(f"data-{key}")) for key in ("job", "issued", "skipped")}


def test_segment_builder_live_count_save_export_and_issue(demo_server: Demo, campaign_id: str,
                                                          context: Any) -> None:
    from playwright.sync_api import expect

    tag = _tag()
    mine = [phoneless_member(demo_server, f"seg-{tag}-{n}", f"199{n}-02-1{n}") for n in range(3)]
    today = datetime.now(SHANGHAI).date().isoformat()
    page = context.new_page()
    staff_login(page, demo_server, "/admin/#marketing", "demo-operator")
    expect(page.locator("[data-nav=marketing]")).to_have_attribute("aria-current", "page")
    shows_count(page, preview_count(demo_server, {}))

    # Each edit asks again; the page agrees with the API for the same filters.
    filters: dict[str, Any] = {"has_phone": False}
    page.select_option("#sg-phone", "no")
    shows_count(page, preview_count(demo_server, filters))
    filters["birthday_month"] = 2
    page.select_option("#sg-birthday", "2")
    shows_count(page, preview_count(demo_server, filters))
    filters["joined_after"] = today
    page.fill("#sg-joined-after", today)
    n = preview_count(demo_server, filters)
    assert n >= 3
    shows_count(page, n)
    for member_id in mine:
        expect(page.locator(f"#sg-preview tr[data-member='{member_id}']")).to_have_count(1)

    # "At most" below "at least": said beside the field, no count asked for.
    page.fill("#sg-visits-min", "5")
    page.fill("#sg-visits-max", "2")
    expect(page.locator("#sg-count")).to_have_attribute("data-state", "invalid")
    expect(page.locator("#sg-visits-max")).to_have_attribute("aria-invalid", "true")
    page.fill("#sg-visits-max", "")
    page.fill("#sg-visits-min", "")
    shows_count(page, n)
    assert_accessible(page, "segment builder (en)")

    name = f"E2E Feb {tag}"
    page.fill("#sg-name", name)
    page.click("#segment-form button[type=submit]")
    row = page.locator("#segments tr[data-segment]", has_text=name)
    expect(row).to_have_count(1)
    segment = next(s for s in demo_server.api("GET", "/segments", demo_server.operator_token)
                   if s["name"] == name)
    assert all(segment["filters"][key] == value for key, value in filters.items())
    expect(row).to_contain_text("No phone")

    lines = downloaded_lines(page, f"[data-csv='{segment['id']}']")
    assert lines[0].startswith("member_id,")
    assert len(lines) == n + 1
    assert all(any(line.startswith(member_id) for line in lines) for member_id in mine)

    page.click(f"[data-members='{segment['id']}']")
    expect(page.locator("#segment-view")).to_be_visible()
    for member_id in mine:
        expect(page.locator(f"#segment-members tr[data-member='{member_id}']")).to_have_count(1)

    # Issue a campaign to the segment: the job's progress until it ends.
    page.click(f"[data-issue='{segment['id']}']")
    expect(page.locator("#segment-issue")).to_be_visible()
    page.select_option("#si-campaign", campaign_id)
    page.click("#si-form button[type=submit]")
    done = job_done(page, "#segment-issue")
    assert (done["issued"], done["skipped"]) == (str(n), "0")
    screenshot(page, "admin-marketing-segments", full_page=True)
    job = demo_server.api("GET", f"/jobs/{done['job']}", demo_server.operator_token)
    assert (job["status"], job["total"], job["issued"]) == ("done", n, n)
    for member_id in mine:
        held = demo_server.api("GET", f"/members/{member_id}/vouchers", demo_server.operator_token)
        assert [v["campaign_id"] for v in held].count(campaign_id) == 1

    # And from the campaign's row.
    page.goto(f"{demo_server.base_url}/admin/#campaigns")
    page.click(f"[data-to-segment='{campaign_id}']")
    expect(page.locator("#campaign-issue")).to_be_visible()
    page.select_option("#ci-segment", segment["id"])
    page.click("#ci-form button[type=submit]")
    assert job_done(page, "#campaign-issue")["issued"] == str(n)

    set_lang(page, "zh")
    page.goto(f"{demo_server.base_url}/admin/#marketing/segments/{segment['id']}")
    expect(page.locator("#segment-members tr[data-member]").first).to_be_visible()
    shows_count(page, preview_count(demo_server, {}))
    assert_accessible(page, "segments (zh)")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_automations_referral_results_and_campaign_rules(demo_server: Demo, campaign_id: str,
                                                         context: Any) -> None:
    from playwright.sync_api import expect

    tag = _tag()
    page = context.new_page()
    staff_login(page, demo_server, "/admin/#marketing/automations", "demo-operator")

    # The trigger decides which number is asked for (welcome asks for none).
    name = f"E2E welcome {tag}"
    page.fill("#au-name", name)
    expect(page.locator("#au-days-before")).to_be_visible()  # birthday comes first
    page.select_option("#au-trigger", "nth_visit")
    expect(page.locator("#au-days-before")).to_be_hidden()
    expect(page.locator("#au-n")).to_be_visible()
    page.select_option("#au-trigger", "welcome")
    expect(page.locator("#au-n")).to_be_hidden()
    page.select_option("#au-campaign", campaign_id)
    page.click("#automation-form button[type=submit]")
    row = page.locator("tr[data-automation]", has_text=name)
    expect(row).to_have_attribute("data-status", "active")
    made = next(a for a in demo_server.api("GET", "/automations", demo_server.operator_token)
                if a["name"] == name)
    assert (made["trigger"], made["campaign_id"], made["notify"]) == (
        "welcome", campaign_id, True)
    expect(row).to_contain_text("first card")
    toggle = f"tr[data-automation='{made['id']}'] button[data-toggle]"
    status = f"tr[data-automation='{made['id']}']"

    page.click(toggle)
    expect(page.locator(status)).to_have_attribute("data-status", "paused")
    assert page.evaluate("document.activeElement.dataset.toggle") == "1"
    assert next(a for a in demo_server.api("GET", "/automations", demo_server.operator_token)
                if a["id"] == made["id"])["status"] == "paused"
    page.click(toggle)
    expect(page.locator(status)).to_have_attribute("data-status", "active")

    # A new member's first card: the runner welcomes them; the run log says so.
    member = new_member(demo_server, f"E2E welcomed {tag}")
    demo_server.api("POST", "/cards", demo_server.operator_token, json={
        "template_id": template_id(demo_server, "times"), "member_id": member["id"],
        "store_id": demo_server.store_id})
    page.click(f"[data-runs='{made['id']}']")
    expect(page.locator("#automation-view")).to_be_visible()
    deadline = time.monotonic() + 15
    while not page.locator("#automation-runs tr[data-status=issued]").count():
        assert time.monotonic() < deadline, "the welcome automation never ran"
        time.sleep(0.5)
        page.reload()
        page.wait_for_selector("#automation-runs table, #automation-runs p")
    issued = page.locator("#automation-runs tr[data-status=issued]")
    expect(issued).to_have_count(1)
    expect(issued.locator(f"a[href='#members/{member['id']}']")).to_have_count(1)
    expect(page.locator("#automation-results table")).to_have_count(1)
    screenshot(page, "admin-marketing-automations", full_page=True)
    assert_accessible(page, "automations (en)")
    page.click(toggle)  # paused again: later tests' new cards stay unwelcomed
    expect(page.locator(status)).to_have_attribute("data-status", "paused")

    # The referral program: two campaigns, paused (the other tests' sign-ins stay plain).
    invitee = demo_server.api("POST", "/campaigns", demo_server.operator_token, json={
        "name": f"E2E invitee {tag}", "kind": "cash", "value_cents": 500,
        "total_quantity": 100, "valid_from": "2020-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00"})
    page.click("[data-tab=referral]")
    page.select_option("#rf-referrer", campaign_id)
    page.select_option("#rf-invitee", invitee["id"])
    page.select_option("#rf-status", "paused")
    page.check("#rf-verified-phone")  # the anti-fraud options: one ticked, one not
    page.click("#referral-form button[type=submit]")
    expect(page.locator("#rf-state")).to_have_attribute("data-status", "paused")
    program = demo_server.api("GET", "/referral-program", demo_server.operator_token)
    assert (program["referrer_campaign_id"], program["invitee_campaign_id"], program["status"],
            program["require_verified_phone"], program["reward_after_reversal_window"]) \
        == (campaign_id, invitee["id"], "paused", True, False)
    # Re-drawn from the saved program: the ticks are what is stored.
    expect(page.locator("#rf-verified-phone")).to_be_checked()
    expect(page.locator("#rf-after-reversal")).not_to_be_checked()
    expect(page.locator("#referral-figures [data-figure=invited]")).to_be_visible()
    screenshot(page, "admin-marketing-referral", full_page=True)
    assert_accessible(page, "referral (en)")

    # Campaign results: the table and the chart say the API's figures; the CSV too.
    demo_server.fresh_voucher(campaign_id)
    page.click("[data-tab=results]")
    today = datetime.now(SHANGHAI).date()
    span = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    figures = next(r for r in demo_server.api("GET", "/stats/campaigns", demo_server.operator_token,
                                              params=span) if r["campaign_id"] == campaign_id)
    assert figures["issued"] >= 1
    cells = page.locator(f"#results-campaigns tr[data-campaign='{campaign_id}']")
    expect(cells.locator("[data-field=issued]")).to_have_text(str(figures["issued"]))
    expect(cells.locator("[data-field=redeemed]")).to_have_text(str(figures["redeemed"]))
    bar = page.locator(f"#results-chart rect.issued[data-campaign='{campaign_id}']")
    expect(bar).to_have_attribute("data-value", str(figures["issued"]))
    assert "E2E ¥10" in str(page.locator("#results-chart").get_attribute("aria-label"))
    page.click(f"[data-daily='{campaign_id}']")  # its days, one pair of columns a day
    expect(page.locator("#daily-chart rect.issued")).to_have_count(30)
    daily = demo_server.api("GET", f"/stats/campaigns/{campaign_id}/daily",
                            demo_server.operator_token, params=span)
    issued_today = daily["points"][-1]["issued"]
    today_bar = page.locator(f"#daily-chart rect.issued[data-date='{span['to']}'] title")
    expect(today_bar).to_have_text(f"{span['to']}: Issued {issued_today}")
    screenshot(page, "admin-marketing-results", full_page=True)
    lines = downloaded_lines(page, "#results-csv")
    assert lines[0].startswith("campaign_id,name,issued,redeemed")
    assert any(line.startswith(campaign_id) for line in lines[1:])
    for lang in ("en", "zh"):
        if lang == "zh":
            set_lang(page, "zh")
            page.wait_for_selector("#results-chart")
        assert_accessible(page, f"campaign results ({lang})")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # The campaign form sends the contract's `hours` and `giftable`.
    set_lang(page, "en")
    page.goto(f"{demo_server.base_url}/admin/#campaigns")
    cname = f"E2E giftable {tag}"
    page.fill("#c-name", cname)
    page.fill("#c-value", "8")
    page.check("#c-days-5")
    page.check("#c-days-6")
    page.fill("#c-time-from", "18:00")
    page.fill("#c-time-until", "00:00")
    page.check("#c-giftable")
    page.click("#campaign-form button[type=submit]")
    expect(page.locator("tr[data-campaign]", has_text=cname)).to_have_count(1)
    made_c = next(c for c in demo_server.api("GET", "/campaigns", demo_server.operator_token)
                  if c["name"] == cname)
    assert (made_c["giftable"], made_c["weekdays"], made_c["hours"]) == (
        True, [5, 6], {"from": "18:00", "to": "24:00"})
    rules = page.locator("tr[data-campaign]", has_text=cname).locator("[data-rules]")
    expect(rules).to_contain_text("18:00\u201324:00")


def test_a_manager_previews_their_stores_members_only(demo_server: Demo, context: Any) -> None:
    """A manager sees the segments tab only, and the count is the API's for them (their
    stores' members)."""
    from playwright.sync_api import expect

    login = httpx.post(f"{demo_server.base_url}{API}/auth/staff/login", timeout=10,
                       json={"username": "demo-manager", "password": PASSWORD})
    token = str(login.json()["token"])
    page = context.new_page()
    staff_login(page, demo_server, "/admin/#marketing/automations", "demo-manager")
    expect(page.locator(".subnav a")).to_have_count(1)
    expect(page.locator("#mk-segments")).to_be_visible()
    page.select_option("#sg-phone", "yes")
    theirs = demo_server.api("POST", "/segments/preview", token,
                             json={"filters": {"has_phone": True}})["count"]
    shows_count(page, int(theirs))
    assert page.locator("[data-issue]").count() == 0  # issuing is the operators'
