"""Notifications wired into the app: the endpoints, and the dispatcher with its view of
the stores domain (the chain's WeChat app, the member's openid:
``stores.service.wechat_target``), which the kernel's notify package may not import.

- ``GET /notifications?status=&event=&member_id=&limit=&offset=`` (operator): the
  chain's delivery log, newest first.
- ``GET /me/inbox?limit=&offset=`` (member): the member's messages, newest first, worded
  in the chain's locale (``stores.service.chain_locale``), with the event's data.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from app.core.auth import MEMBERS, OPERATORS
from app.core.crypto import SecretBox
from app.core.notify import service
from app.core.notify.adapters import WechatAdapter
from app.core.notify.dispatcher import Dispatcher
from app.core.notify.schemas import EventName, InboxMessageOut, NotificationOut, Status
from app.core.params import Caller, Offset
from app.core.settings import Settings
from app.core.wechat import WechatClient
from stores import service as stores


class NotificationController(Controller):
    path = "/notifications"
    tags = ["notifications"]

    @get("", guards=[OPERATORS], summary="The chain's notification delivery log",
         description="Newest first. Without status: pending, sent and failed rows "
                     "(status=cancelled lists cancelled ones).")
    async def log(
        self, principal: Caller,
        status: Annotated[Status | None, QueryParameter()] = None,
        event: Annotated[EventName | None, QueryParameter()] = None,
        member_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Offset = 0,
    ) -> list[NotificationOut]:
        return await service.delivery_log(principal, status=status, event=event,
                                          member_id=member_id, limit=limit, offset=offset)


class InboxController(Controller):
    path = "/me/inbox"
    tags = ["notifications"]

    @get("", guards=[MEMBERS], summary="The member's messages, newest first")
    async def inbox(
        self, principal: Caller,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Offset = 0,
    ) -> list[InboxMessageOut]:
        return await service.inbox(principal, limit=limit, offset=offset,
                                   locale=await stores.chain_locale(principal.chain_id))


CONTROLLERS = [NotificationController, InboxController]


def build_dispatcher(settings: Settings, client: WechatClient, box: SecretBox) -> Dispatcher:
    """Inbox only in sandbox mode; inbox and WeChat in live mode."""
    wechat = None if settings.wechat_mode == "sandbox" else WechatAdapter(client, box,
                                                                           stores.wechat_target)
    return Dispatcher(settings, wechat, locales=stores.chain_locale)
