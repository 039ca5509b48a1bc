"""The operator's Integrations view (issue 18) in a real browser: API keys (create, shown
once, revoke), webhook endpoints (create, secret shown once, edit, rotate, delivery log with
retry, delete), member import (errors by line, dry run, import) and export; axe-core clean
in zh and en on every part."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import API, Demo, assert_accessible, screenshot, set_lang
from tests.web.test_admin_members import new_card, new_member
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
    expect(page.locator("#im-result")).to_contain_text("Problems in the file: 120.")
    expect(page.locator("#im-result")).to_contain_text("The first 100 are listed below.")
    expect(page.locator("#im-errors tbody tr")).to_have_count(50)
    expect(page.locator("#ie-shown")).to_have_text("Problems 1\N{EN DASH}50 of 100")
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


def _key_status(demo: Demo, key: str) -> int:
    return httpx.get(f"{demo.base_url}{API}/members", timeout=10,
                     headers={"Authorization": f"Bearer {key}"}).status_code


def open_integrations(page: Any, demo: Demo, part: str = "") -> None:
    open_dashboard(page, demo)
    page.click("[data-nav=integrations]")
    if part:
        page.click(f"[data-tab={part}]")
    page.wait_for_selector("#view[data-view=integrations] .panel h2")


def test_an_api_key_is_shown_once_works_and_is_revoked(demo_server: Demo, context: Any) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    open_integrations(page, demo_server)
    expect(page.locator("h1")).to_have_text("Integrations")
    assert_accessible(page, "API keys (en)")
    name = f"E2E till {uuid.uuid4().hex[:6]}"
    # No scope ticked: said on the scopes' group, nothing sent.
    page.fill("#k-name", name)
    page.click("#key-new button[type=submit]")
    expect(page.locator("#k-scopes")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#k-scopes-error")).to_contain_text("tick one scope at least")
    page.check("#k-scopes input[value='members:read']")
    page.click("#key-new button[type=submit]")

    dialog = page.locator("#secret-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("you will not see it again")
    key = page.input_value("#secret-value")
    assert key.startswith("o2o_sk_") and len(key) >= 39
    expect(page.locator("#secret-value")).to_be_focused()
    assert_accessible(page, "the new key, shown once (en)")
    screenshot(page, "admin-api-key-once")
    page.click("#secret-copy")
    expect(page.locator("#secret-copied")).to_have_text("Copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.click("#secret-close")
    expect(dialog).to_have_count(0)
    expect(page.locator("#ig-keys-h")).to_be_focused()

    assert _key_status(demo_server, key) == 200  # it works, as a machine uses it
    row = page.locator(f"tr:has(th:text-is('{name}'))")
    expect(row.locator("code")).to_have_text(f"{key[:12]}…")
    expect(row).to_contain_text("members:read")
    expect(row).to_contain_text("All stores")
    page.reload()
    page.wait_for_selector("#key-new")
    assert key not in page.content()  # never again

    revoke = row.locator("[data-revoke]")
    revoke.click()
    expect(revoke).to_have_text("Click again to revoke")
    revoke.click()
    expect(row.locator(".pill")).to_contain_text("Revoked")
    expect(row.locator("[data-revoke]")).to_have_count(0)
    assert _key_status(demo_server, key) == 401
    set_lang(page, "zh")
    page.wait_for_selector("#key-new")
    expect(page.locator("h1")).to_have_text("系统对接")
    assert_accessible(page, "API keys (zh)")


class Receiver:
    """A webhook receiver on this machine: records what arrives, answers `status`."""

    def __init__(self) -> None:
        self.status = 500
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/o2o"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _refresh_until(page: Any, selector: str, timeout: float = 45.0) -> None:
    """Presses the delivery log's Refresh until `selector` shows (delivery runs in the
    server's own task, a moment after the change)."""
    deadline = time.monotonic() + timeout
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"not shown after {timeout} s: {selector}"
        time.sleep(0.5)
        page.click("#d-refresh")
        page.wait_for_timeout(200)


def test_a_webhook_endpoint_its_secret_deliveries_and_a_retry(
        demo_server: Demo, context: Any, receiver: Receiver) -> None:
    page = context.new_page()
    open_integrations(page, demo_server, "webhooks")
    assert_accessible(page, "webhooks (en)")
    page.fill("#w-url", receiver.url)
    page.fill("#w-desc", "E2E receiver")
    page.check("#w-mode-some")
    page.click("#webhook-new button[type=submit]")  # chosen, but none ticked
    expect(page.locator("#w-events-error")).to_contain_text("tick one event at least")
    page.check("#w-member\\.created")
    page.check("#w-card\\.topped_up")
    page.click("#webhook-new button[type=submit]")
    expect(page.locator("#secret-dialog")).to_be_visible()
    secret = page.input_value("#secret-value")
    assert secret.startswith("whsec_")
    expect(page.locator("#secret-dialog")).to_contain_text("you will not see it again")
    assert_accessible(page, "the webhook secret, shown once (en)")
    page.click("#secret-close")
    row = page.locator(f"tr[data-endpoint]:has-text('{receiver.url}')")
    expect(row).to_contain_text("Member joined, Card topped up")
    expect(row.locator(".pill")).to_have_text("Enabled")
    endpoint_id = row.get_attribute("data-endpoint")

    # Events: a member joins (through the API), then tops up. The receiver fails first.
    member = new_member(demo_server, "Webhook 会员")
    card = new_card(demo_server, member["id"])
    demo_server.api("POST", f"/cards/{card['id']}/top-ups", demo_server.operator_token,
                    json={"amount_cents": 8800, "store_id": demo_server.store_id})
    row.locator("[data-open]").click()
    expect(page.locator("#webhook-h")).to_have_text(receiver.url)
    _refresh_until(page, "#deliveries tr[data-delivery] td.num:text-is('500')")
    delivery = page.locator("#deliveries tr[data-delivery]:has-text('member.created')")
    expect(delivery).to_contain_text("Member joined")
    expect(delivery.locator(".pill")).to_have_text("Pending")
    body = json.loads(receiver.received[0]["body"])
    assert body["type"] == "member.created" and body["data"]["id"] == member["id"]
    # The secret the dialog showed is the one that signs (checked by the standard's code).
    from standardwebhooks import Webhook
    headers = {k.lower(): v for k, v in receiver.received[0]["headers"].items()}
    Webhook(secret).verify(receiver.received[0]["body"], headers)
    assert_accessible(page, "an endpoint's deliveries (en)")

    # The receiver is fixed: Retry delivers now.
    receiver.status = 204
    delivery.locator("[data-retry]").click()
    expect(page.locator("#toast")).to_contain_text("Queued for another attempt")
    _refresh_until(page, "#deliveries tr[data-status=delivered]")
    expect(page.locator("#deliveries tr[data-status=delivered] .pill").first
           ).to_have_text("Delivered")
    page.select_option("#d-status", "delivered")
    expect(page.locator("#deliveries tr[data-delivery]:not([data-status=delivered])")
           ).to_have_count(0)
    expect(page.locator("#deliveries tr[data-delivery]:has-text('member.created')")
           ).to_have_count(1)
    expect(page.locator("#d-status")).to_be_focused()
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar at the top of the picture
    screenshot(page, "admin-webhook-deliveries", full_page=True)

    # Edit: every event, disabled by hand (and said why), then enabled again.
    page.check("#we-mode-all")
    page.select_option("#we-status", "disabled")
    page.click("#webhook-edit button[type=submit]")
    expect(page.locator("#webhook-status")).to_contain_text(
        "Disabled because: an operator disabled it")
    ep = demo_server.api("GET", f"/webhook-endpoints/{endpoint_id}", demo_server.operator_token)
    assert ep["status"] == "disabled" and ep["events"] == ["*"]
    page.select_option("#we-status", "enabled")
    page.click("#webhook-edit button[type=submit]")
    expect(page.locator("#webhook-status .pill")).to_have_text("Enabled")

    # Rotate: a new secret, once; the old one signs for 24 h more.
    page.click("#webhook-rotate")
    page.click("#webhook-rotate")
    expect(page.locator("#secret-dialog")).to_contain_text("24 hours")
    rotated = page.input_value("#secret-value")
    assert rotated.startswith("whsec_") and rotated != secret
    page.keyboard.press("Escape")
    expect(page.locator("#secret-dialog")).to_have_count(0)
    expect(page.locator("#webhook-rotate")).to_be_focused()
    set_lang(page, "zh")
    page.wait_for_selector("#deliveries table")
    assert_accessible(page, "an endpoint's deliveries (zh)")

    page.click("#webhook-delete")
    page.click("#webhook-delete")
    page.wait_for_selector("#webhook-new")
    expect(page.locator(f"tr[data-endpoint='{endpoint_id}']")).to_have_count(0)
    assert httpx.get(f"{demo_server.base_url}{API}/webhook-endpoints/{endpoint_id}", timeout=10,
                     headers={"Authorization": f"Bearer {demo_server.operator_token}"}
                     ).status_code == 404


def test_import_shows_errors_by_line_then_checks_and_imports_and_exports(
        demo_server: Demo, context: Any) -> None:
    page = context.new_page()
    open_integrations(page, demo_server, "import")
    assert_accessible(page, "import (en)")
    tag = uuid.uuid4().hex[:8]
    templates = demo_server.api("GET", "/card-templates", demo_server.operator_token)
    prepaid = next(t["id"] for t in templates if t["kind"] == "stored_value")
    header = "external_id,name,phone,birthday,card_template_id,opening_balance_cents"
    good = f"IMP-{tag}-1,Import 甲,,1990-05-01,{prepaid},12050"

    # The column list names the chain's card templates; the sample file uses the columns.
    page.click("#im-columns summary")
    expect(page.locator("#im-columns")).to_contain_text(prepaid)
    with page.expect_download() as info:
        page.click("#im-sample")
    sample = info.value.path().read_text(encoding="utf-8").splitlines()
    assert sample[0] == ("external_id,name,phone,birthday,card_template_id,"
                         "opening_balance_cents,opening_points,opening_visits")
    assert prepaid in sample[1]

    def choose(text: str) -> None:
        page.set_input_files("#im-file", files=[{
            "name": "members.csv", "mimeType": "text/csv", "buffer": text.encode()}])

    choose(f"{header}\n{good}\nIMP-{tag}-2,Import 乙,,1990-13-01,,\n")
    page.click("#im-check")
    expect(page.locator("#im-result")).to_contain_text(
        "Problems in the file: 1. Nothing was written")
    line = page.locator("#im-errors tr[data-line='3']")
    expect(line.locator("code")).to_have_text("birthday")
    expect(line).to_contain_text("YYYY-MM-DD")
    expect(page.locator("#im-import")).to_be_disabled()
    assert_accessible(page, "import errors (en)")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "admin-import-errors", full_page=True)

    choose(f"{header}\n{good}\nIMP-{tag}-2,Import 乙,,1990-12-01,,\n")
    page.click("#im-check")
    expect(page.locator("#im-result")).to_contain_text(
        "Nothing wrong (2 lines). An import would write: members created 2, updated 0, "
        "cards issued 1")
    expect(page.locator("#im-errors tr")).to_have_count(0)
    found = demo_server.api("GET", "/members", demo_server.operator_token,
                            params={"external_id": f"IMP-{tag}-1"})
    assert not (found["items"] if isinstance(found, dict) else found)  # a dry run
    expect(page.locator("#im-import")).to_be_enabled()
    page.click("#im-import")
    expect(page.locator("#im-result")).to_contain_text(
        "Imported (2 lines): members created 2, updated 0, cards issued 1")
    expect(page.locator("#im-import")).to_be_disabled()
    found = demo_server.api("GET", "/members", demo_server.operator_token,
                            params={"external_id": f"IMP-{tag}-1"})
    assert len(found["items"] if isinstance(found, dict) else found) == 1

    with page.expect_download() as info:
        page.click("#export-csv")
    exported = info.value.path().read_text(encoding="utf-8")
    assert f"IMP-{tag}-1" in exported and "12050" in exported
    expect(page.locator("#toast")).to_contain_text("Members CSV downloaded")
    set_lang(page, "zh")
    page.wait_for_selector("#im-form")
    assert_accessible(page, "import (zh)")
    choose(f"{header}\n{good}\n")
    page.click("#im-check")
    expect(page.locator("#im-result")).to_contain_text("将新增会员 0 位、更新 0 位、开卡 0 张")
