"""Revoking an API key on one server process ends it on every other one: two real
`o2o serve` processes on one database. On PostgreSQL the revocation is heard at once
(NOTIFY on the token revocation channel), far inside a verdict's trust; on SQLite, where
no notification reaches another process, CHECK_TTL_S is the documented bound."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from app.core.revocation import CHECK_TTL_S
from tests.conftest import LiveServer
from tests.world import World

API = "/api/v1"


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    servers = [LiveServer(database_url).start() for _ in range(2)]
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


async def test_a_key_revoked_on_a_is_refused_on_b(
        client: httpx.AsyncClient, world: World, engine_name: str,
        two_servers: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_servers
    op = world.headers(world.a.operator)
    bound = 2.0 if engine_name == "postgres" else CHECK_TTL_S + 2.0
    with httpx.Client(base_url=a.base_url, timeout=10) as on_a, \
            httpx.Client(base_url=b.base_url, timeout=10) as on_b:
        made = on_a.post(f"{API}/api-keys", headers=op,
                         json={"name": "ERP", "scopes": ["members:read"]})
        assert made.status_code == 201, made.text
        auth = {"Authorization": f"Bearer {made.json()['key']}"}
        # Both processes judged the key and remember their verdicts.
        for http in (on_a, on_b, on_b):
            assert http.get(f"{API}/members", headers=auth).status_code == 200

        revoked = on_a.post(f"{API}/api-keys/{made.json()['id']}/revoke", headers=op)
        assert revoked.status_code == 200, revoked.text
        assert on_a.get(f"{API}/members", headers=auth).status_code == 401  # at once on A

        started = time.monotonic()
        while True:
            status = on_b.get(f"{API}/members", headers=auth).status_code
            took = time.monotonic() - started
            if status == 401:
                break
            assert status == 200, status
            assert took < bound, f"B still answers {status} after {took:.2f} s"
            time.sleep(0.05)
    print(f"B refused the key {took * 1000:.0f} ms after its revocation on A")
