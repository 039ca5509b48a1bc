from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from app.core.db import make_engine
from app.core.runtime import Runtime


async def test_health_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.filterwarnings("ignore:.*Unable to connect to database")
async def test_health_is_503_when_the_database_is_unreachable(
        client: httpx.AsyncClient, app: Litestar, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime: Runtime = app.state.runtime
    # A PostgreSQL nobody listens on: the check must fail fast and say so.
    monkeypatch.setattr(runtime, "engine", make_engine("postgresql://nobody@127.0.0.1:1/x"))
    response = await client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "unreachable"}
