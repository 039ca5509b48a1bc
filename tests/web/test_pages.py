"""The pages are served outside /api without a token, under strict security headers, and
load nothing from another origin."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from app.asgi import create_app
from app.web.routes import STATIC_DIR, TITLES, _shell
from tests.conftest import make_settings

PAGES = ["/", "/m/", "/clerk/", "/admin/"]


@pytest.fixture(scope="module")
def pages(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[TestClient]:  # type: ignore[type-arg]
    db = tmp_path_factory.mktemp("pages") / "o2o.sqlite3"
    shutil.copyfile(sqlite_template, db)
    with TestClient(create_app(make_settings(f"sqlite:///{db}"))) as client:
        yield client


@pytest.mark.parametrize("path", [*PAGES, "/static/common/api.js", "/static/common/base.css"])
def test_pages_and_assets_carry_the_security_headers(pages: TestClient,  # type: ignore[type-arg]
                                                     path: str) -> None:
    response = pages.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_need_no_token_and_the_api_still_does(pages: TestClient) -> None:  # type: ignore[type-arg]
    for path in PAGES:
        response = pages.get(path)
        assert response.headers["content-type"].startswith("text/html")
    assert pages.get("/api/v1/me").status_code == 401
    missing = pages.get("/static/nope.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_every_asset_is_ours_and_every_reference_resolves() -> None:
    """Nothing is fetched from a CDN at run time: each src/href points into /static/ and
    exists there, and so does each relative import (bare names appear only in comments)."""
    shells = {"/": (STATIC_DIR / "index.html").read_text(),
              **{f"/{page}/": _shell(page).decode() for page in TITLES}}
    for page, html in shells.items():
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            if ref.startswith(("data:", "/m/", "/clerk/", "/admin/", "/schema")):
                continue
            assert ref.startswith("/static/"), f"{page}: {ref}"
            assert (STATIC_DIR / ref.removeprefix("/static/")).is_file(), ref
    for script in STATIC_DIR.glob("**/*.js"):
        text = script.read_text()
        for ref in re.findall(r"^import .*? from ['\"]([./][^'\"]+)['\"]", text, re.M):
            target = (STATIC_DIR / ref.removeprefix("/static/") if ref.startswith("/static/")
                      else script.parent / ref)
            assert target.resolve().is_file(), f"{script}: {ref}"
