"""Issue 21 (WeChat card bag) read the way an outside client reads ../shared/API.md, section
"WeChat card bag": every endpoint over real HTTP against `o2o serve` in its own process
(live WeChat mode, its sync running as in production) talking to the WeChat stand-in,
with WeChat's pushes encrypted by the stand-in's own pusher (not the app's crypto): the
contract's paths, statuses, field names and types, and each operation listed in
/schema/openapi.json. Starts a process: XDIST group "processes"."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.app.contract import assert_types
from tests.conftest import LiveServer
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import WechatStandIn
from tests.stand_ins.wechat_push import WechatPusher
from tests.world import World

wechat_server = stand_ins.wechat_server

API = "/api/v1"
APP_ID, SECRET = "wxc0ffee0000000021", "contract-i21-secret"
TOKEN, AES_KEY = "ContractToken21", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

OPERATIONS = [
    ("put", "/api/v1/wechat-config"),
    ("post", "/api/v1/card-templates/{template_id}/wechat-card"),
    ("get", "/api/v1/card-templates/{template_id}/wechat-card"),
    ("get", "/api/v1/cards/{card_id}/wechat-add"),
    ("get", "/api/v1/wechat/callback/{chain_id}"),
    ("post", "/api/v1/wechat/callback/{chain_id}"),
]


@pytest.fixture
def server(database_url: str, world: World, wechat_server: WechatStandIn) -> Iterator[str]:
    """`o2o serve` on the world's database, live WeChat mode, its card bag sync quick."""
    live = LiveServer(database_url, env={
        "O2O_WECHAT_MODE": "live", "O2O_WECHAT_API_BASE": wechat_server.url,
        "O2O_CARDBAG_POLL_SECONDS": "0.1", "O2O_CARDBAG_SWEEP_SECONDS": "2",
        "O2O_NOTIFY_DISPATCHER": "0", "O2O_MARKETING_RUNNER": "0",
        "O2O_PAY_POLLER": "0", "O2O_WEBHOOK_WORKER": "0"}).start()
    try:
        yield live.base_url
    finally:
        live.stop()


async def _until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool],
                 seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await read()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_card_bag_over_real_http(server: str, world: World,
                                       wechat_server: WechatStandIn) -> None:
    a = world.a
    op = world.headers(a.operator)
    clerk = world.headers(a.staff["alpha-clerk1"])
    wechat_server.add_app(APP_ID, SECRET)
    async with httpx.AsyncClient(base_url=server, timeout=20) as http:
        schema = (await http.get("/schema/openapi.json")).json()
        for method, path in OPERATIONS:
            assert method in schema["paths"].get(path, {}), (method, path)

        # PUT /wechat-config takes the message server and the card bag switch.
        config = await http.put(f"{API}/wechat-config", headers=op, json={
            "app_id": APP_ID, "app_secret": SECRET, "templates": {},
            "server_token": TOKEN, "encoding_aes_key": AES_KEY, "card_bag": True})
        assert config.status_code == 200, config.text
        assert TOKEN not in config.text and AES_KEY not in config.text
        short = await http.put(f"{API}/wechat-config", headers=op, json={
            "app_id": APP_ID, "app_secret": SECRET, "server_token": TOKEN,
            "encoding_aes_key": AES_KEY[:42], "card_bag": True})
        assert (short.status_code, short.json()["code"]) == (400, "validation_error")
        await http.put(f"{API}/wechat-config", headers=op, json={
            "app_id": APP_ID, "app_secret": SECRET, "templates": {},
            "server_token": TOKEN, "encoding_aes_key": AES_KEY, "card_bag": True})
        pusher = WechatPusher(server, a.id, TOKEN, AES_KEY, APP_ID, stand_in=wechat_server)

        # GET /wechat/callback/{chain_id}: WeChat's server check echoes echostr.
        check = await pusher.server_check(echostr="8410551279836512")
        assert (check.status_code, check.text) == (200, "8410551279836512")
        forged = await pusher.server_check(echostr="1", token="not-the-token")
        assert forged.status_code == 401

        # POST /card-templates/{id}/wechat-card → 201 {template_id, wechat_card_id, status}.
        template = await http.post(f"{API}/card-templates", headers=op, json={
            "name": "Contract Gold", "kind": "stored_value", "points_per_yuan": 1})
        assert template.status_code == 201, template.text
        template_id = template.json()["id"]
        made = await http.post(f"{API}/card-templates/{template_id}/wechat-card", headers=op,
                               json={"logo_url": "https://mmbiz.qpic.cn/contract.png",
                                     "brand_name": "O2O Contract", "color": "Color010"})
        assert made.status_code == 201, made.text
        assert_types(made.json(), {"template_id": str, "wechat_card_id": str, "status": str})
        assert made.json()["status"] == "pending"
        card_id_wx = made.json()["wechat_card_id"]
        sent = wechat_server.card(card_id_wx).card
        assert sent["card_type"] == "MEMBER_CARD"
        member_card = sent["member_card"]
        assert member_card["base_info"]["use_custom_code"] is True
        assert member_card["supply_bonus"] is True and member_card["supply_balance"] is True

        # card_pass_check sets the status; GET answers it.
        review = await pusher.card_pass_check(card_id_wx)
        assert (review.status, review.text) == (200, "success")
        got = await http.get(f"{API}/card-templates/{template_id}/wechat-card", headers=op)
        assert got.status_code == 200, got.text
        assert (got.json()["template_id"], got.json()["wechat_card_id"],
                got.json()["status"]) == (template_id, card_id_wx, "approved")

        # A member who signed in with WeChat, and their card.
        openid = "oContractMember0000000021"
        login = await http.post(f"{API}/auth/member/wechat", json={
            "chain_id": str(a.id), "code": wechat_server.register_code(openid)})
        assert login.status_code == 200, login.text
        member = {"Authorization": f"Bearer {login.json()['token']}"}
        issued = await http.post(f"{API}/cards", headers=op, json={
            "template_id": template_id, "member_id": login.json()["member"]["id"]})
        assert issued.status_code == 201, issued.text
        card = issued.json()
        own = await http.get(f"{API}/cards/{card['id']}", headers=member)
        assert own.status_code == 200 and own.json()["wechat"] is None, own.text

        # GET /cards/{id}/wechat-add → {card_id, card_ext} signed with the wx_card ticket.
        add = await http.get(f"{API}/cards/{card['id']}/wechat-add", headers=member)
        assert add.status_code == 200, add.text
        assert_types(add.json(), {"card_id": str, "card_ext": str})
        ext = json.loads(add.json()["card_ext"])
        assert add.json()["card_id"] == card_id_wx
        assert (ext["code"], ext["openid"]) == (card["number"], openid)
        assert {"timestamp", "nonce_str", "signature"} <= set(ext)
        assert wechat_server.check_card_ext(card_id_wx, ext)
        stranger = await http.get(f"{API}/cards/{card['id']}/wechat-add",
                                  headers=world.headers(a.members[0]))
        assert (stranger.status_code, stranger.json()["code"]) == (404, "not_found")

        # user_get_card: the sync activates the card with its number and figures.
        top_up = await http.post(f"{API}/cards/{card['id']}/top-ups", headers=clerk,
                                 json={"amount_cents": 10000, "store_id": str(a.stores[0])})
        assert top_up.status_code == 201, top_up.text
        taken = await pusher.user_get_card(openid, card_id_wx, card["number"])
        assert (taken.status, taken.text) == (200, "success")
        face = await _until(lambda: _face(wechat_server, card_id_wx, card["number"]),
                            lambda f: f is not None and f["activated"])
        assert face is not None and face["activated"], face
        assert (face["membership_number"], face["balance"]) == (card["number"], 10000)
        in_bag = await _until(lambda: _card(http, card["id"], member),
                              lambda c: (c["wechat"] or {}).get("synced_at") is not None)
        assert in_bag["wechat"]["in_card_bag"] is True, in_bag
        assert_types(in_bag["wechat"], {"in_card_bag": bool, "synced_at": str})

        # A change of the card's figures goes out with updateuser, with a record line.
        code = await http.get(f"{API}/cards/{card['id']}/code", headers=member)
        charged = await http.post(f"{API}/redemptions", headers=clerk, json={
            "code": code.json()["code"], "action": "charge", "amount_cents": 8800,
            "store_id": str(a.stores[0])})
        assert charged.status_code == 201, charged.text
        face = await _until(lambda: _face(wechat_server, card_id_wx, card["number"]),
                            lambda f: f["balance"] == 1200)
        now = await _card(http, card["id"], member)
        assert (face["balance"], face["bonus"]) == (now["balance_cents"], now["points"])
        last = face["updates"][-1]
        assert last["balance"] == 1200 and "88.00" in last["record_balance"], last

        # A bad signature answers 401; a repeated push changes nothing.
        bad = await pusher.tamper(taken, "msg_signature")
        assert bad.status == 401
        activations = face["activations"]
        again = await pusher.replay(taken)
        assert (again.status, again.text) == (200, "success")
        await asyncio.sleep(0.5)
        face = _face_now(wechat_server, card_id_wx, card["number"])
        assert face["activations"] == activations

        # user_del_card: out of the bag.
        gone = await pusher.user_del_card(openid, card_id_wx, card["number"])
        assert (gone.status, gone.text) == (200, "success")
        assert (await _card(http, card["id"], member))["wechat"] is None


async def _card(http: httpx.AsyncClient, card_id: str, member: dict[str, str]
                ) -> dict[str, Any]:
    response = await http.get(f"{API}/cards/{card_id}", headers=member)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _face(server: WechatStandIn, card_id: str, code: str) -> dict[str, Any] | None:
    return server.member_card(card_id, code)


def _face_now(server: WechatStandIn, card_id: str, code: str) -> dict[str, Any]:
    face = server.member_card(card_id, code)
    assert face is not None
    return face
