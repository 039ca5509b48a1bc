"""The official account's message server (GET/POST /wechat/callback/{chain_id}) over real
HTTP: the server check, safe-mode pushes encrypted and signed the way WeChat does them,
and everything an attacker may send instead (a bad signature, another app's or key's push,
a replay, another chain's code, garbage) answering 401 or "success" and changing nothing.

The app runs in sandbox mode: the callback calls nothing at WeChat, and a template's
WeChat card is made at once (approved) with a local id.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from app.core.wechat_crypto import sorted_sha1
from cardbag.tables import BagCard, TakenPush
from tests.cardbag import (
    API,
    MessageServer,
    bag_row,
    bag_rows,
    configure,
    event_fields,
    issue,
    make_wechat_card,
    push_event,
    put_in_bag,
    send,
    signed_push,
    template,
)
from tests.stand_ins.wechat_push import TAMPERINGS, WechatPusher
from tests.world import World

OPENID = "oMemberAlpha0001"


async def _bagged_card(client: httpx.AsyncClient, world: World) -> tuple[MessageServer, str,
                                                                          dict[str, Any]]:
    """Alpha with a message server, a template made a WeChat card, member 1's card of it:
    (the server, the WeChat card id, the card)."""
    assert (await configure(client, world)).status_code == 200
    template_id = await template(client, world)
    made = await make_wechat_card(client, world, template_id)
    assert made.status_code == 201, made.text
    card = await issue(client, world, template_id, world.a.members[0])
    return MessageServer(world.a.id), str(made.json()["wechat_card_id"]), card


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


# --- the server check ---------------------------------------------------------------------------

async def test_server_check_answers_echostr_only_when_signed(client: httpx.AsyncClient,
                                                             world: World) -> None:
    assert (await configure(client, world)).status_code == 200
    path = MessageServer(world.a.id).path
    stamp, nonce = str(int(time.time())), "20261207"
    good = {"signature": sorted_sha1("CardBagToken2026", stamp, nonce), "timestamp": stamp,
            "nonce": nonce, "echostr": "5838479218127813673"}
    answer = await client.get(path, params=good)
    assert answer.status_code == 200, answer.text
    assert answer.text == "5838479218127813673"
    assert answer.headers["content-type"].startswith("text/plain")

    forged = sorted_sha1("AnotherToken", stamp, nonce)
    old = str(int(time.time()) - 600)
    for bad in ({**good, "signature": forged}, {**good, "nonce": "other"},
                {**good, "timestamp": old,
                 "signature": sorted_sha1("CardBagToken2026", old, nonce)},
                {k: v for k, v in good.items() if k != "signature"}, {}):
        _problem(await client.get(path, params=bad), 401, "unauthorized")
    # another chain (no message server), and no chain at all
    for chain in (world.b.id, uuid.uuid4()):
        _problem(await client.get(f"{API}/wechat/callback/{chain}", params=good), 404,
                 "not_found")


# --- user_get_card and user_del_card ------------------------------------------------------------

async def test_user_get_card_records_the_card_in_the_bag(client: httpx.AsyncClient,
                                                         world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    before = time.time()
    await put_in_bag(client, server, wechat_card_id, card["number"], openid=OPENID)
    row = await bag_row(card["id"])
    assert row is not None
    assert (row["state"], row["openid"], row["code"], row["wechat_card_id"]) == (
        "in_bag", OPENID, card["number"], wechat_card_id)
    # activation is the sync worker's (WeChat waits 5 s for this answer)
    assert row["activated_at"] is None and row["dirty"] is True and row["synced_seq"] == 0
    assert row["due_at"].timestamp() >= before - 1
    assert str(row["template_id"]) == card["template_id"]
    assert row["chain_id"] == world.a.id

    await push_event(client, server, "user_del_card", openid=OPENID, CardId=wechat_card_id,
                     UserCardCode=card["number"])
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "removed" and row["dirty"] is False
    assert row["removed_at"] is not None


async def test_a_card_taken_again_is_revived_unactivated(client: httpx.AsyncClient,
                                                         world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    now = int(time.time())
    await put_in_bag(client, server, wechat_card_id, card["number"], create_time=now - 30)
    await push_event(client, server, "user_del_card", create_time=now - 20,
                     CardId=wechat_card_id, UserCardCode=card["number"])
    # the sync had activated and pushed it meanwhile
    await BagCard.update({BagCard.synced_seq: 3, BagCard.dirty: False}).where(
        BagCard.card_id == uuid.UUID(card["id"])).run()
    await put_in_bag(client, server, wechat_card_id, card["number"], create_time=now - 10)
    row = await bag_row(card["id"])
    assert row is not None
    assert (row["state"], row["dirty"], row["synced_seq"], row["activated_at"],
            row["removed_at"]) == ("in_bag", True, 0, None, None)
    assert len(await bag_rows()) == 1


async def test_a_late_retry_never_undoes_a_newer_event(client: httpx.AsyncClient,
                                                       world: World) -> None:
    """WeChat retries a push it got no answer for: an older get arriving after the
    removal leaves the card removed, and an older removal a later get in the bag."""
    server, wechat_card_id, card = await _bagged_card(client, world)
    now = int(time.time())
    await push_event(client, server, "user_del_card", create_time=now - 10,
                     CardId=wechat_card_id, UserCardCode=card["number"])  # nothing yet
    await put_in_bag(client, server, wechat_card_id, card["number"], create_time=now - 5)
    await push_event(client, server, "user_del_card", create_time=now - 10,
                     openid="oLateRetry", CardId=wechat_card_id,
                     UserCardCode=card["number"])  # a late retry of an older removal
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "in_bag"

    await push_event(client, server, "user_del_card", create_time=now,
                     CardId=wechat_card_id, UserCardCode=card["number"])
    await put_in_bag(client, server, wechat_card_id, card["number"], create_time=now - 5,
                     openid="oLateRetry")  # the same get, retried late (another key)
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "removed"


async def test_a_replayed_push_changes_nothing(client: httpx.AsyncClient, world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    got = signed_push(server, event_fields("user_get_card", openid=OPENID,
                                           CardId=wechat_card_id, UserCardCode=card["number"],
                                           IsGiveByFriend=0))
    assert (await send(client, got)).text == "success"
    await push_event(client, server, "user_del_card", openid=OPENID, CardId=wechat_card_id,
                     UserCardCode=card["number"])
    # the very request again (inside WeChat's 5 minutes), and WeChat's own retry of the
    # event (a new nonce and signature, the same event): both "success", nothing changes
    retried = signed_push(server, event_fields(
        "user_get_card", openid=OPENID, create_time=int(got.query["timestamp"]),
        CardId=wechat_card_id, UserCardCode=card["number"], IsGiveByFriend=0))
    answers = await asyncio.gather(send(client, got), send(client, retried), send(client, got))
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 3
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "removed"
    assert len(await TakenPush.select().run()) == 2


async def test_concurrent_copies_of_a_push_apply_once(client: httpx.AsyncClient,
                                                      world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    fields = event_fields("user_get_card", openid=OPENID, CardId=wechat_card_id,
                          UserCardCode=card["number"], IsGiveByFriend=0)
    copies = [signed_push(server, fields) for _ in range(6)]
    answers = await asyncio.gather(*(send(client, c) for c in copies))
    assert {(a.status_code, a.text) for a in answers} == {(200, "success")}
    assert len(await bag_rows()) == 1
    assert len(await TakenPush.select().run()) == 1


# --- what must change nothing -------------------------------------------------------------------

async def test_bad_pushes_answer_401_and_change_nothing(client: httpx.AsyncClient,
                                                        world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    fields = event_fields("user_get_card", openid=OPENID, CardId=wechat_card_id,
                          UserCardCode=card["number"], IsGiveByFriend=0)
    good = signed_push(server, fields)
    old = int(time.time()) - 301
    bad = [
        # a forged signature, or a body that is not the one signed
        signed_push(server, fields, token="AnotherToken1"),
        type(good)(good.path, {**good.query, "msg_signature": "0" * 40}, good.body),
        type(good)(good.path, good.query, signed_push(server, fields).body),
        # another official account's push (its appid inside), or another AES key
        signed_push(server, fields, app_id="wx00000000000000ff"),
        signed_push(server, fields, aes_key="B" * 43),
        # signed properly, but outside WeChat's 5 minutes (a replay), or in the future
        signed_push(server, fields, timestamp=old),
        signed_push(server, fields, timestamp=int(time.time()) + 400),
        # plain mode: its signature covers no body
        type(good)(good.path, {k: v for k, v in good.query.items()
                               if k not in ("encrypt_type", "msg_signature")}, good.body),
        type(good)(good.path, {**good.query, "timestamp": "soon"}, good.body),
        type(good)(good.path, {}, good.body),
    ]
    for push in bad:
        _problem(await send(client, push), 401, "unauthorized")
    # the right push to another chain's callback (no message server) or to no chain
    for chain in (world.b.id, uuid.uuid4()):
        moved = type(good)(f"{API}/wechat/callback/{chain}", good.query, good.body)
        _problem(await send(client, moved), 404, "not_found")
    # another chain's message server (its own token and key) takes none of alpha's pushes
    assert (await configure(client, world, operator=world.b.operator, token="BetaToken1",
                            aes_key="Y" * 43)).status_code == 200
    moved = type(good)(f"{API}/wechat/callback/{world.b.id}", good.query, good.body)
    _problem(await send(client, moved), 401, "unauthorized")
    assert await bag_rows() == []
    assert await TakenPush.select().run() == []


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<xml><Encrypt>", b"<html><Encrypt>abc</Encrypt></html>",
    b"<xml><ToUserName>gh</ToUserName></xml>", b"<xml><Encrypt>!!!not base64</Encrypt></xml>",
    b"<xml><Encrypt>QUJD</Encrypt></xml>", "<xml><Encrypt>中文</Encrypt></xml>".encode(),
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
    b"<xml><Encrypt>&b;</Encrypt></xml>",
    b'<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><Encrypt>x</Encrypt></xml>',
    b"\xff\xfe\x00<\x00x\x00",
])
async def test_garbage_is_401(client: httpx.AsyncClient, world: World, body: bytes) -> None:
    server, _, _ = await _bagged_card(client, world)
    good = signed_push(server, event_fields("user_get_card"))
    answer = await client.post(server.path, params=good.query, content=body,
                               headers={"Content-Type": "text/xml"})
    _problem(answer, 401, "unauthorized")


async def test_a_huge_body_or_another_media_type_is_refused(client: httpx.AsyncClient,
                                                            world: World) -> None:
    server, _, _ = await _bagged_card(client, world)
    good = signed_push(server, event_fields("user_get_card"))
    huge = b"<xml><Encrypt>" + b"A" * 200_000 + b"</Encrypt></xml>"
    _problem(await client.post(server.path, params=good.query, content=huge,
                               headers={"Content-Type": "text/xml"}), 413, "payload_too_large")
    for media_type in ("application/json", "application/x-www-form-urlencoded",
                       "multipart/form-data; boundary=x"):
        _problem(await send(client, good, content_type=media_type), 415,
                 "unsupported_media_type")
    # WeChat's own media types, with a charset, are taken
    for media_type in ("text/xml; charset=utf-8", "application/xml"):
        fresh = signed_push(server, event_fields("user_get_card"))
        assert (await send(client, fresh, content_type=media_type)).text == "success"


async def test_another_chains_code_or_template_changes_nothing(client: httpx.AsyncClient,
                                                                world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    # beta: its own message server (another token and key), template, WeChat card, card
    beta_token, beta_key = "BetaToken2026", "Z" * 43
    assert (await configure(client, world, operator=world.b.operator, app_id="wxbeta000001",
                            token=beta_token, aes_key=beta_key)).status_code == 200
    beta_template = await template(client, world, operator=world.b.operator)
    beta_made = await make_wechat_card(client, world, beta_template, operator=world.b.operator)
    beta_card = await issue(client, world, beta_template, world.b.members[0],
                            operator=world.b.operator)
    beta = MessageServer(world.b.id, token=beta_token, aes_key=beta_key, app_id="wxbeta000001")
    beta_wechat_id = beta_made.json()["wechat_card_id"]
    # alpha's other template and its card (alpha's WeChat card is the first template's)
    other_template = await template(client, world, name="Silver")
    other_card = await issue(client, world, other_template, world.a.members[0])

    # alpha's pushes naming beta's card number, beta's WeChat card, or another template's
    # card; beta's pushes naming alpha's card: all "success", nothing recorded
    await put_in_bag(client, server, wechat_card_id, beta_card["number"])
    await put_in_bag(client, server, beta_wechat_id, beta_card["number"])
    await put_in_bag(client, server, beta_wechat_id, card["number"])
    await put_in_bag(client, server, wechat_card_id, other_card["number"])
    await put_in_bag(client, beta, wechat_card_id, card["number"])
    await put_in_bag(client, beta, beta_wechat_id, card["number"])
    await put_in_bag(client, server, wechat_card_id, "0000000000000")
    assert await bag_rows() == []

    # alpha's card in the bag; beta removing it, or alpha naming another code, leaves it
    await put_in_bag(client, server, wechat_card_id, card["number"])
    await push_event(client, beta, "user_del_card", CardId=wechat_card_id,
                     UserCardCode=card["number"])
    await push_event(client, server, "user_del_card", CardId=wechat_card_id,
                     UserCardCode=beta_card["number"])
    rows = await bag_rows()
    assert [(str(r["card_id"]), r["state"]) for r in rows] == [(card["id"], "in_bag")]
    # and beta's review of alpha's WeChat card id changes alpha's nothing
    await push_event(client, beta, "card_not_pass_check", CardId=wechat_card_id,
                     RefuseReason="forged")
    answer = await client.get(f"{API}/card-templates/{card['template_id']}/wechat-card",
                              headers=world.headers(world.a.operator))
    assert answer.json()["status"] == "approved" and answer.json()["reject_reason"] is None


async def test_a_card_given_by_a_friend_or_unknown_events_record_nothing(
        client: httpx.AsyncClient, world: World) -> None:
    server, wechat_card_id, card = await _bagged_card(client, world)
    await push_event(client, server, "user_get_card", CardId=wechat_card_id,
                     UserCardCode=card["number"], IsGiveByFriend=1,
                     FriendUserName="oFriend")
    await push_event(client, server, "user_view_card", CardId=wechat_card_id,
                     UserCardCode=card["number"])
    await push_event(client, server, "subscribe")
    text = signed_push(server, {"ToUserName": "gh", "FromUserName": OPENID,
                                "CreateTime": int(time.time()), "MsgType": "text",
                                "Content": "hello", "MsgId": 1})
    assert (await send(client, text)).text == "success"
    assert await bag_rows() == []
    assert await TakenPush.select().run() == []


async def test_wechats_own_pushes_and_every_forgery_of_them(client: httpx.AsyncClient,
                                                            world: World) -> None:
    """The pusher (tests/stand_ins/wechat_push.py) encrypts on its own, from WeChat's
    documentation: its pushes are taken, each of its forgeries is 401 and changes nothing."""
    server, wechat_card_id, card = await _bagged_card(client, world)
    pusher = WechatPusher("", world.a.id, server.token, server.aes_key, server.app_id,
                          client=client)
    check = await pusher.server_check(echostr="1234567890")
    assert (check.status_code, check.text) == (200, "1234567890")
    assert (await pusher.server_check(token="someoneElsesToken")).status_code == 401

    got = pusher.build("user_get_card", from_user=OPENID, CardId=wechat_card_id,
                       IsGiveByFriend=0, UserCardCode=card["number"])
    for how in TAMPERINGS:
        forged = await pusher.send(pusher.forge(got, how))
        assert forged.status == 401, (how, forged.text)
    assert await bag_rows() == []
    taken = await pusher.send(got)
    assert (taken.status, taken.text) == (200, "success")
    assert [str(r["card_id"]) for r in await bag_rows()] == [card["id"]]
    removed = await pusher.user_del_card(OPENID, wechat_card_id, card["number"])
    assert removed.text == "success"
    replayed = await pusher.replay(taken)
    assert (replayed.status, replayed.text) == (200, "success")
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "removed"


async def test_a_cancelled_or_expired_card_is_not_taken_into_the_bag(
        client: httpx.AsyncClient, world: World) -> None:
    """wechat-add refuses such a card; a push for one (added just before the operator
    cancelled it) records nothing, so the sync never activates a dead card in WeChat. A
    frozen card is still the member's: it is recorded (its status goes out with it)."""
    server, wechat_card_id, card = await _bagged_card(client, world)
    frozen = await issue(client, world, card["template_id"], world.a.members[1])
    for card_id, action in ((card["id"], "cancel"), (frozen["id"], "freeze")):
        changed = await client.post(f"{API}/cards/{card_id}/{action}",
                                    headers=world.headers(world.a.operator))
        assert changed.status_code == 200, changed.text
    await put_in_bag(client, server, wechat_card_id, card["number"], openid=OPENID)
    await put_in_bag(client, server, wechat_card_id, frozen["number"], openid="oMemberTwo")
    rows = await bag_rows()
    assert [str(r["card_id"]) for r in rows] == [frozen["id"]]


async def test_a_removal_overtaking_its_own_get_leaves_the_card_out(
        client: httpx.AsyncClient, world: World) -> None:
    """WeChat retries a push that failed: the member's removal may arrive before the get
    it follows. The removal is remembered, so the late get does not put the card back."""
    server, wechat_card_id, card = await _bagged_card(client, world)
    now = int(time.time())
    await push_event(client, server, "user_del_card", openid=OPENID, create_time=now - 5,
                     CardId=wechat_card_id, UserCardCode=card["number"])
    await put_in_bag(client, server, wechat_card_id, card["number"], openid=OPENID,
                     create_time=now - 20)
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "removed" and row["dirty"] is False
    # a later get (the member adds it again) is taken as ever
    await put_in_bag(client, server, wechat_card_id, card["number"], openid=OPENID,
                     create_time=now)
    row = await bag_row(card["id"])
    assert row is not None and row["state"] == "in_bag" and row["dirty"] is True
