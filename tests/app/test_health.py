from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_health_checks_the_database(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
