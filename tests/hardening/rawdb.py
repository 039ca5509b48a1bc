"""Plain SQL on the test database with the engine's own driver (sqlite3 / asyncpg), so
the checks after a fault do not go through the code under test."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg


async def fetch(database_url: str, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts; ids come back as strings on both engines."""
    if database_url.startswith("sqlite:"):
        path = database_url.removeprefix("sqlite:///")
        return await asyncio.to_thread(_sqlite_rows, "/" + path.lstrip("/"), sql)
    conn = await asyncpg.connect(database_url)
    try:
        return [{k: _plain(v) for k, v in dict(r).items()} for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _sqlite_rows(path: str, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _plain(value: Any) -> Any:
    return str(value) if type(value).__name__ == "UUID" else value
