"""Who may do what with top-up orders (the matrices in tests/hardening check every route
and role; these follow one order through the roles and API keys)."""

from __future__ import annotations

import httpx

from tests.payments.helpers import API, place, stored_value_card
from tests.world import World


async def _key(client: httpx.AsyncClient, world: World, *scopes: str) -> dict[str, str]:
    made = await client.post(f"{API}/api-keys", headers=world.headers(world.a.operator),
                             json={"name": "pos", "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


async def test_who_may_place_read_and_pay(client: httpx.AsyncClient, world: World) -> None:
    card_id = await stored_value_card(client, world)
    body = {"amount_cents": 10_000}
    for staff in (world.a.operator, world.a.staff["alpha-clerk1"]):
        refused = await client.post(f"{API}/cards/{card_id}/top-up-orders", json=body,
                                    headers=world.headers(staff))
        assert refused.status_code == 403
    anonymous = await client.post(f"{API}/cards/{card_id}/top-up-orders", json=body)
    assert anonymous.status_code == 401
    order = (await place(client, world, card_id, 10_000)).json()
    pay = f"{API}/top-up-orders/{order['id']}/sandbox-pay"
    assert (await client.post(pay, headers=world.headers(world.a.operator))).status_code == 403
    assert (await client.post(pay, headers=world.headers(world.a.members[1]))).status_code == 404
    assert (await client.post(pay, headers=world.headers(world.b.members[0]))).status_code == 404

    reader = await _key(client, world, "cards:read")
    listed = await client.get(f"{API}/top-up-orders", headers=reader)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()["items"]] == [order["id"]]
    one = await client.get(f"{API}/top-up-orders/{order['id']}", headers=reader)
    assert one.status_code == 200
    writer = await _key(client, world, "cards:write")
    assert (await client.get(f"{API}/top-up-orders", headers=writer)).status_code == 403
    assert (await client.post(f"{API}/cards/{card_id}/top-up-orders", json=body,
                              headers=writer)).status_code == 403
    assert (await client.post(pay, headers=writer)).status_code == 403
    assert (await client.get(f"{API}/wechat-pay-config", headers=reader)).status_code == 403
    # Still pending: nobody but its member could pay it.
    assert (await client.get(f"{API}/top-up-orders/{order['id']}",
                             headers=world.headers(world.a.members[0]))).json()["status"] \
        == "pending"
