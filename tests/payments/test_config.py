"""The chain's WeChat Pay merchant: checked, stored with its secrets sealed, answered
without them."""

from __future__ import annotations

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar

from payments.tables import PayConfig
from tests.hardening.test_authorization_matrix import pay_config
from tests.payments.helpers import API
from tests.world import World


async def test_config_is_sealed_and_never_answered(client: httpx.AsyncClient,
                                                   world: World) -> None:
    op = world.headers(world.a.operator)
    before = await client.get(f"{API}/wechat-pay-config", headers=op)
    assert before.status_code == 200 and before.json()["configured"] is False
    body = pay_config()
    put = await client.put(f"{API}/wechat-pay-config", headers=op, json=body)
    assert put.status_code == 200, put.text
    answer = put.json()
    assert answer["configured"] is True and answer["mchid"] == body["mchid"]
    assert answer["platform_public_key_id"] == body["platform_public_key_id"]
    assert "apiv3_key" not in answer and "merchant_private_key_pem" not in answer
    got = await client.get(f"{API}/wechat-pay-config", headers=op)
    assert got.json()["mchid"] == body["mchid"] and got.json()["configured"] is True
    assert "apiv3_key" not in got.text and "PRIVATE KEY" not in got.text

    # The row holds no plaintext secret: neither the key's PEM (nor its base64 body) nor
    # the APIv3 key.
    rows = await PayConfig.select().run()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    pem_lines = body["merchant_private_key_pem"].splitlines()[1:-1]
    assert "PRIVATE KEY" not in stored
    assert not any(line in stored for line in pem_lines)
    assert body["apiv3_key"] not in stored

    # Beta's operator sees only beta's (none).
    beta = await client.get(f"{API}/wechat-pay-config",
                            headers=world.headers(world.b.operator))
    assert beta.json()["configured"] is False

    # A second PUT replaces the first.
    again = await client.put(f"{API}/wechat-pay-config", headers=op,
                             json={**body, "mchid": "1900000110"})
    assert again.status_code == 200 and again.json()["mchid"] == "1900000110"
    assert len(await PayConfig.select().run()) == 1


async def test_config_refuses_keys_that_cannot_work(client: httpx.AsyncClient,
                                                    world: World) -> None:
    op = world.headers(world.a.operator)
    body = pay_config()
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    cases = {
        "merchant_private_key_pem": ec_key,
        "platform_public_key_pem": "-----BEGIN PUBLIC KEY-----\nnot a key\n"
                                   "-----END PUBLIC KEY-----\n",
        "apiv3_key": "0123456789abcdef0123456789abcde",  # 31 bytes
    }
    for field, value in cases.items():
        answer = await client.put(f"{API}/wechat-pay-config", headers=op,
                                  json={**body, field: value})
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["code"] == "validation_error"
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    # The public key where the private key belongs.
    swapped = await client.put(f"{API}/wechat-pay-config", headers=op, json={
        **body, "merchant_private_key_pem": body["platform_public_key_pem"]})
    assert swapped.status_code == 400
    assert await PayConfig.select().run() == []
    for role in ("alpha-manager", "alpha-clerk1"):
        refused = await client.put(f"{API}/wechat-pay-config", json=body,
                                   headers=world.headers(world.a.staff[role]))
        assert refused.status_code == 403


async def test_keys_left_out_keep_the_stored_ones(client: httpx.AsyncClient, world: World,
                                                  app: Litestar) -> None:
    op = world.headers(world.a.operator)
    body = pay_config()
    public = {k: v for k, v in body.items()
              if k not in ("merchant_private_key_pem", "apiv3_key", "platform_public_key_pem")}
    first = await client.put(f"{API}/wechat-pay-config", headers=op, json=public)
    assert first.status_code == 400
    assert sorted(e["field"] for e in first.json()["errors"]) == [
        "apiv3_key", "merchant_private_key_pem", "platform_public_key_pem"]
    assert (await client.put(f"{API}/wechat-pay-config", headers=op,
                             json=body)).status_code == 200
    before = (await PayConfig.select().run())[0]
    changed = await client.put(f"{API}/wechat-pay-config", headers=op,
                               json={**public, "mchid": "1900000999"})
    assert changed.status_code == 200, changed.text
    after = (await PayConfig.select().run())[0]
    assert after["mchid"] == "1900000999"
    assert after["platform_public_key_pem"] == before["platform_public_key_pem"]
    # Sealed again (a new nonce), the same secret inside.
    app_box = app.state.runtime.secrets
    aad = f"{world.a.id}/wechat-pay/apiv3-key"
    assert app_box.open(after["apiv3_key_sealed"], aad) == body["apiv3_key"].encode()
