"""The app's route table, read from the app itself, so generated tests cover every
endpoint (including ones added after the tests were written)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from litestar import Litestar
from litestar.routes import HTTPRoute

from app.core.auth import STAFF_ROLES

API = "/api/v1"
ALL_ROLES = (*STAFF_ROLES, "member")
_TYPED_PARAM = re.compile(r"\{(\w+):\w+\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the OpenAPI document: /api/v1/stores/{store_id}
    public: bool
    roles: frozenset[str]  # roles the route's guards let through (before any scope check)
    success: int  # the status of a successful call

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


def _guard_roles(guard: object) -> frozenset[str]:
    """Roles of a guard made by app.core.auth.allow (its name lists them)."""
    name = getattr(getattr(guard, "func", guard), "__name__", "")
    if not name.startswith("allow_"):
        raise AssertionError(f"unknown guard {guard!r}: teach tests/hardening/routes.py")
    return frozenset(name.removeprefix("allow_").split("_"))


def api_routes(app: Litestar) -> list[Route]:
    """Every (method, path) under the API prefix, with its auth facts."""
    routes: list[Route] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API):
            continue
        path = _TYPED_PARAM.sub(r"{\1}", route.path)
        for handler in route.route_handlers:
            public = bool(handler.opt.get("exclude_from_auth"))
            roles = frozenset(ALL_ROLES)
            for guard in handler.resolve_guards():
                roles &= _guard_roles(guard)
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                routes.append(Route(method, path, public, roles, handler.status_code))
    return sorted(routes, key=lambda r: (r.path, r.method))
