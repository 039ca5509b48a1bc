"""GET /keys: the chains' public signing keys as JWKs (RFC 8037), for offline scanners.

No auth: public keys are public, and a scanner must be able to fetch them before anyone
logs in on it. Mounted under /api/v1 by create_app.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import QueryParameter
from msgspec import Struct

from app.core.auth import PUBLIC
from app.core.params import RuntimeDep

# Scanners poll this; a minute of caching is short next to any code's validity after a
# rotation (the retired key stays listed meanwhile), and spares the database.
CACHE_CONTROL = "public, max-age=60"


class Jwk(Struct):
    kty: str
    crv: str
    kid: str
    x: str
    chain_id: str


class KeySet(Struct):
    keys: list[Jwk]


class KeysController(Controller):
    path = "/keys"
    tags = ["keys"]

    @get("", opt=PUBLIC, summary="Public signing keys (JWK, RFC 8037)", cache=False,
         description="Active keys, and retired keys while codes they signed may still be "
                     "valid. Without chain_id, every chain's keys. A code's kid is the "
                     "JWK kid; its signature is Ed25519 over the 26-byte payload.")
    async def keys(
        self, runtime: RuntimeDep,
        chain_id: Annotated[uuid.UUID | None, QueryParameter(
            description="only this chain's keys")] = None,
    ) -> Response[KeySet]:
        keys = await runtime.signer.published_keys(chain_id)
        return Response(KeySet(keys=[Jwk(**key) for key in keys]),
                        headers={"Cache-Control": CACHE_CONTROL})
