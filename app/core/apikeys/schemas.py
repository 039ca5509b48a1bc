"""Bodies of the API key endpoints (controllers: app/api_keys_api.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

# What a key may be given (API.md, "API keys"); which route needs which: app/key_scopes.py.
SCOPES: tuple[str, ...] = (
    "members:read", "members:write", "cards:read", "cards:write", "redeem",
    "bookings:read", "bookings:write", "stats:read", "events:read",
)
KEY_PREFIX = "o2o_sk_"
PREFIX_LENGTH = 12


class ApiKeyCreate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    # Checked by the service (unknown or no scope: 400 naming ``scopes``).
    scopes: Annotated[list[str], Meta(max_length=len(SCOPES) * 2)]
    # None: chain-wide; else stores of the chain (at least one).
    store_ids: Annotated[list[uuid.UUID], Meta(max_length=1000)] | None = None


class ApiKeyOut(Struct):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    store_ids: list[uuid.UUID] | None
    created_at: datetime
    created_by: uuid.UUID | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """The answer of POST /api-keys: the only one that ever holds ``key``."""

    key: str
