"""Helpers of the notification tests: fast dispatcher settings, waiting, the outbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.core.notify import events
from app.core.settings import Settings
from app.core.tables import InboxMessage, Notification
from tests.conftest import make_settings

API = "/api/v1"
# Poll and retry fast; a short WeChat timeout so a hung call costs half a second.
FAST: dict[str, Any] = {"notify_poll_s": 0.05, "notify_retry_base_s": 0.05,
                        "notify_lease_s": 6.0, "wechat_timeout_s": 0.5}
APP_ID, APP_SECRET = "wxNotify0001", "notify-app-secret-0001"
TEMPLATES = {event: f"tpl-{event}" for event in sorted(events.ALL)}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, **FAST)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 15.0,
                   what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def rows(**where: Any) -> list[dict[str, Any]]:
    query = Notification.select().order_by(Notification.created_at)
    for column, value in where.items():
        query = query.where(getattr(Notification, column) == value)
    return list(await query.output(load_json=True).run())


async def settled() -> bool:
    """No pending row left: each was sent, failed or cancelled."""
    return not await Notification.exists().where(Notification.status == "pending").run()


async def wait_settled(timeout: float = 20.0) -> None:
    await wait_for(settled, timeout, "every notification to be delivered or failed")


async def inbox_count(member_id: uuid.UUID) -> int:
    return int(await InboxMessage.count().where(InboxMessage.member_id == member_id).run())


async def get_json(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                   **params: Any) -> Any:
    response = await client.get(API + path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()
