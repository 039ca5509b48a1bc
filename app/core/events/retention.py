"""The feed keeps every event at least 30 days (the contract); the housekeeping task
forgets numbered events older than that. Unnumbered rows are never purged, and the
counters stay: a chain's numbers go on from where they were."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.core.db import write_transaction
from app.core.events import repository as repo

RETENTION = timedelta(days=30)


async def purge_expired(now: datetime) -> int:
    """Delete numbered events written before ``now - RETENTION``, in batches (each its own
    short transaction); returns how many."""
    before = now - RETENTION
    total = 0
    for chain_id in await repo.heads():
        while True:
            async with write_transaction():
                gone = await repo.purge_chain(chain_id, before)
            total += gone
            if gone < repo.PURGE_BATCH:
                break
    return total
