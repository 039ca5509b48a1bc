"""Shapes of the webhook endpoints and their delivery log (API.md "Webhooks")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

EndpointStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
Url = Annotated[str, Meta(min_length=1, max_length=2048)]
EventList = Annotated[list[Annotated[str, Meta(min_length=1, max_length=40)]],
                      Meta(min_length=1, max_length=50)]
Description = Annotated[str, Meta(max_length=500)]


class EndpointCreate(Struct, forbid_unknown_fields=True):
    url: Url
    events: EventList
    description: Description | None = None


class EndpointUpdate(Struct, forbid_unknown_fields=True):
    url: Url | None = None
    events: EventList | None = None
    status: EndpointStatus | None = None
    description: Description | None = None


class EndpointOut(Struct):
    id: uuid.UUID
    url: str
    events: list[str]
    status: EndpointStatus
    description: str | None
    # Why the endpoint is disabled: "disabled by an operator", or the run of failures
    # that disabled it (with the last error). None while enabled.
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str  # shown here and on rotation only


class SecretOut(Struct):
    secret: str


class DeliveryOut(Struct):
    id: uuid.UUID
    event_id: uuid.UUID
    sequence: int
    type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None  # None once delivered or failed
    delivered_at: datetime | None
    created_at: datetime
