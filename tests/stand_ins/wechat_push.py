"""WeChat's side of the official account's message server: the pushes WeChat sends to
``/api/v1/wechat/callback/{chain_id}``, built the way WeChat builds them (safe mode).

- Server check (when the operator saves the URL in the official account's console):
  ``GET ?signature=&timestamp=&nonce=&echostr=`` with ``signature = sha1(sorted([token,
  timestamp, nonce]))``; the server must answer ``echostr`` as it is.
- An event push: ``POST ?signature=&timestamp=&nonce=&openid=&encrypt_type=aes&
  msg_signature=``, ``Content-Type: text/xml``, body ``<xml><ToUserName/><Encrypt/></xml>``;
  ``Encrypt`` is the event's XML under the chain's EncodingAESKey (16 random bytes, length,
  XML, appid; AES-256-CBC; PKCS#7 to 32 bytes) and ``msg_signature = sha1(sorted([token,
  timestamp, nonce, Encrypt]))``. ``signature`` (the plain one) is sent too, as WeChat does.
- The card events' fields as WeChat documents them (卡券事件推送): ``user_get_card``
  (CardId, UserCardCode, IsGiveByFriend, FriendUserName, OuterId, OldUserCardCode,
  OuterStr, IsRestoreMemberCard, IsRecommendByFriend, UnionId), ``user_del_card`` (CardId,
  UserCardCode), ``card_pass_check`` / ``card_not_pass_check`` (CardId, RefuseReason).

The encryption is written here with ``cryptography`` directly, not with the app's
``app.core.wechat_crypto``, so a mistake shared by both cannot pass unnoticed.

``WechatPusher(base_url, chain_id, token, aes_key, app_id)`` sends over HTTP (``base_url``
of a live server) or through ``client=`` (the tests' ASGI ``httpx.AsyncClient``). Every
push is kept (:attr:`WechatPusher.sent`) so :meth:`replay` can send one again byte for
byte and :meth:`tamper` can send a broken copy. ``stand_in=`` (the WeChat API stand-in)
makes ``user_get_card`` also put the code into its card bag, so activation finds it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.stand_ins.wechat import WechatStandIn

API_PREFIX = "/api/v1"
Tampering = Literal["msg_signature", "encrypt", "timestamp", "stale", "appid", "aes_key",
                    "token", "padding", "not_xml", "doctype", "no_encrypt"]
TAMPERINGS: tuple[Tampering, ...] = ("msg_signature", "encrypt", "timestamp", "stale",
                                     "appid", "aes_key", "token", "padding", "not_xml",
                                     "doctype", "no_encrypt")


def sha1_sorted(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode()).hexdigest()


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(fields: dict[str, str | int]) -> str:
    """``<xml>`` as WeChat writes it: text in CDATA, numbers bare."""
    inner = "".join(f"<{k}>{v if isinstance(v, int) else cdata(v)}</{k}>"
                    for k, v in fields.items())
    return f"<xml>{inner}</xml>"


def encrypt(xml: str, aes_key: str, app_id: str, *, break_padding: bool = False) -> str:
    key = base64.b64decode(aes_key + "=")
    body = xml.encode()
    plain = secrets.token_bytes(16) + struct.pack(">I", len(body)) + body + app_id.encode()
    amount = 32 - len(plain) % 32
    plain += bytes([amount]) * amount
    if break_padding:  # a last byte no PKCS#7 padding ends with
        plain = plain[:-1] + b"\x00"
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


@dataclass(frozen=True, slots=True)
class Push:
    """One push as sent: its event, the plaintext XML, query and body."""

    event: str
    fields: dict[str, str | int]
    xml: str
    params: dict[str, str]
    body: str
    response: httpx.Response | None = None

    @property
    def status(self) -> int:
        assert self.response is not None, "not sent"
        return self.response.status_code

    @property
    def text(self) -> str:
        assert self.response is not None, "not sent"
        return self.response.text


@dataclass
class WechatPusher:
    base_url: str
    chain_id: uuid.UUID | str
    token: str
    aes_key: str
    app_id: str
    client: httpx.AsyncClient | None = None
    stand_in: WechatStandIn | None = None
    to_user: str = "gh_0a1b2c3d4e5f"  # the official account's original id
    system_user: str = "o-wechat-system"  # FromUserName of review results
    api_prefix: str = API_PREFIX
    sent: list[Push] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{self.api_prefix}/wechat/callback/{self.chain_id}"

    # --- the server check ---------------------------------------------------------------

    async def server_check(self, *, echostr: str | None = None, token: str | None = None,
                           timestamp: str | None = None) -> httpx.Response:
        """``GET`` as WeChat's console does when the URL is saved (``token``: sign with
        another token, to see it refused)."""
        timestamp = timestamp or str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        params = {"signature": sha1_sorted(token or self.token, timestamp, nonce),
                  "timestamp": timestamp, "nonce": nonce,
                  "echostr": echostr or str(secrets.randbelow(10**19))}
        return await self._send("GET", params, None)

    # --- event pushes -------------------------------------------------------------------

    def build(self, event: str, *, from_user: str, created_at: int | None = None,
              timestamp: int | None = None, **fields: str | int) -> Push:
        """The push WeChat would send for ``event`` (fields in the order given), unsent."""
        return self._build(event, from_user, created_at, timestamp, fields)

    def _build(self, event: str, from_user: str, created_at: int | None,
               timestamp: int | None, fields: dict[str, str | int]) -> Push:
        now = int(time.time())
        plain: dict[str, str | int] = {
            "ToUserName": self.to_user, "FromUserName": from_user,
            "CreateTime": created_at if created_at is not None else now,
            "MsgType": "event", "Event": event, **fields}
        xml = event_xml(plain)
        return self._wrap(event, plain, xml, str(timestamp if timestamp is not None else now),
                          openid=from_user)

    def _wrap(self, event: str, plain: dict[str, str | int], xml: str, timestamp: str, *,
              openid: str, aes_key: str | None = None, app_id: str | None = None,
              token: str | None = None, break_padding: bool = False) -> Push:
        nonce = str(secrets.randbelow(10**10))
        encrypted = encrypt(xml, aes_key or self.aes_key, app_id or self.app_id,
                            break_padding=break_padding)
        sign_with = token or self.token
        params = {"signature": sha1_sorted(sign_with, timestamp, nonce), "timestamp": timestamp,
                  "nonce": nonce, "openid": openid, "encrypt_type": "aes",
                  "msg_signature": sha1_sorted(sign_with, timestamp, nonce, encrypted)}
        body = event_xml({"ToUserName": self.to_user, "Encrypt": encrypted})
        return Push(event=event, fields=plain, xml=xml, params=params, body=body)

    async def push(self, event: str, *, from_user: str | None = None,
                   created_at: int | None = None, **fields: str | int) -> Push:
        """Build and send one event push; returns it with WeChat's view of the answer."""
        built = self._build(event, from_user or self.system_user, created_at, None, fields)
        return await self.send(built)

    async def send(self, push: Push) -> Push:
        response = await self._send("POST", push.params, push.body)
        sent = dataclasses.replace(push, response=response)
        self.sent.append(sent)
        return sent

    async def user_get_card(self, openid: str, card_id: str, code: str, *,
                            give_by_friend: bool = False, friend: str = "",
                            outer_str: str = "", union_id: str = "",
                            created_at: int | None = None) -> Push:
        """A member took the card into the card bag (``wx.addCard`` went through)."""
        if self.stand_in is not None and not give_by_friend:
            self.stand_in.take_card(card_id, code, openid)
        return await self.push(
            "user_get_card", from_user=openid, created_at=created_at, CardId=card_id,
            IsGiveByFriend=int(give_by_friend), UserCardCode=code, FriendUserName=friend,
            OuterId=0, OldUserCardCode="", OuterStr=outer_str, IsRestoreMemberCard=0,
            IsRecommendByFriend=0, UnionId=union_id)

    async def user_del_card(self, openid: str, card_id: str, code: str, *,
                            created_at: int | None = None) -> Push:
        if self.stand_in is not None:
            self.stand_in.remove_card(card_id, code)
        return await self.push("user_del_card", from_user=openid, created_at=created_at,
                               CardId=card_id, UserCardCode=code)

    async def card_pass_check(self, card_id: str, *, created_at: int | None = None) -> Push:
        if self.stand_in is not None:
            self.stand_in.approve(card_id)
        return await self.push("card_pass_check", created_at=created_at, CardId=card_id,
                               RefuseReason="")

    async def card_not_pass_check(self, card_id: str, reason: str = "logo unclear", *,
                                  created_at: int | None = None) -> Push:
        if self.stand_in is not None:
            self.stand_in.reject(card_id, reason)
        return await self.push("card_not_pass_check", created_at=created_at, CardId=card_id,
                               RefuseReason=reason)

    # --- replays and forgeries ----------------------------------------------------------

    async def replay(self, push: Push | None = None) -> Push:
        """Send a push again, byte for byte (WeChat retries a push it got no answer to
        three times; an attacker may replay what they captured)."""
        original = push or self.sent[-1]
        return await self.send(dataclasses.replace(original, response=None))

    def forge(self, push: Push, how: Tampering) -> Push:
        """A broken copy of ``push``: what an attacker (or a misconfigured chain) sends."""
        params, body = dict(push.params), push.body
        now = params["timestamp"]
        other_key = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        match how:
            case "msg_signature":  # the signature of some other body
                params["msg_signature"] = sha1_sorted(self.token, now, params["nonce"], "x")
            case "encrypt":  # the ciphertext changed, the signature left as it was
                encrypted = push.body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
                changed = encrypted[:20] + ("A" if encrypted[20] != "A" else "B") + (
                    encrypted[21:])
                body = push.body.replace(encrypted, changed)
            case "timestamp":  # another timestamp, the old signatures
                params["timestamp"] = str(int(now) + 1)
            case "stale":  # correctly signed, but sent ten minutes late
                return self._wrap(push.event, push.fields, push.xml, str(int(now) - 600),
                                  openid=params["openid"])
            case "appid":  # another official account's push, signed with our token
                return self._wrap(push.event, push.fields, push.xml, now,
                                  openid=params["openid"], app_id="wxAnotherAccount01")
            case "aes_key":
                return self._wrap(push.event, push.fields, push.xml, now,
                                  openid=params["openid"], aes_key=other_key)
            case "token":
                return self._wrap(push.event, push.fields, push.xml, now,
                                  openid=params["openid"], token="someoneElsesToken")
            case "padding":  # correctly signed, but the padding is not PKCS#7
                return self._wrap(push.event, push.fields, push.xml, now,
                                  openid=params["openid"], break_padding=True)
            case "not_xml":
                body = "this is not xml"
            case "doctype":  # an entity bomb around a correctly signed Encrypt
                body = ('<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                        + push.body.replace("<ToUserName>", "<Pad>&b;</Pad><ToUserName>", 1))
            case "no_encrypt":  # plaintext mode: the chain runs in safe mode only
                body = push.xml
                params.pop("msg_signature")
                params.pop("encrypt_type")
        return dataclasses.replace(push, params=params, body=body, response=None)

    async def tamper(self, push: Push | None = None, how: Tampering = "msg_signature") -> Push:
        """Send a forged copy of ``push`` (the last one sent by default)."""
        return await self.send(self.forge(push or self.sent[-1], how))

    # --- plumbing -----------------------------------------------------------------------

    async def _send(self, method: str, params: dict[str, str],
                    body: str | None) -> httpx.Response:
        headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}
        content = body.encode() if body is not None else None
        if self.client is not None:
            return await self.client.request(method, self.path, params=params,
                                             content=content, headers=headers)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            return await http.request(method, self.path, params=params, content=content,
                                      headers=headers)

    def send_sync(self, push: Push) -> httpx.Response:
        """For a test outside an event loop (a live server): send with a blocking client."""
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            return http.post(self.path, params=push.params, content=push.body.encode(),
                             headers={"Content-Type": "text/xml"})


def decrypt_push(push: Push | dict[str, Any], aes_key: str) -> str:
    """The plaintext XML inside a push's Encrypt (the pusher's own check of itself)."""
    body = push.body if isinstance(push, Push) else str(push["body"])
    encrypted = body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[:-plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20:20 + length].decode()
