"""Card fixtures: templates of every kind, and a ledger check after every test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cards.ledger import verify_all
from tests.world import World

API = "/api/v1"


@dataclass
class Cards:
    client: httpx.AsyncClient
    world: World

    async def template(self, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"{API}/card-templates", json=body,
                                          headers=self.world.headers(self.world.a.operator))
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def issue(self, template_id: str, member_index: int = 0) -> dict[str, Any]:
        member = self.world.a.members[member_index]
        response = await self.client.post(
            f"{API}/cards", json={"template_id": template_id, "member_id": str(member.id),
                                  "store_id": str(self.world.a.stores[0])},
            headers=self.world.headers(self.world.a.staff["alpha-clerk1"]))
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def top_up(self, card_id: str, cents: int) -> httpx.Response:
        return await self.client.post(
            f"{API}/cards/{card_id}/top-ups",
            json={"amount_cents": cents, "store_id": str(self.world.a.stores[0])},
            headers=self.world.headers(self.world.a.staff["alpha-clerk1"]))

    async def code(self, card_id: str, member_index: int = 0) -> str:
        response = await self.client.get(
            f"{API}/cards/{card_id}/code",
            headers=self.world.headers(self.world.a.members[member_index]))
        assert response.status_code == 200, response.text
        return str(response.json()["code"])

    async def redeem(self, code: str, *, action: str, amount: int | None = None,
                     store: uuid.UUID | None = None, clerk: str = "alpha-clerk1",
                     headers: dict[str, str] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"code": code, "action": action,
                                "store_id": str(store or self.world.a.stores[0])}
        if amount is not None:
            body["amount_cents"] = amount
        return await self.client.post(
            f"{API}/redemptions", json=body,
            headers={**self.world.headers(self.world.a.staff[clerk]), **(headers or {})})

    async def card(self, card_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{API}/cards/{card_id}",
                                         headers=self.world.headers(self.world.a.operator))
        return dict(response.json())


@pytest.fixture
async def cards(client: httpx.AsyncClient, world: World) -> AsyncIterator[Cards]:
    yield Cards(client, world)
    # The bar: after any test, every card's ledger chain and totals verify.
    _, problems = await verify_all()
    assert problems == [], problems
