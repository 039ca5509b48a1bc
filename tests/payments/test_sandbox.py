"""Online top-up in sandbox mode, end to end through HTTP: an order placed with an
Idempotency-Key (a double tap places one), paid with sandbox-pay through the one
crediting path, the card credited once with its paid and bonus money apart, the member
notified, the feed told; the reads (the order, the member's list, the staff list)."""

from __future__ import annotations

import asyncio

import httpx

from tests.payments.helpers import (
    API,
    assert_ledger_verifies,
    balance_notifications,
    card,
    ledger,
    orders,
    paid_events,
    place,
    stored_value_card,
)
from tests.world import World


async def test_sandbox_top_up_end_to_end(client: httpx.AsyncClient, world: World) -> None:
    card_id = await stored_value_card(client, world)
    member = world.a.members[0]
    placed = await place(client, world, card_id, 50_000, key="tap-1")
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "pending" and order["amount_cents"] == 50_000
    assert order["bonus_cents"] == 5_000 and order["card_id"] == card_id
    assert order["pay_params"]["signType"] == "SANDBOX"
    assert order["out_trade_no"].startswith("T") and len(order["out_trade_no"]) == 32
    assert set(order["pay_params"]) == {"appId", "timeStamp", "nonceStr", "package",
                                        "signType", "paySign"}

    # A double tap: the same key answers the same order, and places no second one.
    again = await place(client, world, card_id, 50_000, key="tap-1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == order["id"]
    assert len(await orders()) == 1

    paid = await client.post(f"{API}/top-up-orders/{order['id']}/sandbox-pay",
                             headers=world.headers(member))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["transaction_id"]
    assert paid.json()["paid_at"] is not None

    after = await card(client, world, card_id)
    assert after["balance_cents"] == 55_000
    assert after["paid_balance_cents"] == 50_000 and after["bonus_balance_cents"] == 5_000
    entries = [e for e in await ledger(client, world, card_id)
               if e["kind"] in ("top_up", "top_up_bonus")]
    assert sorted((e["kind"], e["delta_paid_cents"], e["delta_bonus_cents"])
                  for e in entries) == [("top_up", 50_000, 0), ("top_up_bonus", 0, 5_000)]

    # Paying again changes nothing.
    twice = await client.post(f"{API}/top-up-orders/{order['id']}/sandbox-pay",
                              headers=world.headers(member))
    assert twice.status_code == 200 and twice.json()["status"] == "paid"
    assert (await card(client, world, card_id))["balance_cents"] == 55_000
    assert len(await paid_events(order["id"])) == 1
    notified = await balance_notifications(member.id)
    assert len(notified) == 1
    assert notified[0]["data"]["paid_cents"] == 50_000
    assert notified[0]["data"]["bonus_cents"] == 5_000
    assert notified[0]["data"]["balance_cents"] == 55_000

    # The reads: the order (its member, the chain's staff), the member's list, the staff's.
    for who in (member, world.a.operator, world.a.staff["alpha-clerk1"]):
        read = await client.get(f"{API}/top-up-orders/{order['id']}", headers=world.headers(who))
        assert read.status_code == 200 and read.json()["status"] == "paid"
    other = await client.get(f"{API}/top-up-orders/{order['id']}",
                             headers=world.headers(world.a.members[1]))
    assert other.status_code == 404
    foreign = await client.get(f"{API}/top-up-orders/{order['id']}",
                               headers=world.headers(world.b.operator))
    assert foreign.status_code == 404
    mine = await client.get(f"{API}/me/top-up-orders", headers=world.headers(member))
    assert [o["id"] for o in mine.json()] == [order["id"]]  # an array, like every /me list
    theirs = await client.get(f"{API}/me/top-up-orders",
                              headers=world.headers(world.a.members[1]))
    assert theirs.json() == []
    await assert_ledger_verifies()


async def test_concurrent_double_tap_places_one_order(client: httpx.AsyncClient,
                                                      world: World) -> None:
    card_id = await stored_value_card(client, world)
    answers = await asyncio.gather(*(place(client, world, card_id, 10_000, key="same")
                                     for _ in range(5)))
    assert {a.status_code for a in answers} <= {201, 409}
    assert {a.json()["id"] for a in answers if a.status_code == 201} \
        and len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    assert len(await orders()) == 1


async def test_amount_must_be_an_option_and_card_usable(client: httpx.AsyncClient,
                                                        world: World) -> None:
    card_id = await stored_value_card(client, world)
    wrong = await place(client, world, card_id, 12_345)
    assert wrong.status_code == 400 and wrong.json()["code"] == "validation_error"
    assert wrong.json()["errors"] == [{
        "field": "amount_cents",
        "message": "must be one of the card's top-up amounts: 10000, 50000"}]
    assert {o["amount_cents"] for o in wrong.json()["options"]} == {50_000, 10_000}
    # Another member's card is not found, like a missing one.
    theirs = await place(client, world, card_id, 10_000, member=world.a.members[1])
    assert theirs.status_code == 404
    frozen = await client.post(f"{API}/cards/{card_id}/freeze",
                               headers=world.headers(world.a.operator))
    assert frozen.status_code == 200
    refused = await place(client, world, card_id, 10_000)
    assert refused.status_code == 409 and refused.json()["code"] == "card_inactive"
    # A card of another kind takes no online top-up.
    op = world.headers(world.a.operator)
    template = await client.post(f"{API}/card-templates", headers=op,
                                 json={"name": "Member", "kind": "membership"})
    membership = await client.post(f"{API}/cards", headers=op, json={
        "template_id": template.json()["id"], "member_id": str(world.a.members[0].id)})
    wrong = await place(client, world, membership.json()["id"], 10_000)
    assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_card_kind"
    assert await orders() == []


async def test_staff_list_filters_and_pages(client: httpx.AsyncClient, world: World) -> None:
    card_id = await stored_value_card(client, world)
    placed = [(await place(client, world, card_id, 10_000)).json()["id"] for _ in range(3)]
    member = world.a.members[0]
    await client.post(f"{API}/top-up-orders/{placed[0]}/sandbox-pay",
                      headers=world.headers(member))
    op = world.headers(world.a.operator)
    first = await client.get(f"{API}/top-up-orders", headers=op, params={"limit": 2})
    assert first.status_code == 200, first.text
    assert [o["id"] for o in first.json()["items"]] == placed[::-1][:2]
    rest = await client.get(f"{API}/top-up-orders", headers=op,
                            params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert [o["id"] for o in rest.json()["items"]] == [placed[0]]
    assert rest.json()["next_cursor"] is None
    paid = await client.get(f"{API}/top-up-orders", headers=op, params={"status": "paid"})
    assert [o["id"] for o in paid.json()["items"]] == [placed[0]]
    by_card = await client.get(f"{API}/top-up-orders", headers=op,
                               params={"card_id": card_id, "member_id": str(member.id)})
    assert len(by_card.json()["items"]) == 3
    bad = await client.get(f"{API}/top-up-orders", headers=op, params={"cursor": "nonsense"})
    assert bad.status_code == 400
    beta = await client.get(f"{API}/top-up-orders", headers=world.headers(world.b.operator))
    assert beta.json()["items"] == []
    member_list = await client.get(f"{API}/top-up-orders", headers=world.headers(member))
    assert member_list.status_code == 403
    # The chain's online payments are operators' (like the liability), not a store's.
    for who in ("alpha-clerk1", "alpha-manager"):
        refused = await client.get(f"{API}/top-up-orders",
                                   headers=world.headers(world.a.staff[who]))
        assert refused.status_code == 403, who
    newest = await client.get(f"{API}/me/top-up-orders", headers=world.headers(member),
                              params={"limit": 2})
    assert [o["id"] for o in newest.json()] == placed[::-1][:2]
