"""Reading notifications: the operator's delivery log and the member's inbox."""

from __future__ import annotations

import uuid

from app.core.auth import Principal
from app.core.errors import Forbidden
from app.core.notify import repository as repo
from app.core.notify.schemas import InboxMessageOut, NotificationOut, Status

# The log shows what is or was to be delivered; cancelled rows (a cancelled booking's
# reminder) only when asked for by status.
LOG_STATUSES: tuple[Status, ...] = ("pending", "sent", "failed")


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


async def inbox(principal: Principal, *, limit: int, offset: int) -> list[InboxMessageOut]:
    if principal.kind != "member":
        raise Forbidden()
    rows = await repo.member_inbox(principal.id, limit, offset)
    return [InboxMessageOut(id=r["id"], event=r["event"], title=r["title"], text=r["text"],
                            store_id=r["store_id"], created_at=r["at"]) for r in rows]
