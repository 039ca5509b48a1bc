"""The notifications a booking sends, written in the booking's own transaction.

Each event gets a dedupe key of the booking (and of its start, where a reschedule makes
a new one), so a retried request never queues a second message. The reminder is due
``reminder_minutes`` (store setting, default 2 h; 0 = none) before the start, and is
cancelled with the booking or replaced when it moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.core.clock import utcnow
from app.core.notify import events, outbox
from bookings.rows import BookingRow, BookingView


def _data(row: BookingView) -> dict[str, str | int | None]:
    return {"booking_id": str(row["id"]), "service_name": row["service_name"],
            "store_name": row["store_name"], "timezone": row["timezone"],
            "resource_name": row["resource_name"], "start": row["start_at"].isoformat(),
            "party_size": row["party_size"]}


def _stamp(start: datetime) -> int:
    return int(start.timestamp())


def reminder_key(row: BookingRow) -> str:
    return f"booking:{row['id']}:reminder:{_stamp(row['start_at'])}"


async def confirmed(row: BookingView, reminder_minutes: int,
                    previous_start: datetime | None = None) -> None:
    """A new booking, or one moved to a new start: confirm it and schedule its reminder.
    A move names its old start in ``previous_start`` (None for a new booking: the two
    are told apart by it), so the notice can say from when to when."""
    data = {**_data(row),
            "previous_start": previous_start.isoformat() if previous_start else None}
    await outbox.emit(events.BOOKING_CONFIRMED, chain_id=row["chain"],
                      member_id=row["member"], store_id=row["store"], data=data,
                      dedupe_key=f"booking:{row['id']}:confirmed:{_stamp(row['start_at'])}")
    due = row["start_at"] - timedelta(minutes=reminder_minutes)
    if reminder_minutes > 0 and due > utcnow():
        await outbox.emit(events.BOOKING_REMINDER, chain_id=row["chain"],
                          member_id=row["member"], store_id=row["store"], data=_data(row),
                          due_at=due, dedupe_key=reminder_key(row))


async def moved(before: BookingRow, after: BookingView, reminder_minutes: int) -> None:
    await outbox.cancel(reminder_key(before))
    await confirmed(after, reminder_minutes, previous_start=before["start_at"])


async def cancelled(row: BookingView) -> None:
    await outbox.cancel(reminder_key(row))
    await outbox.emit(events.BOOKING_CANCELLED, chain_id=row["chain"],
                      member_id=row["member"], store_id=row["store"], data=_data(row),
                      dedupe_key=f"booking:{row['id']}:cancelled")


async def settled(row: BookingRow) -> None:
    """Completed or no-show: a reminder still pending has nothing left to remind of."""
    await outbox.cancel(reminder_key(row))
