"""Bearer tokens: only HS256 tokens signed with the derived key, issued by o2o, unexpired
and untampered open the API; and a valid token opens only what its role may.

Forged tokens are crafted with PyJWT (or by hand where PyJWT refuses), using the real
derived key where the point is that something other than the signature is wrong. A
control test proves the crafting matches what the app issues, so each refusal below is
about the one thing the test changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.core.auth import ISSUER, Principal
from app.core.crypto import derive_key
from app.core.settings import Settings
from tests.world import World

ME = "/api/v1/me"
MEMBERS = "/api/v1/members"
STAFF = "/api/v1/staff"
STORES = "/api/v1/stores"
CONFIG = "/api/v1/wechat-config"


def jwt_key(settings: Settings) -> str:
    return derive_key(settings.secret_key, "o2o/jwt-hs256").hex()


def claims(principal: Principal, **changes: Any) -> dict[str, Any]:
    """The claims the app puts in a token for ``principal``; ``changes`` override them
    (a value of None removes the claim)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(principal.id), "iat": now, "exp": now + 600, "iss": ISSUER,
        "jti": uuid.uuid4().hex,
        "extras": {"kind": principal.kind, "role": principal.role,
                   "chain_id": str(principal.chain_id),
                   "store_ids": sorted(str(s) for s in principal.store_ids), "ver": 0},
    }
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()),
                     b64(signature)])


def hs256_by_hand(payload: dict[str, Any], key: str) -> str:
    """HS256 without PyJWT's checks on the claims (it refuses to encode some forgeries)."""
    signing_input = ".".join([b64(b'{"alg":"HS256","typ":"JWT"}'),
                              b64(json.dumps(payload).encode())])
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["status"] == 401


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "forbidden"


def member(world: World) -> Principal:
    return world.a.members[0]


# --- control: the crafting is right -------------------------------------------------------

async def test_a_crafted_token_with_the_real_key_and_claims_is_accepted(
        client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    token = jwt.encode(claims(member(world)), jwt_key(settings), algorithm="HS256")

    response = await client.get(ME, headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(member(world).id)


async def test_a_token_signed_by_hand_with_the_real_key_is_accepted(
        client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    token = hs256_by_hand(claims(member(world)), jwt_key(settings))

    response = await client.get(ME, headers=bearer(token))

    assert response.status_code == 200, response.text


async def test_an_issued_token_has_the_claims_the_forgeries_imitate(
        world: World, settings: Settings) -> None:
    token = world.token(member(world))

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = jwt.decode(token, jwt_key(settings), algorithms=["HS256"], issuer=ISSUER)
    expected = claims(member(world))
    assert decoded["sub"] == expected["sub"]
    assert decoded["extras"] == expected["extras"]
    assert decoded["exp"] > time.time()


# --- no token, garbage -----------------------------------------------------------------

@pytest.mark.parametrize("path", [ME, MEMBERS, STAFF, STORES, CONFIG])
async def test_no_token_is_unauthorized(client: httpx.AsyncClient, world: World,
                                        path: str) -> None:
    assert_unauthorized(await client.get(path))


@pytest.mark.parametrize("authorization", [
    "Bearer garbage",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJIUzI1NiJ9..",
    "Bearer ",
    "Basic dXNlcjpwYXNzd29yZA==",
    "garbage",
])
async def test_garbage_tokens_are_unauthorized(client: httpx.AsyncClient, world: World,
                                               authorization: str) -> None:
    assert_unauthorized(await client.get(ME, headers={"Authorization": authorization}))


@pytest.mark.parametrize("scheme", ["Basic", "Token", "JWT", "Bearer:", "Digest"])
async def test_a_real_token_under_another_scheme_is_unauthorized(
        client: httpx.AsyncClient, world: World, scheme: str) -> None:
    """Only ``Authorization: Bearer <token>`` opens the API (Litestar's middleware took
    whatever followed the first space, so ``Basic <jwt>`` passed)."""
    token = world.token(member(world))
    assert (await client.get(ME, headers=bearer(token))).status_code == 200

    assert_unauthorized(await client.get(ME, headers={"Authorization": f"{scheme} {token}"}))


async def test_the_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient,
                                                     world: World) -> None:
    token = world.token(member(world))  # RFC 7235: the scheme is case-insensitive
    response = await client.get(ME, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200, response.text


# --- signature and algorithm -----------------------------------------------------------

@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_unsigned_alg_none_tokens_are_unauthorized(
        client: httpx.AsyncClient, world: World, alg: str) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, claims(member(world)))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_alg_none_with_a_real_signature_attached_is_unauthorized(
        client: httpx.AsyncClient, world: World) -> None:
    real = world.token(member(world))
    _, payload, signature = real.split(".")
    token = ".".join([b64(b'{"alg":"none","typ":"JWT"}'), payload, signature])

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("which", ["another-deployment", "root-secret", "other-purpose"])
async def test_hs256_with_another_key_is_unauthorized(
        client: httpx.AsyncClient, world: World, settings: Settings, which: str) -> None:
    key = {
        "another-deployment": derive_key("another-deployment-secret-0123456789abcdef",
                                         "o2o/jwt-hs256").hex(),
        "root-secret": settings.secret_key,  # O2O_SECRET_KEY itself, not the derived key
        "other-purpose": derive_key(settings.secret_key, "o2o/secrets-at-rest").hex(),
    }[which]
    assert key != jwt_key(settings)
    token = jwt.encode(claims(member(world)), key, algorithm="HS256")

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_other_hmac_algorithms_with_the_real_key_are_unauthorized(
        client: httpx.AsyncClient, world: World, settings: Settings, alg: str) -> None:
    token = jwt.encode(claims(member(world)), jwt_key(settings), algorithm=alg)

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_rs256_token_is_unauthorized(client: httpx.AsyncClient,
                                           world: World) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(member(world)), private, algorithm="RS256")

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_es256_token_is_unauthorized(client: httpx.AsyncClient,
                                           world: World) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(member(world)), private, algorithm="ES256")

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
async def test_key_confusion_header_with_an_hmac_signature_is_unauthorized(
        client: httpx.AsyncClient, world: World, settings: Settings, alg: str) -> None:
    """The header claims an asymmetric algorithm but the bytes are a valid HS256 MAC under
    the real key: a verifier that trusts the header's ``alg`` could be fooled."""
    real = jwt.encode(claims(member(world)), jwt_key(settings), algorithm="HS256")
    _, payload, signature = real.split(".")
    token = ".".join([b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()), payload, signature])

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_tampered_role_is_unauthorized(client: httpx.AsyncClient,
                                             world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]
    header, payload, signature = world.token(clerk).split(".")
    body = json.loads(unb64(payload))
    assert body["extras"]["role"] == "clerk"
    body["extras"]["role"] = "operator"
    forged = ".".join([header, b64(json.dumps(body).encode()), signature])
    # The unmodified token works, so the refusal is the tampering's doing.
    genuine = await client.get(STORES, headers=world.headers(clerk))
    assert genuine.status_code == 200, genuine.text

    response = await client.get(STAFF, headers=bearer(forged))

    assert_unauthorized(response)


async def test_tampered_subject_is_unauthorized(client: httpx.AsyncClient,
                                                world: World) -> None:
    victim = world.a.members[1]
    header, payload, signature = world.token(member(world)).split(".")
    body = json.loads(unb64(payload))
    body["sub"] = str(victim.id)
    forged = ".".join([header, b64(json.dumps(body).encode()), signature])

    assert_unauthorized(await client.get(ME, headers=bearer(forged)))


async def test_tampered_chain_is_unauthorized(client: httpx.AsyncClient,
                                              world: World) -> None:
    operator = world.a.operator
    header, payload, signature = world.token(operator).split(".")
    body = json.loads(unb64(payload))
    body["extras"]["chain_id"] = str(world.b.id)
    forged = ".".join([header, b64(json.dumps(body).encode()), signature])

    assert_unauthorized(await client.get(STORES, headers=bearer(forged)))


# --- claims ------------------------------------------------------------------------------

async def test_expired_token_is_unauthorized(client: httpx.AsyncClient, world: World,
                                             settings: Settings) -> None:
    now = int(time.time())
    token = jwt.encode(claims(member(world), iat=now - 7200, exp=now - 60), jwt_key(settings),
                       algorithm="HS256")

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_not_yet_valid_token_is_unauthorized(client: httpx.AsyncClient,
                                                   world: World, settings: Settings) -> None:
    token = jwt.encode(claims(member(world), nbf=int(time.time()) + 3600), jwt_key(settings),
                       algorithm="HS256")

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("changes", [
    {"iss": None},
    {"iss": "evil"},
    {"iss": "O2O"},
    {"iss": ["o2o", "evil"]},
    {"exp": None},
    {"iat": None},
    {"sub": None},
    {"jti": None},
], ids=["no-iss", "wrong-iss", "iss-case", "iss-list", "no-exp", "no-iat", "no-sub", "no-jti"])
async def test_missing_or_wrong_registered_claims_are_unauthorized(
        client: httpx.AsyncClient, world: World, settings: Settings,
        changes: dict[str, Any]) -> None:
    token = hs256_by_hand(claims(member(world), **changes), jwt_key(settings))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("extras", [
    {"kind": "member", "role": "operator"},
    {"kind": "staff", "role": "member"},
    {"kind": "admin", "role": "operator"},
    {"kind": "staff", "role": "owner"},
    {"chain_id": "not-a-uuid"},
    {"store_ids": ["not-a-uuid"]},
    {"ver": "0"},
    {"ver": -1},
    {"ver": True},
], ids=["member-as-operator", "staff-as-member", "unknown-kind", "unknown-role",
        "bad-chain", "bad-store", "ver-text", "ver-negative", "ver-bool"])
async def test_inconsistent_identity_claims_are_unauthorized(
        client: httpx.AsyncClient, world: World, settings: Settings,
        extras: dict[str, Any]) -> None:
    """Even a validly signed token must describe a coherent principal."""
    operator = world.a.operator
    payload = claims(operator)
    payload["extras"].update(extras)
    token = jwt.encode(payload, jwt_key(settings), algorithm="HS256")

    assert_unauthorized(await client.get(STORES, headers=bearer(token)))


async def test_non_uuid_subject_is_unauthorized(client: httpx.AsyncClient,
                                                world: World, settings: Settings) -> None:
    token = jwt.encode(claims(member(world), sub="admin"), jwt_key(settings), algorithm="HS256")

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


# --- roles -------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", MEMBERS, None),
    ("GET", STAFF, None),
    ("GET", CONFIG, None),
    ("POST", MEMBERS, {"name": "Mallory", "phone": "13900000000"}),
    ("POST", STORES, {"name": "Fake", "address": "x", "timezone": "Asia/Shanghai",
                      "opening_hours": []}),
    ("PUT", CONFIG, {"app_id": "wxattacker0001", "app_secret": "attacker-secret",
                     "templates": {}}),
])
async def test_member_token_cannot_call_staff_endpoints(
        client: httpx.AsyncClient, world: World, method: str, path: str,
        body: dict[str, Any] | None) -> None:
    response = await client.request(method, path, headers=world.headers(member(world)),
                                    json=body)

    assert_forbidden(response)


@pytest.mark.parametrize("who", ["operator", "alpha-manager", "alpha-clerk1"])
async def test_staff_token_cannot_call_me(client: httpx.AsyncClient, world: World,
                                          who: str) -> None:
    principal = world.a.operator if who == "operator" else world.a.staff[who]
    headers = world.headers(principal)

    assert_forbidden(await client.get(ME, headers=headers))
    assert_forbidden(await client.patch(ME, headers=headers, json={"name": "Staff as member"}))
