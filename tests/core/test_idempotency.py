"""Idempotency-Key on a POST (counter registration): once, replayed, conflicts, races."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from stores.tables import Member
from tests.world import World

MEMBERS = "/api/v1/members"


def _body(phone: str = "13912345678") -> dict[str, Any]:
    return {"name": "Zhao Lei", "phone": phone}


async def _count(phone: str) -> int:
    return int(await Member.count().where(Member.phone == phone).run())


async def test_same_key_same_body_replays_and_acts_once(client: httpx.AsyncClient,
                                                       world: World) -> None:
    headers = {**world.headers(world.a.staff["alpha-clerk1"]), "Idempotency-Key": "reg-001"}
    first = await client.post(MEMBERS, json=_body(), headers=headers)
    second = await client.post(MEMBERS, json=_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert await _count("13912345678") == 1


async def test_same_key_other_body_is_a_conflict(client: httpx.AsyncClient,
                                                 world: World) -> None:
    headers = {**world.headers(world.a.staff["alpha-clerk1"]), "Idempotency-Key": "reg-002"}
    assert (await client.post(MEMBERS, json=_body(), headers=headers)).status_code == 201
    other = await client.post(MEMBERS, json=_body("13912345679"), headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert await _count("13912345679") == 0


async def test_keys_belong_to_their_caller(client: httpx.AsyncClient, world: World) -> None:
    key = {"Idempotency-Key": "shared-key"}
    one = await client.post(MEMBERS, json=_body("13900000001"),
                            headers={**world.headers(world.a.staff["alpha-clerk1"]), **key})
    two = await client.post(MEMBERS, json=_body("13900000002"),
                            headers={**world.headers(world.a.staff["alpha-clerk2"]), **key})
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]


async def test_a_contract_error_is_replayed_too(client: httpx.AsyncClient,
                                                world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    assert (await client.post(MEMBERS, json=_body(), headers=clerk)).status_code == 201
    headers = {**clerk, "Idempotency-Key": "dup-phone"}
    first = await client.post(MEMBERS, json=_body(), headers=headers)
    again = await client.post(MEMBERS, json=_body(), headers=headers)
    assert first.status_code == again.status_code == 409
    assert first.json()["code"] == again.json()["code"] == "phone_taken"
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_racing_twins_act_once(client: httpx.AsyncClient, world: World) -> None:
    headers = {**world.headers(world.a.staff["alpha-clerk1"]), "Idempotency-Key": "race-1"}
    responses = await asyncio.gather(*(
        client.post(MEMBERS, json=_body("13955555555"), headers=headers) for _ in range(12)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_in_flight"
        else:
            assert response.json() == responses[statuses.index(201)].json()
    assert await _count("13955555555") == 1


async def test_bad_keys_are_400(client: httpx.AsyncClient, world: World) -> None:
    clerk = {k.encode(): v.encode() for k, v in
             world.headers(world.a.staff["alpha-clerk1"]).items()}
    for key in (b"x" * 256, b"tab\there", "ünïcode".encode()):
        response = await client.post(MEMBERS, json=_body(),
                                     headers={**clerk, b"Idempotency-Key": key})
        assert response.status_code == 400, key
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await _count("13912345678") == 0


async def test_without_a_key_each_request_acts(client: httpx.AsyncClient,
                                               world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    assert (await client.post(MEMBERS, json=_body(), headers=clerk)).status_code == 201
    again = await client.post(MEMBERS, json=_body(), headers=clerk)
    assert again.status_code == 409
    assert again.json()["code"] == "phone_taken"
