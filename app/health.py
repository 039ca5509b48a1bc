"""GET /health: the process answers and the database does too."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from msgspec import Struct

from app.core.auth import PUBLIC
from app.core.db import ping
from app.core.params import RuntimeDep


class Health(Struct):
    status: str
    database: str


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("", opt=PUBLIC, summary="Liveness and database check", cache=False,
         responses={503: ResponseSpec(Health, description="the database cannot be reached")})
    async def health(self, runtime: RuntimeDep) -> Response[Health]:
        if await ping(runtime.engine):
            return Response(Health(status="ok", database="ok"), status_code=200)
        return Response(Health(status="degraded", database="unreachable"), status_code=503)
