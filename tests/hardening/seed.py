"""A seeded world with one of every object, for the generated tests.

On top of tests/world.py (chains alpha and beta, two stores each, staff of every role,
two members each) every chain gets a WeChat config, a stored-value card per member, a
campaign with vouchers, bookings and redemptions. They are grouped into bundles of ids,
one per target of the authorization matrix, as seen from alpha's store-1 staff and
alpha's member 1:

- ``own``: store 1, member 1's card, voucher and booking there, a redemption at store 1;
- ``sibling``: store 2 of the same chain, member 1's booking and a redemption there;
- ``other_member``: store 1, but member 2's card, voucher, booking and redemption;
- ``foreign``: chain beta's store 1 and member 1's objects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.core.tables import WebhookDelivery
from payments.tables import TopUpOrder
from tests.world import Chain, World

API = "/api/v1"
TARGETS = ("own", "sibling", "other_member", "foreign")


@dataclass(frozen=True)
class Bundle:
    chain_id: str
    store_id: str
    service_id: str
    resource_id: str
    template_id: str
    card_id: str
    campaign_id: str
    voucher_id: str
    booking_id: str
    redemption_id: str
    member_id: str
    voucher_code: str  # the signed code of voucher_id (issued, not redeemed)
    staff_id: str  # a clerk of store_id only, made for the matrix (no test's caller)
    endpoint_id: str  # a webhook endpoint of the chain, one per bundle (DELETE is late)
    delivery_id: str  # a delivered delivery of endpoint_id
    key_id: str  # an API key of the chain (no test's caller)
    order_id: str  # a pending sandbox top-up order of card_id (sandbox-pay pays it: late)
    automation_id: str = ""  # a welcome automation of the chain (issue 20)
    # A gift's token or id (issue 20): none is seeded, so every member's call is 404
    # (tests/marketing/test_gifts.py judges gifts' scopes); the matrix proves the guards.
    gift: str = "matrix-no-such-gift"
    # An issue job's id (issue 20): none is seeded, so every operator's call is 404
    # (tests/marketing/test_jobs.py judges a job's scope); the matrix proves the guards.
    job_id: str = "00000000-0000-4000-8000-000000000b05"
    # A saved segment's id (issue 20): none is seeded, so every call that names one is 404
    # (tests/marketing/test_segments.py judges a segment's scope); the matrix proves the
    # guards.
    segment_id: str = "00000000-0000-4000-8000-000000000b06"

    def ids(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Seeded:
    world: World
    bundles: dict[str, Bundle]


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                body: Any) -> dict[str, Any]:
    response = await client.post(API + path, json=body, headers=headers)
    assert response.status_code in (200, 201), (path, response.text)
    return dict(response.json())


def tomorrow_at(hhmm: str, zone: str = "Asia/Shanghai") -> str:
    tz = ZoneInfo(zone)
    day = datetime.now(tz).date() + timedelta(days=1)
    hour, minute = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tz).isoformat()


async def _chain_bundles(client: httpx.AsyncClient, world: World,
                         chain: Chain) -> dict[str, Bundle]:
    op = world.headers(chain.operator)
    clerks = [h for h in chain.staff.values() if h.role == "clerk"]
    clerk_at = {str(next(iter(c.store_ids))): world.headers(c) for c in clerks}
    s1, s2 = (str(s) for s in chain.stores)
    m1, m2 = (str(m.id) for m in chain.members)
    config = await client.put(API + "/wechat-config", headers=op, json={
        "app_id": f"wx{chain.id.hex[:16]}", "app_secret": "sandbox-secret-0123456789",
        "templates": {"booking_confirmed": "TPL-BOOKED"}})
    assert config.status_code == 200, config.text
    template = (await _post(client, "/card-templates", op, {
        "name": "Prepaid", "kind": "stored_value", "points_per_yuan": 1,
        "top_up_options": [{"amount_cents": 10_000, "bonus_cents": 1_000}]}))["id"]
    cards = {}
    for member in (m1, m2):
        cards[member] = (await _post(client, "/cards", op, {
            "template_id": template, "member_id": member}))["id"]
        await _post(client, f"/cards/{cards[member]}/top-ups", op,
                    {"amount_cents": 50_000, "store_id": s1})
    now = datetime.now(UTC)
    campaign = (await _post(client, "/campaigns", op, {
        "name": "¥1 off", "kind": "cash", "value_cents": 100, "total_quantity": 10_000,
        "per_member_limit": 1000, "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat()}))["id"]
    vouchers: dict[str, list[dict[str, Any]]] = {}
    for member, count in ((m1, 4), (m2, 2)):
        issued = await _post(client, f"/campaigns/{campaign}/issue", op,
                             {"member_ids": [member] * count})
        vouchers[member] = list(issued["issued"])
        for _ in range(len(vouchers[member]), count):
            more = await _post(client, f"/campaigns/{campaign}/issue", op,
                               {"member_ids": [member]})
            vouchers[member].extend(more["issued"])

    async def redeem(voucher: dict[str, Any], store: str) -> str:
        body = {"code": voucher["code"], "store_id": store, "amount_cents": 10_000}
        return str((await _post(client, "/redemptions", clerk_at[store], body))["id"])

    async def book(member: str, store: str, at: str) -> str:
        uuid_store = next(s for s in chain.stores if str(s) == store)
        body = {"store_id": store, "service_id": str(chain.services[uuid_store]),
                "start": tomorrow_at(at), "member_id": member}
        return str((await _post(client, "/bookings", op, body))["id"])

    staff = {store: (await _post(client, "/staff", op, {
        "username": f"seed-clerk-{store[:8]}", "password": "seed-password-0123",
        "role": "clerk", "store_ids": [store]}))["id"] for store in (s1, s2)}

    async def hook() -> tuple[str, str]:
        # Nothing listens on port 9: deliveries the matrix sets off fail, harmlessly.
        endpoint = (await _post(client, "/webhook-endpoints", op, {
            "url": "http://127.0.0.1:9/matrix", "events": ["*"]}))["id"]
        delivery = uuid.uuid4()
        await WebhookDelivery.insert(WebhookDelivery(
            id=delivery, endpoint_id=uuid.UUID(endpoint), chain_id=chain.id,
            event_id=uuid.uuid4(), sequence=1, type="card.updated",
            object_key=f"card:{uuid.uuid4()}", body="{}", status="delivered", attempts=1,
            delivered_at=datetime.now(UTC))).run()
        return endpoint, str(delivery)

    hooks = [await hook() for _ in range(3)]

    async def order(member: str) -> str:
        """A pending sandbox top-up order of the member's card (¥100, ¥10 bonus)."""
        order_id, now = uuid.uuid4(), datetime.now(UTC)
        await TopUpOrder.insert(TopUpOrder(
            id=order_id, chain=chain.id, card=uuid.UUID(cards[member]),
            member=uuid.UUID(member), out_trade_no="T" + order_id.hex[:31],
            amount_cents=10_000, bonus_cents=1_000, status="pending", sandbox=True,
            expires_at=now + timedelta(hours=2), created_at=now)).run()
        return str(order_id)

    key_id = (await _post(client, "/api-keys", op, {"name": "seed", "scopes": ["redeem"]}))["id"]
    automation = (await _post(client, "/automations", op, {
        "name": "Seed welcome", "trigger": "welcome", "campaign_id": campaign}))["id"]

    def bundle(store: str, member: str, voucher: dict[str, Any], booking: str,
               redemption: str, hook: tuple[str, str], order: str) -> Bundle:
        uuid_store = next(s for s in chain.stores if str(s) == store)
        return Bundle(chain_id=str(chain.id), store_id=store,
                      service_id=str(chain.services[uuid_store]),
                      resource_id=str(chain.resources[uuid_store]), template_id=template,
                      card_id=cards[member], campaign_id=campaign, voucher_id=voucher["id"],
                      booking_id=booking, redemption_id=redemption, member_id=member,
                      voucher_code=voucher["code"], staff_id=staff[store], key_id=key_id,
                      endpoint_id=hook[0], delivery_id=hook[1], order_id=order,
                      automation_id=automation)

    return {
        "own": bundle(s1, m1, vouchers[m1][2], await book(m1, s1, "10:00"),
                      await redeem(vouchers[m1][0], s1), hooks[0], await order(m1)),
        "sibling": bundle(s2, m1, vouchers[m1][3], await book(m1, s2, "10:00"),
                          await redeem(vouchers[m1][1], s2), hooks[1], await order(m1)),
        "other_member": bundle(s1, m2, vouchers[m2][1], await book(m2, s1, "12:00"),
                               await redeem(vouchers[m2][0], s1), hooks[2], await order(m2)),
    }


async def seed(client: httpx.AsyncClient, world: World) -> Seeded:
    alpha = await _chain_bundles(client, world, world.a)
    beta = await _chain_bundles(client, world, world.b)
    return Seeded(world=world, bundles={**alpha, "foreign": beta["own"]})
