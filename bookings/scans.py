"""A booking's signed code (kind B) at the clerk's scan: checks the guest in.

Exposed as ``SCAN_HANDLERS``, which the composition root (create_app) registers with the
cards domain's scan endpoint, so cards never imports bookings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core.auth import Principal
from app.core.codes.errors import InvalidCode
from app.core.codes.format import CodeKind
from app.core.db import write_transaction
from bookings import repository as repo
from bookings import service
from bookings.errors import InvalidState
from bookings.rows import BookingView
from cards import public as cards
from cards.errors import WrongStore
from cards.redemption import RedemptionRow, Scan, ScanHandler
from cards.schemas import PreviewOut, RedemptionOut
from stores import service as stores


class BookingScans:
    async def _load(self, scan: Scan) -> BookingView:
        row = await repo.get_booking(scan.verified.object_id, scan.principal.chain_id)
        if row is None:
            raise InvalidCode("the code names no booking of this chain")
        if row["store"] != scan.store_id:
            raise WrongStore(f"this booking is at {row['store_name']}")
        return row

    async def preview(self, scan: Scan) -> PreviewOut:
        row = await self._load(scan)
        # The check-in's own rule (status, arrival window, time not over), not a copy.
        service.check_in_allowed(row, scan.now)
        member = await stores.get_member(scan.principal, row["member"])
        zone = ZoneInfo(row["timezone"])
        start, end = row["start_at"].astimezone(zone), row["end_at"].astimezone(zone)
        return PreviewOut(
            kind="booking", object_id=row["id"], member=member,
            summary=(f"{row['service_name']} with {row['resource_name']}, "
                     f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}, party of {row['party_size']}"))

    async def check(self, scan: Scan) -> None:
        """Nothing ahead of the write: the check-in reads and moves under its own guard."""

    async def write(self, scan: Scan, checked: None) -> RedemptionOut:
        async with write_transaction():
            row = await self._load(scan)
            await service.check_in(scan.principal, row["id"], scan.now)
            return await cards.record_redemption(scan.principal, "booking", row,
                                                 scan.store_id, scan.now, action="check_in")

    async def reverse(self, redemption: RedemptionRow, principal: Principal,
                      now: datetime) -> None:
        """Undo a check-in scanned by mistake, while the booking is still checked in."""
        if not await repo.move_status(redemption["object_id"], ("checked_in",), {
                "status": "confirmed", "checked_in_at": None, "updated_at": now}):
            raise InvalidState("the booking has moved on since its check-in")


SCAN_HANDLERS: dict[CodeKind, ScanHandler[Any]] = {CodeKind.BOOKING: BookingScans()}
"""What bookings add to the scan endpoint (registered by create_app)."""
