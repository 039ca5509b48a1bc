"""External ids (issue 18): the id a chain's own POS, ERP or CRM knows a member, a store
or a service by. Up to 64 printable characters, kept exactly as given, unique per chain
and kind: a taken one is 409 ``external_id_taken`` naming the field, also when two
writers race to it (the unique index answers, mapped to the same 409, never a 500).
``GET /members?external_id=`` finds a member by it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from stores import repository as stores_repo
from tests.world import World

MEMBERS = "/api/v1/members"
STORES = "/api/v1/stores"
HOURS = [{"weekday": d, "open": "09:00", "close": "21:00"} for d in range(7)]


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def taken(response: httpx.Response) -> None:
    body = problem(response, 409, "external_id_taken")
    assert [e["field"] for e in body["errors"]] == ["external_id"], body


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


_phones = iter(range(10_000, 99_999))


def phone() -> str:
    return f"1377777{next(_phones):05d}"


async def new_member(client: httpx.AsyncClient, headers: dict[str, str],
                     **extra: Any) -> httpx.Response:
    return await client.post(MEMBERS, headers=headers,
                             json={"name": "Ext", "phone": phone(), **extra})


async def new_store(client: httpx.AsyncClient, headers: dict[str, str],
                    **extra: Any) -> httpx.Response:
    return await client.post(STORES, headers=headers, json={
        "name": "Ext store", "timezone": "Asia/Shanghai", "opening_hours": HOURS, **extra})


async def new_service(client: httpx.AsyncClient, headers: dict[str, str], store_id: Any,
                      **extra: Any) -> httpx.Response:
    return await client.post(f"{STORES}/{store_id}/services", headers=headers, json={
        "name": "Wash", "duration_minutes": 30, "price_cents": 2000, **extra})


async def test_members_stores_and_services_carry_an_external_id(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    store_id = world.a.stores[0]

    member = ok(await new_member(client, operator, external_id="CRM-0001"), 201)
    store = ok(await new_store(client, operator, external_id="ERP/STORE/7"), 201)
    service = ok(await new_service(client, operator, store_id, external_id="SKU 100"), 201)

    assert (member["external_id"], store["external_id"], service["external_id"]) == (
        "CRM-0001", "ERP/STORE/7", "SKU 100")
    got = ok(await client.get(f"{MEMBERS}/{member['id']}", headers=operator))
    assert got["external_id"] == "CRM-0001"
    assert ok(await client.get(f"{STORES}/{store['id']}", headers=operator))[
        "external_id"] == "ERP/STORE/7"
    listed = ok(await client.get(f"{STORES}/{store_id}/services", headers=operator))
    assert {s["id"]: s["external_id"] for s in listed}[service["id"]] == "SKU 100"
    # Without one, the field is there and null.
    plain = ok(await new_member(client, operator), 201)
    assert plain["external_id"] is None
    assert ok(await client.get(f"{STORES}/{world.a.stores[1]}", headers=operator))[
        "external_id"] is None


async def test_patch_sets_changes_and_clears_store_and_service_ids(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    manager = world.headers(world.a.staff["alpha-manager"])
    store_id = world.a.stores[0]
    service_id = world.a.services[store_id]
    store_url, service_url = f"{STORES}/{store_id}", f"{STORES}/{store_id}/services/{service_id}"

    assert ok(await client.patch(store_url, headers=operator,
                                 json={"external_id": "S-1"}))["external_id"] == "S-1"
    # Another field alone leaves it as it is; null clears it.
    kept = ok(await client.patch(store_url, headers=operator, json={"address": "2 Road"}))
    assert (kept["external_id"], kept["address"]) == ("S-1", "2 Road")
    assert ok(await client.patch(store_url, headers=operator,
                                 json={"external_id": None}))["external_id"] is None

    # The store's manager changes its services: name and external id.
    changed = ok(await client.patch(service_url, headers=manager,
                                     json={"external_id": "SKU-9", "name": " Cut "}))
    assert (changed["external_id"], changed["name"]) == ("SKU-9", "Cut")
    assert changed["duration_minutes"] == 45  # untouched
    renamed = ok(await client.patch(service_url, headers=manager, json={"name": "Haircut"}))
    assert renamed["external_id"] == "SKU-9"
    assert ok(await client.patch(service_url, headers=manager,
                                 json={"external_id": None}))["external_id"] is None
    problem(await client.patch(service_url, headers=manager, json={}), 400,
            "validation_error")
    problem(await client.patch(service_url, headers=manager, json={"duration_minutes": 5}),
            400, "validation_error")
    # A service of another store, or of another chain, is not there.
    other = world.a.services[world.a.stores[1]]
    problem(await client.patch(f"{STORES}/{store_id}/services/{other}", headers=manager,
                               json={"name": "x"}), 404, "not_found")
    problem(await client.patch(f"{STORES}/{store_id}/services/{uuid.uuid4()}",
                               headers=manager, json={"name": "x"}), 404, "not_found")


async def test_unique_per_chain_and_kind(client: httpx.AsyncClient, world: World) -> None:
    alpha = world.headers(world.a.operator)
    beta = world.headers(world.b.operator)

    first = ok(await new_member(client, alpha, external_id="M-1"), 201)
    taken(await new_member(client, alpha, external_id="M-1"))
    # Another chain has its own ids; another kind too.
    ok(await new_member(client, beta, external_id="M-1"), 201)
    ok(await new_store(client, alpha, external_id="M-1"), 201)
    taken(await new_store(client, alpha, external_id="M-1"))
    ok(await new_store(client, beta, external_id="M-1"), 201)
    # Services: unique in the chain, across its stores.
    s1, s2 = world.a.stores
    ok(await new_service(client, alpha, s1, external_id="SKU-1"), 201)
    taken(await new_service(client, alpha, s2, external_id="SKU-1"))
    ok(await new_service(client, beta, world.b.stores[0], external_id="SKU-1"), 201)
    # A PATCH to a taken id is refused too; to its own id, a no-op.
    second = ok(await new_member(client, alpha), 201)
    taken(await client.patch(f"{MEMBERS}/{second['id']}", headers=alpha,
                             json={"external_id": "M-1"}))
    ok(await client.patch(f"{MEMBERS}/{first['id']}", headers=alpha,
                          json={"external_id": "M-1"}))
    taken(await client.patch(f"{STORES}/{s2}", headers=alpha, json={"external_id": "M-1"}))
    svc2 = world.a.services[s2]
    taken(await client.patch(f"{STORES}/{s2}/services/{svc2}", headers=alpha,
                             json={"external_id": "SKU-1"}))
    # Exact: case and inner spaces make another id.
    ok(await new_member(client, alpha, external_id="m-1"), 201)
    # A cleared id is free again.
    ok(await client.patch(f"{MEMBERS}/{first['id']}", headers=alpha,
                          json={"external_id": None}))
    ok(await client.patch(f"{MEMBERS}/{second['id']}", headers=alpha,
                          json={"external_id": "M-1"}))


@pytest.mark.parametrize("bad", ["", " lead", "trail ", "tab\there", "nul\x00", "x" * 65,
                                 "new\nline", "\u200b", 7])
async def test_bad_external_ids_are_400(client: httpx.AsyncClient, world: World,
                                        bad: Any) -> None:
    operator = world.headers(world.a.operator)
    store_id = world.a.stores[0]
    for response in (
        await new_member(client, operator, external_id=bad),
        await new_store(client, operator, external_id=bad),
        await new_service(client, operator, store_id, external_id=bad),
        await client.patch(f"{MEMBERS}/{world.a.members[0].id}", headers=operator,
                           json={"external_id": bad}),
        await client.patch(f"{STORES}/{store_id}", headers=operator,
                           json={"external_id": bad}),
    ):
        body = problem(response, 400, "validation_error")
        assert "external_id" in body["detail"], body


async def test_printable_ids_of_any_script_up_to_64_characters(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    for external_id in ("会员-00042", "x" * 64, "a b", "ÄÖÜ#1:2/3"):
        made = ok(await new_member(client, operator, external_id=external_id), 201)
        assert made["external_id"] == external_id
        found = ok(await client.get(MEMBERS, headers=operator,
                                    params={"external_id": external_id}))
        assert [m["id"] for m in found] == [made["id"]]


async def test_two_creates_racing_to_one_id(client: httpx.AsyncClient,
                                            world: World) -> None:
    operator = world.headers(world.a.operator)
    for n in range(3):
        answers = await asyncio.gather(
            new_member(client, operator, external_id=f"RACE-{n}"),
            new_member(client, operator, external_id=f"RACE-{n}"))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 409], [a.text for a in answers]
        taken(next(a for a in answers if a.status_code == 409))


async def test_the_unique_index_answers_when_the_check_is_raced_past(
        client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before the write sees nothing (as when another transaction has not
    committed yet): the unique index refuses the write, and that is the same 409."""
    operator = world.headers(world.a.operator)
    store_id = world.a.stores[0]
    ok(await new_member(client, operator, external_id="IDX-M"), 201)
    ok(await new_store(client, operator, external_id="IDX-S"), 201)
    ok(await new_service(client, operator, store_id, external_id="IDX-V"), 201)
    member = ok(await new_member(client, operator), 201)

    async def nobody(*_: Any) -> None:
        return None

    monkeypatch.setattr(stores_repo, "external_id_holder", nobody)
    taken(await new_member(client, operator, external_id="IDX-M"))
    taken(await client.patch(f"{MEMBERS}/{member['id']}", headers=operator,
                             json={"external_id": "IDX-M"}))
    taken(await new_store(client, operator, external_id="IDX-S"))
    taken(await client.patch(f"{STORES}/{store_id}", headers=operator,
                             json={"external_id": "IDX-S"}))
    taken(await new_service(client, operator, store_id, external_id="IDX-V"))
    # Nothing of the refused writes stayed.
    found = ok(await client.get(MEMBERS, headers=operator, params={"external_id": "IDX-M"}))
    assert len(found) == 1
    assert ok(await client.get(f"{MEMBERS}/{member['id']}", headers=operator))[
        "external_id"] is None


async def test_find_members_by_external_id(client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    manager = world.headers(world.a.staff["alpha-manager"])  # store 1 only
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    s1, s2 = world.a.stores
    here = ok(await new_member(client, operator, external_id="F-1", store_id=str(s1),
                               name="Lin Here"), 201)
    there = ok(await new_member(client, operator, external_id="F-2", store_id=str(s2)), 201)
    ok(await new_member(client, world.headers(world.b.operator), external_id="F-3"), 201)

    def ids(found: list[dict[str, Any]]) -> list[str]:
        return [m["id"] for m in found]

    assert ids(ok(await client.get(MEMBERS, headers=operator,
                                   params={"external_id": "F-1"}))) == [here["id"]]
    listed = ok(await client.get(MEMBERS, headers=operator, params={"external_id": "F-2"}))
    assert ids(listed) == [there["id"]]
    assert listed[0]["external_id"] == "F-2" and "cards_count" in listed[0]
    # Another chain's id, an unknown one, a prefix: nothing.
    for missing in ("F-3", "F-9", "F"):
        assert ok(await client.get(MEMBERS, headers=operator,
                                   params={"external_id": missing})) == []
    # With the other search filters: all must hold.
    assert ids(ok(await client.get(MEMBERS, headers=operator, params={
        "external_id": "F-1", "q": "Lin"}))) == [here["id"]]
    assert ok(await client.get(MEMBERS, headers=operator, params={
        "external_id": "F-1", "q": "Wang"})) == []
    # A manager finds their stores' members only; a clerk does not search.
    assert ids(ok(await client.get(MEMBERS, headers=manager,
                                   params={"external_id": "F-1"}))) == [here["id"]]
    assert ok(await client.get(MEMBERS, headers=manager, params={"external_id": "F-2"})) == []
    problem(await client.get(MEMBERS, headers=clerk, params={"external_id": "F-1"}), 403,
            "forbidden")
    # Not with phone or card_number (those are a clerk's exact lookups), nor empty.
    problem(await client.get(MEMBERS, headers=operator, params={
        "external_id": "F-1", "phone": here["phone"]}), 400, "validation_error")
    problem(await client.get(MEMBERS, headers=operator, params={"external_id": ""}), 400,
            "validation_error")
    problem(await client.get(MEMBERS, headers=operator, params={"external_id": "x" * 65}),
            400, "validation_error")
