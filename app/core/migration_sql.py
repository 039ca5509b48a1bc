"""Raw DDL for migrations: composite unique indexes and engine-specific constraints.

Piccolo runs a migration's raw steps *before* its table steps, so raw DDL lives in its
own migration after the one that creates the tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from piccolo.engine import engine_finder


def raw_ddl(*statements: str, engine_type: str | None = None) -> Callable[[], Awaitable[None]]:
    """A migration step running ``statements``; only on ``engine_type`` when given."""

    async def run() -> None:
        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no engine for the migration")
        if engine_type is not None and engine.engine_type != engine_type:
            return
        for statement in statements:
            await engine.run_ddl(statement)

    return run
