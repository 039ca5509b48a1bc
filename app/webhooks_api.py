"""Webhook endpoints wired into the app (API.md "Webhooks"): operators only, people only
(no API key manages webhooks: these routes are not in app/key_scopes.py).

- ``POST /webhook-endpoints`` → 201 with the secret (shown here and on rotation only);
  ``GET /webhook-endpoints``, ``GET/PATCH/DELETE /webhook-endpoints/{id}``;
- ``POST /webhook-endpoints/{id}/rotate-secret`` → 200 ``{"secret"}``;
- ``GET /webhook-endpoints/{id}/deliveries?status=&limit=&offset=`` (newest first);
- ``POST /webhook-endpoints/{id}/deliveries/{delivery_id}/retry`` → 202.

And the worker of this process (fan-out and delivery), built here for create_app.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from app.core.auth import OPERATORS
from app.core.crypto import SecretBox
from app.core.openapi import problems
from app.core.params import Caller, Offset, RuntimeDep
from app.core.settings import Settings
from app.core.webhooks import service
from app.core.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    SecretOut,
)
from app.core.webhooks.worker import WebhookWorker


class WebhookEndpointController(Controller):
    path = "/webhook-endpoints"
    tags = ["webhooks"]
    guards = [OPERATORS]

    @post("", responses=problems(400), summary="Register a webhook endpoint",
          description="The secret (whsec_...) is in this answer and on rotation only. "
                      "The URL must be https and resolve to public addresses only "
                      "(O2O_WEBHOOK_ALLOW_HTTP / O2O_WEBHOOK_ALLOW_PRIVATE lift that).")
    async def create(self, data: JSONBody[EndpointCreate], principal: Caller,
                     runtime: RuntimeDep) -> EndpointCreated:
        return await service.create_endpoint(principal, data, settings=runtime.settings,
                                             box=runtime.secrets)

    @get("", summary="The chain's webhook endpoints")
    async def list_(self, principal: Caller) -> list[EndpointOut]:
        return await service.list_endpoints(principal)

    @get("/{endpoint_id:uuid}", responses=problems(404), summary="One webhook endpoint")
    async def read(self, endpoint_id: FromPath[uuid.UUID], principal: Caller) -> EndpointOut:
        return await service.get_endpoint(principal, endpoint_id)

    @patch("/{endpoint_id:uuid}", responses=problems(400, 404),
           summary="Change an endpoint's URL, events, description or status",
           description='"status": "enabled" re-enables a disabled endpoint: its run of '
                       "failures is forgotten and its pending deliveries are due at once.")
    async def update(self, endpoint_id: FromPath[uuid.UUID], data: JSONBody[EndpointUpdate],
                     principal: Caller, runtime: RuntimeDep) -> EndpointOut:
        return await service.update_endpoint(principal, endpoint_id, data,
                                             settings=runtime.settings)

    @delete("/{endpoint_id:uuid}", status_code=HTTP_204_NO_CONTENT, responses=problems(404),
            summary="Delete an endpoint and its delivery log")
    async def remove(self, endpoint_id: FromPath[uuid.UUID], principal: Caller) -> None:
        await service.delete_endpoint(principal, endpoint_id)

    @post("/{endpoint_id:uuid}/rotate-secret", status_code=HTTP_200_OK,
          responses=problems(404), summary="A new signing secret",
          description="For 24 h every delivery is signed with both the old and the new one.")
    async def rotate(self, endpoint_id: FromPath[uuid.UUID], principal: Caller,
                     runtime: RuntimeDep) -> SecretOut:
        return await service.rotate_secret(principal, endpoint_id, box=runtime.secrets)

    @get("/{endpoint_id:uuid}/deliveries", responses=problems(404),
         summary="The endpoint's deliveries, newest first")
    async def deliveries(
        self, endpoint_id: FromPath[uuid.UUID], principal: Caller,
        status: Annotated[DeliveryStatus | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Offset = 0,
    ) -> list[DeliveryOut]:
        return await service.deliveries(principal, endpoint_id, status=status, limit=limit,
                                        offset=offset)

    @post("/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/retry",
          status_code=HTTP_202_ACCEPTED, responses=problems(404, 409),
          summary="Send a delivery again now",
          description="Pending: now rather than after its wait. Failed: one more attempt. "
                      "Delivered: sent again (same webhook-id). 409 while the endpoint is "
                      "disabled.")
    async def retry(self, endpoint_id: FromPath[uuid.UUID],
                    delivery_id: FromPath[uuid.UUID], principal: Caller) -> None:
        await service.retry_delivery(principal, endpoint_id, delivery_id)


CONTROLLERS = [WebhookEndpointController]


purge_webhook_log = service.purge_log


def build_webhook_worker(settings: Settings, box: SecretBox) -> WebhookWorker:
    return WebhookWorker(settings, box)
