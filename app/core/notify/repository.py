"""Every query of notifications: the outbox, the inbox and the shared WeChat tokens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.db import Sql, current_engine, is_sqlite
from app.core.notify.rows import (
    DeliveryRow,
    InboxRow,
    NotificationRow,
    OutboxMark,
    OutboxTailRow,
    WechatTokenRow,
)
from app.core.tables import InboxMessage, Notification, WechatToken

# --- outbox -----------------------------------------------------------------------------

# A key emitted again replaces a row not yet delivered (a moved booking's reminder: new
# time, new id so the inbox shows the new text) and revives a cancelled one; a sent or
# failed row stays: that event happened.
_EMIT_INTO = (
    "INSERT INTO core_notification (id, chain_id, member_id, store_id, event, data, "
    "dedupe_key, status, attempts, due_at, created_at) ")
_EMIT_VALUES = "{}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {}"
_EMIT_ON_CONFLICT = (
    " ON CONFLICT (dedupe_key) DO UPDATE SET id = excluded.id, chain_id = excluded.chain_id, "
    "member_id = excluded.member_id, store_id = excluded.store_id, event = excluded.event, "
    "data = excluded.data, status = 'pending', attempts = 0, last_error = NULL, "
    "channel = NULL, due_at = excluded.due_at, lease_until = NULL, lease_owner = NULL, "
    "created_at = excluded.created_at, sent_at = NULL "
    "WHERE core_notification.status IN ('pending', 'cancelled')"
)


# In every redemption's transaction: no query building.
_EMIT_SQL = Sql(_EMIT_INTO + f"VALUES ({_EMIT_VALUES})" + _EMIT_ON_CONFLICT)


def emit_after(source: str) -> str:
    """The outbox insert as a step of a larger statement: it inserts only if the CTE
    ``source`` returned a row (a spend that won). Its ``{}`` take :func:`emit_args`."""
    # ``source`` is a CTE name written in code, never input.
    return _EMIT_INTO + f"SELECT {_EMIT_VALUES} FROM {source}" + _EMIT_ON_CONFLICT  # noqa: S608


def emit_args(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return (values["id"], values["chain_id"], values["member_id"], values["store_id"],
            values["event"], json.dumps(values["data"], ensure_ascii=False, sort_keys=True),
            values["dedupe_key"], values["due_at"], values["created_at"])


async def emit(values: Mapping[str, Any]) -> None:
    await _EMIT_SQL.rows(*emit_args(values))


async def cancel(dedupe_key: str) -> None:
    await Notification.update({
        Notification.status: "cancelled", Notification.lease_until: None,
        Notification.lease_owner: None,
    }).where((Notification.dedupe_key == dedupe_key)
             & (Notification.status == "pending")).run()


def _claimable(now: datetime) -> Any:
    return ((Notification.status == "pending") & (Notification.due_at <= now)
            & (Notification.lease_until.is_null() | (Notification.lease_until < now)))


async def any_due(now: datetime) -> bool:
    """A cheap read before claiming, so an idle process writes nothing."""
    return bool(await Notification.exists().where(_claimable(now)).run())


async def claim(now: datetime, lease_until: datetime, owner: str,
                limit: int) -> list[NotificationRow]:
    """Lease up to ``limit`` due rows to ``owner``, oldest due first, in the caller's
    write transaction (the row locks last until it commits).

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets processes claim side by side, each taking
    rows the others have not locked. SQLite: the IMMEDIATE write transaction serialises
    claims; the update re-checks the lease either way (a conditional update).
    """
    query = Notification.select(Notification.id).where(_claimable(now)).order_by(
        Notification.due_at).limit(limit)
    if not is_sqlite(current_engine()):
        query = query.lock_rows(skip_locked=True)
    ids = [r["id"] for r in await query.run()]
    if not ids:
        return []
    rows = await Notification.update({
        Notification.lease_until: lease_until, Notification.lease_owner: owner,
        Notification.attempts: Notification.attempts + 1,
    }).where(Notification.id.is_in(ids) & _claimable(now)).returning(
        *Notification.all_columns()).run()
    for row in rows:
        if isinstance(row["data"], str):
            row["data"] = json.loads(row["data"])
    return cast("list[NotificationRow]", sorted(rows, key=lambda r: r["due_at"]))


async def finish(owner: str, changes: list[tuple[uuid.UUID, dict[str, Any]]]) -> int:
    """Record the outcomes of a batch (in the caller's transaction), each only while its lease is
    still ours (a row re-claimed after our lease ran out, or cancelled or replaced
    meanwhile, is left alone). Returns how many were recorded."""
    # One statement per distinct outcome (a batch delivered to the inbox: one in all).
    groups: dict[tuple[tuple[str, Any], ...], list[uuid.UUID]] = {}
    for notification_id, values in changes:
        groups.setdefault(tuple(sorted(values.items())), []).append(notification_id)
    recorded = 0
    for values_key, ids in groups.items():
        update: dict[Any, Any] = {**dict(values_key), "lease_until": None,
                                  "lease_owner": None}
        rows = await Notification.update(update).where(
            Notification.id.is_in(ids) & (Notification.lease_owner == owner)
            & (Notification.status == "pending")).returning(Notification.id).run()
        recorded += len(rows)
    return recorded


async def release(owner: str) -> None:
    """Hand back rows leased to ``owner`` (a dispatcher stopping mid-delivery)."""
    await Notification.update({
        Notification.lease_until: None, Notification.lease_owner: None,
    }).where((Notification.lease_owner == owner)
             & (Notification.status == "pending")).run()


async def purge(outbox_before: datetime, inbox_before: datetime) -> None:
    """Forget finished outbox rows and old inbox messages (the housekeeping task)."""
    await Notification.delete().where(
        Notification.status.is_in(["sent", "failed", "cancelled"])
        & (Notification.created_at < outbox_before)).run()
    await InboxMessage.delete().where(InboxMessage.at < inbox_before).run()


async def delivery_log(chain_id: uuid.UUID, *, statuses: tuple[str, ...], event: str | None,
                       member_id: uuid.UUID | None, limit: int,
                       offset: int) -> list[DeliveryRow]:
    where = (Notification.chain_id == chain_id) & Notification.status.is_in(list(statuses))
    if event is not None:
        where &= Notification.event == event
    if member_id is not None:
        where &= Notification.member_id == member_id
    return cast("list[DeliveryRow]", await Notification.select(
        Notification.id, Notification.event, Notification.member_id, Notification.store_id,
        Notification.status, Notification.attempts, Notification.last_error,
        Notification.channel, Notification.due_at, Notification.created_at,
        Notification.sent_at,
    ).where(where).order_by(Notification.created_at, ascending=False).order_by(
        Notification.id).limit(limit).offset(offset).run())


async def outbox_marks(since: datetime, after: tuple[datetime, uuid.UUID] | None,
                       limit: int) -> list[OutboxMark]:
    """Outbox rows written at or after ``since`` (and after ``after``, the last
    ``(created_at, id)`` of the previous page), every member's, in (created_at, id) order:
    the live streams' tail, from the index core_notification_created_at alone. The caller
    picks its members' rows (a list of them in an IN would meet SQLite's variable limit)."""
    where: Combinable = Notification.created_at >= since
    if after is not None:
        at, last_id = after
        where &= (Notification.created_at > at) | (
            (Notification.created_at == at) & (Notification.id > last_id))
    return cast("list[OutboxMark]", await Notification.select(
        Notification.id, Notification.member_id, Notification.created_at,
    ).where(where).order_by(Notification.created_at).order_by(Notification.id).limit(
        limit).run())


async def outbox_rows(ids: Sequence[uuid.UUID]) -> list[OutboxTailRow]:
    """These outbox rows' events and data, oldest first."""
    found: list[dict[str, Any]] = []
    for first in range(0, len(ids), 500):  # well inside both engines' variables
        found += await Notification.select(
            Notification.id, Notification.member_id, Notification.event, Notification.data,
            Notification.created_at,
        ).where(Notification.id.is_in(list(ids[first:first + 500]))).run()
    for row in found:
        if isinstance(row["data"], str):
            row["data"] = json.loads(row["data"] or "{}")
    found.sort(key=lambda r: (r["created_at"], r["id"]))
    return cast("list[OutboxTailRow]", found)


_SPEND_ONCE = Sql("INSERT INTO core_revoked_token (jti, subject, expires_at) "
                  "VALUES ({}, {}, {}) ON CONFLICT (jti) DO NOTHING RETURNING jti")


async def spend_once(jti: str, subject: uuid.UUID, expires_at: int) -> bool:
    """Record a one-use credential's id (a live stream's ticket) as used, in the shared
    denylist of token ids (purged once ``expires_at``, epoch seconds, has passed): True the
    first time, on whichever process, False ever after."""
    return bool(await _SPEND_ONCE.rows(jti, subject, expires_at))


# --- inbox ------------------------------------------------------------------------------

_INBOX_COLUMNS = ("notification_id", "chain_id", "member_id", "store_id", "event", "title",
                  "text", "at", "created_at", "data")


@cache
def _inbox_insert(messages: int) -> Sql:
    """A batch's messages in one statement (a dispatcher round: one per notification)."""
    row = "(" + ", ".join("{}" for _ in range(len(_INBOX_COLUMNS) + 1)) + ")"
    return Sql(f"INSERT INTO core_inbox_message (id, {', '.join(_INBOX_COLUMNS)}) "  # noqa: S608
               f"VALUES {', '.join(row for _ in range(messages))} "
               "ON CONFLICT (notification_id) DO NOTHING")


async def add_to_inbox(messages: Sequence[Mapping[str, Any]]) -> None:
    """One message per notification: a delivery retried after a crash adds nothing."""
    if not messages:
        return
    for first in range(0, len(messages), 500):  # well inside both engines' variables
        chunk = messages[first:first + 500]
        args: list[Any] = []
        for values in chunk:
            args += [uuid.uuid4(), *(values[c] for c in _INBOX_COLUMNS[:-1]),
                     json.dumps(values.get("data") or {}, ensure_ascii=False, sort_keys=True)]
        await _inbox_insert(len(chunk)).rows(*args)


async def member_inbox(member_id: uuid.UUID, limit: int, offset: int) -> list[InboxRow]:
    rows = await InboxMessage.select(
        InboxMessage.id, InboxMessage.event, InboxMessage.store_id, InboxMessage.title,
        InboxMessage.text, InboxMessage.at, InboxMessage.data, InboxMessage.created_at,
    ).where(InboxMessage.member_id == member_id).order_by(
        InboxMessage.at, ascending=False).order_by(InboxMessage.id, ascending=False).limit(
        limit).offset(offset).run()
    for row in rows:
        if isinstance(row["data"], str):
            row["data"] = json.loads(row["data"] or "{}")
    return cast("list[InboxRow]", rows)


# --- WeChat access tokens ---------------------------------------------------------------

async def get_token(app_id: str) -> WechatTokenRow | None:
    return cast("WechatTokenRow | None",
                await WechatToken.select().where(WechatToken.app_id == app_id).first().run())


async def ensure_token_row(app_id: str, now: datetime) -> None:
    await WechatToken.raw(
        "INSERT INTO core_wechat_token (app_id, updated_at) VALUES ({}, {}) "
        "ON CONFLICT (app_id) DO NOTHING", app_id, now).run()


async def take_refresh_lease(app_id: str, *, now: datetime, until: datetime, owner: str,
                             stale: str) -> bool:
    """Become the one process fetching a new token: only while nobody else holds the
    lease, and only while the stored token is still unusable (missing, expired, or the
    ``stale`` one WeChat just refused), so a refresh someone else finished is reused."""
    rows = await WechatToken.update({
        WechatToken.refresh_until: until, WechatToken.refresh_owner: owner,
    }).where(
        (WechatToken.app_id == app_id)
        & (WechatToken.refresh_until.is_null() | (WechatToken.refresh_until < now))
        & (WechatToken.access_token.is_null() | WechatToken.expires_at.is_null()
           | (WechatToken.expires_at <= now) | (WechatToken.access_token == stale))
    ).returning(WechatToken.app_id).run()
    return bool(rows)


async def store_token(app_id: str, owner: str, token: str, expires_at: datetime,
                      now: datetime) -> None:
    await WechatToken.update({
        WechatToken.access_token: token, WechatToken.expires_at: expires_at,
        WechatToken.refresh_until: None, WechatToken.refresh_owner: None,
        WechatToken.updated_at: now,
    }).where((WechatToken.app_id == app_id) & (WechatToken.refresh_owner == owner)).run()


async def release_refresh_lease(app_id: str, owner: str) -> None:
    await WechatToken.update({
        WechatToken.refresh_until: None, WechatToken.refresh_owner: None,
    }).where((WechatToken.app_id == app_id) & (WechatToken.refresh_owner == owner)).run()
