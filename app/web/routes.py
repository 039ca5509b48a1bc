"""Routes of the web pages: one HTML shell per page, the static assets, security headers.

The pages are single-page apps: each shell loads its ES module from /static/, which
renders every view in the browser from the JSON API. No page needs a token to load; the
API calls carry the bearer token the page keeps after login.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.file_system import BaseLocalFileSystem
from litestar.static_files import create_static_files_router
from litestar.types import PathType
from litestar.types.file_types import FileInfo

from app.core.auth import PUBLIC

STATIC_DIR = Path(__file__).parent / "static"

# Only our own origin: no inline script or style, no CDN, no framing. Images may be blob:
# (a CSV download) and data: (a QR drawn on a canvas and saved); the camera stream is a
# MediaStream, which media-src does not govern.
_SCRIPTS = "script-src 'self'"
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    _SCRIPTS,
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
# The member page alone may also run WeChat's JS-SDK (jweixin, for wx.addCard: the card
# bag). WeChat serves it only from its own hosts (res2 is its documented fallback) and
# offers no copy to vendor; the page loads it only inside WeChat's browser, when the member
# taps "Add to WeChat card bag" (m/cardbag.js). Its usage beacon (an image from
# open.weixin.qq.com) stays refused: img-src is unchanged.
WECHAT_SDK_HOSTS = ("https://res.wx.qq.com", "https://res2.wx.qq.com")
MEMBER_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    _SCRIPTS, " ".join((_SCRIPTS, *WECHAT_SDK_HOSTS)), 1)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The clerk's scanner needs the camera; nothing needs the rest.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Assets change with every deploy and carry no version in their names: revalidate.
REVALIDATE = CacheControlHeader(no_cache=True)


async def _secure(response: Response[Any]) -> Response[Any]:
    """after_request hook: the security headers on every page and asset (a hook, because a
    router's response_headers do not reach the static files router's file responses; those
    arrive here as an ASGIResponse, whose headers take item assignment just the same)."""
    for name, value in SECURITY_HEADERS.items():
        # A page that set its own policy (the member page) keeps it.
        if name == "Content-Security-Policy" and name in response.headers:
            continue
        response.headers[name] = value
    return response


class _StaticFileSystem(BaseLocalFileSystem):
    """The assets' file system: a path the OS cannot look up is a file that is not there.

    Litestar's static files answer 404 for a missing file but 500 for any other failure
    of the lookup: a NUL in the path (``/static/x%00y``: "embedded null byte"), a name
    too long, a file used as a directory (``/static/m/app.js/x``)."""

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except FileNotFoundError:
            raise
        except (ValueError, OSError) as exc:
            raise FileNotFoundError(str(path)) from exc


# The single-page apps' one HTML shell: the page's title and its module in /static/<page>/.
SHELL = Path(__file__).parent / "shell.html"
TITLES = {"m": "会员中心", "clerk": "店员扫码", "admin": "运营后台"}


@cache
def _asset(path: str) -> bytes:
    return (STATIC_DIR / path).read_bytes()


@cache
def _shell(page: str) -> bytes:
    html = SHELL.read_text(encoding="utf-8")
    return html.replace("{title}", TITLES[page]).replace("{page}", page).encode()


def _page(page: str, policy: str = CONTENT_SECURITY_POLICY) -> Response[bytes]:
    return Response(_shell(page), media_type=MediaType.HTML,
                    headers={"Content-Security-Policy": policy})


@get("/", include_in_schema=False, cache_control=REVALIDATE)
async def home() -> Response[bytes]:
    return Response(_asset("index.html"), media_type=MediaType.HTML)


@get("/m/", include_in_schema=False, cache_control=REVALIDATE)
async def member_page() -> Response[bytes]:
    return _page("m", MEMBER_CONTENT_SECURITY_POLICY)


@get("/clerk/", include_in_schema=False, cache_control=REVALIDATE)
async def clerk_page() -> Response[bytes]:
    return _page("clerk")


@get("/clerk/sw.js", include_in_schema=False, cache_control=REVALIDATE)
async def clerk_service_worker() -> Response[bytes]:
    """Served from /clerk/ so that its scope is the scanner's pages (and nothing else)."""
    return Response(_asset("clerk/sw.js"), media_type="text/javascript")


@get("/admin/", include_in_schema=False, cache_control=REVALIDATE)
async def admin_page() -> Response[bytes]:
    return _page("admin")


def web_router() -> Router:
    """Everything the browser loads outside /api, under the security headers."""
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], file_system=_StaticFileSystem(),
        cache_control=REVALIDATE,
        include_in_schema=False, after_request=_secure)
    return Router(path="/", route_handlers=[home, member_page, clerk_page, clerk_service_worker,
                                                 admin_page, static],
                  opt=PUBLIC, after_request=_secure, include_in_schema=False)
