"""API keys wired into the app: the endpoints, given the stores domain's check that a key's
stores belong to the chain (``stores.service.stores_of_chain``), which the kernel's
apikeys package may not import.

- ``POST /api-keys`` (operator) ``{"name", "scopes", "store_ids"?}`` → 201 with ``key``,
  shown in this answer only;
- ``GET /api-keys`` (operator): the chain's keys, newest first, revoked ones included;
- ``POST /api-keys/{id}/revoke`` (operator) → 200, refused from the next request on on
  every server process (again: 200, the same key).

People only: these routes are absent from app/key_scopes.py, so a key gets 403.
"""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from app.core.apikeys import service
from app.core.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from app.core.auth import OPERATORS
from app.core.openapi import problems
from app.core.params import Caller, RuntimeDep
from stores import service as stores


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["integrations"]

    @post("", guards=[OPERATORS], summary="Create an API key (shown once)",
          responses=problems(400))
    async def create(self, principal: Caller, runtime: RuntimeDep,
                     data: JSONBody[ApiKeyCreate]) -> ApiKeyCreated:
        return await service.create_key(principal, data, keys=runtime.auth.api_keys,
                                        stores_of_chain=stores.stores_of_chain)

    @get("", guards=[OPERATORS], summary="The chain's API keys (never the key itself)")
    async def list_keys(self, principal: Caller, runtime: RuntimeDep) -> list[ApiKeyOut]:
        return await service.list_keys(principal, runtime.auth.api_keys)

    @post("/{key_id:uuid}/revoke", guards=[OPERATORS], status_code=HTTP_200_OK,
          summary="Revoke an API key, at once on every server process",
          responses=problems(404))
    async def revoke(self, principal: Caller, runtime: RuntimeDep,
                     key_id: FromPath[uuid.UUID]) -> ApiKeyOut:
        return await service.revoke_key(principal, key_id, runtime.auth.api_keys)


CONTROLLERS = [ApiKeyController]
