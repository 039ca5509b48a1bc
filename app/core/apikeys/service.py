"""Creating, listing and revoking a chain's API keys (operators, people only: a key never
manages keys). The key is shown once, in the answer that creates it; only its keyed hash
and its first 12 characters are stored."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence

from app.core import revocation
from app.core.apikeys import repository as repo
from app.core.apikeys.repository import ApiKeyRow
from app.core.apikeys.schemas import (
    KEY_PREFIX,
    PREFIX_LENGTH,
    SCOPES,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
)
from app.core.apikeys.verdicts import ApiKeys
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.errors import Forbidden, NotFound, ValidationError
from app.core.principal import Principal

StoresOfChain = Callable[[uuid.UUID, Sequence[uuid.UUID] | None],
                         Awaitable[list[str] | None]]
"""The stores domain's check (``stores.service.stores_of_chain``, given by the composition
root): None stays None, else the distinct ids, all stores of the chain (400 otherwise)."""


def new_key() -> str:
    """``o2o_sk_`` and 43 URL-safe characters: 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _checked_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationError("scopes", f"unknown scopes {unknown}; known: {list(SCOPES)}")
    if not scopes:
        raise ValidationError("scopes", "give at least one scope")
    return [s for s in SCOPES if s in scopes]  # the contract's order, each once


def _person(principal: Principal) -> uuid.UUID:
    if principal.staff_id is None:
        raise Forbidden("API keys are managed by people (an operator), never by a key")
    return principal.staff_id


def key_out(row: ApiKeyRow, keys: ApiKeys | None = None) -> ApiKeyOut:
    last_used = row["last_used_at"]
    pending = keys.last_used(row["id"]) if keys is not None else None
    if pending is not None and (last_used is None or pending > last_used):
        last_used = pending  # this process's use, not yet written
    return ApiKeyOut(
        id=row["id"], name=row["name"], prefix=row["prefix"], scopes=list(row["scopes"]),
        store_ids=None if row["store_ids"] is None else [uuid.UUID(s) for s in row["store_ids"]],
        created_at=row["created_at"], created_by=row["created_by"], last_used_at=last_used,
        revoked_at=row["revoked_at"])


async def create_key(principal: Principal, body: ApiKeyCreate, *, keys: ApiKeys,
                     stores_of_chain: StoresOfChain) -> ApiKeyCreated:
    staff_id = _person(principal)
    scopes = _checked_scopes(body.scopes)
    if body.store_ids is not None and not body.store_ids:
        raise ValidationError("store_ids", "give at least one store, or null for every store")
    store_ids = await stores_of_chain(principal.chain_id, body.store_ids)
    key = new_key()
    row: ApiKeyRow = {
        "id": uuid.uuid4(), "chain_id": principal.chain_id, "name": body.name,
        "prefix": key[:PREFIX_LENGTH], "key_hash": keys.hash(key), "scopes": scopes,
        "store_ids": store_ids, "created_at": utcnow(), "created_by": staff_id,
        "revoked_at": None, "last_used_at": None,
    }
    async with write_transaction():
        await repo.insert(row)
    out = key_out(row)
    return ApiKeyCreated(**{f: getattr(out, f) for f in out.__struct_fields__}, key=key)


async def list_keys(principal: Principal, keys: ApiKeys) -> list[ApiKeyOut]:
    _person(principal)
    return [key_out(r, keys) for r in await repo.list_keys(principal.chain_id)]


async def revoke_key(principal: Principal, key_id: uuid.UUID, keys: ApiKeys) -> ApiKeyOut:
    """Revoke at once on every process; revoking a revoked key answers it as it is."""
    _person(principal)
    row = await repo.get_key(key_id, principal.chain_id)
    if row is None:
        raise NotFound("no such API key")
    if row["revoked_at"] is None:
        async with write_transaction():
            if await repo.revoke(key_id, utcnow()):
                # Heard by every other process at commit (PostgreSQL NOTIFY).
                await revocation.announce_key(key_id)
        keys.forget(key_id)  # this process: from the next request on
        row = await repo.get_key(key_id, principal.chain_id)
        assert row is not None
    return key_out(row, keys)
