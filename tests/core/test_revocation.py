"""The per-process memory of token verdicts: a lost LISTEN connection on PostgreSQL
drops every remembered verdict (notifications may have been missed) and comes back."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
from litestar import Litestar

from app.core.revocation import Revocations
from app.core.runtime import Runtime
from tests.world import World


async def wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_lost_listener_forgets_every_verdict_and_listens_again(
        client: httpx.AsyncClient, world: World, app: Litestar, engine_name: str,
        database_url: str) -> None:
    if engine_name != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    runtime: Runtime = app.state.runtime
    revocations: Revocations = runtime.auth.revocations
    await wait_for(lambda: revocations.listening, 10)
    token = world.token(world.a.members[0])
    assert (await client.get("/api/v1/me",
                             headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert revocations._verdicts  # remembered
    old_pid = revocations.listener_pid

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", old_pid)
    finally:
        await conn.close()

    await wait_for(lambda: revocations.listening and revocations.listener_pid != old_pid,
                   revocations.ttl_s + 5)
    assert revocations._verdicts == {}
