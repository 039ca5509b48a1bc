"""Where a webhook may go: the URL rules and the address filter (SSRF).

A URL is ``https`` (``http`` too with ``O2O_WEBHOOK_ALLOW_HTTP``), with a host and no
user info or fragment. Its host must resolve only to public addresses (unless
``O2O_WEBHOOK_ALLOW_PRIVATE``): loopback, private, link-local, multicast, reserved,
unspecified, shared (CGNAT) and every other non-global address is refused, an IPv4
address mapped into IPv6 judged as the IPv4 address it carries. A host with any
non-public address is refused as a whole (one bad answer is enough to aim at a
neighbour).

The check runs at registration (:func:`check_url`, answering 400 ``validation_error``)
and again at every delivery, inside the connection itself: :class:`GuardedResolver` is
the aiohttp resolver of the delivery session, so the address it checked is the address
connected to (a DNS answer that changes between a check and the connection, "DNS
rebinding", cannot slip through). aiohttp does not ask a resolver about an IP literal, so
:func:`check_literal` covers those before each delivery.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from app.core.errors import ValidationError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int], Awaitable[list[tuple[int, str]]]]
"""``(host, port)`` → ``[(family, address)]``: the system's answer, or a test's."""


class NonPublicAddress(OSError):
    """A host resolved to an address deliveries may not reach (aiohttp reports an
    OSError from a resolver as a connection error, carrying this one)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)  # strerror: what aiohttp's message shows

    def __str__(self) -> str:
        return str(self.strerror)


class UnresolvableHost(NonPublicAddress):
    """No address at all for the host."""


async def system_lookup(host: str, port: int) -> list[tuple[int, str]]:
    """The event loop's ``getaddrinfo`` (a thread, never blocking the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(int(family), str(sockaddr[0])) for family, _, _, _, sockaddr in infos]


# The one name lookups go through: tests replace it to play a DNS answer that changes.
lookup: Lookup = system_lookup


def is_public(address: IpAddress) -> bool:
    """A global unicast address: nothing on this host, its networks or the provider's."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address) and (
            address.sixtofour is not None or address.teredo is not None or address.is_site_local):
        return False  # tunnels wrap an IPv4 address of someone's choosing
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified)


def parse_url(url: str, *, allow_http: bool) -> SplitResult:
    """The URL's parts, or ValueError saying what is wrong with it (not its address)."""
    if len(url) > 2048:
        raise ValueError("at most 2048 characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ValueError("no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("not a URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise ValueError("https only" if not allow_http else "http or https only")
    if not parts.hostname:
        raise ValueError("no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("no user or password in the URL")
    if parts.fragment:
        raise ValueError("no fragment")
    if port == 0:
        raise ValueError("port 0")
    return parts


def literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_literal(host: str) -> None:
    """Raise NonPublicAddress when ``host`` is an IP literal that is not public."""
    address = literal(host)
    if address is not None and not is_public(address):
        raise NonPublicAddress(f"{address} is not a public address")


async def public_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """Every address of ``host``, all public, else NonPublicAddress / UnresolvableHost."""
    address = literal(host)
    if address is not None:
        check_literal(host)
        return [(socket.AF_INET6 if address.version == 6 else socket.AF_INET, str(address))]
    try:
        found = await lookup(host, port)
    except OSError as exc:
        raise UnresolvableHost(f"{host} does not resolve ({exc})") from None
    if not found:
        raise UnresolvableHost(f"{host} does not resolve")
    for _, text in found:
        if not is_public(ipaddress.ip_address(text.split("%", 1)[0])):
            raise NonPublicAddress(f"{host} resolves to {text}, not a public address")
    return found


async def check_url(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """The registration check: 400 ``validation_error`` naming ``url``."""
    try:
        parts = parse_url(url, allow_http=allow_http)
    except ValueError as exc:
        raise ValidationError("url", str(exc)) from None
    if allow_private:
        return
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await public_addresses(parts.hostname, port)
    except (NonPublicAddress, UnresolvableHost) as exc:
        raise ValidationError("url", str(exc)) from None


class GuardedResolver(AbstractResolver):
    """The delivery session's resolver: looks the host up (through :data:`lookup`) and
    hands aiohttp only addresses it checked, refusing the host when any is not public
    (unless private addresses are allowed)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self.allow_private:
            try:
                found = await lookup(host, port)
            except OSError as exc:
                raise UnresolvableHost(f"{host} does not resolve ({exc})") from None
        else:
            found = await public_addresses(host, port)
        wanted = [(f, a) for f, a in found
                  if family in (socket.AF_UNSPEC, 0) or f == int(family)] or found
        return [ResolveResult(hostname=host, host=address, port=port, family=fam,
                              proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST)
                for fam, address in wanted]

    async def close(self) -> None:
        return None
