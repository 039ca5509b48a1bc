"""Delivery adapters: the inbox (always) and WeChat subscribe messages (live mode).

Both take a claimed outbox row and its rendering and say what happened: sent, retry
later, or failed for good. The chain's WeChat app and the member's openid belong to the
stores domain, which the kernel does not import: the composition root hands the WeChat
adapter a :data:`TargetLookup` at start-up.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidTag

from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.notify import repository as repo
from app.core.notify.render import Rendered
from app.core.notify.rows import NotificationRow
from app.core.notify.tokens import TOKEN_REFUSED, TokenStore
from app.core.wechat import WechatClient, WechatError

# WeChat is busy or over quota: try again later. Transport failures (errcode None) too.
TRANSIENT = frozenset({-1, 45009, 45011})


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["sent", "retry", "failed"]
    channel: str | None = None
    note: str | None = None  # the error, or why WeChat was not used

    @classmethod
    def sent(cls, channel: str, note: str | None = None) -> Outcome:
        return cls("sent", channel, note)

    @classmethod
    def retry(cls, note: str) -> Outcome:
        return cls("retry", None, note)

    @classmethod
    def failed(cls, note: str) -> Outcome:
        return cls("failed", None, note)


@dataclass(frozen=True, slots=True)
class WechatTarget:
    """What the WeChat adapter needs of a chain and one of its members."""

    app_id: str
    app_secret_sealed: str  # sealed by SecretBox with the chain id as associated data
    templates: Mapping[str, str]  # event -> template id
    openid: str | None


LocaleLookup = Callable[[uuid.UUID], Awaitable[str]]
"""chain_id -> the chain's locale (zh-CN | en): the language its members read."""

TargetLookup = Callable[[uuid.UUID, uuid.UUID], Awaitable[WechatTarget | None]]
"""(chain_id, member_id) -> the chain's WeChat app and the member's openid, or None when
the chain has no WeChat app."""


class InboxAdapter:
    async def deliver(self, batch: list[tuple[NotificationRow, Rendered]]) -> None:
        """The batch's messages, in one transaction (SQLite has one writer at a time)."""
        now = utcnow()
        async with write_transaction():
            await repo.add_to_inbox([{
                "notification_id": row["id"], "chain_id": row["chain_id"],
                "member_id": row["member_id"], "store_id": row["store_id"], "event": row["event"],
                "title": rendered.title, "text": rendered.text, "at": row["due_at"],
                "created_at": now, "data": row["data"],
            } for row, rendered in batch])


class WechatAdapter:
    def __init__(self, client: WechatClient, box: SecretBox, targets: TargetLookup,
                 tokens: TokenStore | None = None) -> None:
        self._client = client
        self._box = box
        self._targets = targets
        self.tokens = tokens or TokenStore(client)

    async def deliver(self, row: NotificationRow, rendered: Rendered) -> Outcome:
        target = await self._targets(row["chain_id"], row["member_id"])
        if target is None:
            return Outcome.sent("inbox", "wechat skipped: the chain has no WeChat app")
        if not target.openid:
            return Outcome.sent("inbox", "wechat skipped: the member has no WeChat openid")
        template_id = target.templates.get(row["event"])
        if not template_id:
            return Outcome.sent("inbox", f"wechat skipped: no template for {row['event']}")
        try:
            secret = self._box.open(target.app_secret_sealed, str(row["chain_id"])).decode()
        except InvalidTag:
            return Outcome.failed("the chain's WeChat secret cannot be read (O2O_SECRET_KEY "
                                  "changed?): PUT /wechat-config again")
        try:
            await self._send(target.app_id, secret, target.openid, template_id, rendered)
        except WechatError as exc:
            if exc.errcode is None or exc.errcode in TRANSIENT or exc.errcode in TOKEN_REFUSED:
                return Outcome.retry(f"wechat: {exc}")
            return Outcome.failed(f"wechat: {exc}")
        return Outcome.sent("wechat")

    async def _send(self, app_id: str, secret: str, openid: str, template_id: str,
                    rendered: Rendered) -> None:
        await self.tokens.call_with_token(
            app_id, secret, lambda token: self._client.send_subscribe(
                token, touser=openid, template_id=template_id, data=rendered.fields))
