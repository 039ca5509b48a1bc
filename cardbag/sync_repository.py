"""Every query of the card bag's sync (cardbag/sync.py): the feed cursor per chain, the
dirty marks, the sweep, the sender's leases and progress, the delivery log.

Reads ``card`` (cards' table: its ``ledger_seq``, ``tier``, ``status``) in the sweep and
in the clearing of a dirty mark, so that "nothing differs" is checked by the database
in the statement that clears it (no window between a read and the write).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.clock import utcnow
from app.core.db import Sql, current_engine, is_sqlite
from cardbag.rows import BagCardRow
from cardbag.tables import BagCard, FeedCursor, SyncLog

# --- following the feed -----------------------------------------------------------------


async def bag_chains() -> list[uuid.UUID]:
    """Chains with at least one card in a member's WeChat card bag."""
    rows = await BagCard.select(BagCard.chain_id).where(
        BagCard.state == "in_bag").distinct().run()
    return [r["chain_id"] for r in rows]


async def cursors() -> dict[uuid.UUID, int]:
    rows = await FeedCursor.select(FeedCursor.chain_id, FeedCursor.last_sequence).run()
    return {r["chain_id"]: r["last_sequence"] for r in rows}


async def start_cursor(chain_id: uuid.UUID, at: int, now: datetime) -> None:
    """The chain's cursor at ``at`` (the feed's head when the chain is first seen: its
    bag cards are dirty from the start, so what came before concerns none of them)."""
    await FeedCursor.insert(FeedCursor(chain_id=chain_id, last_sequence=at, updated_at=now)
                            ).on_conflict(action="DO NOTHING").run()


async def lock_cursor(chain_id: uuid.UUID) -> int | None:
    """The chain's cursor, locked for this transaction; None when another process is
    following the chain right now (PostgreSQL SKIP LOCKED; SQLite's write transaction
    serialises) or it has none."""
    query = FeedCursor.select(FeedCursor.last_sequence).where(FeedCursor.chain_id == chain_id)
    if not is_sqlite(current_engine()):
        query = query.lock_rows(skip_locked=True)
    rows = await query.run()
    return int(rows[0]["last_sequence"]) if rows else None


async def advance_cursor(chain_id: uuid.UUID, last: int, now: datetime) -> None:
    await FeedCursor.update({FeedCursor.last_sequence: last, FeedCursor.updated_at: now}).where(
        (FeedCursor.chain_id == chain_id) & (FeedCursor.last_sequence < last)).run()


def _mark_sql(count: int) -> Sql:
    # A card waiting out a retry's backoff keeps its due time (a busy card must not
    # hammer a failing WeChat); any other is due now.
    return Sql("UPDATE cardbag_card SET dirty = TRUE, due_at = CASE WHEN attempts > 0 "  # noqa: S608
               "AND due_at > {} THEN due_at ELSE {} END WHERE state = 'in_bag' AND card_id "
               f"IN ({', '.join('{}' for _ in range(count))}) RETURNING card_id")


async def mark_dirty(card_ids: Collection[uuid.UUID], now: datetime) -> int:
    """Mark these cards (those in a bag) as changed; returns how many were."""
    if not card_ids:
        return 0
    return len(await _mark_sql(len(card_ids)).rows(now, now, *card_ids))


# The card's status as it answers it at {} (cards.service.effective_status): a card past
# its validity is expired before anything writes it down, and WeChat shows it so.
_STATUS = ("CASE WHEN c.status = 'active' AND c.expires_at IS NOT NULL "
           "AND c.expires_at <= {} THEN 'expired' ELSE c.status END")
_DIFFERS = ("c.ledger_seq > b.synced_seq OR COALESCE(c.tier, '') <> COALESCE(b.synced_tier, "
            f"'') OR {_STATUS} <> COALESCE(b.synced_status, '')")
_SWEEP = Sql(
    "UPDATE cardbag_card SET dirty = TRUE, due_at = {} WHERE NOT dirty AND state = 'in_bag' "  # noqa: S608
    "AND card_id IN (SELECT b.card_id FROM cardbag_card b JOIN card c ON c.id = b.card_id "
    f"WHERE b.state = 'in_bag' AND NOT b.dirty AND ({_DIFFERS})) RETURNING card_id")


async def sweep(now: datetime) -> int:
    """Mark every bag card whose card differs from what WeChat was last sent (the
    backstop of the feed, and what finds a card lapsed); returns how many."""
    return len(await _SWEEP.rows(now, now))


# --- the sender -------------------------------------------------------------------------

_DUE = ("dirty AND state = 'in_bag' AND due_at <= {} "
        "AND (lease_until IS NULL OR lease_until < {})")


async def claim(now: datetime, until: datetime, owner: str, limit: int) -> list[BagCardRow]:
    """Lease up to ``limit`` due dirty cards to ``owner``, in the caller's write
    transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, processes claim side by side;
    SQLite: the write transaction serialises). The update re-checks (conditional)."""
    lock = "" if is_sqlite(current_engine()) else " FOR UPDATE SKIP LOCKED"
    found = await Sql(f"SELECT card_id FROM cardbag_card WHERE {_DUE} "  # noqa: S608
                      f"ORDER BY due_at LIMIT {{}}{lock}").rows(now, now, limit)
    if not found:
        return []
    ids = [r["card_id"] for r in found]
    rows = await BagCard.update({BagCard.lease_owner: owner, BagCard.lease_until: until}).where(
        BagCard.card_id.is_in(ids) & (BagCard.dirty == True)  # noqa: E712
        & (BagCard.state == "in_bag") & (BagCard.due_at <= now)
        & (BagCard.lease_until.is_null() | (BagCard.lease_until < now))
    ).returning(*BagCard.all_columns()).run()
    return cast("list[BagCardRow]", sorted(rows, key=lambda r: r["due_at"]))


async def any_due(now: datetime) -> bool:
    return bool(await Sql(f"SELECT 1 AS due FROM cardbag_card WHERE {_DUE} LIMIT 1"  # noqa: S608
                          ).rows(now, now))


def _ours(card_id: uuid.UUID, owner: str, added_at: datetime) -> Combinable:
    """The card's row while its lease is ``owner``'s and it is still the stay the lease
    was taken for: in the bag, added at ``added_at`` (a removal, or a removal and a new
    ``user_get_card``, makes the sender's writes about the old stay land nowhere)."""
    return ((BagCard.card_id == card_id) & (BagCard.lease_owner == owner)
            & (BagCard.state == "in_bag") & (BagCard.added_at == added_at))


async def progress(card_id: uuid.UUID, owner: str, added_at: datetime,
                   values: Mapping[str, Any]) -> bool:
    """Write what was sent (``synced_*``, ``activated_at``, ``attempts``...) while the lease
    is ``owner``'s and the stay is the same; False when not (run out and taken, removed
    from the bag, or added again: stop)."""
    rows = await BagCard.update(dict(values)).where(  # type: ignore[arg-type]
        _ours(card_id, owner, added_at)).returning(BagCard.card_id).run()
    return bool(rows)


_CLEAR_TEXT = (
    "UPDATE cardbag_card SET dirty = FALSE, lease_owner = NULL, lease_until = NULL "  # noqa: S608
    "WHERE card_id = {} AND lease_owner = {} AND state = 'in_bag' AND added_at = {} "
    "AND EXISTS (SELECT 1 FROM card c WHERE c.id = cardbag_card.card_id "
    "AND c.ledger_seq <= cardbag_card.synced_seq "
    "AND COALESCE(c.tier, '') = COALESCE(cardbag_card.synced_tier, '') "
    f"AND {_STATUS} = COALESCE(cardbag_card.synced_status, ''))")
_CLEAR = Sql(_CLEAR_TEXT + " RETURNING card_id")
# A card added to the bag again within the second of its last adding (the same
# ``added_at``; the callback sets activated_at NULL) stays dirty too.
_CLEAR_ACTIVE = Sql(_CLEAR_TEXT + " AND activated_at IS NOT NULL RETURNING card_id")


async def finish(card_id: uuid.UUID, owner: str, added_at: datetime, *,
                 activated: bool = True) -> bool:
    """Hand the card back: clean if the card is now as WeChat was last sent (checked in
    this statement: a change committed meanwhile keeps it dirty) and the stay is the
    one pushed (a card added again meanwhile stays dirty: its next push activates it),
    else still dirty. ``activated``: and only if it is (still) activated."""
    if await (_CLEAR_ACTIVE if activated else _CLEAR).rows(card_id, owner, added_at,
                                                           utcnow()):
        return True
    await release(owner, card_id)
    return False


async def release(owner: str, card_id: uuid.UUID | None = None) -> None:
    where: Combinable = BagCard.lease_owner == owner
    if card_id is not None:
        where = where & (BagCard.card_id == card_id)
    await BagCard.update({BagCard.lease_owner: None, BagCard.lease_until: None}).where(
        where).run()


async def log(values: Mapping[str, Any]) -> None:
    await SyncLog.insert(SyncLog(**values)).run()


# --- readers ----------------------------------------------------------------------------

async def in_bag(card_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime | None]:
    """Of these cards, those in a member's WeChat card bag, with when WeChat last took
    their figures (None: not yet)."""
    if not card_ids:
        return {}
    rows = await BagCard.select(BagCard.card_id, BagCard.synced_at).where(
        BagCard.card_id.is_in(list(card_ids)) & (BagCard.state == "in_bag")).run()
    return {r["card_id"]: r["synced_at"] for r in rows}


async def bag_card(card_id: uuid.UUID) -> BagCardRow | None:
    return cast("BagCardRow | None", await BagCard.select().where(
        BagCard.card_id == card_id).first().run())


async def put_in_bag(values: Mapping[str, Any]) -> None:
    """A card (back) in a bag, to be activated: what the callback's ``user_get_card``
    writes (tests and tools use this one until then)."""
    fresh = {**values, "state": "in_bag", "removed_at": None, "activated_at": None,
             "synced_seq": 0, "synced_tier": None, "synced_status": None, "dirty": True,
             "attempts": 0, "lease_until": None, "lease_owner": None}
    existing = await bag_card(values["card_id"])
    if existing is None:
        await BagCard.insert(BagCard(**fresh)).run()
    else:
        await BagCard.update(fresh).where(  # type: ignore[arg-type]
            BagCard.card_id == values["card_id"]).run()
