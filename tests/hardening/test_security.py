"""Attacks on the API as a whole, beyond tests/core/test_tokens.py (which takes each
token forgery apart on a few endpoints) and the login rate-limit tests of tests/stores:

- every protected endpoint of the route table refuses forged tokens (alg none, an
  RS256 header over an HMAC, another deployment's key, expired, a member token edited to
  an operator's);
- on a real server: the body limit (O2O_MAX_BODY_BYTES) with and without Content-Length,
  and the login limit against every client-address header a proxy might set;
- no password, secret, login code or token in the server's log (debug level) or in the
  delivery log, through logins, WeChat config, live WeChat calls with faults,
  redemptions and top-ups;
- CORS closed unless O2O_CORS_ORIGINS names the origin;
- security headers on every answer: API, errors, images, the docs pages, and whatever
  other page is mounted outside the API (the web pages, once merged).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from app.asgi import create_app
from app.core.crypto import derive_key
from app.core.settings import Settings
from tests.conftest import TEST_SECRET, LiveServer, make_settings, serving
from tests.core.test_tokens import b64, claims, jwt_key, unb64
from tests.hardening.routes import api_routes
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import SUBSCRIBE_SEND, WechatStandIn
from tests.world import PASSWORD, World, build_world

wechat_server = stand_ins.wechat_server

API = "/api/v1"


# --- forged tokens, on every protected endpoint ------------------------------------------

def _forgeries(world: World, settings: Settings) -> dict[str, str]:
    operator = world.a.operator
    now = int(time.time())
    real = jwt.encode(claims(operator), jwt_key(settings), algorithm="HS256")
    _, payload, signature = real.split(".")
    header, member_payload, member_signature = world.token(world.a.members[0]).split(".")
    edited = json.loads(unb64(member_payload))
    edited["extras"].update({"kind": "staff", "role": "operator"})
    other_key = derive_key("another-deployment-secret-0123456789abcdef", "o2o/jwt-hs256").hex()
    return {
        "alg none": ".".join([b64(b'{"alg":"none","typ":"JWT"}'), payload, ""]),
        "RS256 header over an HMAC": ".".join(
            [b64(b'{"alg":"RS256","typ":"JWT"}'), payload, signature]),
        "another deployment's key": jwt.encode(claims(operator), other_key, algorithm="HS256"),
        "expired": jwt.encode(claims(operator, iat=now - 7200, exp=now - 1),
                              jwt_key(settings), algorithm="HS256"),
        "member edited to operator": ".".join(
            [header, b64(json.dumps(edited).encode()), member_signature]),
    }


async def test_every_protected_endpoint_refuses_forged_tokens(
        client: httpx.AsyncClient, world: World, app: Litestar, settings: Settings) -> None:
    forgeries = _forgeries(world, settings)
    holes = []
    protected = [r for r in api_routes(app) if not r.public]
    assert len(protected) > 40
    for route in protected:
        path = route.path
        for name in route.path_params:
            path = path.replace("{" + name + "}", str(uuid.uuid4()))
        for label, token in forgeries.items():
            response = await client.request(route.method, path,
                                            headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401 or response.json().get("code") != "unauthorized":
                holes.append(f"{route.key} with {label}: {response.status_code}")
    assert holes == []


# --- a real server: body limit, client-address headers ---------------------------------

def test_body_limit_and_forged_client_addresses_on_a_real_server(database_url: str) -> None:
    server = LiveServer(database_url, env={"O2O_MAX_BODY_BYTES": "4096"}).start()
    try:
        with httpx.Client(base_url=server.base_url + API, timeout=10) as http:
            login = "/auth/staff/login"
            json_headers = {"Content-Type": "application/json"}
            padded = json.dumps({"username": "x", "password": "y" * 5000}).encode()
            for label, content in (("Content-Length", padded),
                                   ("chunked", iter([padded[:3000], padded[3000:]]))):
                response = http.post(login, content=content, headers=json_headers)
                assert response.status_code == 413, (label, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["code"] == "payload_too_large"
            under = json.dumps({"username": "x" * 3900, "password": "y"}).encode()
            assert len(under) < 4096
            assert http.post(login, content=under, headers=json_headers).status_code == 400

            # However a client dresses its address, its failed logins count as its own.
            statuses = []
            for n in range(30):
                address = f"198.51.100.{n}"
                headers = {"X-Forwarded-For": address, "X-Real-IP": address,
                           "Forwarded": f"for={address}", "X-Client-IP": address,
                           "True-Client-IP": address, "CF-Connecting-IP": address}
                statuses.append(http.post(login, headers=headers, json={
                    "username": f"spray-{n}", "password": "wrong-password"}).status_code)
            assert statuses[0] == 401
            assert statuses[-1] == 429
    finally:
        server.stop()


# --- nothing secret in the logs --------------------------------------------------------

APP_ID = "wx5e1f00d5ecb1a5e0"
TEMPLATES = {"card_issued": "TPL-CARD", "voucher_issued": "TPL-VOUCHER",
             "redeemed": "TPL-REDEEMED", "balance_changed": "TPL-BALANCE"}


def _live_flows(base_url: str, world: World, wechat: WechatStandIn,
                secrets_seen: list[str]) -> list[dict[str, Any]]:
    """Logins (right and wrong), the WeChat config, a member's WeChat login, a card with a
    top-up, a voucher redeemed; WeChat stumbles on the first sends. Returns the delivery
    log once the messages went out."""
    app_secret = "sec-" + secrets.token_hex(14)
    wrong_password = "wrong-" + secrets.token_hex(8)
    wechat.add_app(APP_ID, app_secret, templates=set(TEMPLATES.values()))
    code = wechat.register_code("oSecurityFan01", app_id=APP_ID)
    secrets_seen += [app_secret, wrong_password, PASSWORD, code]
    with httpx.Client(base_url=base_url + API, timeout=15) as http:
        assert http.post("/auth/staff/login", json={
            "username": "alpha-operator", "password": wrong_password}).status_code == 401
        login = http.post("/auth/staff/login", json={
            "username": "alpha-operator", "password": PASSWORD})
        assert login.status_code == 200, login.text
        op = {"Authorization": f"Bearer {login.json()['token']}"}
        assert http.put("/wechat-config", headers=op, json={
            "app_id": APP_ID, "app_secret": app_secret, "templates": TEMPLATES}
        ).status_code == 200
        member = http.post("/auth/member/wechat", json={"chain_id": str(world.a.id),
                                                        "code": code})
        assert member.status_code == 200, member.text
        secrets_seen += [login.json()["token"], member.json()["token"]]
        member_id = member.json()["member"]["id"]
        wechat.http_error(SUBSCRIBE_SEND, 502)  # logged as a retried attempt
        wechat.garbage(SUBSCRIBE_SEND)
        store = str(world.a.stores[0])
        template = http.post("/card-templates", headers=op, json={
            "name": "Prepaid", "kind": "stored_value"}).json()["id"]
        card = http.post("/cards", headers=op, json={"template_id": template,
                                                     "member_id": member_id}).json()["id"]
        assert http.post(f"/cards/{card}/top-ups", headers={**op, "Idempotency-Key": "t-1"},
                         json={"amount_cents": 5000, "store_id": store}).status_code == 201
        now = time.time()
        campaign = http.post("/campaigns", headers=op, json={
            "name": "¥1 off", "kind": "cash", "value_cents": 100, "total_quantity": 5,
            "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
            "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400))}
        ).json()["id"]
        voucher = http.post(f"/campaigns/{campaign}/issue", headers=op,
                            json={"member_ids": [member_id]}).json()["issued"][0]
        assert http.post("/redemptions", headers=op, json={
            "code": voucher["code"], "store_id": store, "amount_cents": 1000}
        ).status_code == 201
        deadline = time.monotonic() + 30
        while len(wechat.sent()) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(wechat.sent()) >= 4, wechat.sent()
        secrets_seen += list(wechat.tokens)  # the access tokens WeChat handed out
        log = http.get("/notifications", headers=op)
        assert log.status_code == 200
        return list(log.json())


async def test_no_secret_or_token_in_the_logs(database_url: str, tmp_path: Path,
                                              wechat_server: WechatStandIn) -> None:
    app = create_app(make_settings(database_url, notify_dispatcher=False))
    async with serving(app):
        world = await build_world(app)
    log_file = tmp_path / "server.log"
    server = LiveServer(database_url, log_file=log_file, log_level="debug", env={
        "O2O_WECHAT_MODE": "live", "O2O_WECHAT_API_BASE": wechat_server.url,
        "O2O_NOTIFY_POLL_SECONDS": "0.2", "O2O_NOTIFY_RETRY_BASE_SECONDS": "0.2"}).start()
    found: list[str] = []
    try:
        deliveries = await asyncio.to_thread(_live_flows, server.base_url, world,
                                             wechat_server, found)
    finally:
        server.stop()
    found += [TEST_SECRET, derive_key(TEST_SECRET, "o2o/jwt-hs256").hex()]
    # A token's signature alone is as good as the token for a forger who has the rest.
    found += [token.split(".")[2] for token in found if token.count(".") == 2]
    log = log_file.read_text(errors="replace")
    assert "POST /api/v1/auth/staff/login" in log  # the log was captured
    assert "attempt" in log  # and the failed WeChat sends were logged
    assert [s for s in found if s in log] == []
    # Every failed attempt is logged with its cause; the delivery log keeps each
    # message's last one (one message may have met the 502 and then the garbage).
    assert "HTTP 502" in log and "answer is not JSON" in log
    errors = " ".join(str(d.get("last_error")) for d in deliveries)
    assert "HTTP 502" in errors or "answer is not JSON" in errors
    assert [s for s in found if s in errors] == []


# --- CORS -----------------------------------------------------------------------------

def _preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}


async def test_cors_is_closed_unless_configured(database_url: str) -> None:
    evil = "https://evil.example"
    async with serving(create_app(make_settings(database_url))) as http:
        preflight = await http.options(f"{API}/auth/staff/login", headers=_preflight(evil))
        simple = await http.get(f"{API}/health", headers={"Origin": evil})
        for response in (preflight, simple):
            assert "access-control-allow-origin" not in response.headers
            assert "access-control-allow-credentials" not in response.headers

    shop = "https://shop.example"
    configured = create_app(make_settings(database_url, cors_origins=(shop,)))
    async with serving(configured) as http:
        allowed = await http.options(f"{API}/auth/staff/login", headers=_preflight(shop))
        assert allowed.headers["access-control-allow-origin"] == shop
        assert "POST" in allowed.headers["access-control-allow-methods"]
        other = await http.options(f"{API}/auth/staff/login", headers=_preflight(evil))
        assert other.headers.get("access-control-allow-origin") not in (evil, "*")
        simple = await http.get(f"{API}/health", headers={"Origin": evil})
        assert simple.headers.get("access-control-allow-origin") not in (evil, "*")
        assert (await http.get(f"{API}/health", headers={"Origin": shop})
                ).headers["access-control-allow-origin"] == shop


# --- security headers -------------------------------------------------------------------

def _pages(app: Litestar) -> Iterator[str]:
    """Every GET route outside the API without path parameters: the docs, the web pages."""
    for route in app.routes:
        if isinstance(route, HTTPRoute) and not route.path.startswith(API) \
                and "{" not in route.path and any("GET" in h.http_methods
                                                  for h in route.route_handlers):
            yield route.path


async def test_security_headers_on_every_kind_of_answer(client: httpx.AsyncClient,
                                                        world: World, app: Litestar) -> None:
    pages = sorted(set(_pages(app)))
    assert {"/schema", "/schema/swagger", "/schema/openapi.json"} <= set(pages)
    voucher_free = [f"{API}/health", f"{API}/me", "/no/such/page", f"{API}/stores/x"]
    answers = [await client.get(path) for path in pages + voucher_free]
    answers.append(await client.get(f"{API}/stores", headers=world.headers(world.a.operator)))
    problems = []
    for response in answers:
        headers = response.headers
        where = f"{response.request.url.path} ({response.status_code})"
        if headers.get("x-content-type-options") != "nosniff":
            problems.append(f"{where}: no nosniff")
        if headers.get("x-frame-options") != "DENY":
            problems.append(f"{where}: framable")
        if "frame-ancestors 'none'" not in headers.get("content-security-policy", ""):
            problems.append(f"{where}: no CSP frame-ancestors")
        if not headers.get("referrer-policy"):
            problems.append(f"{where}: no Referrer-Policy")
        data = response.request.url.path.startswith((API, "/schema/openapi"))
        if data and "default-src 'none'" not in headers.get("content-security-policy", ""):
            problems.append(f"{where}: an API answer that may run content")
    assert problems == []


@pytest.mark.parametrize("env", ["production", "development"])
async def test_hsts_only_in_production(database_url: str, env: str) -> None:
    settings = make_settings(database_url, env=env, wechat_mode="live")
    async with serving(create_app(settings)) as http:
        response = await http.get(f"{API}/health")
    assert ("strict-transport-security" in response.headers) == (env == "production")
