"""What the sync tests share: a chain with a WeChat app in the stand-in, a stored-value
template made a WeChat member card (approved), cards put in members' card bags, the
figures o2o and the stand-in hold."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.events import sequencer
from cardbag import sync_repository
from cardbag.sync import CardBagSync
from cardbag.tables import BagCard, WechatCard
from tests.cards.conftest import Cards
from tests.stand_ins.wechat import CardDef, WechatStandIn
from tests.stand_ins.wechat_push import WechatPusher
from tests.world import World

API = "/api/v1"
APP_ID = "wxcardbag0001"
APP_SECRET = "cardbag-secret-0001"
SERVER_TOKEN = "SyncToken2026"
AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"  # 43 characters
GOLD = [{"name": "Silver", "min_points": 100, "discount_percent": 5},
        {"name": "Gold", "min_points": 1000, "discount_percent": 10}]


@dataclass
class Bag:
    cards: Cards
    wechat: WechatStandIn
    template_id: str
    wechat_card_id: str
    pusher: WechatPusher | None = None  # set: cards go in the bag through the callback

    @property
    def world(self) -> World:
        return self.cards.world

    @property
    def client(self) -> httpx.AsyncClient:
        return self.cards.client

    async def card(self, member_index: int = 0) -> dict[str, Any]:
        return await self.cards.issue(self.template_id, member_index)

    async def put_in_bag(self, card: dict[str, Any]) -> None:
        """The member adds the card: WeChat's ``user_get_card`` push through the callback
        (with a pusher), else the row it writes, directly (and the stand-in's take_card)."""
        if self.pusher is not None:
            push = await self.pusher.user_get_card(f"o{card['number']}", self.wechat_card_id,
                                                   card["number"])
            assert push.status == 200 and push.text == "success", push.text
            return
        self.wechat.take_card(self.wechat_card_id, card["number"], f"o{card['number']}")
        async with write_transaction():
            await sync_repository.put_in_bag({
                "card_id": uuid.UUID(card["id"]), "chain_id": self.world.a.id,
                "template_id": uuid.UUID(self.template_id),
                "wechat_card_id": self.wechat_card_id, "code": card["number"],
                "openid": f"o{card['number']}", "added_at": utcnow(), "due_at": utcnow()})

    def in_wechat(self, card: dict[str, Any]) -> dict[str, Any] | None:
        return self.wechat.member_card(self.wechat_card_id, card["number"])

    async def row(self, card: dict[str, Any]) -> dict[str, Any]:
        row = await sync_repository.bag_card(uuid.UUID(card["id"]))
        assert row is not None
        return dict(row)

    async def charge(self, card: dict[str, Any], cents: int) -> dict[str, Any]:
        response = await self.cards.redeem(await self.cards.code(card["id"]), action="charge",
                                           amount=cents)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def reverse(self, redemption_id: str) -> None:
        response = await self.client.post(
            f"{API}/redemptions/{redemption_id}/reverse",
            headers=self.world.headers(self.world.a.staff["alpha-manager"]))
        assert response.status_code == 200, response.text


async def make_bag(client: httpx.AsyncClient, world: World, wechat: WechatStandIn,
                   *, name: str = "Prepaid") -> Bag:
    """Chain a's WeChat app (stand-in and config), a stored-value template with tiers and
    its WeChat member card, approved."""
    wechat.add_app(APP_ID, APP_SECRET)
    response = await client.put(f"{API}/wechat-config", headers=world.headers(world.a.operator),
                                json={"app_id": APP_ID, "app_secret": APP_SECRET,
                                      "templates": {}})
    assert response.status_code == 200, response.text
    cards = Cards(client, world)
    template = await cards.template(name=name, kind="stored_value", points_per_yuan=1,
                                    tiers=GOLD)
    wechat_card_id = "p" + uuid.uuid4().hex[:27]
    wechat.cards[wechat_card_id] = CardDef(
        card_id=wechat_card_id, app_id=APP_ID,
        card={"card_type": "MEMBER_CARD", "member_card": {"supply_bonus": True,
                                                          "supply_balance": True}},
        status="CARD_STATUS_VERIFY_OK")
    await WechatCard.insert(WechatCard(
        template_id=uuid.UUID(template["id"]), chain_id=world.a.id,
        wechat_card_id=wechat_card_id, status="approved", logo_url="https://x.test/l.png",
        brand_name="Alpha")).run()
    return Bag(cards, wechat, template["id"], wechat_card_id)


async def o2o_figures(bag: Bag, card: dict[str, Any]) -> dict[str, Any]:
    now = await bag.cards.card(card["id"])
    return {"bonus": now["points"], "balance": now["balance_cents"],
            "custom_field_value1": now["tier"]}


async def make_real_bag(client: httpx.AsyncClient, world: World,
                        wechat: WechatStandIn) -> Bag:
    """The whole way: chain a's WeChat config with its message server and card_bag on,
    a stored-value template with tiers made a WeChat member card (``POST
    /card-templates/{id}/wechat-card`` -> the stand-in's /card/create), approved by
    WeChat's ``card_pass_check`` push; cards then go in bags by ``user_get_card`` pushes."""
    wechat.add_app(APP_ID, APP_SECRET)
    response = await client.put(f"{API}/wechat-config", headers=world.headers(world.a.operator),
                                json={"app_id": APP_ID, "app_secret": APP_SECRET,
                                      "templates": {}, "server_token": SERVER_TOKEN,
                                      "encoding_aes_key": AES_KEY, "card_bag": True})
    assert response.status_code == 200, response.text
    cards = Cards(client, world)
    template = await cards.template(name="Prepaid", kind="stored_value", points_per_yuan=1,
                                    tiers=GOLD)
    made = await client.post(f"{API}/card-templates/{template['id']}/wechat-card",
                             json={"logo_url": "https://mmbiz.qpic.cn/mmbiz/sync.png",
                                   "brand_name": "Alpha"},
                             headers=world.headers(world.a.operator))
    assert made.status_code == 201, made.text
    wechat_card_id = made.json()["wechat_card_id"]
    pusher = WechatPusher("http://testserver.local", world.a.id, SERVER_TOKEN, AES_KEY, APP_ID,
                          client=client, stand_in=wechat)
    wechat.approve(wechat_card_id)
    passed = await pusher.card_pass_check(wechat_card_id)
    assert passed.status == 200, passed.text
    return Bag(cards, wechat, template["id"], wechat_card_id, pusher)


def wechat_figures(bag: Bag, card: dict[str, Any]) -> dict[str, Any]:
    shown = bag.in_wechat(card)
    assert shown is not None
    return {k: shown[k] for k in ("bonus", "balance", "custom_field_value1")}


async def all_clean() -> bool:
    rows = await BagCard.select(BagCard.dirty).run()
    return all(not r["dirty"] for r in rows)


async def settle(sync: CardBagSync, world: World, rounds: int = 80) -> None:
    """Rounds until every bag card is clean (backoffs waited out)."""
    for _ in range(rounds):
        await sequencer.number_chain(world.a.id, wait=True)
        await sync.run_once()
        if await all_clean():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the sync did not settle")
