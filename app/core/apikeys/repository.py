"""Every query of the API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypedDict, cast

from app.core.db import Sql, current_engine, is_sqlite, json_column
from app.core.tables import ApiKey


class ApiKeyRow(TypedDict):
    id: uuid.UUID
    chain_id: uuid.UUID
    name: str
    prefix: str
    key_hash: str
    scopes: list[str]
    store_ids: list[str] | None
    created_at: datetime
    created_by: uuid.UUID | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyVerdictRow(TypedDict):
    id: uuid.UUID
    chain_id: uuid.UUID
    scopes: Any  # JSON text (Sql)
    store_ids: Any
    revoked_at: datetime | None


_BY_HASH = Sql("SELECT id, chain_id, scopes, store_ids, revoked_at FROM core_api_key "
               "WHERE key_hash = {}")
# One statement for every key used since the last flush; never moves a time backwards
# (another process may have flushed a later use).
_TOUCH_PG = Sql(
    "UPDATE core_api_key AS k SET last_used_at = u.at "
    "FROM (SELECT unnest({}::uuid[]) AS id, unnest({}::timestamptz[]) AS at) AS u "
    "WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)")


async def insert(row: ApiKeyRow) -> None:
    await ApiKey.insert(ApiKey(**row)).run()  # type: ignore[arg-type]


async def list_keys(chain_id: uuid.UUID) -> list[ApiKeyRow]:
    return cast("list[ApiKeyRow]", await ApiKey.select().where(
        ApiKey.chain_id == chain_id).order_by(ApiKey.created_at, ascending=False).order_by(
        ApiKey.id).output(load_json=True).run())


async def get_key(key_id: uuid.UUID, chain_id: uuid.UUID) -> ApiKeyRow | None:
    return cast("ApiKeyRow | None", await ApiKey.select().where(
        (ApiKey.id == key_id) & (ApiKey.chain_id == chain_id)).first().output(
        load_json=True).run())


async def revoke(key_id: uuid.UUID, now: datetime) -> bool:
    """Revoke once: False when it already was."""
    rows = await ApiKey.update(revoked_at=now).where(
        (ApiKey.id == key_id) & ApiKey.revoked_at.is_null()).returning(ApiKey.id).run()
    return bool(rows)


async def by_hash(key_hash: str) -> KeyVerdictRow | None:
    row = await _BY_HASH.first(key_hash)
    if row is None:
        return None
    row["scopes"] = json_column(row["scopes"])
    row["store_ids"] = json_column(row["store_ids"])
    return cast("KeyVerdictRow", row)


async def touch(used: list[tuple[uuid.UUID, datetime]]) -> None:
    """Write the last use of many keys in one statement."""
    if not used:
        return
    if not is_sqlite(current_engine()):
        await _TOUCH_PG.rows([u[0] for u in used], [u[1] for u in used])
        return
    values = ", ".join("({}, {})" for _ in used)
    # Same text form as Piccolo writes (the engine's adapters), so the comparison holds.
    statement = Sql(
        f"WITH u(id, at) AS (VALUES {values}) "  # noqa: S608 - placeholders only
        "UPDATE core_api_key SET last_used_at = (SELECT u.at FROM u "
        "WHERE u.id = core_api_key.id) WHERE id IN (SELECT id FROM u) AND "
        "(last_used_at IS NULL OR last_used_at < (SELECT u.at FROM u "
        "WHERE u.id = core_api_key.id))")
    await statement.rows(*[v for pair in used for v in pair])
