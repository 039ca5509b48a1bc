"""WeChat's message-server crypto (``app.core.wechat_crypto``): WeChat's own published test
vectors first, then round trips and every way a push can be wrong (always ``CryptError``)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.wechat_crypto import (
    CryptError,
    MessageCrypt,
    card_sign,
    jsapi_sign,
    parse_xml,
    to_xml,
)
from tests.stand_ins.wechat_push import TAMPERINGS, Push, Tampering, WechatPusher, decrypt_push

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # the key of WeChat's samples

# WeChat's official 消息加解密 sample for official accounts (the Python Sample.py of the
# "消息加解密接入指引" download, mp.weixin.qq.com wiki id=mp1434696670), as reproduced in the
# README of github.com/fotock/WXbizMsgCrypt-Node: token "spamtest", appid
# "wx2c2769f8efd9abc2", timestamp "1409735669", nonce "1320562132", its msg_signature and
# Encrypt; the plaintext is a text message whose Content is "abcdteT".
SAMPLE_TOKEN, SAMPLE_APPID = "spamtest", "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP, SAMPLE_NONCE = "1409735669", "1320562132"
SAMPLE_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6"
    "F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T33"
    "2jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCg"
    "avjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6Oewp"
    "usjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=")

# WeChat's official Java sample's unit test (WXBizMsgCryptTest.java of the same download,
# package com.qq.weixin.mp.aes), as reproduced in github.com/Wyl015/wuyiling
# work-test/src/main/resources/Utils/aes/WXBizMsgCryptTest.java: with the random prefix
# fixed to "aaaabbbbccccdddd", "我是中文abcd123" encrypts to exactly this.
JAVA_TOKEN, JAVA_APPID = "pamtest", "wxb11529c136998cb6"
JAVA_TIMESTAMP, JAVA_NONCE = "1409304348", "xxxxxx"
JAVA_PLAIN, JAVA_RANDOM = "我是中文abcd123", b"aaaabbbbccccdddd"
JAVA_ENCRYPTED = ("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGM"
                  "hkP72vVOfg==")

# JS-SDK appendix 1 (附录1-JS-SDK使用权限签名算法), its worked example.
JS_TICKET = ("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP"
             "7qg")

APP_ID, TOKEN = "wxOfficial0001", "o2oToken123"
KEY = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw"


def crypt() -> MessageCrypt:
    return MessageCrypt(TOKEN, KEY, APP_ID)


def test_wechat_sample_decrypts_with_its_signature() -> None:
    sample = MessageCrypt(SAMPLE_TOKEN, AES_KEY, SAMPLE_APPID)
    xml = sample.decrypt(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
    assert parse_xml(xml) == {
        "ToUserName": "gh_10f6c3c3ac5a", "FromUserName": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "CreateTime": "1409735668", "MsgType": "text", "Content": "abcdteT",
        "MsgId": "6054768590064713728"}
    assert sample.sign(SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT) == SAMPLE_SIGNATURE
    # The same ciphertext under another appid (WeChat's appid check) or token is refused.
    with pytest.raises(CryptError, match="appid"):
        other = MessageCrypt(SAMPLE_TOKEN, AES_KEY, "wx0000000000000000")
        other.decrypt(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
    with pytest.raises(CryptError, match="signature"):
        MessageCrypt("pamtest", AES_KEY, SAMPLE_APPID).decrypt(
            SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)


def test_wechat_java_sample_encrypts_byte_for_byte() -> None:
    java = MessageCrypt(JAVA_TOKEN, AES_KEY, JAVA_APPID)
    encrypted, signature = java.encrypt(JAVA_PLAIN, JAVA_TIMESTAMP, JAVA_NONCE,
                                        random_prefix=JAVA_RANDOM)
    assert encrypted == JAVA_ENCRYPTED
    assert signature == hashlib.sha1("".join(sorted(
        [JAVA_TOKEN, JAVA_TIMESTAMP, JAVA_NONCE, JAVA_ENCRYPTED])).encode()).hexdigest()
    assert java.decrypt(signature, JAVA_TIMESTAMP, JAVA_NONCE, JAVA_ENCRYPTED) == JAVA_PLAIN


def test_jsapi_sign_matches_the_js_sdk_example() -> None:
    assert jsapi_sign(JS_TICKET, "Wm3WZYTPz0wzccnW", 1414587457,
                      "http://mp.weixin.qq.com?params=value#frag") == (
        "0f9de62fce790f9a083d5c99e95740ceb90c27ed")


def test_card_sign_sorts_then_hashes() -> None:
    values = ["ticket-1", "880000000001", "o-member", "1700000000", "n0nce", "pCardId"]
    expected = hashlib.sha1("".join(sorted(values)).encode()).hexdigest()
    assert card_sign(*values) == expected == card_sign(*reversed(values))


def test_open_push_needs_an_encrypt() -> None:
    for body in ["<xml><ToUserName>gh</ToUserName></xml>", "<xml><Encrypt></Encrypt></xml>",
                 "garbage"]:
        with pytest.raises(CryptError):
            crypt().open_push("0" * 40, "1", "2", body)


def test_server_check() -> None:
    signature = hashlib.sha1("".join(sorted([TOKEN, "1700000000", "nonce1"])).encode())
    assert crypt().check_signature(signature.hexdigest(), "1700000000", "nonce1")
    assert not crypt().check_signature(signature.hexdigest(), "1700000001", "nonce1")
    assert not crypt().check_signature("", "1700000000", "nonce1")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.text(alphabet="0123456789", min_size=1, max_size=10))
def test_round_trip(xml: str, nonce: str) -> None:
    encrypted, signature = crypt().encrypt(xml, "1700000000", nonce)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert crypt().decrypt(signature, "1700000000", nonce, encrypted) == xml


def raw_encrypt(plain: bytes, key: str = KEY) -> str:
    """AES-256-CBC exactly as WeChat, without any padding of ours (for broken inputs)."""
    secret = base64.b64decode(key + "=")
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(secret[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def framed(xml: bytes, app_id: bytes = APP_ID.encode(), length: int | None = None) -> bytes:
    body = b"r" * 16 + struct.pack(">I", len(xml) if length is None else length) + xml + app_id
    pad = 32 - len(body) % 32
    return body + bytes([pad]) * pad


BAD_PLAINTEXTS = {
    "bad padding byte": framed(b"<xml/>")[:-1] + b"\x00",
    "padding above 32": (lambda b: b[:-1] + bytes([33]))(framed(b"<xml/>")),
    "inconsistent padding": (lambda b: b[:-2] + b"\x01\x02")(framed(b"<xml/>")),
    "wrong appid": framed(b"<xml/>", app_id=b"wxSomeoneElse0001"),
    "length beyond the end": framed(b"<xml/>", length=4000),
    "too short": b"\x10" * 16,
    "not UTF-8": framed(b"\xff\xfe<xml/>"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLAINTEXTS))
def test_bad_plaintexts_are_refused(case: str) -> None:
    encrypted = raw_encrypt(BAD_PLAINTEXTS[case])
    signature = crypt().sign("1700000000", "n", encrypted)
    with pytest.raises(CryptError):
        crypt().decrypt(signature, "1700000000", "n", encrypted)


def test_tampering_and_garbage_raise_crypt_error_only() -> None:
    encrypted, signature = crypt().encrypt("<xml><A>1</A></xml>", "1700000000", "n")
    flipped = encrypted[:10] + ("A" if encrypted[10] != "A" else "B") + encrypted[11:]
    cases = [
        (signature, "1700000000", "n", flipped),  # ciphertext changed, old signature
        (signature, "1700000001", "n", encrypted),  # timestamp changed
        ("0" * 40, "1700000000", "n", encrypted),
        (signature[:-1], "1700000000", "n", encrypted),
    ]
    for args in cases:
        with pytest.raises(CryptError):
            crypt().decrypt(*args)
    # Correctly signed garbage: still CryptError, never binascii/ValueError/struct.error.
    for garbage in ["", "!!!!", "YWJj", encrypted[:-8], encrypted[:20] + "==", "A" * 43,
                    base64.b64encode(b"x" * 48).decode(), encrypted + encrypted]:
        with pytest.raises(CryptError):
            crypt().decrypt(crypt().sign("1700000000", "n", garbage), "1700000000", "n",
                            garbage)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_signed_bytes_give_xml_or_crypt_error(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    with contextlib.suppress(CryptError):  # anything else fails the test
        crypt().decrypt(crypt().sign("1", "2", text), "1", "2", text)


def test_bad_keys_are_refused() -> None:
    for key in ["", "short", KEY + "A", KEY[:-1] + "*"]:
        with pytest.raises(CryptError):
            MessageCrypt(TOKEN, key, APP_ID)


def test_parse_xml_flat_children_cdata_or_not() -> None:
    xml = ("<?xml version='1.0' encoding='UTF-8'?><xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
           "<CreateTime>1700000000</CreateTime><Event><![CDATA[user_get_card]]></Event>"
           "<Nested><Inner>x</Inner></Nested><Empty/><Text>a &amp; b</Text></xml>")
    assert parse_xml(xml) == {"ToUserName": "gh_1", "CreateTime": "1700000000",
                              "Event": "user_get_card", "Nested": "", "Empty": "",
                              "Text": "a & b"}
    assert parse_xml(xml.encode()) == parse_xml(xml)


@pytest.mark.parametrize("xml", [
    # billion laughs
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    "<xml><A>&lol2;</A></xml>",
    # external entity
    '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><A>&xxe;</A></xml>',
    '<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml/>',
    "<xml><A>&undefined;</A></xml>",
    "<xml><A>unclosed</xml>",
    "<notxml><A>1</A></notxml>",
    "",
    "not xml at all",
    b"\xff\xfe<xml/>",
])
def test_parse_xml_refuses(xml: str | bytes) -> None:
    with pytest.raises(CryptError):
        parse_xml(xml)


def test_to_xml_round_trips_through_parse_xml() -> None:
    fields: dict[str, str | int] = {"ToUserName": "gh_1", "CreateTime": 1700000000,
                                    "Content": "a ]]> b <c> & 中文"}
    xml = to_xml(fields)
    assert xml.startswith("<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
                          "<CreateTime>1700000000</CreateTime>")
    assert parse_xml(xml) == {key: str(value) for key, value in fields.items()}
    with pytest.raises(ValueError):
        to_xml({"bad tag": "x"})


# --- the stand-in pusher and MessageCrypt agree (two implementations of one scheme) ------


def receive(push: Push, now: int | None = None) -> dict[str, str]:
    """What the callback does with a push: parse the outer XML, check msg_signature,
    decrypt (appid checked), parse the event, refuse a timestamp off by over 5 minutes."""
    if push.params.get("encrypt_type") != "aes" or "msg_signature" not in push.params:
        raise CryptError("safe mode only")
    outer = parse_xml(push.body)
    if "Encrypt" not in outer:
        raise CryptError("no Encrypt")
    timestamp = push.params["timestamp"]
    if abs(int(timestamp) - (now or int(time.time()))) > 300:
        raise CryptError("timestamp outside the window")
    xml = crypt().decrypt(push.params["msg_signature"], timestamp, push.params["nonce"],
                          outer["Encrypt"])
    fields = parse_xml(xml)
    assert crypt().open_push(push.params["msg_signature"], timestamp, push.params["nonce"],
                             push.body.encode()) == fields
    return fields


def pusher() -> WechatPusher:
    return WechatPusher("http://unused", uuid.uuid4(), TOKEN, KEY, APP_ID)


def test_pushes_decrypt_with_message_crypt() -> None:
    push = pusher().build("user_get_card", from_user="o-member", CardId="pCard",
                          IsGiveByFriend=0, UserCardCode="880000000001", OuterStr="")
    fields = receive(push)
    assert fields == {key: str(value) for key, value in push.fields.items()}
    assert fields["Event"] == "user_get_card" and fields["MsgType"] == "event"
    assert crypt().check_signature(push.params["signature"], push.params["timestamp"],
                                   push.params["nonce"])
    assert decrypt_push(push, KEY) == push.xml
    assert parse_xml(push.body)["ToUserName"] == pusher().to_user


@pytest.mark.parametrize("how", TAMPERINGS)
def test_every_forged_push_is_refused(how: Tampering) -> None:
    original = pusher().build("card_pass_check", from_user="o-system", CardId="pCard",
                              RefuseReason="")
    forged = pusher().forge(original, how)
    with pytest.raises(CryptError):
        receive(forged)


async def test_the_pusher_sends_what_wechat_sends() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, text=request.url.params["echostr"])
        return httpx.Response(200, text="success")

    chain_id = uuid.uuid4()
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer),
                                 base_url="http://o2o.test") as http:
        pushes = WechatPusher("http://o2o.test", chain_id, TOKEN, KEY, APP_ID, client=http)
        check = await pushes.server_check(echostr="4075181314397890557")
        got = await pushes.user_get_card("o-member", "pCard", "880000000001")
        again = await pushes.replay()
        forged = await pushes.tamper(how="encrypt")
    assert check.text == "4075181314397890557" and got.text == again.text == "success"
    get, post, replayed, tampered = seen
    assert get.url.path == post.url.path == f"/api/v1/wechat/callback/{chain_id}"
    assert crypt().check_signature(get.url.params["signature"], get.url.params["timestamp"],
                                   get.url.params["nonce"])
    assert set(post.url.params) == {"signature", "timestamp", "nonce", "openid",
                                    "encrypt_type", "msg_signature"}
    assert post.url.params["openid"] == "o-member" and post.headers["content-type"] == "text/xml"
    assert replayed.url == post.url and replayed.content == post.content
    assert tampered.url == post.url and tampered.content != post.content
    assert receive(got)["UserCardCode"] == "880000000001"
    assert [p.event for p in pushes.sent] == ["user_get_card"] * 3 and forged.status == 200
