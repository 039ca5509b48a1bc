"""Every query of the card bag's API side: templates made WeChat cards, the cards members
added to their card bags (what the callback writes), the pushes already taken, and the
sync health the operator reads. The sync worker's own queries live in sync_repository.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

from piccolo.query.mixins import OnConflictAction

from app.core.db import for_update, is_unique_violation
from cardbag.rows import BagCardRow, SyncLogRow, WechatCardRow
from cardbag.tables import BagCard, SyncLog, TakenPush, WechatCard

RECENT_FAILURES = 20


# --- templates made WeChat cards ------------------------------------------------------------

async def get_wechat_card(chain_id: uuid.UUID, template_id: uuid.UUID) -> WechatCardRow | None:
    return cast("WechatCardRow | None", await WechatCard.select().where(
        (WechatCard.template_id == template_id) & (WechatCard.chain_id == chain_id)
    ).first().run())


async def wechat_card_of(chain_id: uuid.UUID, wechat_card_id: str) -> WechatCardRow | None:
    """The chain's template whose WeChat card is ``wechat_card_id`` (a push names it)."""
    return cast("WechatCardRow | None", await WechatCard.select().where(
        (WechatCard.wechat_card_id == wechat_card_id) & (WechatCard.chain_id == chain_id)
    ).first().run())


async def claim_wechat_card(values: WechatCardRow) -> bool:
    """Insert the template's row (status ``creating``): True for the one caller that
    inserts it, False when a row is already there (the primary key refuses). One
    statement of its own: on PostgreSQL a refused insert would spoil a transaction."""
    try:
        await WechatCard.insert(WechatCard(**values)).run()
    except Exception as exc:
        if is_unique_violation(exc):
            return False
        raise
    return True


async def retake_wechat_card(chain_id: uuid.UUID, template_id: uuid.UUID,
                             values: Mapping[str, Any], stale_before: datetime) -> bool:
    """Take the row again for a new ``/card/create`` when the last one ``failed``, or was
    left ``creating`` by a process that died before WeChat answered (older than
    ``stale_before``): a conditional update, so of racing callers one wins."""
    rows = await WechatCard.update(dict[Any, Any](values)).where(
        (WechatCard.template_id == template_id) & (WechatCard.chain_id == chain_id)
        & ((WechatCard.status == "failed")
           | ((WechatCard.status == "creating") & (WechatCard.updated_at < stale_before)))
    ).returning(WechatCard.template_id).run()
    return bool(rows)


async def finish_wechat_card(template_id: uuid.UUID, claimed_at: datetime,
                             values: Mapping[str, Any]) -> bool:
    """WeChat's answer to the create: its card id and status, or ``failed`` and why; only
    on the row of the claim made at ``claimed_at`` (still ``creating``, not retaken)."""
    rows = await WechatCard.update(dict[Any, Any](values)).where(
        (WechatCard.template_id == template_id) & (WechatCard.status == "creating")
        & (WechatCard.updated_at == claimed_at)
    ).returning(WechatCard.template_id).run()
    return bool(rows)


async def review_wechat_card(chain_id: uuid.UUID, wechat_card_id: str,
                             values: Mapping[str, Any], at: datetime) -> bool:
    """WeChat's review result (reviewed ``at``), on a card it has: pending, or reviewed
    before ``at`` (reviewed again after an edit). Never on a row still creating or
    failed, and a late retry of an older review leaves a newer one alone."""
    rows = await WechatCard.update(dict[Any, Any](values)).where(
        (WechatCard.wechat_card_id == wechat_card_id) & (WechatCard.chain_id == chain_id)
        & WechatCard.status.is_in(["pending", "approved", "rejected"])
        & (WechatCard.reviewed_at.is_null() | (WechatCard.reviewed_at <= at))
    ).returning(WechatCard.template_id).run()
    return bool(rows)


# --- pushes -----------------------------------------------------------------------------------

async def take_push(key: str, chain_id: uuid.UUID, now: datetime) -> bool:
    """Record a push as taken: True the first time, False for a push seen before. Inside
    the write transaction of its effect, so the two stand or fall together."""
    rows = await TakenPush.insert(TakenPush(key=key, chain_id=chain_id, received_at=now)) \
        .on_conflict(target=TakenPush.key, action=OnConflictAction.do_nothing) \
        .returning(TakenPush.key).run()
    return bool(rows)


async def purge_pushes(before: datetime) -> None:
    """Forget pushes taken before ``before``: a push older than WeChat's 5-minute window
    is refused by its timestamp anyway, so days of them are more than enough."""
    await TakenPush.delete().where(TakenPush.received_at < before).run()


async def purge_sync_log(before: datetime) -> None:
    """Forget the delivery log's entries written before ``before``."""
    await SyncLog.delete().where(SyncLog.at < before).run()


# --- cards in the bag -----------------------------------------------------------------------

async def put_in_bag(values: BagCardRow) -> None:
    """The card is (again) in the member's card bag: insert its row, or revive the row
    of an earlier stay with a fresh sync state (WeChat's copy starts unactivated)."""
    fresh = [BagCard.chain_id, BagCard.template_id, BagCard.wechat_card_id, BagCard.code,
             BagCard.openid, BagCard.state, BagCard.added_at, BagCard.removed_at,
             BagCard.activated_at, BagCard.synced_seq, BagCard.synced_tier,
             BagCard.synced_status, BagCard.synced_at, BagCard.dirty, BagCard.due_at,
             BagCard.attempts, BagCard.last_error, BagCard.last_errcode]
    await BagCard.insert(BagCard(**values)).on_conflict(
        target=BagCard.card_id, action=OnConflictAction.do_update, values=fresh).run()


async def remember_removal(values: BagCardRow) -> bool:
    """A removal that arrived before the card's get: its row in ``removed``, inserted
    only if the card has no row (a get that won meanwhile is left alone)."""
    rows = await BagCard.insert(BagCard(**values)).on_conflict(
        target=BagCard.card_id, action=OnConflictAction.do_nothing
    ).returning(BagCard.card_id).run()
    return bool(rows)


async def remove_from_bag(chain_id: uuid.UUID, wechat_card_id: str, code: str,
                          at: datetime) -> bool:
    """The card left the bag ``at``: unless it was put in again later (a late retry of
    an older removal)."""
    rows = await BagCard.update({
        BagCard.state: "removed", BagCard.removed_at: at, BagCard.dirty: False,
    }).where(
        (BagCard.chain_id == chain_id) & (BagCard.wechat_card_id == wechat_card_id)
        & (BagCard.code == code) & (BagCard.state == "in_bag") & (BagCard.added_at <= at)
    ).returning(BagCard.card_id).run()
    return bool(rows)


async def get_bag_card(card_id: uuid.UUID, *, lock: bool = False) -> BagCardRow | None:
    """The card's bag row; ``lock``: held to the end of the write transaction."""
    query = BagCard.select().where(BagCard.card_id == card_id)
    if lock:
        query = for_update(query)
    return cast("BagCardRow | None", await query.first().run())


# --- sync health ------------------------------------------------------------------------------

class SyncCounts(TypedDict):
    in_bag: int
    removed: int
    pending: int
    failing: int


_COUNTS = """
SELECT
  COALESCE(SUM(CASE WHEN state = 'in_bag' THEN 1 ELSE 0 END), 0) AS in_bag,
  COALESCE(SUM(CASE WHEN state = 'removed' THEN 1 ELSE 0 END), 0) AS removed,
  COALESCE(SUM(CASE WHEN state = 'in_bag' AND dirty THEN 1 ELSE 0 END), 0) AS pending,
  COALESCE(SUM(CASE WHEN state = 'in_bag' AND last_error IS NOT NULL THEN 1 ELSE 0 END), 0)
    AS failing
FROM cardbag_card WHERE template_id = {}
"""


async def sync_counts(template_id: uuid.UUID) -> SyncCounts:
    """The template's bag cards: in the bag, removed, waiting for a sync (dirty), and
    whose last push failed (one indexed scan: cardbag_card_template)."""
    rows = await BagCard.raw(_COUNTS, template_id).run()
    row = rows[0] if rows else {}
    return SyncCounts(in_bag=int(row.get("in_bag") or 0), removed=int(row.get("removed") or 0),
                      pending=int(row.get("pending") or 0),
                      failing=int(row.get("failing") or 0))


async def last_synced_at(template_id: uuid.UUID) -> datetime | None:
    row = await BagCard.select(BagCard.synced_at).where(
        (BagCard.template_id == template_id) & BagCard.synced_at.is_not_null()
    ).order_by(BagCard.synced_at, ascending=False).first().run()
    return None if row is None else cast("datetime", row["synced_at"])


async def recent_failures(template_id: uuid.UUID,
                          limit: int = RECENT_FAILURES) -> list[SyncLogRow]:
    """The template's sync log, newest first (retries and given-up pushes)."""
    return cast("list[SyncLogRow]", await SyncLog.select().where(
        SyncLog.template_id == template_id
    ).order_by(SyncLog.at, ascending=False).order_by(SyncLog.id).limit(limit).run())
