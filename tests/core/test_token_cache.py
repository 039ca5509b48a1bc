"""The per-process memory of verified tokens never extends a token's life."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt

from app.core.settings import Settings
from tests.core.test_tokens import ME, assert_unauthorized, bearer, claims, jwt_key, member
from tests.world import World


async def test_a_remembered_token_is_refused_once_it_expires(
        client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    now = int(time.time())
    token = jwt.encode(claims(member(world), iat=now, exp=now + 2), jwt_key(settings),
                       algorithm="HS256")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    assert (await client.get(ME, headers=bearer(token))).status_code == 200  # remembered

    await asyncio.sleep(now + 2 - time.time() + 0.05)

    assert_unauthorized(await client.get(ME, headers=bearer(token)))
