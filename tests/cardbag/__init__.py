"""Tests of the WeChat card bag, and what they share: a chain's WeChat config with a
message server, a template made a WeChat card, cards of it, and event pushes sent to the
callback the way WeChat sends them (safe mode: AES-256-CBC, msg_signature), so a test
(the sync's too) puts a card in the bag through the real callback."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from app.core.auth import Principal
from app.core.settings import Settings
from app.core.wechat_crypto import MessageCrypt, sorted_sha1, to_xml
from cardbag.tables import BagCard, WechatCard
from stores import service as stores_service
from tests.conftest import make_settings
from tests.stand_ins.wechat import WechatStandIn
from tests.world import World

API = "/api/v1"
PUBLIC_URL = "http://testserver.local"
APP_ID = "wx5ca2db0000000001"
SECRET = "card-bag-app-secret"
TOKEN = "CardBagToken2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
LOGO = "https://mmbiz.qpic.cn/mmbiz/card-bag-logo.png"
OA_ID = "gh_0123456789ab"  # the official account's original id (ToUserName)


def live_settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    """Live WeChat mode against the stand-in, which knows the chain's app (the tests'
    own app: its dispatcher and pay poller off)."""
    wechat_server.add_app(APP_ID, SECRET)
    return make_settings(database_url, wechat_mode="live", wechat_api_base=wechat_server.url,
                         public_url=PUBLIC_URL, wechat_timeout_s=2.0, notify_dispatcher=False,
                         pay_poller=False)


@dataclass(frozen=True)
class MessageServer:
    """What the chain told WeChat: where to push, with which Token and AES key."""

    chain_id: uuid.UUID
    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID

    @property
    def path(self) -> str:
        return f"{API}/wechat/callback/{self.chain_id}"


async def configure(client: httpx.AsyncClient, world: World, *, card_bag: bool = True,
                    operator: Principal | None = None, app_id: str = APP_ID,
                    token: str | None = TOKEN, aes_key: str | None = AES_KEY
                    ) -> httpx.Response:
    """PUT /wechat-config for alpha (or ``operator``'s chain), with the message server."""
    body: dict[str, Any] = {"app_id": app_id, "app_secret": SECRET, "templates": {},
                            "card_bag": card_bag}
    if token is not None:
        body["server_token"] = token
    if aes_key is not None:
        body["encoding_aes_key"] = aes_key
    response = await client.put(f"{API}/wechat-config", json=body,
                                headers=world.headers(operator or world.a.operator))
    return response


async def template(client: httpx.AsyncClient, world: World, kind: str = "stored_value",
                   operator: Principal | None = None, name: str = "Gold") -> str:
    body: dict[str, Any] = {"name": name, "kind": kind, "points_per_yuan": 1,
                            "tiers": [{"name": "Silver", "min_points": 0, "discount_percent": 0},
                                      {"name": "Gold", "min_points": 1000,
                                       "discount_percent": 5}]}
    if kind == "times":
        body["initial_visits"] = 10
    response = await client.post(f"{API}/card-templates", json=body,
                                 headers=world.headers(operator or world.a.operator))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def issue(client: httpx.AsyncClient, world: World, template_id: str,
                member: Principal, operator: Principal | None = None) -> dict[str, Any]:
    response = await client.post(f"{API}/cards", json={
        "template_id": template_id, "member_id": str(member.id)},
        headers=world.headers(operator or world.a.operator))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_wechat_card(client: httpx.AsyncClient, world: World, template_id: str,
                           operator: Principal | None = None) -> httpx.Response:
    return await client.post(f"{API}/card-templates/{template_id}/wechat-card",
                             json={"logo_url": LOGO, "brand_name": "O2O Hair"},
                             headers=world.headers(operator or world.a.operator))


async def wechat_card(client: httpx.AsyncClient, world: World, template_id: str,
                      operator: Principal | None = None) -> dict[str, Any]:
    response = await client.get(f"{API}/card-templates/{template_id}/wechat-card",
                                headers=world.headers(operator or world.a.operator))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def link(member: Principal, openid: str | None = None) -> str:
    """Give the member a WeChat openid (as a WeChat login would)."""
    openid = openid or f"o{secrets.token_hex(13)}"
    await stores_service.set_openid(member.id, openid)
    return openid


# --- pushes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignedPush:
    """One push as WeChat sends it: query string and encrypted XML body."""

    path: str
    query: dict[str, str]
    body: bytes

    @property
    def url(self) -> str:
        return f"{self.path}?{urlencode(self.query)}"


def event_fields(event: str, openid: str = "oMember0001", create_time: int | None = None,
                 **fields: str | int) -> dict[str, str | int]:
    return {"ToUserName": OA_ID, "FromUserName": openid,
            "CreateTime": create_time if create_time is not None else int(time.time()),
            "MsgType": "event", "Event": event, **fields}


def signed_push(server: MessageServer, fields: dict[str, str | int], *,
                timestamp: int | None = None, nonce: str | None = None,
                app_id: str | None = None, aes_key: str | None = None,
                token: str | None = None) -> SignedPush:
    """Encrypt and sign ``fields`` the way WeChat does (its ``app_id``, the server's key
    and token unless given: a forger's are other ones)."""
    crypt = MessageCrypt(token or server.token, aes_key or server.aes_key,
                         app_id or server.app_id)
    stamp, nonce = str(timestamp if timestamp is not None else int(time.time())), \
        nonce or str(secrets.randbelow(10**10))
    encrypted, msg_signature = crypt.encrypt(to_xml(fields), stamp, nonce)
    body = to_xml({"ToUserName": OA_ID, "Encrypt": encrypted}).encode()
    return SignedPush(path=server.path, body=body, query={
        "signature": sorted_sha1(token or server.token, stamp, nonce),
        "timestamp": stamp, "nonce": nonce,
        "openid": str(fields.get("FromUserName", "")), "encrypt_type": "aes",
        "msg_signature": msg_signature})


async def send(client: httpx.AsyncClient, push: SignedPush,
               content_type: str = "text/xml") -> httpx.Response:
    return await client.post(push.path, params=push.query, content=push.body,
                             headers={"Content-Type": content_type})


async def push_event(client: httpx.AsyncClient, server: MessageServer, event: str,
                     **fields: Any) -> httpx.Response:
    response = await send(client, signed_push(server, event_fields(event, **fields)))
    assert response.status_code == 200, response.text
    assert response.text == "success"
    return response


async def put_in_bag(client: httpx.AsyncClient, server: MessageServer, wechat_card_id: str,
                     code: str, openid: str = "oMember0001",
                     create_time: int | None = None) -> httpx.Response:
    """WeChat's ``user_get_card`` for a code: the card is in the member's card bag."""
    return await push_event(client, server, "user_get_card", openid=openid,
                            create_time=create_time, CardId=wechat_card_id,
                            UserCardCode=code, IsGiveByFriend=0, OuterStr="")


# --- rows behind the API -----------------------------------------------------------------------

async def bag_rows() -> list[dict[str, Any]]:
    return list(await BagCard.select().order_by(BagCard.added_at).run())


async def bag_row(card_id: str) -> dict[str, Any] | None:
    row = await BagCard.select().where(BagCard.card_id == uuid.UUID(card_id)).first().run()
    return dict(row) if row else None


async def wechat_card_rows() -> list[dict[str, Any]]:
    return list(await WechatCard.select().run())
