"""GET /members/export.csv (issue 18, decision 045): every member of the chain with their
cards, streamed.

One row per card, the member's columns repeated; a member without cards is one row with
empty card columns. Members are read in keyset pages by id (``EXPORT_BATCH`` at a time,
then their cards in one query), and each page is sent before the next is read: memory
stays flat whatever the chain's size.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

from app.core.clock import utcnow
from cards import repository as repo
from cards.service import effective_status

EXPORT_BATCH = 1000
HEADER = ("member_id", "external_id", "name", "phone", "birthday", "created_at", "card_id",
          "template_id", "template_name", "kind", "status", "balance_cents", "points",
          "visits_left", "tier", "paid_balance_cents", "bonus_balance_cents")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A cell's text. Text a person typed never starts as a formula in a spreadsheet (CSV
    injection): a leading = + - @ tab or CR gets an apostrophe (the rule of the stats
    export; the import reads such a cell back without it)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _lines(members: list[dict[str, Any]], cards: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    by_member: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for card in cards:
        by_member.setdefault(card["member"], []).append(card)
    now = utcnow()
    for member in members:
        head = [cell(member[c]) for c in repo.EXPORT_MEMBER]
        held = by_member.get(member["id"], [])
        if not held:
            writer.writerow(head + [""] * (len(HEADER) - len(head)))
        for card in held:
            status = effective_status(card, now)  # type: ignore[arg-type]
            writer.writerow(head + [cell(v) for v in (
                card["id"], card["template"], card["template_name"], card["kind"], status,
                card["balance_cents"], card["points"], card["visits_left"], card["tier"],
                card["balance_cents"] - card["bonus_balance_cents"],
                card["bonus_balance_cents"])])
    return out.getvalue()


async def export_members(chain_id: uuid.UUID) -> AsyncIterator[str]:
    """The CSV, header first, a page of members at a time."""
    batch = EXPORT_BATCH
    yield ",".join(HEADER) + "\r\n"
    after: uuid.UUID | None = None
    while True:
        members = await repo.export_members(chain_id, after, batch)
        if not members:
            return
        cards = await repo.export_cards([m["id"] for m in members])
        yield _lines(members, cards)
        if len(members) < batch:
            return
        after = members[-1]["id"]
