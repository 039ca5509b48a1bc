"""What the payments tests share: a stored-value card with top-up options, and reads of
the tables a test checks behind the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.core.auth import Principal
from app.core.tables import Event, Notification
from cards.ledger import verify_all
from payments.tables import PayAnomaly, TopUpOrder
from tests.world import World

API = "/api/v1"
# ¥500 brings ¥50 of bonus; ¥100 none.
OPTIONS = [{"amount_cents": 50_000, "bonus_cents": 5_000},
           {"amount_cents": 10_000, "bonus_cents": 0}]


async def stored_value_card(client: httpx.AsyncClient, world: World,
                            member: Principal | None = None) -> str:
    """A card of a stored-value template with :data:`OPTIONS`, for alpha's member 1
    (or ``member``); its id."""
    op = world.headers(world.a.operator)
    template = await client.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value", "top_up_options": OPTIONS})
    assert template.status_code == 201, template.text
    member = member or world.a.members[0]
    card = await client.post(f"{API}/cards", headers=op, json={
        "template_id": template.json()["id"], "member_id": str(member.id)})
    assert card.status_code == 201, card.text
    return str(card.json()["id"])


async def place(client: httpx.AsyncClient, world: World, card_id: str, amount: int = 50_000,
                key: str | None = None, member: Principal | None = None) -> httpx.Response:
    headers = world.headers(member or world.a.members[0])
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(f"{API}/cards/{card_id}/top-up-orders", headers=headers,
                             json={"amount_cents": amount})


async def card(client: httpx.AsyncClient, world: World, card_id: str) -> dict[str, Any]:
    response = await client.get(f"{API}/cards/{card_id}",
                                headers=world.headers(world.a.operator))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ledger(client: httpx.AsyncClient, world: World, card_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/cards/{card_id}/ledger",
                                headers=world.headers(world.a.operator))
    assert response.status_code == 200, response.text
    return list(response.json())


async def orders() -> list[dict[str, Any]]:
    return list(await TopUpOrder.select().run())


async def anomalies() -> list[dict[str, Any]]:
    return list(await PayAnomaly.select().output(load_json=True).run())


async def paid_events(order_id: str) -> list[dict[str, Any]]:
    return list(await Event.select().where(
        (Event.type == "top_up_order.paid") & (Event.object_id == uuid.UUID(order_id))).run())


async def balance_notifications(member_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await Notification.select().where(
        (Notification.member_id == member_id) & (Notification.event == "balance_changed")
    ).output(load_json=True).run()
    return [r for r in rows if (r["data"] or {}).get("reason") == "online_top_up"]


async def assert_ledger_verifies() -> None:
    _, problems = await verify_all()
    assert not problems, problems
