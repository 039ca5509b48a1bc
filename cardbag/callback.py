"""The official account's message server: ``GET``/``POST /wechat/callback/{chain_id}``.

WeChat calls it without any token of ours; what proves a call is WeChat's is the chain's
message-server Token and EncodingAESKey (app.core.wechat_crypto.MessageCrypt):

- ``GET`` is the server check: SHA-1 of the sorted token, timestamp and nonce equals
  ``signature`` → the ``echostr`` comes back as text.
- ``POST`` is an event push, taken in safe mode only (``encrypt_type=aes``): its
  ``msg_signature`` covers the encrypted body, which decrypts (AES-256-CBC) to the event
  and the chain's own appid. Plain-mode pushes are refused: their ``signature`` covers
  no body, so a captured one could carry another body.

Whatever does not verify (signature, appid, a timestamp outside WeChat's 5 minutes,
garbage) is one 401 ``unauthorized`` and changes nothing; a chain without a message
server (or no such chain) is 404 ``not_found``, as WeChat Pay's notify route answers.
A push that verifies is answered ``success`` whatever it holds, since WeChat sends it
again otherwise: an unknown event, a card of another chain or template, a repeat.

Effects are written in one write transaction with the push's dedupe row (cardbag_push):
a repeat finds the row and changes nothing. ``user_get_card`` only records the card as in
the bag and due for a sync: WeChat waits 5 s for the answer, so the activation call is
the sync worker's (cardbag/sync.py).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.errors import NotFound, UnsupportedMediaType
from app.core.wechat_crypto import CryptError, MessageCrypt
from cardbag import repository as repo
from cardbag.errors import PushRefused, PushTooLarge
from cardbag.rows import BagCardRow
from cards import public as cards
from cards.rows import CardView
from stores import service as stores

log = logging.getLogger("o2o.cardbag.callback")

MAX_PUSH_BYTES = 64 * 1024  # an event push is well under 2 kB
WINDOW_S = 300  # WeChat's timestamps older or newer than this are replays (or clocks off)
XML_TYPES = frozenset({"", "text/xml", "application/xml", "text/plain"})
MAX_KEY = 255  # cardbag_push.key
MAX_OPENID = 64  # cardbag_card.openid
DEAD = frozenset({"cancelled", "expired"})  # cards that never go to the bag

Push = Mapping[str, str]


async def server_check(chain_id: uuid.UUID, box: SecretBox, *, signature: str | None,
                       timestamp: str | None, nonce: str | None, echostr: str | None) -> str:
    """The ``echostr`` when the server check verifies (else :class:`PushRefused`)."""
    crypt = await _crypt(chain_id, box)
    _fresh(timestamp)
    if not signature or not nonce or echostr is None \
            or not crypt.check_signature(signature, timestamp or "", nonce):
        raise PushRefused("the server check does not verify")
    return echostr


async def receive_push(chain_id: uuid.UUID, box: SecretBox, query: Mapping[str, str | None],
                       body: bytes, media_type: str) -> str:
    """Verify, decrypt and apply one push; what it was, for the log."""
    if len(body) > MAX_PUSH_BYTES:
        raise PushTooLarge(f"a push is at most {MAX_PUSH_BYTES} bytes")
    if media_type.lower() not in XML_TYPES:
        raise UnsupportedMediaType(f"a push is text/xml, not {media_type}")
    crypt = await _crypt(chain_id, box)
    timestamp, nonce, signature = (query.get("timestamp"), query.get("nonce"),
                                   query.get("msg_signature"))
    if query.get("encrypt_type") != "aes" or not signature or not nonce:
        raise PushRefused("only safe-mode (encrypt_type=aes) pushes are taken")
    _fresh(timestamp)
    try:
        push = crypt.open_push(signature, timestamp or "", nonce, body)
    except CryptError as exc:
        raise PushRefused("the push does not verify") from exc
    if any("\x00" in value for value in push.values()):
        raise PushRefused("the push does not verify")
    return await apply(chain_id, push)


async def _crypt(chain_id: uuid.UUID, box: SecretBox) -> MessageCrypt:
    server = await stores.wechat_message_server(chain_id, box)
    if server is None or not server.token or not server.aes_key:
        # Like WeChat Pay's notify route: no chain, or none with a message server.
        raise NotFound("this chain has no WeChat message server")
    try:
        return MessageCrypt(server.token, server.aes_key, server.app_id)
    except CryptError:  # a key stored before it was checked: nothing can verify
        raise PushRefused("the push does not verify") from None


def _fresh(timestamp: str | None) -> None:
    """WeChat's timestamp is inside the 5 minutes around now (a replay is older)."""
    try:
        at = int(timestamp or "")
    except ValueError:
        raise PushRefused("the push does not verify") from None
    if abs(utcnow().timestamp() - at) > WINDOW_S:
        raise PushRefused("the push is outside WeChat's 5-minute window")


# --- the events ----------------------------------------------------------------------------

async def apply(chain_id: uuid.UUID, push: Push) -> str:
    """Apply a verified push; unknown kinds are answered and ignored."""
    event = push.get("Event", "") if push.get("MsgType") == "event" else ""
    handler = HANDLERS.get(event)
    if handler is None:
        return f"ignored {push.get('MsgType')}/{event}"
    return await handler(chain_id, push, utcnow())


def push_key(push: Push) -> str:
    """What WeChat repeats in a retried push; hashed when longer than the column."""
    key = ":".join(push.get(name, "") for name in (
        "FromUserName", "CreateTime", "Event", "CardId", "UserCardCode"))
    if len(key) > MAX_KEY:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def event_time(push: Push, now: datetime) -> datetime:
    """The push's CreateTime (when the member acted); now if it has none that makes sense
    (what orders a late retry behind a newer event of the same card)."""
    try:
        at = datetime.fromtimestamp(int(push.get("CreateTime", "")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return now
    return at if abs((at - now).total_seconds()) <= 86_400 else now


async def user_get_card(chain_id: uuid.UUID, push: Push, now: datetime) -> str:
    """The member put the card in their card bag: it is recorded as in the bag, not
    activated, due for a sync now. A card given by a friend, a code of no card of this
    chain, a card of another template than the WeChat card's, or a card no longer alive
    (cancelled or expired: wechat-add refuses it too, and the sync must not activate it):
    nothing recorded."""
    openid = push.get("FromUserName", "")
    if push.get("IsGiveByFriend") == "1" or len(openid) > MAX_OPENID:
        return "user_get_card: not ours to record"
    card = await _card_of(chain_id, push)
    if card is None:
        return "user_get_card: no such card of this WeChat card"
    if card["status"] in DEAD:
        return f"user_get_card: the card is {card['status']}"
    at = event_time(push, now)
    async with write_transaction():
        if not await repo.take_push(push_key(push), chain_id, now):
            return "user_get_card: a repeat"
        current = await repo.get_bag_card(card["id"], lock=True)
        if current is not None and current["state"] == "removed" \
                and current["removed_at"] is not None and current["removed_at"] > at:
            return "user_get_card: older than the removal"  # a late retry
        await repo.put_in_bag(_bag_row(chain_id, card, push, at, now, state="in_bag"))
    return "user_get_card: in the bag"


async def _card_of(chain_id: uuid.UUID, push: Push) -> CardView | None:
    """The chain's card whose number is the push's code and whose template is the one
    made the push's WeChat card."""
    code, wechat_card_id = push.get("UserCardCode", ""), push.get("CardId", "")
    if not code or not wechat_card_id:
        return None
    template = await repo.wechat_card_of(chain_id, wechat_card_id)
    card = await cards.card_of_number(chain_id, code) if template else None
    if template is None or card is None or card["template"] != template["template_id"]:
        return None
    return card


def _bag_row(chain_id: uuid.UUID, card: CardView, push: Push, at: datetime, now: datetime,
             *, state: Literal["in_bag", "removed"]) -> BagCardRow:
    """A fresh bag row: ``in_bag`` (unactivated, due for a sync now), or ``removed`` at
    ``at`` (a removal that overtook its get: remembered so the late get stays out)."""
    in_bag = state == "in_bag"
    return {"card_id": card["id"], "chain_id": chain_id, "template_id": card["template"],
            "wechat_card_id": push.get("CardId", ""), "code": push.get("UserCardCode", ""),
            "openid": push.get("FromUserName") or None, "state": state, "added_at": at,
            "removed_at": None if in_bag else at, "activated_at": None,
            "synced_seq": 0, "synced_tier": None, "synced_status": None, "synced_at": None,
            "dirty": in_bag, "due_at": now, "attempts": 0, "lease_until": None,
            "lease_owner": None, "last_error": None, "last_errcode": None}


async def user_del_card(chain_id: uuid.UUID, push: Push, now: datetime) -> str:
    """The member deleted the card from the card bag: removed, no more syncs. A removal
    of a card not (yet) in the bag is remembered: WeChat's retry of the get it followed
    may still arrive, and must not put the card back."""
    code, wechat_card_id = push.get("UserCardCode", ""), push.get("CardId", "")
    if not code or not wechat_card_id or len(push.get("FromUserName", "")) > MAX_OPENID:
        return "user_del_card: not ours to record"
    card = await _card_of(chain_id, push)
    at = event_time(push, now)
    async with write_transaction():
        if not await repo.take_push(push_key(push), chain_id, now):
            return "user_del_card: a repeat"
        if await repo.remove_from_bag(chain_id, wechat_card_id, code, at):
            return "user_del_card: removed"
        if card is not None and await repo.remember_removal(
                _bag_row(chain_id, card, push, at, now, state="removed")):
            return "user_del_card: removed before its get arrived"
    return "user_del_card: not in the bag"


async def card_pass_check(chain_id: uuid.UUID, push: Push, now: datetime) -> str:
    return await _review(chain_id, push, now, approved=True)


async def card_not_pass_check(chain_id: uuid.UUID, push: Push, now: datetime) -> str:
    return await _review(chain_id, push, now, approved=False)


async def _review(chain_id: uuid.UUID, push: Push, now: datetime, *, approved: bool) -> str:
    """WeChat's review of the chain's card; a late retry of an older review never
    overwrites a newer one."""
    wechat_card_id = push.get("CardId", "")
    if not wechat_card_id:
        return "review: no card"
    at = event_time(push, now)
    values = {"status": "approved" if approved else "rejected", "reviewed_at": at,
              "updated_at": now,
              "reject_reason": None if approved else push.get("RefuseReason", "")[:500]}
    async with write_transaction():
        if not await repo.take_push(push_key(push), chain_id, now):
            return "review: a repeat"
        changed = await repo.review_wechat_card(chain_id, wechat_card_id, values, at)
    return f"review: {values['status']}" if changed else "review: no such card"


Handler = Callable[[uuid.UUID, Push, datetime], Awaitable[str]]
HANDLERS: dict[str, Handler] = {
    "user_get_card": user_get_card,
    "user_del_card": user_del_card,
    "card_pass_check": card_pass_check,
    "card_not_pass_check": card_not_pass_check,
}
