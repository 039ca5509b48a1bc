"""Reading notifications: the operator's delivery log, the member's inbox, and the
outbox tail and one-use ticket ids of the live streams (app/live.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from app.core.auth import Principal
from app.core.db import write_transaction
from app.core.errors import Forbidden
from app.core.notify import render
from app.core.notify import repository as repo
from app.core.notify.rows import InboxRow, OutboxMark, OutboxTailRow
from app.core.notify.schemas import InboxMessageOut, NotificationOut, Status

# The log shows what is or was to be delivered; cancelled rows (a cancelled booking's
# reminder) only when asked for by status.
LOG_STATUSES: tuple[Status, ...] = ("pending", "sent", "failed")
# Messages delivered before issue 17 kept no data and were written in English.
STORED_BEFORE_LOCALES: render.Locale = "en"


async def delivery_log(principal: Principal, *, status: Status | None, event: str | None,
                       member_id: uuid.UUID | None, limit: int,
                       offset: int) -> list[NotificationOut]:
    if not principal.is_operator:
        raise Forbidden()
    rows = await repo.delivery_log(principal.chain_id,
                                   statuses=(status,) if status else LOG_STATUSES,
                                   event=event, member_id=member_id, limit=limit, offset=offset)
    return [NotificationOut(
        id=r["id"], event=r["event"], member_id=r["member_id"], status=r["status"],
        attempts=r["attempts"], last_error=r["last_error"], created_at=r["created_at"],
        sent_at=r["sent_at"], store_id=r["store_id"], channel=r["channel"],
        due_at=r["due_at"]) for r in rows]


async def inbox(principal: Principal, *, limit: int, offset: int,
                locale: str = render.DEFAULT_LOCALE) -> list[InboxMessageOut]:
    """The member's messages in ``locale`` (the chain's: the caller looks it up)."""
    if principal.kind != "member":
        raise Forbidden()
    rows = await repo.member_inbox(principal.id, limit, offset)
    return [inbox_message(r, render.as_locale(locale)) for r in rows]


def inbox_message(row: InboxRow, locale: render.Locale) -> InboxMessageOut:
    """A message worded in ``locale``: rendered again from its data (so a chain that
    changes its language reads every message in it), or as stored when it has none
    (delivered before the data was kept) or cannot be rendered."""
    data = row["data"] if isinstance(row["data"], dict) else {}
    title, text, shown = row["title"], row["text"], locale
    if data:
        try:
            again = render.render(row["event"], data, row["at"], locale)
            title, text = again.title, again.text
        except Exception:  # noqa: BLE001 - an unknown event or odd data: the stored text
            shown = STORED_BEFORE_LOCALES
    else:
        shown = STORED_BEFORE_LOCALES
    store_name = data.get("store_name")
    return InboxMessageOut(id=row["id"], event=row["event"], title=title, text=text,
                           store_id=row["store_id"], created_at=row["at"], locale=shown,
                           store_name=store_name if isinstance(store_name, str) else None,
                           data=dict(data))


# --- the live streams (app/live.py) -----------------------------------------------------

async def outbox_marks(since: datetime, after: tuple[datetime, uuid.UUID] | None,
                       limit: int) -> list[OutboxMark]:
    """A page of every member's outbox rows written at or after ``since`` (after
    ``after``, the previous page's last ``(created_at, id)``), oldest first."""
    return await repo.outbox_marks(since, after, limit)


async def outbox_rows(ids: Sequence[uuid.UUID]) -> list[OutboxTailRow]:
    """These outbox rows with their events and data, oldest first."""
    return await repo.outbox_rows(ids) if ids else []


async def spend_once(jti: str, subject: uuid.UUID, expires_at: int) -> bool:
    """Mark a one-use credential (a live stream's ticket) used, on every process: True the
    first time, False ever after (its row is purged once ``expires_at`` has passed)."""
    async with write_transaction():
        return await repo.spend_once(jti, subject, expires_at)
