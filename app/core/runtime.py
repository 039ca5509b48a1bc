"""Per-process objects shared by handlers (built once by create_app, injected by name)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from litestar import Request

from app.core.auth import Auth
from app.core.codes.keys import CodeSigner
from app.core.crypto import SecretBox
from app.core.db import AnyEngine
from app.core.notify.tokens import TicketStore, TokenStore
from app.core.settings import Settings
from app.core.wechat import WechatClient


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AnyEngine
    auth: Auth
    secrets: SecretBox
    wechat: WechatClient
    # Signing keys and codes; built from the settings' secret unless given.
    signer: CodeSigner = field(default=None)  # type: ignore[assignment]
    # WeChat access tokens for calls made while serving a request (a member's phone);
    # shared with every process through the database like the dispatcher's.
    tokens: TokenStore = field(default=None)  # type: ignore[assignment]
    # The card bag's api_tickets (wx_card, jsapi), shared the same way; built on ``tokens``.
    tickets: TicketStore = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.signer is None:  # type: ignore[comparison-overlap]
            self.signer = CodeSigner(self.settings.secret_key)
        if self.tokens is None:  # type: ignore[comparison-overlap]
            self.tokens = TokenStore(self.wechat)
        if self.tickets is None:  # type: ignore[comparison-overlap]
            self.tickets = TicketStore(self.wechat, self.tokens)

    @property
    def sandbox(self) -> bool:
        return self.settings.wechat_mode == "sandbox"


@lru_cache(maxsize=8)
def _networks(proxies: frozenset[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_trusted(host: str, proxies: frozenset[str]) -> bool:
    if not proxies:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(proxies))


def client_address(request: Request[Any, Any, Any], trusted_proxies: frozenset[str]) -> str:
    """The caller's address. X-Forwarded-For counts only when the direct peer is a proxy we
    trust, and then only its right-most untrusted hop: a client cannot forge its way out
    of a rate limit by sending the header itself."""
    peer = request.client.host if request.client else "unknown"
    if not _is_trusted(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def client_key(request: Request[Any, Any, Any]) -> str:
    runtime: Runtime = request.app.state.runtime
    return client_address(request, runtime.settings.trusted_proxies)
