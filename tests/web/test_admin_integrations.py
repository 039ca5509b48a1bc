"""The operator's Integrations view (issue 18) in a real browser: API keys (create, shown
once, revoke), webhook endpoints (create, secret shown once, edit, rotate, delivery log with
retry, delete), member import (errors by line, dry run, import) and export; axe-core clean
in zh and en on every part."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Demo, assert_accessible, set_lang
from tests.web.test_admin_views import open_dashboard

ENDPOINT_ID = "0b9f7d1c-0000-4000-8000-000000000001"


def _json(route: Any, body: Any, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_a_disabled_endpoint_says_why_and_many_import_errors_are_paged(
        demo_server: Demo, context: Any) -> None:
    """What a test cannot bring about in a few seconds (five days of failures, a file with
    120 bad lines), answered by stubbed routes in the contract's shapes."""
    page = context.new_page()
    endpoint = {"id": ENDPOINT_ID, "url": "https://erp.example.com/hooks", "events": ["*"],
                "status": "disabled", "description": "ERP",
                "disabled_reason": "every delivery failed since 2026-12-01: HTTP 503",
                "created_at": "2026-12-01T08:00:00Z"}
    deliveries = [{"id": f"d{i:03d}", "event_id": f"e{i}", "type": "card.topped_up",
                   "status": "failed", "attempts": 30, "last_status_code": 503,
                   "last_error": "HTTP 503", "next_attempt_at": None, "delivered_at": None}
                  for i in range(25)]
    page.route("**/api/v1/webhook-endpoints", lambda route: _json(route, [endpoint]))
    page.route(f"**/api/v1/webhook-endpoints/{ENDPOINT_ID}", lambda route: _json(route, endpoint))

    def deliveries_page(route: Any) -> None:
        url = route.request.url
        offset = int(url.split("offset=")[1].split("&")[0]) if "offset=" in url else 0
        _json(route, deliveries[offset:offset + 21])

    page.route(f"**/api/v1/webhook-endpoints/{ENDPOINT_ID}/deliveries*", deliveries_page)
    errors = [{"line": i + 2, "field": "birthday", "message": "invalid date"} for i in range(120)]
    page.route("**/api/v1/imports/members*", lambda route: _json(route, {
        "status": 422, "code": "import_invalid", "title": "x", "detail": "the server's words",
        "errors": errors[:100], "error_count": 120}, 422))
    open_dashboard(page, demo_server)
    page.goto(f"{demo_server.base_url}/admin/#integrations/webhooks")
    row = page.locator(f"tr[data-endpoint='{ENDPOINT_ID}']")
    expect(row.locator("[data-why]")).to_have_text(
        "Disabled because: every delivery failed for 5 days")
    expect(row.locator("[data-reason]")).to_contain_text("HTTP 503")
    row.locator("[data-open]").click()
    expect(page.locator("#webhook-h")).to_have_text("https://erp.example.com/hooks")
    expect(page.locator("#deliveries tbody tr")).to_have_count(20)
    expect(page.locator("#d-next")).to_be_enabled()
    page.click("#d-next")
    expect(page.locator("#deliveries tbody tr")).to_have_count(5)
    expect(page.locator("#d-prev")).to_be_focused()
    assert_accessible(page, "endpoint with a disabled reason (en)")

    page.click("[data-tab=import]")
    page.set_input_files("#im-file", files=[{
        "name": "members.csv", "mimeType": "text/csv", "buffer": b"external_id,birthday\n"}])
    page.click("#im-check")
    expect(page.locator("#im-result")).to_contain_text("120 problems in the file")
    expect(page.locator("#im-result")).to_contain_text("The first 100 are listed below.")
    expect(page.locator("#im-errors tbody tr")).to_have_count(50)
    expect(page.locator("#ie-shown")).to_have_text("Problems 1–50 of 100")
    assert "invalid date" not in page.inner_text("#view")
    assert "the server's words" not in page.inner_text("#view")
    expect(page.locator("#im-errors tbody tr").first).to_contain_text(
        "the birthday must be a real date written YYYY-MM-DD, not after today")
    page.click("#ie-next")
    expect(page.locator("#im-errors tbody tr")).to_have_count(50)
    expect(page.locator("#ie-next")).to_be_disabled()
    expect(page.locator("#im-import")).to_be_disabled()
    assert_accessible(page, "import errors (en)")
    set_lang(page, "zh")
    page.wait_for_selector("#im-form")
    expect(page.locator("h1")).to_have_text("系统对接")
    assert_accessible(page, "import (zh)")
