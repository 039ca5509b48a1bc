"""Numbering the test's events, the sequencer's job (app.core.events) until it runs in
the app: each chain's unnumbered rows, in insert order, after its last number."""

from __future__ import annotations

from app.core.db import Sql, write_transaction

_PENDING = Sql("SELECT id, chain_id FROM core_event WHERE sequence IS NULL ORDER BY position")
_LAST = Sql("SELECT MAX(sequence) AS last FROM core_event WHERE chain_id = {}")
_NUMBER = Sql("UPDATE core_event SET sequence = {} WHERE id = {}")


async def number_events() -> None:
    async with write_transaction():
        for row in await _PENDING.rows():
            last = await _LAST.first(row["chain_id"])
            await _NUMBER.rows(((last or {}).get("last") or 0) + 1, row["id"])
