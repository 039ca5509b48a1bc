"""The API docs pages: Swagger UI from a pinned, vendored copy, no CDN, no inline script.

Litestar's own render plugins load their viewer from a CDN (Scalar at ``@latest``) and
write the page's set-up as an inline script; on the origin where the web pages keep their
tokens, a CDN's bad day would be ours. Here the page loads
``/static/vendor/swagger-ui-<version>/`` (see the vendor README for where it came from and
its sha256) and ``/static/docs/swagger-init.js``, and runs under the strict policy of
:data:`app.core.security_headers.DOCS_POLICY` (``script-src 'self'``).

With ``O2O_API_DOCS=0`` (the production default) the HTML pages answer 404; the contract's
``/schema/openapi.json`` stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from litestar import Request
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.router import Router

SWAGGER_UI_VERSION = "5.36.0"
SWAGGER_UI_DIR = f"/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}"
INIT_SCRIPT = "/static/docs/swagger-init.js"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{js}"></script>
<script src="{init}"></script>
</body>
</html>
"""


class VendoredSwagger(OpenAPIRenderPlugin):
    """Swagger UI at ``/schema`` and ``/schema/swagger``, every asset from our origin."""

    def __init__(self, *, path: str | Sequence[str] = ("/", "/swagger")) -> None:
        super().__init__(path=path)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _PAGE.format(
            title=escape(str(openapi_schema["info"]["title"])),
            css=f"{SWAGGER_UI_DIR}/swagger-ui.css",
            js=f"{SWAGGER_UI_DIR}/swagger-ui-bundle.js",
            init=INIT_SCRIPT,
            spec=escape(self.get_openapi_json_route(request), quote=True),
        ).encode()

    def receive_router(self, router: Router) -> None:
        """No OAuth2 redirect page (Litestar's has an inline script; we use bearer tokens)."""


class NoDocs(OpenAPIRenderPlugin):
    """Docs off: ``/schema`` answers 404 (Litestar would otherwise serve the first
    plugin, the JSON document, there); other HTML paths are Litestar's 404 already."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        raise NotFoundException()


def render_plugins(enabled: bool) -> list[OpenAPIRenderPlugin]:
    """The OpenAPI render plugins; Litestar adds ``/schema/openapi.json`` in both cases."""
    return [VendoredSwagger()] if enabled else [NoDocs()]
