"""Signing keys and signed codes on both engines: sign, verify, forge, expire, rotate, publish."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from litestar import Litestar

from app.core.codes import (
    CodeExpired,
    CodeKind,
    CodePayload,
    CodeSigner,
    InvalidCode,
    SigningKeyUnavailable,
    encode,
    parse,
)
from app.core.codes.format import encode_raw, split
from app.core.codes.keys import PURPOSE
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.runtime import Runtime
from app.core.tables import SigningKey
from tests.conftest import TEST_SECRET

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def signer_of(app: Litestar) -> CodeSigner:
    runtime: Runtime = app.state.runtime
    return runtime.signer


def fresh_signer() -> CodeSigner:
    """Another server process: same secret, same database, empty caches."""
    return CodeSigner(TEST_SECRET)


def x_to_public_key(x: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


async def key_rows(chain_id: uuid.UUID) -> list[dict[str, object]]:
    return await SigningKey.select().where(SigningKey.chain_id == chain_id).run()


def forge(kid: str, kind: CodeKind = CodeKind.VOUCHER, object_id: uuid.UUID | None = None,
          not_after: datetime = LATER) -> str:
    """A well-formed code naming ``kid`` but signed by a key nobody published."""
    payload = CodePayload(kind=kind, kid=bytes.fromhex(kid), object_id=object_id or uuid.uuid4(),
                          not_after=int(not_after.timestamp()))
    return encode(payload, Ed25519PrivateKey.generate().sign(payload.to_bytes()))


async def test_sign_and_verify_round_trip(client: httpx.AsyncClient, app: Litestar) -> None:
    signer, chain, voucher = signer_of(app), uuid.uuid4(), uuid.uuid4()
    code = await signer.sign(chain, CodeKind.VOUCHER, voucher, LATER)
    key = await signer.ensure_key(chain)

    for checker in (signer, fresh_signer()):
        verified = await checker.verify(code, now=NOW)
        assert verified.kind is CodeKind.VOUCHER
        assert verified.object_id == voucher
        assert verified.chain_id == chain
        assert verified.kid == key.kid
        assert verified.expires_at == LATER
    payload, _ = parse(code)
    assert payload.kid_hex == key.kid and key.status == "active" and len(key.kid) == 8
    # The same key keeps signing: the chain has one key, and another process uses it too.
    other = await fresh_signer().sign(chain, CodeKind.CARD, uuid.uuid4(), LATER)
    assert parse(other)[0].kid_hex == key.kid
    assert len(await key_rows(chain)) == 1


async def test_code_carries_the_chain_of_its_key(client: httpx.AsyncClient,
                                                 app: Litestar) -> None:
    signer, chain_a, chain_b = signer_of(app), uuid.uuid4(), uuid.uuid4()
    code_a = await signer.sign(chain_a, CodeKind.CARD, uuid.uuid4(), LATER)
    code_b = await signer.sign(chain_b, CodeKind.CARD, uuid.uuid4(), LATER)
    assert parse(code_a)[0].kid != parse(code_b)[0].kid

    assert (await signer.verify(code_b, now=NOW)).chain_id == chain_b
    assert (await signer.verify(code_b, now=NOW, chain_id=chain_b)).chain_id == chain_b
    with pytest.raises(InvalidCode, match="another chain"):
        await signer.verify(code_b, now=NOW, chain_id=chain_a)
    assert (await fresh_signer().verify(code_a, now=NOW)).chain_id == chain_a


async def test_right_kid_wrong_key_is_invalid(client: httpx.AsyncClient, app: Litestar) -> None:
    signer, chain = signer_of(app), uuid.uuid4()
    kid = (await signer.ensure_key(chain)).kid
    for checker in (signer, fresh_signer()):
        with pytest.raises(InvalidCode, match="signature") as caught:
            await checker.verify(forge(kid), now=NOW)
        assert caught.value.status == 422 and caught.value.code == "invalid_code"
        # A forgery learns nothing about time: expired and forged is still just invalid.
        with pytest.raises(InvalidCode):
            await checker.verify(forge(kid, not_after=NOW - timedelta(days=1)), now=NOW)


async def test_unknown_kid_is_invalid(client: httpx.AsyncClient, app: Litestar) -> None:
    signer = signer_of(app)
    await signer.ensure_key(uuid.uuid4())
    with pytest.raises(InvalidCode, match="unknown"):
        await signer.verify(forge("0badc0de"), now=NOW)


async def test_expiry_is_checked_after_the_signature(client: httpx.AsyncClient,
                                                     app: Litestar) -> None:
    signer, chain = signer_of(app), uuid.uuid4()
    code = await signer.sign(chain, CodeKind.CARD, uuid.uuid4(), NOW + timedelta(seconds=60))
    assert (await signer.verify(code, now=NOW + timedelta(seconds=60))).chain_id == chain
    assert await signer.verify(code, now=NOW + timedelta(seconds=60, microseconds=999_999))
    with pytest.raises(CodeExpired) as caught:
        await signer.verify(code, now=NOW + timedelta(seconds=61))
    assert caught.value.status == 410 and caught.value.code == "code_expired"
    # Fractions of a second are rounded down: never valid longer than asked.
    rounded = await signer.sign(chain, CodeKind.CARD, uuid.uuid4(),
                                NOW + timedelta(seconds=10, microseconds=900_000))
    assert parse(rounded)[0].expires_at == NOW + timedelta(seconds=10)


async def test_sign_refuses_naive_times(client: httpx.AsyncClient, app: Litestar) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await signer_of(app).sign(uuid.uuid4(), CodeKind.CARD, uuid.uuid4(),
                                  datetime(2030, 1, 1))


async def test_every_character_substitution_fails_verification(
        client: httpx.AsyncClient, app: Litestar) -> None:
    signer, chain = signer_of(app), uuid.uuid4()
    code = await signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), LATER)
    outcomes: set[str] = set()
    for position in range(len(code)):
        for char in BASE32 + "o0=1 ":
            if char == code[position]:
                continue
            mutated = code[:position] + char + code[position + 1:]
            with pytest.raises(InvalidCode) as caught:
                await signer.verify(mutated, now=NOW)
            outcomes.add(caught.value.detail)
    # Every way of failing was met: form, version, kind, unknown kid, bad signature.
    assert any("base32" in o for o in outcomes) and any("starts with" in o for o in outcomes)
    assert {"unsupported code version", "unknown code kind", "unknown signing key",
            "bad signature"} <= outcomes


async def test_rotation_keeps_old_codes_and_publishes_both(client: httpx.AsyncClient,
                                                           app: Litestar) -> None:
    signer, chain, other_chain = signer_of(app), uuid.uuid4(), uuid.uuid4()
    old_code = await signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), LATER)
    old_kid = parse(old_code)[0].kid_hex
    other_kid = (await signer.ensure_key(other_chain)).kid

    new_kid = await signer.rotate(chain, max_code_lifetime=timedelta(days=30))
    assert new_kid != old_kid
    new_code = await signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), LATER)
    assert parse(new_code)[0].kid_hex == new_kid
    for checker in (signer, fresh_signer()):
        assert (await checker.verify(old_code, now=NOW)).chain_id == chain
        assert (await checker.verify(new_code, now=NOW)).chain_id == chain
    # Another process, whose cache may still name the old key, follows within its TTL.
    assert parse(await CodeSigner(TEST_SECRET, active_key_ttl=0).sign(
        chain, CodeKind.CARD, uuid.uuid4(), LATER))[0].kid_hex == new_kid

    rows = {row["kid"]: row for row in await key_rows(chain)}
    assert rows[old_kid]["status"] == "retired" and rows[new_kid]["status"] == "active"
    assert rows[old_kid]["retired_at"] is not None and rows[old_kid]["publish_until"] is not None

    response = await client.get("/api/v1/keys", params={"chain_id": str(chain)})
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert {key["kid"] for key in keys} == {old_kid, new_kid}
    for key in keys:
        assert set(key) == {"kty", "crv", "kid", "x", "chain_id"}
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
        assert key["chain_id"] == str(chain)
        assert len(key["kid"]) == 8 and key["kid"] == key["kid"].lower()
        assert "=" not in key["x"] and len(key["x"]) == 43
    # x is the key that really signed: check each code offline, as a scanner would.
    by_kid = {key["kid"]: x_to_public_key(key["x"]) for key in keys}
    for code in (old_code, new_code):
        payload, payload_bytes, signature = split(code)
        by_kid[payload.kid_hex].verify(signature, payload_bytes)
        with pytest.raises(InvalidSignature):
            by_kid[payload.kid_hex].verify(signature, payload_bytes[::-1])

    everyone = (await client.get("/api/v1/keys")).json()["keys"]
    assert {old_kid, new_kid, other_kid} <= {key["kid"] for key in everyone}
    assert other_kid not in {key["kid"] for key in keys}

    # Past its window the retired key is no longer published; the active one always is.
    later = await signer.published_keys(chain, now=datetime.now(UTC) + timedelta(days=31))
    assert [key["kid"] for key in later] == [new_kid]


async def test_rotation_without_a_bound_publishes_for_ever(client: httpx.AsyncClient,
                                                           app: Litestar) -> None:
    signer, chain = signer_of(app), uuid.uuid4()
    first = (await signer.ensure_key(chain)).kid
    second = await signer.rotate(chain)
    far = await signer.published_keys(chain, now=datetime.now(UTC) + timedelta(days=3650))
    assert {key["kid"] for key in far} == {first, second}


async def test_keys_endpoint_validation(client: httpx.AsyncClient, app: Litestar) -> None:
    response = await client.get("/api/v1/keys", params={"chain_id": "not-a-uuid"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "chain_id" in response.text
    unknown = await client.get("/api/v1/keys", params={"chain_id": str(uuid.uuid4())})
    assert unknown.status_code == 200 and unknown.json() == {"keys": []}
    assert "max-age" in unknown.headers["cache-control"]


async def test_concurrent_first_use_makes_one_key(client: httpx.AsyncClient,
                                                  app: Litestar) -> None:
    chain = uuid.uuid4()
    signers = [fresh_signer() for _ in range(12)]
    keys = await asyncio.gather(*(s.ensure_key(chain) for s in signers))
    assert len({key.kid for key in keys}) == 1
    codes = await asyncio.gather(*(s.sign(chain, CodeKind.CARD, uuid.uuid4(), LATER)
                                   for s in [fresh_signer() for _ in range(12)]))
    assert {parse(code)[0].kid_hex for code in codes} == {keys[0].kid}
    rows = await key_rows(chain)
    assert len(rows) == 1 and rows[0]["status"] == "active"


async def test_concurrent_rotations_leave_one_active_key(client: httpx.AsyncClient,
                                                         app: Litestar) -> None:
    chain = uuid.uuid4()
    first = (await signer_of(app).ensure_key(chain)).kid
    kids = await asyncio.gather(*(fresh_signer().rotate(chain) for _ in range(4)))
    rows = await key_rows(chain)
    assert len(rows) == 5 and {row["kid"] for row in rows} == {first, *kids}
    assert [row["status"] for row in rows].count("active") == 1


async def test_key_made_in_a_rolled_back_transaction_is_not_remembered(
        client: httpx.AsyncClient, app: Litestar) -> None:
    signer, chain = signer_of(app), uuid.uuid4()

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with write_transaction():
            lost = await signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), LATER)
            assert (await signer.verify(lost, now=NOW)).chain_id == chain
            raise Abort
    assert await key_rows(chain) == []
    code = await signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), LATER)
    assert parse(code)[0].kid != parse(lost)[0].kid
    assert (await fresh_signer().verify(code, now=NOW)).chain_id == chain
    with pytest.raises(InvalidCode):
        await fresh_signer().verify(lost, now=NOW)

    async with write_transaction():  # committed this time: the key stays
        kept = await signer.sign(uuid.uuid4(), CodeKind.CARD, uuid.uuid4(), LATER)
    assert await fresh_signer().verify(kept, now=NOW)


async def test_private_key_is_not_readable_in_the_table(client: httpx.AsyncClient,
                                                        app: Litestar) -> None:
    signer, chain = signer_of(app), uuid.uuid4()
    code = await signer.sign(chain, CodeKind.CARD, uuid.uuid4(), LATER)
    (row,) = await key_rows(chain)
    kid, sealed = str(row["kid"]), str(row["private_key_sealed"])

    # The sealed value opens only with the secret, this purpose and this kid ...
    raw = SecretBox(TEST_SECRET, purpose=PURPOSE).open(sealed, kid)
    private = Ed25519PrivateKey.from_private_bytes(raw)
    assert base64.urlsafe_b64encode(private.public_key().public_bytes_raw()).rstrip(b"=") \
        .decode() == row["public_key"]
    _, payload_bytes, signature = split(code)
    private.public_key().verify(signature, payload_bytes)
    for box, associated in ((SecretBox(TEST_SECRET), kid),
                            (SecretBox(TEST_SECRET, purpose=PURPOSE), "00000000"),
                            (SecretBox("another-secret-" * 4, purpose=PURPOSE), kid)):
        with pytest.raises(InvalidTag):
            box.open(sealed, associated)
    # ... and nothing in the row gives the private key away in clear.
    for value in row.values():
        text = str(value)
        for leak in (raw.hex(), base64.b64encode(raw).decode().rstrip("="),
                     base64.urlsafe_b64encode(raw).decode().rstrip("=")):
            assert leak not in text
    assert raw not in base64.urlsafe_b64decode(sealed)

    # A process with another root secret cannot sign with the chain's key.
    with pytest.raises(SigningKeyUnavailable):
        await CodeSigner("another-secret-" * 4).sign(chain, CodeKind.CARD, uuid.uuid4(), LATER)


async def test_a_document_and_a_code_signature_never_pass_for_each_other(
        client: httpx.AsyncClient, app: Litestar) -> None:
    """The offline bundle is signed by the code key over ``domain + document`` (domain
    separation): a code's signature never checks as a bundle, nor a bundle's as a code,
    whatever the document's bytes (even a code's exact payload)."""
    signer, chain = signer_of(app), uuid.uuid4()
    domain = b"o2o/offline-bundle/v1\n"
    code = await signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), LATER)
    _, code_bytes, code_signature = split(code)
    (published,) = await signer.published_keys(chain)
    public = x_to_public_key(published["x"])
    public.verify(code_signature, code_bytes)
    with pytest.raises(InvalidSignature):  # a code's signature is no bundle's
        public.verify(code_signature, domain + code_bytes)

    kid, signature = await signer.sign_document(chain, domain, code_bytes)
    assert kid == published["kid"]
    public.verify(signature, domain + code_bytes)  # what the scanner checks
    with pytest.raises(InvalidSignature):
        public.verify(signature, code_bytes)
    with pytest.raises(InvalidCode):  # a bundle's signature is no code's
        await signer.verify(encode_raw(code_bytes, signature), now=NOW)
    for bad in (b"", b"offline-bundle/v1\n", b"o2o/offline-bundle/v1", b"o2o/a\nb\n",
                "o2o/ß\n".encode()):
        with pytest.raises(ValueError):
            await signer.sign_document(chain, bad, b"{}")
