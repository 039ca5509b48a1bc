"""Ending a token on one server process ends it on every other one: two real `o2o serve`
processes on one database. On PostgreSQL the change is heard at once (LISTEN/NOTIFY), so
process B answers 401 well inside the memory's TTL; on SQLite the TTL is the bound."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from app.core.revocation import CHECK_TTL_S
from tests.conftest import LiveServer
from tests.world import PASSWORD, World

API = "/api/v1"


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    servers = [LiveServer(database_url).start() for _ in range(2)]
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def bound_s(engine_name: str) -> float:
    # PostgreSQL: a notification, which must beat the TTL by far (the memory of B was
    # refreshed just before the change, so the TTL alone would take ~CHECK_TTL_S).
    return 2.0 if engine_name == "postgres" else CHECK_TTL_S + 2.0


def seconds_until_401(http: httpx.Client, path: str, token: str, bound: float) -> float:
    """Poll B until the token is refused; the seconds it took (fails past ``bound``)."""
    started = time.monotonic()
    while True:
        status = http.get(path, headers={"Authorization": f"Bearer {token}"}).status_code
        elapsed = time.monotonic() - started
        if status == 401:
            return elapsed
        assert status == 200, status
        assert elapsed < bound, f"still {status} after {elapsed:.2f} s (bound {bound} s)"
        time.sleep(0.05)


async def test_deactivation_on_a_ends_the_clerks_token_on_b(
        client: httpx.AsyncClient, world: World, engine_name: str,
        two_servers: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_servers
    clerk = world.a.staff["alpha-clerk1"]
    with httpx.Client(base_url=a.base_url, timeout=10) as on_a, \
            httpx.Client(base_url=b.base_url, timeout=10) as on_b:
        login = on_a.post(f"{API}/auth/staff/login",
                          json={"username": "alpha-clerk1", "password": PASSWORD})
        token = login.json()["token"]
        # B has judged the token and remembers its verdict.
        for _ in range(2):
            assert on_b.get(f"{API}/stores", headers={"Authorization": f"Bearer {token}"}
                            ).status_code == 200

        response = on_a.post(f"{API}/staff/{clerk.id}/deactivate",
                             headers=world.headers(world.a.operator))
        assert response.status_code == 200, response.text

        took = seconds_until_401(on_b, f"{API}/stores", token, bound_s(engine_name))
        # A, where the change was made, refuses at once.
        assert on_a.get(f"{API}/stores", headers={"Authorization": f"Bearer {token}"}
                        ).status_code == 401
    print(f"B refused the token {took * 1000:.0f} ms after the deactivation on A")


async def test_a_member_logout_on_a_ends_the_token_on_b(
        client: httpx.AsyncClient, world: World, engine_name: str,
        two_servers: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_servers
    token = world.token(world.a.members[0])
    other = world.token(world.a.members[0])
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=a.base_url, timeout=10) as on_a, \
            httpx.Client(base_url=b.base_url, timeout=10) as on_b:
        assert on_b.get(f"{API}/me", headers=auth).status_code == 200

        assert on_a.post(f"{API}/auth/logout", headers=auth).status_code == 204

        seconds_until_401(on_b, f"{API}/me", token, bound_s(engine_name))
        assert on_b.get(f"{API}/me", headers={"Authorization": f"Bearer {other}"}
                        ).status_code == 200
