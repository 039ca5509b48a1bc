"""The operator's webhook endpoints: create, read, change, delete, rotate the secret; the
delivery log and its retry.

People only: an operator (staff) of the chain. API keys never manage webhooks (a key
that could would aim the chain's data anywhere): the routes are absent from the key
scope table, and every function here refuses a principal that is not staff.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.events import service as events_feed
from app.core.settings import Settings
from app.core.webhooks import repository as repo
from app.core.webhooks import signing, urls
from app.core.webhooks.event_types import EVENT_TYPES
from app.core.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    SecretOut,
)

ROTATION_OVERLAP = timedelta(hours=24)
DISABLED_BY_OPERATOR = "disabled by an operator"
MAX_ENDPOINTS = 16  # per chain, enabled and disabled: bounds one chain's share of a worker


def _operator(principal: Principal) -> None:
    if principal.kind != "staff" or not principal.is_operator:
        raise Forbidden("webhooks are managed by an operator")


def _events(events: list[str]) -> list[str]:
    if events == ["*"]:
        return events
    if "*" in events:
        raise ValidationError("events", '"*" stands alone')
    unknown = sorted(set(events) - EVENT_TYPES)
    if unknown:
        raise ValidationError("events", f"unknown event types: {', '.join(unknown)}")
    if len(set(events)) != len(events):
        raise ValidationError("events", "a type is listed twice")
    return events


def _sealed_label(endpoint_id: uuid.UUID) -> str:
    # The associated data of the sealed secrets: a secret copied onto another endpoint's
    # row does not open.
    return f"webhook-endpoint:{endpoint_id}"


def seal(box: SecretBox, endpoint_id: uuid.UUID, secret: str) -> str:
    return box.seal(secret.encode(), _sealed_label(endpoint_id))


def live_secrets(box: SecretBox, row: dict[str, Any], now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    during the 24 h after a rotation."""
    found = [box.open(row["secret_sealed"], _sealed_label(row["id"])).decode()]
    if row["old_secret_sealed"] and row["old_secret_until"] and row["old_secret_until"] > now:
        found.append(box.open(row["old_secret_sealed"], _sealed_label(row["id"])).decode())
    return found


def _out(row: dict[str, Any]) -> EndpointOut:
    return EndpointOut(id=row["id"], url=row["url"], events=list(row["events"]),
                       status=row["status"], description=row["description"],
                       disabled_reason=row["disabled_reason"], created_at=row["created_at"],
                       updated_at=row["updated_at"])


async def create_endpoint(principal: Principal, data: EndpointCreate, *, settings: Settings,
                          box: SecretBox) -> EndpointCreated:
    _operator(principal)
    events = _events(data.events)
    await urls.check_url(data.url, allow_http=settings.webhook_allow_http,
                         allow_private=settings.webhook_allow_private)
    endpoint_id, secret, now = uuid.uuid4(), signing.new_secret(), utcnow()
    async with write_transaction():
        if await repo.count_endpoints(principal.chain_id) >= MAX_ENDPOINTS:
            raise ValidationError(
                "url", f"a chain has at most {MAX_ENDPOINTS} webhook endpoints")
        # Endpoints start at the feed's end: events from now on, not the chain's past
        # (GET /events has that).
        start = (await events_feed.heads()).get(principal.chain_id, 0)
        await repo.insert_endpoint({
            "id": endpoint_id, "chain_id": principal.chain_id, "url": data.url,
            "description": data.description, "events": events, "status": "enabled",
            "secret_sealed": seal(box, endpoint_id, secret), "last_sequence": start,
            "created_at": now, "updated_at": now})
        row = await repo.endpoint(principal.chain_id, endpoint_id)
    assert row is not None
    out = _out(row)
    return EndpointCreated(**{f: getattr(out, f) for f in out.__struct_fields__},
                           secret=secret)


async def list_endpoints(principal: Principal) -> list[EndpointOut]:
    _operator(principal)
    return [_out(r) for r in await repo.endpoints(principal.chain_id)]


async def get_endpoint(principal: Principal, endpoint_id: uuid.UUID) -> EndpointOut:
    _operator(principal)
    row = await repo.endpoint(principal.chain_id, endpoint_id)
    if row is None:
        raise NotFound("no such webhook endpoint")
    return _out(row)


async def update_endpoint(principal: Principal, endpoint_id: uuid.UUID, data: EndpointUpdate,
                          *, settings: Settings) -> EndpointOut:
    _operator(principal)
    now = utcnow()
    changes: dict[str, Any] = {"updated_at": now}
    if data.url is not None:
        await urls.check_url(data.url, allow_http=settings.webhook_allow_http,
                             allow_private=settings.webhook_allow_private)
        changes["url"] = data.url
    if data.events is not None:
        changes["events"] = _events(data.events)
    if data.description is not None:
        changes["description"] = data.description or None
    async with write_transaction():
        # Locked (PostgreSQL): a delete committing meanwhile makes this a 404, not a 500.
        row = await repo.lock_endpoint(principal.chain_id, endpoint_id)
        if row is None:
            raise NotFound("no such webhook endpoint")
        if data.status == "enabled" and row["status"] != "enabled":
            # A fresh start: the run of failures is forgotten and what waited is due now.
            changes.update(status="enabled", disabled_reason=None, failing_since=None)
            await repo.due_now(endpoint_id, now)
        elif data.status == "disabled" and row["status"] != "disabled":
            changes.update(status="disabled", disabled_reason=DISABLED_BY_OPERATOR)
        updated = await repo.update_endpoint(principal.chain_id, endpoint_id, changes)
        if updated is None:
            raise NotFound("no such webhook endpoint")
    return _out(updated)


async def delete_endpoint(principal: Principal, endpoint_id: uuid.UUID) -> None:
    _operator(principal)
    async with write_transaction():
        if not await repo.delete_endpoint(principal.chain_id, endpoint_id):
            raise NotFound("no such webhook endpoint")


async def rotate_secret(principal: Principal, endpoint_id: uuid.UUID, *,
                        box: SecretBox) -> SecretOut:
    """A new secret; the current one keeps signing (beside it) for 24 h. Rotating again
    within those 24 h drops the oldest: two secrets at most."""
    _operator(principal)
    secret, now = signing.new_secret(), utcnow()
    async with write_transaction():
        row = await repo.lock_endpoint(principal.chain_id, endpoint_id)
        if row is None:
            raise NotFound("no such webhook endpoint")
        if await repo.update_endpoint(principal.chain_id, endpoint_id, {
                "secret_sealed": seal(box, endpoint_id, secret),
                "old_secret_sealed": row["secret_sealed"],
                "old_secret_until": now + ROTATION_OVERLAP, "updated_at": now}) is None:
            raise NotFound("no such webhook endpoint")
    return SecretOut(secret=secret)


async def deliveries(principal: Principal, endpoint_id: uuid.UUID, *,
                     status: DeliveryStatus | None, limit: int,
                     offset: int) -> list[DeliveryOut]:
    await get_endpoint(principal, endpoint_id)  # the chain's, else 404
    rows = await repo.deliveries(endpoint_id, status=status, limit=limit, offset=offset)
    return [DeliveryOut(
        id=r["id"], event_id=r["event_id"], sequence=r["sequence"], type=r["type"],
        status=r["status"], attempts=r["attempts"], last_status_code=r["last_status_code"],
        last_error=r["last_error"],
        next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None,
        delivered_at=r["delivered_at"], created_at=r["created_at"]) for r in rows]


async def retry_delivery(principal: Principal, endpoint_id: uuid.UUID,
                         delivery_id: uuid.UUID) -> None:
    """Due now, whatever its status: pending (skip the wait), failed (one more attempt),
    or delivered (sent again, same webhook-id). 409 while the endpoint is disabled."""
    endpoint = await get_endpoint(principal, endpoint_id)
    if endpoint.status != "enabled":
        raise Conflict("the endpoint is disabled: enable it first")
    async with write_transaction():
        if not await repo.retry(endpoint_id, delivery_id, utcnow()):
            raise NotFound("no such delivery")


LOG_RETENTION = timedelta(days=30)


async def purge_log() -> None:
    """The housekeeping sweep: the delivery log keeps 30 days, like the event feed."""
    async with write_transaction():
        await repo.purge(utcnow() - LOG_RETENTION)
