"""Housekeeping of the card bag: taken pushes are forgotten after a day (WeChat's window
refuses them after 5 minutes anyway), delivery log entries after 30 days."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from app.core.clock import utcnow
from cardbag import service
from cardbag.tables import SyncLog, TakenPush
from tests.world import World


async def test_old_pushes_and_log_entries_are_forgotten(world: World) -> None:
    now, chain = utcnow(), world.a.id
    await TakenPush.insert(
        TakenPush(key="old", chain_id=chain, received_at=now - timedelta(days=1, minutes=1)),
        TakenPush(key="young", chain_id=chain, received_at=now - timedelta(hours=23))).run()
    entry: dict[str, Any] = {"chain_id": chain, "template_id": uuid.uuid4(),
                             "card_id": uuid.uuid4(), "action": "update",
                             "outcome": "failed", "note": "40056"}
    await SyncLog.insert(
        SyncLog(id=uuid.uuid4(), **entry, at=now - timedelta(days=31)),
        SyncLog(id=uuid.uuid4(), **entry, at=now - timedelta(days=29))).run()

    await service.purge_old_rows()

    assert [r["key"] for r in await TakenPush.select(TakenPush.key).run()] == ["young"]
    left = await SyncLog.select(SyncLog.at).run()
    assert len(left) == 1 and left[0]["at"] > now - timedelta(days=30)
