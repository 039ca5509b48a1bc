"""Security headers on every HTTP answer that does not set its own.

The web pages (app/web) set their full policy themselves; this is the floor under
everything else: the JSON API, the QR images, the OpenAPI document and its docs pages.

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer`` everywhere;
- ``Content-Security-Policy``: ``default-src 'none'; frame-ancestors 'none'`` on what is
  not a page (a JSON answer or an SVG opened in a tab runs nothing); on an HTML page
  without its own policy (the API docs, whose viewer is vendored: app/api_docs.py) only
  our own origin: ``script-src 'self'`` (no inline script, no eval, no CDN), styles and
  fonts from our files, images also as ``data:`` (the viewer's icons), fetches to our
  origin only, no framing, no plugins, no <base>, no form posts;
- ``Strict-Transport-Security`` in production (served behind TLS).
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def security_headers(production: bool = False) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook: it sees every answer, the ones the auth and routing layers
    make before any middleware runs (401, 404) included. ``production`` adds HSTS."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in _ALWAYS.items():
            if name not in headers:
                headers[name] = value
        if "Content-Security-Policy" not in headers:
            page = headers.get("Content-Type", "").startswith("text/html")
            headers["Content-Security-Policy"] = PAGE_POLICY if page else API_POLICY
        if production and "Strict-Transport-Security" not in headers:
            headers["Strict-Transport-Security"] = HSTS

    return add_headers
