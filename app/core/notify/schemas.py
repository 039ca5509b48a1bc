"""Responses of the notification endpoints (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from msgspec import Struct

Status = Literal["pending", "sent", "failed", "cancelled"]
Locale = Literal["zh-CN", "en"]
EventName = Literal["card_issued", "voucher_issued", "booking_confirmed", "booking_cancelled",
                    "booking_reminder", "redeemed", "balance_changed", "voucher_gift"]


class NotificationOut(Struct):
    """One row of the delivery log (the contract's fields first)."""

    id: uuid.UUID
    event: str
    member_id: uuid.UUID
    status: Status
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    store_id: uuid.UUID | None
    channel: str | None  # inbox | wechat, once sent
    due_at: datetime  # when it is (next) due


class InboxMessageOut(Struct):
    id: uuid.UUID
    event: str
    title: str  # in ``locale``
    text: str  # in ``locale``
    store_id: uuid.UUID | None
    created_at: datetime  # when the event is for
    locale: Locale  # the chain's: the language of title and text
    store_name: str | None
    # The event's data (app/core/notify/events.py: keys per event), for a page that
    # words the message itself; {} on messages delivered before it was kept.
    data: dict[str, str | int | None]
