"""Every query of webhooks: endpoints, the fan-out of events into deliveries, the claim
of due deliveries with a lease, their outcomes, and the operator's log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from piccolo.custom_types import Combinable

from app.core.db import Sql, current_engine, is_sqlite
from app.core.tables import WebhookDelivery, WebhookEndpoint

Row = dict[str, Any]

# --- endpoints --------------------------------------------------------------------------


def _endpoint(row: Row | None) -> Row | None:
    if row is not None and isinstance(row.get("events"), str):
        row["events"] = json.loads(row["events"])
    return row


async def insert_endpoint(values: Mapping[str, Any]) -> None:
    await WebhookEndpoint.insert(WebhookEndpoint(**{
        **values, "events": json.dumps(values["events"])})).run()


async def endpoints(chain_id: uuid.UUID) -> list[Row]:
    rows = await WebhookEndpoint.select().where(
        WebhookEndpoint.chain_id == chain_id).order_by(WebhookEndpoint.created_at).run()
    return [cast("Row", _endpoint(r)) for r in rows]


async def endpoint(chain_id: uuid.UUID, endpoint_id: uuid.UUID) -> Row | None:
    return _endpoint(await WebhookEndpoint.select().where(
        (WebhookEndpoint.chain_id == chain_id) & (WebhookEndpoint.id == endpoint_id)
    ).first().run())


async def count_endpoints(chain_id: uuid.UUID) -> int:
    """The chain's endpoints, enabled and disabled."""
    return int(await WebhookEndpoint.count().where(WebhookEndpoint.chain_id == chain_id).run())


async def lock_endpoint(chain_id: uuid.UUID, endpoint_id: uuid.UUID) -> Row | None:
    """The endpoint, locked for this transaction (PostgreSQL ``FOR UPDATE``, waiting for
    a fan-out or a recording of it to commit; SQLite: the write transaction already
    serialises); None when it is gone (a delete committed first)."""
    query = WebhookEndpoint.select().where(
        (WebhookEndpoint.chain_id == chain_id) & (WebhookEndpoint.id == endpoint_id))
    if not is_sqlite(current_engine()):
        query = query.lock_rows()
    rows = await query.run()
    return _endpoint(rows[0]) if rows else None


async def lock_for_record(endpoint_id: uuid.UUID) -> None:
    """The worker's lock on the endpoint before it records an outcome (PostgreSQL
    ``FOR NO KEY UPDATE``): every writer takes the endpoint before its deliveries, so a
    delete (endpoint, then deliveries) and a recording never deadlock."""
    if not is_sqlite(current_engine()):
        await WebhookEndpoint.select(WebhookEndpoint.id).where(
            WebhookEndpoint.id == endpoint_id).lock_rows("NO KEY UPDATE").run()


async def update_endpoint(chain_id: uuid.UUID, endpoint_id: uuid.UUID,
                          values: Mapping[str, Any]) -> Row | None:
    changes: dict[Any, Any] = dict(values)
    if "events" in changes:
        changes["events"] = json.dumps(changes["events"])
    rows = await WebhookEndpoint.update(changes).where(
        (WebhookEndpoint.chain_id == chain_id) & (WebhookEndpoint.id == endpoint_id)
    ).returning(*WebhookEndpoint.all_columns()).run()
    return _endpoint(rows[0]) if rows else None


async def delete_endpoint(chain_id: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    """The endpoint and its deliveries (an attempt in flight records nothing after).

    The endpoint is locked first (PostgreSQL ``FOR UPDATE``): a fan-out of it in
    progress commits before its deliveries are deleted (none is left orphaned), and a
    later one finds it gone. Every writer locks the endpoint before its deliveries
    (fan-out, the worker's recording, update), so none deadlocks with this."""
    if await lock_endpoint(chain_id, endpoint_id) is None:
        return False
    await WebhookDelivery.delete().where(WebhookDelivery.endpoint_id == endpoint_id).run()
    rows = await WebhookEndpoint.delete().where(
        (WebhookEndpoint.chain_id == chain_id) & (WebhookEndpoint.id == endpoint_id)
    ).returning(WebhookEndpoint.id).run()
    return bool(rows)


async def due_now(endpoint_id: uuid.UUID, now: datetime) -> None:
    """Pending deliveries of a re-enabled endpoint: due at once (their backoff was for the
    failures that disabled it)."""
    await WebhookDelivery.update({WebhookDelivery.next_attempt_at: now}).where(
        (WebhookDelivery.endpoint_id == endpoint_id)
        & (WebhookDelivery.status == "pending")).run()


# --- fan-out ----------------------------------------------------------------------------

async def enabled_endpoints() -> list[Row]:
    """Every enabled endpoint's place in its chain's feed (a cheap read each round)."""
    return await WebhookEndpoint.select(
        WebhookEndpoint.id, WebhookEndpoint.chain_id, WebhookEndpoint.last_sequence,
    ).where(WebhookEndpoint.status == "enabled").run()


async def lock_for_fanout(endpoint_id: uuid.UUID) -> Row | None:
    """The endpoint, locked for this transaction's fan-out; None when it is disabled,
    gone, or being fanned out by another process (PostgreSQL: SKIP LOCKED; SQLite: the
    write transaction already serialises)."""
    query = WebhookEndpoint.select(
        WebhookEndpoint.id, WebhookEndpoint.chain_id, WebhookEndpoint.events,
        WebhookEndpoint.last_sequence,
    ).where((WebhookEndpoint.id == endpoint_id) & (WebhookEndpoint.status == "enabled"))
    if not is_sqlite(current_engine()):
        query = query.lock_rows(skip_locked=True)
    rows = await query.run()
    return _endpoint(rows[0]) if rows else None


_DELIVERY_COLUMNS = ("id", "endpoint_id", "chain_id", "event_id", "sequence", "type",
                     "object_key", "body", "status", "attempts", "next_attempt_at",
                     "created_at")


@cache
def _insert_deliveries(count: int) -> Sql:
    row = "(" + ", ".join("{}" for _ in _DELIVERY_COLUMNS) + ")"
    return Sql(f"INSERT INTO core_webhook_delivery ({', '.join(_DELIVERY_COLUMNS)}) "  # noqa: S608
               f"VALUES {', '.join(row for _ in range(count))} "
               "ON CONFLICT (endpoint_id, event_id) DO NOTHING")


async def add_deliveries(rows: Sequence[Mapping[str, Any]]) -> None:
    for first in range(0, len(rows), 50):
        chunk = rows[first:first + 50]
        args: list[Any] = []
        for values in chunk:
            args += [values[c] for c in _DELIVERY_COLUMNS]
        await _insert_deliveries(len(chunk)).rows(*args)


async def advance(endpoint_id: uuid.UUID, last_sequence: int) -> None:
    await WebhookEndpoint.update({WebhookEndpoint.last_sequence: last_sequence}).where(
        (WebhookEndpoint.id == endpoint_id)
        & (WebhookEndpoint.last_sequence < last_sequence)).run()


# --- delivery ---------------------------------------------------------------------------

_CLAIMABLE = (
    "d.status = 'pending' AND d.next_attempt_at <= {} "
    "AND (d.lease_until IS NULL OR d.lease_until < {}) AND e.status = 'enabled' "
    # Per-object order: not while an earlier event of the same object is pending here.
    "AND NOT EXISTS (SELECT 1 FROM core_webhook_delivery p WHERE p.endpoint_id = "
    "d.endpoint_id AND p.object_key = d.object_key AND p.status = 'pending' "
    "AND p.sequence < d.sequence)")


async def any_due(now: datetime) -> bool:
    """A cheap read before claiming, so an idle process writes nothing: only deliveries
    of an enabled endpoint count (those of a disabled or deleted one never open a write
    transaction)."""
    return bool(await _ANY_DUE.rows(now, now))


_ANY_DUE = Sql(
    "SELECT 1 AS due FROM core_webhook_delivery d "
    "JOIN core_webhook_endpoint e ON e.id = d.endpoint_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= {} "
    "AND (d.lease_until IS NULL OR d.lease_until < {}) AND e.status = 'enabled' LIMIT 1")


async def claim(now: datetime, lease_until: datetime, owner: str, limit: int,
                skip_endpoints: Collection[uuid.UUID], *, slots: Mapping[uuid.UUID, int],
                per_endpoint: int, skip_chains: Collection[uuid.UUID] = (),
                chain_slots: Mapping[uuid.UUID, int] | None = None,
                per_chain: int | None = None) -> list[Row]:
    """Lease up to ``limit`` due deliveries to ``owner`` (in the caller's write
    transaction), oldest due first, at most ``slots[endpoint]`` (default
    ``per_endpoint``) of one endpoint and none of ``skip_endpoints`` (their slots in
    this process are full: a backlog there never crowds out the others). Likewise per
    chain: at most ``chain_slots[chain]`` (default ``per_chain``) of one chain and none of
    ``skip_chains`` (one chain's many slow endpoints never hold back another chain).

    PostgreSQL: ``FOR UPDATE OF d SKIP LOCKED`` lets processes claim side by side.
    SQLite: the IMMEDIATE write transaction serialises claims. The update re-checks the
    claim either way (a conditional update).
    """
    skip = list(skip_endpoints)
    skip_c = list(skip_chains)
    where = _CLAIMABLE
    if skip:
        where += f" AND d.endpoint_id NOT IN ({', '.join('{}' for _ in skip)})"
    if skip_c:
        where += f" AND d.chain_id NOT IN ({', '.join('{}' for _ in skip_c)})"
    lock = "" if is_sqlite(current_engine()) else " FOR UPDATE OF d SKIP LOCKED"
    found = await Sql(
        "SELECT d.id, d.endpoint_id, d.chain_id FROM core_webhook_delivery d "  # noqa: S608
        "JOIN core_webhook_endpoint e ON e.id = d.endpoint_id "
        f"WHERE {where} ORDER BY d.next_attempt_at LIMIT {{}}{lock}").rows(
        now, now, *skip, *skip_c, limit * 4)
    free = dict(slots)
    free_c = dict(chain_slots or {})
    ids: list[uuid.UUID] = []
    for candidate in found:
        endpoint_id, chain_id = candidate["endpoint_id"], candidate["chain_id"]
        chain_free = free_c.setdefault(chain_id, per_chain if per_chain is not None
                                       else limit)
        if (free.setdefault(endpoint_id, per_endpoint) > 0 and chain_free > 0
                and len(ids) < limit):
            free[endpoint_id] -= 1
            free_c[chain_id] -= 1
            ids.append(candidate["id"])
    if not ids:
        return []
    rows = await WebhookDelivery.update({
        WebhookDelivery.lease_until: lease_until, WebhookDelivery.lease_owner: owner,
        WebhookDelivery.attempts: WebhookDelivery.attempts + 1,
    }).where(WebhookDelivery.id.is_in(ids) & (WebhookDelivery.status == "pending")
             & (WebhookDelivery.lease_until.is_null() | (WebhookDelivery.lease_until < now))
             ).returning(*WebhookDelivery.all_columns()).run()
    return sorted(rows, key=lambda r: (r["next_attempt_at"], r["sequence"]))


async def targets(endpoint_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Row]:
    """Where and with which secrets to deliver, per endpoint."""
    rows = await WebhookEndpoint.select(
        WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.status,
        WebhookEndpoint.secret_sealed, WebhookEndpoint.old_secret_sealed,
        WebhookEndpoint.old_secret_until,
    ).where(WebhookEndpoint.id.is_in(list(endpoint_ids))).run()
    return {r["id"]: r for r in rows}


async def finish(delivery_id: uuid.UUID, owner: str, values: Mapping[str, Any]) -> bool:
    """Record an attempt's outcome, only while the lease is still ours."""
    changes: dict[Any, Any] = {**values, "lease_until": None, "lease_owner": None}
    rows = await WebhookDelivery.update(changes).where(
        (WebhookDelivery.id == delivery_id) & (WebhookDelivery.lease_owner == owner)
        & (WebhookDelivery.status == "pending")).returning(WebhookDelivery.id).run()
    return bool(rows)


async def endpoint_succeeded(endpoint_id: uuid.UUID) -> None:
    await WebhookEndpoint.update({WebhookEndpoint.failing_since: None}).where(
        (WebhookEndpoint.id == endpoint_id) & WebhookEndpoint.failing_since.is_not_null()
    ).run()


async def endpoint_failed(endpoint_id: uuid.UUID, at: datetime, disable_before: datetime,
                          reason: str, now: datetime) -> bool:
    """Start the endpoint's run of failures at ``at`` (unless one is running), and
    disable it when that run began before ``disable_before``. True when disabled now."""
    await WebhookEndpoint.update({WebhookEndpoint.failing_since: at}).where(
        (WebhookEndpoint.id == endpoint_id) & WebhookEndpoint.failing_since.is_null()).run()
    rows = await WebhookEndpoint.update({
        WebhookEndpoint.status: "disabled", WebhookEndpoint.disabled_reason: reason,
        WebhookEndpoint.updated_at: now,
    }).where((WebhookEndpoint.id == endpoint_id) & (WebhookEndpoint.status == "enabled")
             & (WebhookEndpoint.failing_since <= disable_before)).returning(
        WebhookEndpoint.id).run()
    return bool(rows)


async def release(owner: str, delivery_id: uuid.UUID | None = None) -> None:
    """Hand back deliveries leased to ``owner`` (a worker stopping mid-delivery), or
    that one, as if never claimed."""
    where = (WebhookDelivery.lease_owner == owner) & (WebhookDelivery.status == "pending")
    if delivery_id is not None:
        where &= WebhookDelivery.id == delivery_id
    await WebhookDelivery.update({
        WebhookDelivery.lease_until: None, WebhookDelivery.lease_owner: None,
        WebhookDelivery.attempts: WebhookDelivery.attempts - 1,
    }).where(where).run()


# --- the operator's log -----------------------------------------------------------------

async def deliveries(endpoint_id: uuid.UUID, *, status: str | None, limit: int,
                     offset: int) -> list[Row]:
    where: Combinable = WebhookDelivery.endpoint_id == endpoint_id
    if status is not None:
        where &= WebhookDelivery.status == status
    return await WebhookDelivery.select(
        WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.sequence,
        WebhookDelivery.type, WebhookDelivery.status, WebhookDelivery.attempts,
        WebhookDelivery.last_status_code, WebhookDelivery.last_error,
        WebhookDelivery.next_attempt_at, WebhookDelivery.delivered_at,
        WebhookDelivery.created_at,
    ).where(where).order_by(WebhookDelivery.created_at, ascending=False).order_by(
        WebhookDelivery.sequence, ascending=False).limit(limit).offset(offset).run()


async def retry(endpoint_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Make a delivery due now: a pending one keeps its attempts; a failed or delivered
    one is pending again (one more attempt; see the decision record)."""
    rows = await WebhookDelivery.update({
        WebhookDelivery.status: "pending", WebhookDelivery.next_attempt_at: now,
    }).where((WebhookDelivery.id == delivery_id)
             & (WebhookDelivery.endpoint_id == endpoint_id)).returning(
        WebhookDelivery.id).run()
    return bool(rows)


async def purge(before: datetime) -> None:
    """Forget delivered and failed rows created before ``before`` (the housekeeping
    task); pending ones stay whatever their age."""
    await WebhookDelivery.delete().where(
        WebhookDelivery.status.is_in(["delivered", "failed"])
        & (WebhookDelivery.created_at < before)).run()
