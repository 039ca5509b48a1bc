"""End-to-end fixtures: a real `o2o serve` on a SQLite copy seeded by `o2o demo`, and
headless Chromium driven by Playwright.

The browser tests skip when /usr/bin/chromium (Debian's `chromium`) or Playwright is
missing, except under CI, where they must run (.ci/run installs Chromium). With
O2O_SCREENSHOTS=<dir> they save the README's screenshots there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, TEST_SECRET, LiveServer

CHROMIUM = "/usr/bin/chromium"
API = "/api/v1"
PASSWORD = "demo-pass-2026"
PHONE = {"width": 390, "height": 844}


def _need_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("CI requires the browser tests; missing: " + ", ".join(missing))
        pytest.skip("browser tests need " + ", ".join(missing))


@dataclass
class Demo:
    """The served demo chain and a few API shortcuts for arranging a test."""

    base_url: str
    chain_id: str
    operator_token: str
    clerk_token: str
    member_token: str
    member_id: str
    store_id: str
    db: Path  # the served SQLite file, for arranging what the API cannot (a past time)

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        response = httpx.request(method, self.base_url + API + path,
                                 headers={"Authorization": f"Bearer {token}"}, timeout=10,
                                 **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()

    def fresh_voucher(self, campaign_id: str) -> dict[str, Any]:
        issued = self.api("POST", f"/campaigns/{campaign_id}/issue", self.operator_token,
                          json={"member_ids": [self.member_id]})
        assert issued["issued"], issued
        return dict(issued["issued"][0])


def _login(base_url: str, username: str) -> dict[str, Any]:
    response = httpx.post(f"{base_url}{API}/auth/staff/login",
                          json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="session")
def demo_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Demo]:
    _need_browser()
    db = tmp_path_factory.mktemp("web") / "o2o.sqlite3"
    shutil.copyfile(sqlite_template, db)
    url = f"sqlite:///{db}"
    env = {**os.environ, "O2O_DATABASE_URL": url, "O2O_SECRET_KEY": TEST_SECRET,
           "O2O_ENV": "development"}
    seeded = subprocess.run([sys.executable, "-m", "app.cli", "demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert seeded.returncode == 0, seeded.stderr
    chain_id = seeded.stdout.split("chain_id: ")[1].split()[0]
    # The marketing runner ticks every second here: an issue job the pages start ends
    # while the test watches (its default, 15 s, would make every such test wait).
    server = LiveServer(url, env={"O2O_MARKETING_TICK_SECONDS": "1"}).start()
    try:
        base = server.base_url
        member = httpx.post(f"{base}{API}/auth/member/wechat", timeout=10, json={
            "chain_id": chain_id, "code": "sandbox:demo-member-1"}).json()
        clerk = _login(base, "demo-clerk-jingan")
        yield Demo(base_url=base, chain_id=chain_id,
                   operator_token=_login(base, "demo-operator")["token"],
                   clerk_token=clerk["token"], member_token=member["token"],
                   member_id=member["member"]["id"], store_id=clerk["staff"]["store_ids"][0],
                   db=db)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def campaign_id(demo_server: Demo) -> str:
    """A cash campaign the tests issue fresh vouchers from (¥10 off, no minimum)."""
    created = demo_server.api("POST", "/campaigns", demo_server.operator_token, json={
        "name": "E2E ¥10", "kind": "cash", "value_cents": 1000, "total_quantity": 1000,
        "per_member_limit": 1000, "valid_from": "2020-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00"})
    return str(created["id"])


@pytest.fixture(scope="session")
def browser(demo_server: Demo) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh phone-sized browser profile in Shanghai, in English (the pages default to
    Chinese)."""
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1,
                              timezone_id="Asia/Shanghai")
    # Runs in every frame, about:blank included, where localStorage is denied.
    # English unless the test chose a language (set_lang).
    ctx.add_init_script("try { if (!localStorage.getItem('o2o.lang')) "
                        "localStorage.setItem('o2o.lang', 'en'); } catch (e) {}")
    ctx.set_default_timeout(10_000)
    errors: list[str] = []
    ctx.on("weberror", lambda error: errors.append(str(error.error)))
    # A CSP violation is only a console message: catch those too (inline style, eval...).
    ctx.on("console", lambda message: errors.append(message.text)
           if "Content Security Policy" in message.text else None)
    yield ctx
    ctx.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def screenshot(page: Any, name: str, **kwargs: Any) -> None:
    """Saves docs/screenshots/<name>.png when O2O_SCREENSHOTS names a folder."""
    folder = os.environ.get("O2O_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), **kwargs)


def wait_until(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Polls a JavaScript expression from here: page.wait_for_function would eval it inside
    the page, which the pages' CSP (no unsafe-eval) refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)


AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
_AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' '))}));
}"""


def assert_accessible(page: Any, view: str) -> None:
    """axe-core (vendored, tests/web/vendor/) finds no serious or critical violation on
    what the page shows now. Injected through Playwright's evaluate: the pages' CSP
    refuses inline scripts, and evaluate is not a page script."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(_AXE_RUN)
    assert not found, f"{view}: axe-core found serious/critical violations: {found}"


def set_lang(page: Any, lang: str) -> None:
    """Switches a loaded page's language the way the reader does (kept per browser)."""
    page.evaluate(f"localStorage.setItem('o2o.lang', '{lang}')")
    page.reload()


def staff_login(page: Any, demo: Demo, path: str, username: str) -> None:
    page.goto(f"{demo.base_url}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
