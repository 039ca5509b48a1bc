"""Bearer tokens (Litestar's JWT auth, HS256 pinned), the principal, and role guards.

A token is self-contained: ``sub`` is the staff or member id and the extras carry the
kind, role, chain and store scope (and ``ver``, the subject's token version when it was
issued), so authenticating a request costs no query. Tokens are short-lived (staff 12 h
by default), and can be ended before that (app.core.revocation: logout, deactivation, a
role, store or password change), which each process learns at once and checks from
memory. Only the ``Bearer`` scheme is accepted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token

from app.core.apikeys.schemas import KEY_PREFIX
from app.core.apikeys.verdicts import ApiKeys
from app.core.crypto import derive_key
from app.core.errors import Forbidden
from app.core.principal import STAFF_ROLES as STAFF_ROLES
from app.core.principal import Principal as Principal
from app.core.principal import Role as Role
from app.core.revocation import Revocations
from app.core.settings import Settings

JWT_ALGORITHM = "HS256"
ISSUER = "o2o"
PUBLIC = {"exclude_from_auth": True}
"""Route ``opt`` for endpoints that need no token."""
KEY_SCOPES_OPT = "key_scopes"
"""Route ``opt``: the frozenset of scopes an API key needs on this handler (set from
app/key_scopes.py at app creation); a handler without it is refused to keys."""


class VerifiedToken(Token):
    """Litestar's token, each verified token string remembered per process: a clerk's
    scanner sends the same token all day, and its HMAC, issuer and claims were checked
    once. A remembered token is still refused once it expires (PyJWT's rule: from the
    second of ``exp`` on); only tokens that passed every check are remembered."""

    _verified: ClassVar[dict[tuple[Any, ...], Token]] = {}
    _LIMIT: ClassVar[int] = 10_000

    @classmethod
    def decode(cls, encoded_token: str, secret: str, algorithm: str,
               audience: str | Sequence[str] | None = None,
               issuer: str | Sequence[str] | None = None,
               require_claims: Sequence[str] | None = None, verify_exp: bool = True,
               verify_nbf: bool = True, strict_audience: bool = False) -> VerifiedToken:
        key = (encoded_token, secret, algorithm,
               audience if isinstance(audience, str | None) else tuple(audience),
               issuer if isinstance(issuer, str | None) else tuple(issuer),
               tuple(require_claims or ()), verify_exp, verify_nbf, strict_audience)
        token = cls._verified.get(key)
        if token is None:
            token = super().decode(encoded_token, secret, algorithm, audience, issuer,
                                   require_claims, verify_exp, verify_nbf, strict_audience)
            if "nbf" not in token.extras:  # ours never carry one; such a token is re-checked
                if len(cls._verified) >= cls._LIMIT:
                    del cls._verified[next(iter(cls._verified))]  # the oldest
                cls._verified[key] = token
        elif verify_exp and token.exp.timestamp() <= time.time():
            del cls._verified[key]
            raise NotAuthorizedException("Invalid token")
        assert isinstance(token, VerifiedToken)
        return token


def _principal_from_token(token: Token) -> Principal | None:
    extras = token.extras
    try:
        kind = extras["kind"]
        role = extras["role"]
        if kind not in ("staff", "member") or role not in (*STAFF_ROLES, "member"):
            return None
        if (kind == "member") != (role == "member"):
            return None
        return Principal(
            kind=kind,
            id=uuid.UUID(token.sub),
            chain_id=uuid.UUID(extras["chain_id"]),
            role=role,
            store_ids=frozenset(uuid.UUID(s) for s in extras.get("store_ids", [])),
        )
    except (KeyError, ValueError, TypeError):
        return None


def token_version(token: Token) -> int | None:
    """The token's ``ver`` (0 when absent: tokens issued before versions existed); None
    when it is not a whole number."""
    version = token.extras.get("ver", 0)
    return version if type(version) is int and version >= 0 else None


class BearerAuthenticationMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware takes whatever follows the first space, whatever the
    scheme (``Basic <jwt>`` passed). Only ``Bearer`` (case-insensitive, RFC 7235) does.
    A bearer credential that starts ``o2o_sk_`` is an API key (never a JWT, which starts
    ``eyJ``): it is judged by ``api_keys`` (set on the subclass :class:`Auth` makes)."""

    api_keys: ClassVar[ApiKeys | None] = None

    async def authenticate_request(
            self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        scheme, _, credentials = connection.headers.get(self.auth_header, "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise NotAuthorizedException("expected Authorization: Bearer <token>")
        if credentials.startswith(KEY_PREFIX) and self.api_keys is not None:
            principal = await self.api_keys.principal(credentials)
            if principal is None:
                raise NotAuthorizedException("unknown or revoked API key")
            return AuthenticationResult(user=principal, auth=None)
        return await self.authenticate_token(encoded_token=credentials, connection=connection)


class Auth:
    """Issues and checks tokens; the JWT secret is derived from O2O_SECRET_KEY."""

    def __init__(self, settings: Settings, exclude: Iterable[str] = ()) -> None:
        self._settings = settings
        self.revocations = Revocations()
        self.api_keys = ApiKeys(settings.secret_key, self.revocations)
        middleware = type("BearerAuthenticationMiddleware", (BearerAuthenticationMiddleware,),
                          {"api_keys": self.api_keys})
        self.jwt: JWTAuth[Principal, Token] = JWTAuth[Principal, Token](
            retrieve_user_handler=self._retrieve_principal,
            authentication_middleware_class=middleware,
            token_cls=VerifiedToken,
            token_secret=derive_key(settings.secret_key, "o2o/jwt-hs256").hex(),
            algorithm=JWT_ALGORITHM,
            exclude=list(exclude),
            exclude_opt_key="exclude_from_auth",
            accepted_issuers=[ISSUER],
            # jti: every token can be ended alone (logout).
            require_claims=["exp", "iat", "sub", "iss", "jti"],
            default_token_expiration=timedelta(minutes=settings.staff_token_minutes),
            description="Bearer token from POST /auth/staff/login or /auth/member/wechat.",
        )

    async def _retrieve_principal(
            self, token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
        principal = _principal_from_token(token)
        version = token_version(token)
        if principal is None or version is None or not isinstance(token.jti, str):
            return None
        # From this process's memory, a query at most once per token and CHECK_TTL_S.
        if not await self.revocations.allows(token.jti, principal.id, version,
                                             token.exp.timestamp()):
            return None
        return principal

    def issue(self, principal: Principal, version: int = 0) -> str:
        """A token for ``principal``; ``version`` is the subject's current token version,
        read in the same statement as its scope (``get_staff_for_login``), so a change
        racing the login ends the token it issues."""
        minutes = (self._settings.member_token_minutes if principal.kind == "member"
                   else self._settings.staff_token_minutes)
        return self.jwt.create_token(
            identifier=str(principal.id),
            token_expiration=timedelta(minutes=minutes),
            token_issuer=ISSUER,
            token_unique_jwt_id=uuid.uuid4().hex,
            token_extras={
                "kind": principal.kind,
                "role": principal.role,
                "chain_id": str(principal.chain_id),
                "store_ids": sorted(str(s) for s in principal.store_ids),
                "ver": version,
            },
        )


# Async on purpose: Litestar runs a sync guard in a worker thread (a thread hop per
# request, measured at about a sixth of a redemption's server time).
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def allow(*roles: Role) -> Guard:
    """A route guard: the caller's role must be one of ``roles``, else 403 ``forbidden``;
    an API key must also hold every scope the route needs (``KEY_SCOPES_OPT``), and is
    refused where the route names none."""

    allowed = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any],
                    handler: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise Forbidden(f"requires one of the roles: {', '.join(sorted(allowed))}")
        if principal.scopes is not None:
            needed = handler.opt.get(KEY_SCOPES_OPT)
            if needed is None:
                raise Forbidden("API keys may not call this endpoint")
            if not needed <= principal.scopes:
                raise Forbidden(f"requires the scopes: {', '.join(sorted(needed))}")

    guard.__name__ = f"allow_{'_'.join(sorted(allowed))}"
    return guard


STAFF = allow("operator", "manager", "clerk")
MANAGERS = allow("operator", "manager")
OPERATORS = allow("operator")
MEMBERS = allow("member")
ANYONE = allow("operator", "manager", "clerk", "member")


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller; dependency provider for handlers."""
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        raise Forbidden()
    return principal
