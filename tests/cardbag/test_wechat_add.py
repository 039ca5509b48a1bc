"""Adding a card to the card bag (GET /cards/{id}/wechat-add) and the page's wx.config
(GET /wechat/js-config) in live mode against the WeChat stand-in: the cardExt verifies
with the wx_card ticket WeChat handed out, the ticket is shared and refreshed when the
page says it failed, and only the card's own member gets it. Also the WeChat config's
message-server fields (PUT/GET /wechat-config)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from app.core.tables import WechatToken
from stores.tables import WechatConfig
from tests.cardbag import (
    AES_KEY,
    API,
    APP_ID,
    PUBLIC_URL,
    SECRET,
    TOKEN,
    MessageServer,
    configure,
    issue,
    link,
    live_settings,
    make_wechat_card,
    push_event,
    template,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import GET_TICKET, WechatStandIn
from tests.world import World

wechat_server = stand_ins.wechat_server


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    return live_settings(database_url, wechat_server)


async def _approved(client: httpx.AsyncClient, world: World,
                    wechat_server: WechatStandIn) -> tuple[str, str]:
    """Alpha with the card bag on and a template whose WeChat card WeChat approved:
    (template id, WeChat card id)."""
    assert (await configure(client, world)).status_code == 200
    template_id = await template(client, world)
    made = await make_wechat_card(client, world, template_id)
    assert made.status_code == 201, made.text
    wechat_card_id = str(made.json()["wechat_card_id"])
    wechat_server.approve(wechat_card_id)
    await push_event(client, MessageServer(world.a.id), "card_pass_check",
                     CardId=wechat_card_id)
    return template_id, wechat_card_id


async def _add(client: httpx.AsyncClient, world: World, card_id: str, member: Any = None,
               **params: str) -> httpx.Response:
    return await client.get(f"{API}/cards/{card_id}/wechat-add", params=params,
                            headers=world.headers(member or world.a.members[0]))


async def test_card_ext_verifies_with_wechats_ticket(client: httpx.AsyncClient, world: World,
                                                     wechat_server: WechatStandIn) -> None:
    template_id, wechat_card_id = await _approved(client, world, wechat_server)
    member = world.a.members[0]
    openid = await link(member)
    card = await issue(client, world, template_id, member)

    answers = await asyncio.gather(*(_add(client, world, card["id"]) for _ in range(4)))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        out = answer.json()
        assert out["card_id"] == wechat_card_id
        ext = json.loads(out["card_ext"])
        assert set(ext) == {"code", "openid", "timestamp", "nonce_str", "signature"}
        assert (ext["code"], ext["openid"]) == (card["number"], openid)
        assert ext["timestamp"].isdigit() and len(ext["nonce_str"]) >= 16
        assert wechat_server.check_card_ext(wechat_card_id, out["card_ext"])
    # one ticket for all (shared through the database), never the jsapi kind
    assert len(wechat_server.issued_tickets("wx_card")) == 1
    assert len(wechat_server.requests_to(GET_TICKET)) == 1
    row = await WechatToken.select().where(
        WechatToken.app_id == f"ticket:wx_card:{APP_ID}").first().run()
    assert row is not None


async def test_retry_keeps_a_ticket_fetched_these_five_minutes(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id, wechat_card_id = await _approved(client, world, wechat_server)
    await link(world.a.members[0])
    card = await issue(client, world, template_id, world.a.members[0])
    first = (await _add(client, world, card["id"])).json()
    wechat_server.invalidate_tickets()  # WeChat no longer takes it: addCard fails
    assert not wechat_server.check_card_ext(wechat_card_id, first["card_ext"])
    # the page asks again with retry=true: a ticket fetched under five minutes ago is
    # kept. Any member may send retry=true as often as they like: at most one getticket
    # per five minutes (288 a day) stays far inside WeChat's daily getticket quota.
    for age in (0, 4 * 60):
        await _age_ticket(timedelta(seconds=age))
        kept = await _add(client, world, card["id"], retry="true")
        assert kept.status_code == 200 and len(wechat_server.issued_tickets()) == 1


async def test_retry_after_five_minutes_signs_with_a_fresh_ticket(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id, wechat_card_id = await _approved(client, world, wechat_server)
    await link(world.a.members[0])
    card = await issue(client, world, template_id, world.a.members[0])
    assert (await _add(client, world, card["id"])).status_code == 200
    # the ticket was fetched over five minutes ago, and WeChat no longer takes it
    await _age_ticket(timedelta(seconds=301))
    wechat_server.invalidate_tickets()
    retried = await _add(client, world, card["id"], retry="true")
    assert retried.status_code == 200, retried.text
    assert wechat_server.check_card_ext(wechat_card_id, retried.json()["card_ext"])
    assert len(wechat_server.issued_tickets()) == 2


async def _age_ticket(age: timedelta) -> None:
    """Make the stored wx_card ticket look fetched ``age`` ago."""
    await WechatToken.update({WechatToken.updated_at: datetime.now(UTC) - age}).where(
        WechatToken.app_id == f"ticket:wx_card:{APP_ID}").run()


async def test_only_the_cards_member_gets_its_card_ext(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id, _ = await _approved(client, world, wechat_server)
    mine, theirs = world.a.members
    await link(mine)
    await link(theirs)
    card = await issue(client, world, template_id, mine)
    other = await _add(client, world, card["id"], member=theirs)
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    beta = await _add(client, world, card["id"], member=world.b.members[0])
    assert beta.status_code == 404
    for staff in (world.a.operator, world.a.staff["alpha-clerk1"]):
        assert (await _add(client, world, card["id"], member=staff)).status_code == 403
    assert (await client.get(f"{API}/cards/{card['id']}/wechat-add")).status_code == 401
    assert wechat_server.requests_to(GET_TICKET) == []


async def test_what_the_card_bag_needs_first(client: httpx.AsyncClient, world: World,
                                             wechat_server: WechatStandIn) -> None:
    member = world.a.members[0]
    assert (await configure(client, world)).status_code == 200
    template_id = await template(client, world)
    card = await issue(client, world, template_id, member)

    def refused(answer: httpx.Response, code: str) -> None:
        assert answer.status_code == 409 and answer.json()["code"] == code, answer.text

    refused(await _add(client, world, card["id"]), "wechat_card_unavailable")  # no card
    made = await make_wechat_card(client, world, template_id)
    refused(await _add(client, world, card["id"]), "wechat_card_unavailable")  # in review
    await push_event(client, MessageServer(world.a.id), "card_pass_check",
                     CardId=made.json()["wechat_card_id"])
    refused(await _add(client, world, card["id"]), "member_not_linked")  # no openid
    await link(member)
    assert (await _add(client, world, card["id"])).status_code == 200
    # the operator turns the card bag off
    assert (await configure(client, world, card_bag=False)).status_code == 200
    refused(await _add(client, world, card["id"]), "wechat_card_unavailable")
    assert (await configure(client, world)).status_code == 200
    cancelled = await client.post(f"{API}/cards/{card['id']}/cancel",
                                  headers=world.headers(world.a.operator))
    assert cancelled.status_code == 200, cancelled.text
    refused(await _add(client, world, card["id"]), "card_inactive")


# --- wx.config ------------------------------------------------------------------------------

async def test_js_config_signs_our_own_pages_only(client: httpx.AsyncClient, world: World,
                                                  wechat_server: WechatStandIn) -> None:
    assert (await configure(client, world)).status_code == 200
    member = world.headers(world.a.members[0])
    page = f"{PUBLIC_URL}/m/?chain={world.a.id}"
    answer = await client.get(f"{API}/wechat/js-config", params={"url": page + "#card/1"},
                              headers=member)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["app_id"] == APP_ID and isinstance(out["timestamp"], int)
    assert wechat_server.check_jsapi(out["signature"], out["nonce_str"], out["timestamp"], page)
    assert len(wechat_server.issued_tickets("jsapi")) == 1
    explicit = await client.get(f"{API}/wechat/js-config", headers=member,
                                params={"url": "HTTP://TestServer.local:80/m/"})
    assert explicit.status_code == 200, explicit.text
    for url in ("https://evil.example/m/", "http://testserver.local.evil.example/m/",
                "javascript:alert(1)", "/m/", "http://[::1/", "https://testserver.local/m/",
                "http://testserver.local:8080/m/", "http://user@evil.example/m/"):
        bad = await client.get(f"{API}/wechat/js-config", params={"url": url}, headers=member)
        assert bad.status_code == 400 and bad.json()["code"] == "validation_error", url
    staff = await client.get(f"{API}/wechat/js-config", params={"url": page},
                             headers=world.headers(world.a.operator))
    assert staff.status_code == 403


# --- the WeChat config's message server -----------------------------------------------------

async def test_the_message_server_is_sealed_and_never_answered(
        client: httpx.AsyncClient, world: World) -> None:
    put = await configure(client, world)
    assert put.status_code == 200, put.text
    op = world.headers(world.a.operator)
    read = (await client.get(f"{API}/wechat-config", headers=op)).json()
    assert (read["server_token_set"], read["encoding_aes_key_set"], read["card_bag"]) == (
        True, True, True)
    assert TOKEN not in json.dumps(read) and AES_KEY not in json.dumps(read)
    row = await WechatConfig.select().where(WechatConfig.chain == world.a.id).first().run()
    assert row is not None
    stored = json.dumps(row, default=str)
    assert TOKEN not in stored and AES_KEY not in stored and SECRET not in stored

    # a PUT replaces the config: one without them clears them (and the card bag)
    plain = await client.put(f"{API}/wechat-config", headers=op, json={
        "app_id": APP_ID, "app_secret": SECRET})
    assert plain.status_code == 200
    assert (plain.json()["server_token_set"], plain.json()["card_bag"]) == (False, False)

    for body, field in (({"server_token": TOKEN}, "encoding_aes_key"),
                        ({"encoding_aes_key": AES_KEY}, "server_token"),
                        ({"card_bag": True}, "server_token"),
                        ({"server_token": "ab", "encoding_aes_key": AES_KEY}, "server_token"),
                        ({"server_token": TOKEN, "encoding_aes_key": AES_KEY[:42]},
                         "encoding_aes_key"),
                        ({"server_token": "has space!", "encoding_aes_key": AES_KEY},
                         "server_token")):
        bad = await client.put(f"{API}/wechat-config", headers=op, json={
            "app_id": APP_ID, "app_secret": SECRET, **body})
        assert bad.status_code == 400, bad.text
        assert bad.json()["errors"][0]["field"] == field, bad.text
