"""What the followup tests (poller, refunds, reconcile) share: a stored-value card with
top-up options, orders placed and paid through the API, refunds asked through the API,
and reads of the card's money, its ledger and the chain's anomalies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.core.crypto import SecretBox
from app.core.db import Sql
from app.core.settings import Settings
from app.core.wechatpay import Merchant, WechatPayClient
from cards.ledger import verify_all
from payments.poller import PayPoller
from stores.tables import Member
from tests.conftest import make_settings
from tests.stand_ins.wechatpay import SignedNotice, WechatPayStandIn, merchant_config
from tests.world import World

API = "/api/v1"
OPTIONS = ({"amount_cents": 50000, "bonus_cents": 5000},
           {"amount_cents": 30000, "bonus_cents": 1000},
           {"amount_cents": 10000, "bonus_cents": 0})


@dataclass
class Pay:
    client: httpx.AsyncClient
    world: World
    keys: dict[str, int] = field(default_factory=dict)

    @property
    def operator(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    @property
    def member(self) -> dict[str, str]:
        return self.world.headers(self.world.a.members[0])

    async def card(self, policy: str = "proportional") -> str:
        template = await self.client.post(f"{API}/card-templates", json={
            "name": f"Prepaid {uuid.uuid4().hex[:6]}", "kind": "stored_value",
            "top_up_options": list(OPTIONS), "bonus_policy": policy},
            headers=self.operator)
        assert template.status_code == 201, template.text
        card = await self.client.post(f"{API}/cards", json={
            "template_id": template.json()["id"],
            "member_id": str(self.world.a.members[0].id),
            "store_id": str(self.world.a.stores[0])},
            headers=self.world.headers(self.world.a.staff["alpha-clerk1"]))
        assert card.status_code == 201, card.text
        return str(card.json()["id"])

    async def place(self, card_id: str, amount_cents: int) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/cards/{card_id}/top-up-orders", json={"amount_cents": amount_cents},
            headers={**self.member, "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def sandbox_pay(self, order_id: str) -> dict[str, Any]:
        response = await self.client.post(f"{API}/top-up-orders/{order_id}/sandbox-pay",
                                          headers=self.member)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def paid_order(self, card_id: str, amount_cents: int) -> dict[str, Any]:
        order = await self.place(card_id, amount_cents)
        return await self.sandbox_pay(order["id"])

    async def refund(self, order_id: str, amount_cents: int | None = None,
                     reason: str = "member asked", key: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"reason": reason}
        if amount_cents is not None:
            body["amount_cents"] = amount_cents
        headers = dict(self.operator)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(f"{API}/top-up-orders/{order_id}/refund", json=body,
                                      headers=headers)

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{API}/top-up-orders/{order_id}",
                                         headers=self.operator)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def money(self, card_id: str) -> tuple[int, int]:
        """(paid, bonus) on the card, as the API answers it."""
        response = await self.client.get(f"{API}/cards/{card_id}", headers=self.operator)
        assert response.status_code == 200, response.text
        card = response.json()
        assert card["balance_cents"] == card["paid_balance_cents"] + card["bonus_balance_cents"]
        return int(card["paid_balance_cents"]), int(card["bonus_balance_cents"])

    async def ledger(self, card_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/cards/{card_id}/ledger",
                                         headers=self.operator)
        assert response.status_code == 200, response.text
        return list(response.json())

    async def charge(self, card_id: str, cents: int) -> None:
        code = await self.client.get(f"{API}/cards/{card_id}/code", headers=self.member)
        assert code.status_code == 200, code.text
        response = await self.client.post(f"{API}/redemptions", json={
            "code": code.json()["code"], "action": "charge", "amount_cents": cents,
            "store_id": str(self.world.a.stores[0])},
            headers=self.world.headers(self.world.a.staff["alpha-clerk1"]))
        assert response.status_code == 201, response.text


async def events_of(object_id: str, event_type: str) -> list[dict[str, Any]]:
    return await Sql("SELECT * FROM core_event WHERE object_id = {} AND type = {}").rows(
        uuid.UUID(object_id), event_type)


async def anomalies(kind: str | None = None) -> list[dict[str, Any]]:
    rows = await Sql("SELECT * FROM pay_anomaly ORDER BY created_at").rows()
    return [r for r in rows if kind is None or r["kind"] == kind]


async def ledger_verifies() -> None:
    _, problems = await verify_all()
    assert problems == [], problems


# --- live mode against the WeChat Pay stand-in ------------------------------------------

def live_settings(database_url: str, stand_in: WechatPayStandIn) -> Settings:
    """Live mode against the stand-in; the background tasks off (each test drives the
    poller itself, with its own clock)."""
    return make_settings(database_url, wechat_mode="live",
                         wechat_pay_api_base=stand_in.url,
                         public_url="http://testserver.local", notify_dispatcher=False,
                         pay_poller=False)


@dataclass
class LivePay(Pay):
    stand_in: WechatPayStandIn | None = None
    merchant: Merchant | None = None

    async def configure(self) -> None:
        assert self.stand_in is not None
        self.merchant = merchant = self.stand_in.new_merchant()
        response = await self.client.put(f"{API}/wechat-pay-config",
                                         json=merchant_config(merchant), headers=self.operator)
        assert response.status_code == 200, response.text
        await Member.update({Member.openid: "o-member-alpha-1"}).where(
            Member.id == self.world.a.members[0].id).run()

    def poller(self, settings: Settings, scale: float = 1.0) -> PayPoller:
        assert self.stand_in is not None
        poller = PayPoller(settings, SecretBox(settings.secret_key),
                           WechatPayClient(self.stand_in.url, timeout_s=5))
        poller.scale = scale
        return poller

    async def row(self, order_id: str) -> dict[str, Any]:
        row = await Sql("SELECT * FROM top_up_order WHERE id = {}").first(uuid.UUID(order_id))
        assert row is not None
        return row

    async def notice(self, notice: SignedNotice) -> int:
        response = await self.client.post(notice.path, content=notice.body,
                                          headers=notice.headers)
        return response.status_code
