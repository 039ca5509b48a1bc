"""The rows of notifications: what the repository returns (the columns of
``core_notification``, ``core_inbox_message`` and ``core_wechat_token`` in
app/core/tables.py) and the outbox row a change writes.

The repository casts Piccolo's plain dicts to these at its boundary (no copy), so a typo
in ``row["field"]`` fails mypy instead of a delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, TypedDict

NotificationStatus = Literal["pending", "sent", "failed", "cancelled"]
EventData = dict[str, str | int | None]
"""What a template renders (``render.check`` holds each event to its fields)."""


class NewNotification(TypedDict):
    """The outbox row of an event, as ``outbox.notification`` builds it."""

    id: uuid.UUID
    chain_id: uuid.UUID
    member_id: uuid.UUID
    store_id: uuid.UUID | None
    event: str
    data: EventData
    dedupe_key: str
    due_at: datetime
    created_at: datetime


class NotificationRow(NewNotification):
    """A claimed outbox row, every column (``data`` parsed)."""

    status: NotificationStatus
    attempts: int
    last_error: str | None
    channel: str | None  # inbox | wechat, once sent
    lease_until: datetime | None
    lease_owner: str | None
    sent_at: datetime | None


class DeliveryRow(TypedDict):
    """An outbox row as the delivery log shows it."""

    id: uuid.UUID
    event: str
    member_id: uuid.UUID
    store_id: uuid.UUID | None
    status: NotificationStatus
    attempts: int
    last_error: str | None
    channel: str | None
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None


class InboxMessageIn(TypedDict):
    """A message for the member's inbox, as the inbox adapter writes it."""

    notification_id: uuid.UUID
    chain_id: uuid.UUID
    member_id: uuid.UUID
    store_id: uuid.UUID | None
    event: str
    title: str
    text: str
    at: datetime  # when the event is for (its due time)
    created_at: datetime
    data: EventData  # the event's data, for rendering again and for pages


class InboxRow(TypedDict):
    """A message as the member's inbox lists it."""

    id: uuid.UUID
    event: str
    store_id: uuid.UUID | None
    title: str
    text: str
    at: datetime
    data: EventData  # {} on messages delivered before it was kept
    created_at: datetime  # when it was delivered


class WechatTokenRow(TypedDict):
    app_id: str
    access_token: str | None
    expires_at: datetime | None
    refresh_until: datetime | None
    refresh_owner: str | None
    updated_at: datetime


class OutboxMark(TypedDict):
    """An outbox row as the live streams' tail pages through them (app/live.py): which
    member it is for and when it was written, from the index alone."""

    id: uuid.UUID
    member_id: uuid.UUID
    created_at: datetime


class OutboxTailRow(OutboxMark):
    """An outbox row a live stream hears of: the event and its data (parsed)."""

    event: str
    data: EventData
