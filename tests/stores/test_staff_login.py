"""Staff login: the contract's answers, and throttling that forged headers cannot dodge."""

from __future__ import annotations

import asyncio
import time
import types

import httpx
import pytest
from litestar import Litestar

from app.asgi import create_app
from app.core import throttle
from app.core.throttle import Limit
from stores import service as stores_service
from tests.conftest import LiveServer, make_settings, serving
from tests.world import PASSWORD, World

LOGIN = "/api/v1/auth/staff/login"


async def test_login_answers_token_and_scope(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(LOGIN, json={"username": "alpha-clerk1", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["staff"]["role"] == "clerk"
    assert body["staff"]["chain_id"] == str(world.a.id)
    assert body["staff"]["store_ids"] == [str(world.a.stores[0])]
    stores = await client.get("/api/v1/stores",
                              headers={"Authorization": f"Bearer {body['token']}"})
    assert [s["id"] for s in stores.json()] == [str(world.a.stores[0])]


async def test_operator_login_lists_every_store_of_the_chain(client: httpx.AsyncClient,
                                                            world: World) -> None:
    response = await client.post(LOGIN, json={"username": "alpha-operator",
                                              "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()["staff"]["store_ids"]) == {str(s) for s in world.a.stores}


async def test_usernames_are_case_insensitive(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(LOGIN, json={"username": "Alpha-Clerk1", "password": PASSWORD})
    assert response.status_code == 200


async def test_wrong_password_and_unknown_user_answer_alike(client: httpx.AsyncClient,
                                                            world: World) -> None:
    wrong = await client.post(LOGIN, json={"username": "alpha-clerk1", "password": "nope-nope"})
    unknown = await client.post(LOGIN, json={"username": "nobody-here", "password": "nope"})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_thirty_wrong_passwords_meet_429_and_lock_out_the_right_one_too(
        client: httpx.AsyncClient, world: World) -> None:
    statuses = []
    for attempt in range(30):
        response = await client.post(LOGIN, json={"username": "alpha-manager",
                                                  "password": f"guess-{attempt}"})
        statuses.append(response.status_code)
    assert 429 in statuses
    first_429 = statuses.index(429)
    assert set(statuses[:first_429]) == {401}
    assert set(statuses[first_429:]) == {429}
    limited = await client.post(LOGIN, json={"username": "alpha-manager", "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0
    # Another account is not locked by this one's failures... until the client's own
    # failure budget runs out.
    other = await client.post(LOGIN, json={"username": "alpha-clerk2", "password": PASSWORD})
    assert other.status_code == 200


async def test_spraying_many_usernames_meets_429_per_client(client: httpx.AsyncClient,
                                                            world: World) -> None:
    statuses = [
        (await client.post(LOGIN, json={"username": f"user-{n}", "password": "x"})).status_code
        for n in range(30)
    ]
    assert statuses[0] == 401
    assert statuses[-1] == 429


async def test_forged_x_forwarded_for_does_not_reset_the_limit(client: httpx.AsyncClient,
                                                               world: World) -> None:
    statuses = []
    for n in range(30):
        response = await client.post(
            LOGIN, json={"username": f"spray-{n}", "password": "x"},
            headers={"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"})
        statuses.append(response.status_code)
    assert statuses[-1] == 429


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(database_url: str) -> None:
    # The test transport's peer is 203.0.113.7; declare it a trusted proxy.
    app = create_app(make_settings(database_url, trusted_proxies=frozenset({"203.0.113.7"})))
    async with serving(app) as http:
        for n in range(25):
            response = await http.post(
                LOGIN, json={"username": f"proxy-user-{n}", "password": "x"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"})
            # Each real client behind the proxy has its own budget: never limited here.
            assert response.status_code == 401, response.text
        statuses = [
            (await http.post(LOGIN, json={"username": f"same-{n}", "password": "x"},
                             headers={"X-Forwarded-For": "198.51.100.99"})).status_code
            for n in range(25)
        ]
        assert statuses[-1] == 429


async def test_concurrent_failures_are_all_counted(client: httpx.AsyncClient,
                                                   world: World) -> None:
    responses = await asyncio.gather(*(
        client.post(LOGIN, json={"username": "alpha-clerk2", "password": f"bad-{n}"})
        for n in range(25)))
    assert {r.status_code for r in responses} <= {401, 429}
    after = await client.post(LOGIN, json={"username": "alpha-clerk2", "password": PASSWORD})
    assert after.status_code == 429


@pytest.mark.parametrize("body, field", [
    ({"username": "x"}, "password"),
    ({"password": "x"}, "username"),
    ({"username": "", "password": "x"}, "username"),
    ({"username": "x", "password": "y", "extra": 1}, "extra"),
])
async def test_bad_login_bodies_are_400_naming_the_field(client: httpx.AsyncClient,
                                                         body: dict[str, object],
                                                         field: str) -> None:
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in {e["field"] for e in problem["errors"]}, problem


def test_real_server_ignores_forged_forwarded_for(database_url: str,
                                                  live_server: LiveServer) -> None:
    """Over real HTTP to `o2o serve`: uvicorn's proxy-header rewriting is off too."""
    statuses = []
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        for n in range(30):
            response = http.post(LOGIN, json={"username": f"live-{n}", "password": "x"},
                                 headers={"X-Forwarded-For": f"192.0.2.{n}"})
            statuses.append(response.status_code)
    assert statuses[0] == 401
    assert statuses[-1] == 429


# --- lockout by (username, client) -------------------------------------------------------

def client_at(app: Litestar, host: str) -> httpx.AsyncClient:
    """Another client of the same running app, at another address."""
    transport = httpx.ASGITransport(app=app, client=(host, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


async def guess(http: httpx.AsyncClient, username: str, times: int) -> list[int]:
    return [(await http.post(LOGIN, json={"username": username,
                                          "password": f"guess-{n}"})).status_code
            for n in range(times)]


@pytest.fixture
def mid_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits count in fixed 15-minute windows of the wall clock: a run that crossed
    a boundary (CI once did, at 03:30:00) would start counting again half way. The
    throttle's clock is held in the middle of one window."""
    now = time.time()
    held = now - now % 900 + 450
    monkeypatch.setattr(throttle, "time", types.SimpleNamespace(time=lambda: held))


async def test_a_guesser_elsewhere_does_not_lock_out_the_counter(
        client: httpx.AsyncClient, world: World, app: Litestar, mid_window: None) -> None:
    async with client_at(app, "198.51.100.66") as attacker:
        statuses = await guess(attacker, "alpha-manager", 30)
        assert statuses[:10] == [401] * 10
        assert set(statuses[10:]) == {429}  # the guesser's client is locked for this user
        assert (await attacker.post(LOGIN, json={"username": "alpha-manager",
                                                 "password": PASSWORD})).status_code == 429

    # The counter (the test client's address) was never involved: it logs in.
    response = await client.post(LOGIN, json={"username": "alpha-manager", "password": PASSWORD})
    assert response.status_code == 200, response.text


async def test_guessing_from_many_clients_meets_the_username_backstop_but_not_the_counter(
        client: httpx.AsyncClient, world: World, app: Litestar,
        monkeypatch: pytest.MonkeyPatch, mid_window: None) -> None:
    # The backstop lowered from 100 to 12 so the test stays quick.
    monkeypatch.setattr(stores_service, "LOGIN_FAILURES_PER_USERNAME",
                        Limit("login-user", max_hits=12, window_s=900))
    counter = await client.post(LOGIN, json={"username": "alpha-clerk1", "password": PASSWORD})
    assert counter.status_code == 200  # the counter logged in here before: a known client
    for n in range(3):  # 12 failures from 3 clients, none of them at their pair's limit
        async with client_at(app, f"198.51.100.{10 + n}") as attacker:
            assert set(await guess(attacker, "alpha-clerk1", 4)) == {401}

    async with client_at(app, "198.51.100.99") as newcomer:
        refused = await newcomer.post(LOGIN, json={"username": "alpha-clerk1",
                                                   "password": PASSWORD})
        assert refused.status_code == 429  # an unknown client meets the backstop
    response = await client.post(LOGIN, json={"username": "alpha-clerk1", "password": PASSWORD})
    assert response.status_code == 200, response.text
