"""Member login with a WeChat code, and the chain's WeChat config that login depends on.

Sandbox mode (the test default) accepts ``sandbox:<openid>`` and never touches the network.
Live mode exchanges the code over real HTTP with a local WeChat stand-in
(tests/stand_ins/wechat.py), so what the app sends and how it reads WeChat's answers,
errcodes, dropped connections and slow answers are all exercised for real.

The app runs on the test's own event loop (``serving`` in conftest), so tests read the
database with plain awaited queries, and requests sent together with ``asyncio.gather``
really interleave. Live-mode tests serve a second app of their own, built with
``wechat_mode="live"`` and pointed at the stand-in, which answers from its own thread.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from stores.tables import Member, WechatConfig
from tests.conftest import make_settings, serving
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import JSCODE2SESSION, WechatStandIn, unreachable_url
from tests.world import Chain, World, build_world

wechat_server = stand_ins.wechat_server

LOGIN = "/api/v1/auth/member/wechat"
ME = "/api/v1/me"
CONFIG = "/api/v1/wechat-config"

APP_A = "wx1a2b3c4d5e6f7a8b"
SECRET_A = "alpha-app-secret-7f3c9a1e5b"
APP_B = "wx9f8e7d6c5b4a3f2e"
SECRET_B = "beta-app-secret-0d4e8b2a6c"
MEMBER_KEYS = {"id", "chain_id", "openid", "name", "phone"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with the contract's status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def members_with_openid(chain_id: uuid.UUID, openid: str) -> int:
    return int(await Member.count().where(
        (Member.chain == chain_id) & (Member.openid == openid)).run())


async def members_of(chain_id: uuid.UUID) -> int:
    return int(await Member.count().where(Member.chain == chain_id).run())


async def login(client: httpx.AsyncClient, chain_id: uuid.UUID | str,
                code: str) -> httpx.Response:
    return await client.post(LOGIN, json={"chain_id": str(chain_id), "code": code})


async def concurrent_logins(client: httpx.AsyncClient, chain_id: uuid.UUID,
                            codes: list[str]) -> list[httpx.Response]:
    """Fire one login per code at once; they interleave on the app's (the test's) loop."""
    return list(await asyncio.gather(*(login(client, chain_id, code) for code in codes)))


# --- sandbox mode -----------------------------------------------------------------------

async def test_sandbox_first_login_creates_the_member(
        client: httpx.AsyncClient, world: World) -> None:
    assert await members_with_openid(world.a.id, "oAlpha_first-1") == 0

    response = await login(client, world.a.id, "sandbox:oAlpha_first-1")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "member"}
    member = body["member"]
    assert member.keys() >= MEMBER_KEYS
    assert member["openid"] == "oAlpha_first-1"
    assert member["chain_id"] == str(world.a.id)
    assert member["phone"] is None
    uuid.UUID(member["id"])
    assert await members_with_openid(world.a.id, "oAlpha_first-1") == 1
    # The token is a working member token for exactly this member.
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == member["id"]
    assert me.json()["openid"] == "oAlpha_first-1"


async def test_sandbox_same_openid_is_the_same_member(
        client: httpx.AsyncClient, world: World) -> None:
    first = await login(client, world.a.id, "sandbox:oRepeat")
    second = await login(client, world.a.id, "sandbox:oRepeat")

    assert first.status_code == second.status_code == 200
    assert first.json()["member"]["id"] == second.json()["member"]["id"]
    assert await members_with_openid(world.a.id, "oRepeat") == 1


async def test_sandbox_same_openid_in_two_chains_is_two_members(
        client: httpx.AsyncClient, world: World) -> None:
    in_a = await login(client, world.a.id, "sandbox:oShared")
    in_b = await login(client, world.b.id, "sandbox:oShared")

    assert in_a.status_code == in_b.status_code == 200
    a, b = in_a.json()["member"], in_b.json()["member"]
    assert a["id"] != b["id"]
    assert (a["chain_id"], b["chain_id"]) == (str(world.a.id), str(world.b.id))
    # Chain A's member token does not open chain B's member.
    headers = {"Authorization": f"Bearer {in_a.json()['token']}"}
    other = await client.get(f"/api/v1/members/{b['id']}", headers=headers)
    problem(other, 404, "not_found")


@pytest.mark.parametrize("code", [
    "oNoPrefix",
    "sandbox:",
    "SANDBOX:oUpper",
    "sandbox:o with space",
    "sandbox:../../etc/passwd",
    "sandbox:o;drop",
    "sandbox:用户",
    "sandbox:" + "o" * 129,
    " sandbox:oLeadingSpace",
])
async def test_sandbox_bad_codes_are_refused(client: httpx.AsyncClient, world: World,
                                             code: str) -> None:
    before = await members_of(world.a.id)

    response = await login(client, world.a.id, code)

    problem(response, 401, "wechat_login_failed")
    assert "token" not in response.json()
    assert await members_of(world.a.id) == before


async def test_sandbox_openid_with_trailing_newline_is_refused(
        client: httpx.AsyncClient, world: World) -> None:
    before = await members_of(world.a.id)

    response = await login(client, world.a.id, "sandbox:oNewline\n")

    problem(response, 401, "wechat_login_failed")
    assert await members_of(world.a.id) == before


async def test_unknown_chain_is_not_found(client: httpx.AsyncClient,
                                          world: World) -> None:
    response = await login(client, uuid.uuid4(), "sandbox:oNowhere")

    problem(response, 404, "not_found")
    assert await Member.count().where(Member.openid == "oNowhere").run() == 0


@pytest.mark.parametrize("chain_id", ["not-a-uuid", "", "1234", 42, None])
async def test_invalid_chain_id_is_a_validation_error(
        client: httpx.AsyncClient, world: World, chain_id: object) -> None:
    response = await client.post(LOGIN, json={"chain_id": chain_id, "code": "sandbox:oX"})

    body = problem(response, 400, "validation_error")
    assert "chain_id" in {e["field"] for e in body["errors"]}, body
    assert "chain_id" in body["detail"]


async def test_missing_code_and_unknown_fields_are_validation_errors(
        client: httpx.AsyncClient, world: World) -> None:
    missing = await client.post(LOGIN, json={"chain_id": str(world.a.id)})
    body = problem(missing, 400, "validation_error")
    assert "code" in body["detail"]

    extra = await client.post(LOGIN, json={"chain_id": str(world.a.id),
                                           "code": "sandbox:oExtra", "openid": "oAdmin"})
    body = problem(extra, 400, "validation_error")
    assert "openid" in {e["field"] for e in body["errors"]}
    assert await members_with_openid(world.a.id, "oExtra") == 0


async def test_concurrent_first_logins_make_one_member(
        client: httpx.AsyncClient, world: World) -> None:
    responses = await concurrent_logins(client, world.a.id, ["sandbox:oRacer"] * 10)

    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert len({r.json()["member"]["id"] for r in responses}) == 1
    assert await members_with_openid(world.a.id, "oRacer") == 1


async def test_sandbox_mode_never_calls_wechat(database_url: str,
                                               wechat_server: WechatStandIn) -> None:
    wechat_server.add_app(APP_A, SECRET_A)
    real_code = wechat_server.register_code("oRealWechatUser")
    app = create_app(make_settings(database_url, wechat_api_base=wechat_server.url))
    async with serving(app) as client:
        world = await build_world(app)
        await put_config(client, world, world.a, APP_A, SECRET_A)

        sandbox = await login(client, world.a.id, "sandbox:oSandboxUser")
        real = await login(client, world.a.id, real_code)

    assert sandbox.status_code == 200, sandbox.text
    problem(real, 401, "wechat_login_failed")
    assert wechat_server.requests == []


# --- live mode: real HTTP to the WeChat stand-in ----------------------------------------

@dataclass
class Live:
    client: httpx.AsyncClient
    world: World
    wechat: WechatStandIn

    async def login(self, chain: Chain, code: str) -> httpx.Response:
        return await login(self.client, chain.id, code)


async def put_config(client: httpx.AsyncClient, world: World, chain: Chain,
                     app_id: str, secret: str,
                     templates: dict[str, str] | None = None) -> httpx.Response:
    response = await client.put(CONFIG, headers=world.headers(chain.operator), json={
        "app_id": app_id, "app_secret": secret, "templates": templates or {}})
    assert response.status_code == 200, response.text
    return response


@asynccontextmanager
async def live_app(database_url: str, api_base: str,
                   wechat: WechatStandIn) -> AsyncIterator[Live]:
    app = create_app(make_settings(database_url, wechat_mode="live", wechat_api_base=api_base))
    async with serving(app) as client:
        yield Live(client=client, world=await build_world(app), wechat=wechat)


@pytest.fixture
async def live(database_url: str, wechat_server: WechatStandIn) -> AsyncIterator[Live]:
    """A live-mode app talking to the stand-in; chain A's WeChat app is configured."""
    wechat_server.add_app(APP_A, SECRET_A)
    wechat_server.add_app(APP_B, SECRET_B)
    async with live_app(database_url, wechat_server.url, wechat_server) as env:
        await put_config(env.client, env.world, env.world.a, APP_A, SECRET_A)
        yield env


def assert_no_session_key(wechat: WechatStandIn, *responses: httpx.Response) -> None:
    for response in responses:
        assert "session_key" not in response.text
        for key in wechat.session_keys:
            assert key not in response.text


async def test_live_login_exchanges_the_code_with_wechat(live: Live) -> None:
    code = live.wechat.register_code("oWx_Alpha_0001", unionid="uWx_0001")

    response = await live.login(live.world.a, code)

    assert response.status_code == 200, response.text
    member = response.json()["member"]
    assert member["openid"] == "oWx_Alpha_0001"
    assert member["chain_id"] == str(live.world.a.id)
    sent = live.wechat.requests_to(JSCODE2SESSION)
    assert len(sent) == 1
    assert sent[0].method == "GET"
    assert sorted(sent[0].query_items) == sorted([
        ("appid", APP_A), ("secret", SECRET_A), ("js_code", code),
        ("grant_type", "authorization_code")])
    assert sent[0].body == b""
    me = await live.client.get(ME, headers={
        "Authorization": f"Bearer {response.json()['token']}"})
    assert me.status_code == 200 and me.json()["id"] == member["id"]
    assert live.wechat.session_keys, "the stand-in handed out a session_key"
    assert_no_session_key(live.wechat, response, me)


async def test_live_next_login_of_the_same_openid_is_the_same_member(live: Live) -> None:
    first = await live.login(live.world.a, live.wechat.register_code("oWx_Again"))
    second = await live.login(live.world.a, live.wechat.register_code("oWx_Again"))

    assert first.status_code == second.status_code == 200
    assert first.json()["member"]["id"] == second.json()["member"]["id"]
    assert await members_with_openid(live.world.a.id, "oWx_Again") == 1


async def test_live_concurrent_first_logins_make_one_member(live: Live) -> None:
    codes = [live.wechat.register_code("oWx_Racer") for _ in range(10)]
    # WeChat holds every answer for a second, so all ten logins get their openid at about
    # the same moment and race to create the member.
    live.wechat.slow(JSCODE2SESSION, 1.0, times=10)

    responses = await concurrent_logins(live.client, live.world.a.id, codes)

    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    # The proof that they raced: the last exchange reached WeChat before the first answer
    # left it (one by one they would arrive at least a second apart).
    arrivals = [r.at for r in live.wechat.requests_to(JSCODE2SESSION)]
    assert len(arrivals) == 10
    assert max(arrivals) - min(arrivals) < 1.0, arrivals
    assert len({r.json()["member"]["id"] for r in responses}) == 1
    assert await members_with_openid(live.world.a.id, "oWx_Racer") == 1


async def test_live_unknown_code_fails(live: Live) -> None:
    before = await members_of(live.world.a.id)

    response = await live.login(live.world.a, "0" + "f" * 31)

    problem(response, 401, "wechat_login_failed")
    assert len(live.wechat.requests_to(JSCODE2SESSION)) == 1
    assert await members_of(live.world.a.id) == before


async def test_live_code_used_twice_fails_the_second_time(live: Live) -> None:
    code = live.wechat.register_code("oWx_Once")

    first = await live.login(live.world.a, code)
    second = await live.login(live.world.a, code)

    assert first.status_code == 200, first.text
    problem(second, 401, "wechat_login_failed")
    assert "token" not in second.json()


async def test_live_sandbox_codes_are_not_trusted(live: Live) -> None:
    response = await live.login(live.world.a, "sandbox:oImpostor")

    problem(response, 401, "wechat_login_failed")
    assert await members_with_openid(live.world.a.id, "oImpostor") == 0
    # The code went to WeChat like any other code, which refused it.
    assert [r.query["js_code"] for r in live.wechat.requests_to(JSCODE2SESSION)] == [
        "sandbox:oImpostor"]


@pytest.mark.parametrize("errcode", [40029, 40163, 45011, -1])
async def test_live_wechat_errcodes_fail_the_login(live: Live, errcode: int) -> None:
    code = live.wechat.register_code("oWx_Refused")
    live.wechat.fail(JSCODE2SESSION, errcode)

    response = await live.login(live.world.a, code)

    problem(response, 401, "wechat_login_failed")
    assert await members_with_openid(live.world.a.id, "oWx_Refused") == 0
    assert SECRET_A not in response.text


async def test_live_wrong_secret_fails_the_login(live: Live) -> None:
    await put_config(live.client, live.world, live.world.a, APP_A, "not-the-real-secret-9")
    code = live.wechat.register_code("oWx_WrongSecret")

    response = await live.login(live.world.a, code)

    problem(response, 401, "wechat_login_failed")
    assert "not-the-real-secret-9" not in response.text
    assert live.wechat.requests_to(JSCODE2SESSION)[-1].query["secret"] == "not-the-real-secret-9"
    assert await members_with_openid(live.world.a.id, "oWx_WrongSecret") == 0


async def test_live_rotated_secret_is_used_at_once(live: Live) -> None:
    live.wechat.add_app(APP_A, "rotated-secret-5c2e91")  # the operator reset it at WeChat
    refused = await live.login(live.world.a, live.wechat.register_code("oWx_Rotate"))
    problem(refused, 401, "wechat_login_failed")

    await put_config(live.client, live.world, live.world.a, APP_A, "rotated-secret-5c2e91")
    accepted = await live.login(live.world.a, live.wechat.register_code("oWx_Rotate"))

    assert accepted.status_code == 200, accepted.text
    assert live.wechat.requests_to(JSCODE2SESSION)[-1].query["secret"] == "rotated-secret-5c2e91"


async def test_live_chain_without_config_fails_without_calling_wechat(live: Live) -> None:
    code = live.wechat.register_code("oWx_ChainB")

    response = await live.login(live.world.b, code)

    problem(response, 401, "wechat_login_failed")
    assert live.wechat.requests == []
    assert await members_of(live.world.b.id) == len(live.world.b.members)


async def test_live_each_chain_uses_its_own_app(live: Live) -> None:
    await put_config(live.client, live.world, live.world.b, APP_B, SECRET_B)
    code_a = live.wechat.register_code("oWx_PerChain", app_id=APP_A)
    code_b = live.wechat.register_code("oWx_PerChain", app_id=APP_B)

    in_a = await live.login(live.world.a, code_a)
    in_b = await live.login(live.world.b, code_b)
    # A code WeChat issued for chain A's app is refused by chain B's app.
    crossed = await live.login(live.world.b, live.wechat.register_code("oWx_X", app_id=APP_A))

    assert in_a.status_code == in_b.status_code == 200
    assert in_a.json()["member"]["id"] != in_b.json()["member"]["id"]
    problem(crossed, 401, "wechat_login_failed")
    assert [(r.query["appid"], r.query["secret"])
            for r in live.wechat.requests_to(JSCODE2SESSION)] == [
        (APP_A, SECRET_A), (APP_B, SECRET_B), (APP_B, SECRET_B)]


async def test_live_dropped_connections_fail_the_login(live: Live) -> None:
    live.wechat.drop(JSCODE2SESSION, times=None)

    response = await live.login(live.world.a, live.wechat.register_code("oWx_Dropped"))

    problem(response, 401, "wechat_login_failed")
    assert live.wechat.requests_to(JSCODE2SESSION), "the app did try"
    assert await members_with_openid(live.world.a.id, "oWx_Dropped") == 0


@pytest.mark.parametrize("fault", ["http_502", "html_body"])
async def test_live_broken_answers_fail_the_login(live: Live, fault: str) -> None:
    if fault == "http_502":
        live.wechat.http_error(JSCODE2SESSION, 502)
    else:
        live.wechat.garbage(JSCODE2SESSION, "<html><body>系统繁忙</body></html>")

    response = await live.login(live.world.a, live.wechat.register_code("oWx_Broken"))

    problem(response, 401, "wechat_login_failed")
    assert await members_with_openid(live.world.a.id, "oWx_Broken") == 0


@pytest.mark.parametrize("body", [
    '{"errcode": "busy", "errmsg": "?"}',
    "[]",
    '"ok"',
    '{"errcode": 0, "openid": 42, "session_key": "k"}',
    '{"errcode": 0, "errmsg": "ok"}',
], ids=["errcode-not-a-number", "list", "string", "openid-not-a-string", "no-openid"])
async def test_live_malformed_json_answers_fail_the_login(live: Live, body: str) -> None:
    live.wechat.garbage(JSCODE2SESSION, body)

    response = await live.login(live.world.a, live.wechat.register_code("oWx_Malformed"))

    problem(response, 401, "wechat_login_failed")


async def test_live_slow_wechat_fails_the_login_instead_of_hanging(live: Live) -> None:
    live.wechat.slow(JSCODE2SESSION, 60)
    started = time.monotonic()

    response = await live.login(live.world.a, live.wechat.register_code("oWx_Slow"))

    elapsed = time.monotonic() - started
    problem(response, 401, "wechat_login_failed")
    assert elapsed < 15, f"login waited {elapsed:.1f} s for WeChat"
    assert await members_with_openid(live.world.a.id, "oWx_Slow") == 0


async def test_live_unreachable_wechat_fails_the_login(database_url: str,
                                                       wechat_server: WechatStandIn) -> None:
    async with live_app(database_url, unreachable_url(), wechat_server) as env:
        await put_config(env.client, env.world, env.world.a, APP_A, SECRET_A)
        started = time.monotonic()
        response = await env.login(env.world.a, "0" + "a" * 31)
        elapsed = time.monotonic() - started
        problem(response, 401, "wechat_login_failed")
        assert elapsed < 15
        assert SECRET_A not in response.text


# --- the chain's WeChat config ----------------------------------------------------------

async def test_put_config_never_returns_the_secret(live: Live) -> None:
    templates = {"booking_confirmed": "TPL-booking-1", "redeemed": "TPL-redeemed-2"}
    headers = live.world.headers(live.world.a.operator)

    put = await live.client.put(CONFIG, headers=headers, json={
        "app_id": APP_A, "app_secret": SECRET_A, "templates": templates})
    got = await live.client.get(CONFIG, headers=headers)

    assert put.status_code == 200 and got.status_code == 200, (put.text, got.text)
    for response in (put, got):
        assert SECRET_A not in response.text
        assert "app_secret" not in response.json()
        assert response.json()["app_id"] == APP_A
        assert response.json()["templates"] == templates


async def test_config_secret_is_stored_encrypted(live: Live) -> None:
    rows: list[dict[str, Any]] = await WechatConfig.select().run()

    assert len(rows) == 1
    assert rows[0]["app_id"] == APP_A
    assert all(SECRET_A not in str(value) for value in rows[0].values())
    # ... yet the app can open it: login works with the stored secret.
    response = await live.login(live.world.a, live.wechat.register_code("oWx_Sealed"))
    assert response.status_code == 200, response.text


async def test_config_is_per_chain(live: Live) -> None:
    other = await live.client.get(CONFIG, headers=live.world.headers(live.world.b.operator))

    problem(other, 404, "not_found")
    assert APP_A not in other.text


@pytest.mark.parametrize("who", ["alpha-manager", "alpha-clerk1", "member"])
async def test_only_operators_set_the_config(live: Live, who: str) -> None:
    chain = live.world.a
    principal = chain.members[0] if who == "member" else chain.staff[who]
    headers = live.world.headers(principal)

    put = await live.client.put(CONFIG, headers=headers, json={
        "app_id": "wxattacker0001", "app_secret": "attacker-secret-1", "templates": {}})
    get = await live.client.get(CONFIG, headers=headers)

    problem(put, 403, "forbidden")
    problem(get, 403, "forbidden")
    still = await live.client.get(CONFIG, headers=live.world.headers(chain.operator))
    assert still.json()["app_id"] == APP_A
    # Logins still go to the real app, with the real secret.
    assert (await live.login(chain, live.wechat.register_code("oWx_Still"))).status_code == 200


async def test_config_needs_a_token(live: Live) -> None:
    response = await live.client.put(CONFIG, json={
        "app_id": "wxattacker0001", "app_secret": "attacker-secret-1", "templates": {}})

    problem(response, 401, "unauthorized")


async def test_unknown_template_events_are_refused(live: Live) -> None:
    headers = live.world.headers(live.world.b.operator)

    response = await live.client.put(CONFIG, headers=headers, json={
        "app_id": APP_B, "app_secret": SECRET_B,
        "templates": {"booking_confirmed": "TPL-1", "birthday_party": "TPL-2"}})

    body = problem(response, 400, "validation_error")
    assert "templates" in {e["field"] for e in body["errors"]}
    assert "birthday_party" in body["detail"]
    problem(await live.client.get(CONFIG, headers=headers), 404, "not_found")


@pytest.mark.parametrize("body", [
    {"app_id": APP_B, "templates": {}},
    {"app_id": "wx bad id!", "app_secret": SECRET_B, "templates": {}},
    {"app_id": APP_B, "app_secret": "short", "templates": {}},
    {"app_id": APP_B, "app_secret": SECRET_B, "templates": {"redeemed": 5}},
])
async def test_invalid_config_bodies_are_validation_errors(live: Live,
                                                           body: dict[str, Any]) -> None:
    headers = live.world.headers(live.world.b.operator)

    response = await live.client.put(CONFIG, headers=headers, json=body)

    problem(response, 400, "validation_error")
    problem(await live.client.get(CONFIG, headers=headers), 404, "not_found")
