"""The API docs pages (issue 15, item 6): a pinned, vendored Swagger UI from our own origin
under a strict policy; off in production (O2O_API_DOCS), the OpenAPI document stays."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from app.api_docs import SWAGGER_UI_DIR, SWAGGER_UI_VERSION
from app.asgi import create_app
from app.core.settings import Settings, SettingsError
from app.web.routes import STATIC_DIR
from tests.conftest import make_settings, serving

DOCS_PAGES = ("/schema", "/schema/swagger")
# The files the vendor README names, as fetched from the npm registry.
VENDORED_SHA256 = {
    "swagger-ui-bundle.js": "b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88",
    "swagger-ui.css": "7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e",
}
SECRET = "s" * 40


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (d.split() for d in policy.split(";") if d.strip())}


async def test_the_docs_load_only_our_own_pinned_files_under_a_strict_policy(
        client: httpx.AsyncClient) -> None:
    for path in DOCS_PAGES:
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        # No inline script (the policy would refuse it), nothing from another origin.
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
        assert "@latest" not in html and "cdn" not in html.lower()
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assets = [ref for ref in refs if not ref.startswith("data:")]
        assert assets and all(ref.startswith("/static/") for ref in assets), refs
        assert f"{SWAGGER_UI_DIR}/swagger-ui-bundle.js" in assets
        for ref in assets:
            served = await client.get(ref)
            assert served.status_code == 200, ref
        assert 'data-spec-url="/schema/openapi.json"' in html

        policy = _directives(page.headers["content-security-policy"])
        assert policy["default-src"] == ["'none'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        for values in policy.values():
            assert not any(v.startswith(("http", "'unsafe")) or v == "*" for v in values)


def test_the_vendored_files_are_the_pinned_release() -> None:
    folder = STATIC_DIR / "vendor" / f"swagger-ui-{SWAGGER_UI_VERSION}"
    assert f"/static/vendor/{folder.name}" == SWAGGER_UI_DIR
    for name, digest in VENDORED_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    readme = (STATIC_DIR / "vendor" / "README.md").read_text()
    assert SWAGGER_UI_VERSION in readme and all(d in readme for d in VENDORED_SHA256.values())
    assert (folder / "LICENSE").is_file()


async def test_docs_off_leaves_only_the_openapi_document(database_url: str) -> None:
    app = create_app(make_settings(database_url, api_docs=False))
    async with serving(app) as http:
        for path in (*DOCS_PAGES, "/schema/scalar", "/schema/redoc", "/schema/elements"):
            response = await http.get(path)
            assert response.status_code == 404, path
            assert "swagger" not in response.text.lower()
        document = await http.get("/schema/openapi.json")
        assert document.status_code == 200
        assert document.json()["openapi"].startswith("3.1")


@pytest.mark.parametrize(("env", "docs", "log_format"),
                         [("development", True, "text"), ("production", False, "json")])
def test_docs_and_log_format_defaults_follow_the_environment(
        env: str, docs: bool, log_format: str) -> None:
    base = {"O2O_ENV": env, "O2O_SECRET_KEY": SECRET, "O2O_DATABASE_URL": "postgresql://u@h/d"}
    settings = Settings.from_env(base)
    assert (settings.api_docs, settings.log_format) == (docs, log_format)
    chosen = Settings.from_env({**base, "O2O_API_DOCS": "1" if not docs else "0",
                                "O2O_LOG_FORMAT": "TEXT" if log_format == "json" else "json"})
    assert chosen.api_docs is not docs
    assert chosen.log_format != log_format
    with pytest.raises(SettingsError, match="O2O_API_DOCS must be 0 or 1"):
        Settings.from_env({**base, "O2O_API_DOCS": "yes"})
    with pytest.raises(SettingsError, match="O2O_LOG_FORMAT must be 'text' or 'json'"):
        Settings.from_env({**base, "O2O_LOG_FORMAT": "xml"})
