"""Stores, staff, members, services and resources: what each accepts, refuses and returns."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.world import PASSWORD, World

HOURS = [{"weekday": 0, "open": "10:00", "close": "14:00"},
         {"weekday": 0, "open": "15:00", "close": "22:00"}]


def _store(**overrides: Any) -> dict[str, Any]:
    return {"name": "Hangzhou West Lake", "address": "1 Hubin Rd", "timezone": "Asia/Shanghai",
            "opening_hours": HOURS, **overrides}


def _field_error(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "validation_error"
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert field in problem["detail"]


async def test_store_round_trip(client: httpx.AsyncClient, world: World) -> None:
    op = world.headers(world.a.operator)
    created = await client.post("/api/v1/stores", json=_store(), headers=op)
    assert created.status_code == 201, created.text
    store = created.json()
    assert store["timezone"] == "Asia/Shanghai"
    assert store["opening_hours"] == HOURS
    assert store["cancel_cutoff_minutes"] == 120
    read = await client.get(f"/api/v1/stores/{store['id']}", headers=op)
    assert read.json() == store

    patched = await client.patch(f"/api/v1/stores/{store['id']}", headers=op,
                                 json={"timezone": "Europe/London", "cancel_cutoff_minutes": 60})
    assert patched.status_code == 200
    assert patched.json()["timezone"] == "Europe/London"
    assert patched.json()["cancel_cutoff_minutes"] == 60
    assert patched.json()["name"] == store["name"]


@pytest.mark.parametrize("overrides, field", [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "asia/shanghai"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"name": ""}, "name"),
    ({"opening_hours": [{"weekday": 7, "open": "10:00", "close": "12:00"}]},
     "opening_hours[0].weekday"),
    ({"opening_hours": [{"weekday": 1, "open": "25:00", "close": "26:00"}]},
     "opening_hours[0].open"),
    ({"opening_hours": [{"weekday": 1, "open": "12:00", "close": "11:00"}]},
     "opening_hours[0].close"),
    ({"opening_hours": [{"weekday": 1, "open": "10:00", "close": "12:00"},
                        {"weekday": 1, "open": "11:00", "close": "13:00"}]}, "opening_hours"),
    ({"opening_hours": "always"}, "opening_hours"),
    ({"booking_horizon_days": 0}, "booking_horizon_days"),
    ({"surprise": True}, "surprise"),
])
async def test_bad_store_bodies_are_400_naming_the_field(client: httpx.AsyncClient,
                                                         world: World,
                                                         overrides: dict[str, Any],
                                                         field: str) -> None:
    response = await client.post("/api/v1/stores", json=_store(**overrides),
                                 headers=world.headers(world.a.operator))
    _field_error(response, field)


async def test_patch_validates_like_create(client: httpx.AsyncClient, world: World) -> None:
    store = world.a.stores[0]
    response = await client.patch(f"/api/v1/stores/{store}", json={"timezone": "Nowhere/City"},
                                  headers=world.headers(world.a.operator))
    _field_error(response, "timezone")


async def test_malformed_json_is_400_not_500(client: httpx.AsyncClient, world: World) -> None:
    headers = {**world.headers(world.a.operator), "content-type": "application/json"}
    for raw in (b'{"name": ', b"null", b"[]", b"\xff\xfe", b'{"name": 1e999}'):
        response = await client.post("/api/v1/stores", content=raw, headers=headers)
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["code"] == "validation_error"


async def test_body_size_is_limited(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/api/v1/stores", headers=world.headers(world.a.operator),
                                 json=_store(address="x" * 2_000_000))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_staff_rules(client: httpx.AsyncClient, world: World) -> None:
    op = world.headers(world.a.operator)
    a1 = str(world.a.stores[0])
    taken = await client.post("/api/v1/staff", headers=op, json={
        "username": "alpha-clerk1", "password": PASSWORD, "role": "clerk", "store_ids": [a1]})
    assert taken.status_code == 409
    assert taken.json()["code"] == "username_taken"
    # Usernames are unique across the platform, not per chain.
    other_chain = await client.post("/api/v1/staff", headers=world.headers(world.b.operator),
                                    json={"username": "ALPHA-CLERK1", "password": PASSWORD,
                                          "role": "clerk", "store_ids": [str(world.b.stores[0])]})
    assert other_chain.status_code == 409
    short = await client.post("/api/v1/staff", headers=op, json={
        "username": "new-one", "password": "short", "role": "clerk", "store_ids": [a1]})
    _field_error(short, "password")
    no_store = await client.post("/api/v1/staff", headers=op, json={
        "username": "new-two", "password": PASSWORD, "role": "clerk", "store_ids": []})
    _field_error(no_store, "store_ids")
    bad_role = await client.post("/api/v1/staff", headers=op, json={
        "username": "new-three", "password": PASSWORD, "role": "owner", "store_ids": [a1]})
    _field_error(bad_role, "role")
    created = await client.post("/api/v1/staff", headers=op, json={
        "username": "new-four", "password": PASSWORD, "role": "manager", "store_ids": [a1]})
    assert created.status_code == 201
    assert created.json()["store_ids"] == [a1]
    assert "password" not in created.text and "scrypt" not in created.text
    login = await client.post("/api/v1/auth/staff/login",
                              json={"username": "new-four", "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["staff"]["role"] == "manager"


async def test_members_register_and_find_by_phone(client: httpx.AsyncClient,
                                                  world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk2"])
    created = await client.post("/api/v1/members", headers=clerk,
                                json={"name": "Sun Li", "phone": "139 1234 5678"})
    assert created.status_code == 201
    assert created.json()["phone"] == "13912345678"
    found = await client.get("/api/v1/members", params={"phone": "13912345678"}, headers=clerk)
    assert [m["id"] for m in found.json()] == [created.json()["id"]]
    spaced = await client.get("/api/v1/members", params={"phone": "139-1234-5678"},
                              headers=clerk)
    assert [m["id"] for m in spaced.json()] == [created.json()["id"]]
    other_chain = await client.get("/api/v1/members", params={"phone": "13912345678"},
                                   headers=world.headers(world.b.staff["beta-clerk1"]))
    assert other_chain.json() == []
    again = await client.post("/api/v1/members", headers=clerk,
                              json={"name": "Sun Li", "phone": "13912345678"})
    assert again.status_code == 409
    assert again.json()["code"] == "phone_taken"
    # The same phone in another chain is another person's membership.
    beta = await client.post("/api/v1/members", headers=world.headers(world.b.operator),
                             json={"name": "Sun Li", "phone": "13912345678"})
    assert beta.status_code == 201
    _field_error(await client.post("/api/v1/members", headers=clerk,
                                   json={"name": "X", "phone": "call me"}), "phone")


async def test_member_profile(client: httpx.AsyncClient, world: World) -> None:
    member = world.headers(world.a.members[0])
    patched = await client.patch("/api/v1/me", headers=member,
                                 json={"name": "Wang Fang", "birthday": "1990-05-17"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Wang Fang"
    assert patched.json()["birthday"] == "1990-05-17"
    assert (await client.get("/api/v1/me", headers=member)).json()["name"] == "Wang Fang"
    # Another member's number is taken unverified, and it stays theirs
    # (tests/stores/test_member_phone.py): no 409 that would say whose number it is.
    theirs = (await client.get(f"/api/v1/members/{world.a.members[1].id}",
                               headers=world.headers(world.a.operator))).json()["phone"]
    taken = await client.patch("/api/v1/me", headers=member, json={"phone": theirs})
    assert taken.status_code == 200
    assert taken.json()["phone_verified"] is False
    _field_error(await client.patch("/api/v1/me", headers=member,
                                    json={"birthday": "1990-13-45"}), "birthday")


async def test_services_and_resources(client: httpx.AsyncClient, world: World) -> None:
    a1, a2 = world.a.stores
    manager = world.headers(world.a.staff["alpha-manager"])
    service = await client.post(f"/api/v1/stores/{a1}/services", headers=manager, json={
        "name": "Perm", "duration_minutes": 90, "price_cents": 29800, "buffer_minutes": 10})
    assert service.status_code == 201
    assert service.json()["buffer_minutes"] == 10
    _field_error(await client.post(f"/api/v1/stores/{a1}/services", headers=manager, json={
        "name": "Zero", "duration_minutes": 0, "price_cents": 0}), "duration_minutes")
    _field_error(await client.post(f"/api/v1/stores/{a1}/services", headers=manager, json={
        "name": "Neg", "duration_minutes": 30, "price_cents": -1}), "price_cents")

    table = await client.post(f"/api/v1/stores/{a1}/resources", headers=manager, json={
        "name": "Table 4", "kind": "table", "capacity": 4,
        "service_ids": [service.json()["id"]],
        "hours": [{"weekday": 5, "open": "11:00", "close": "23:00"}]})
    assert table.status_code == 201, table.text
    assert table.json()["capacity"] == 4
    assert table.json()["service_ids"] == [service.json()["id"]]
    assert table.json()["hours"] == [{"weekday": 5, "open": "11:00", "close": "23:00"}]

    # A service of another store cannot be attached.
    foreign_service = world.a.services[a2]
    _field_error(await client.post(f"/api/v1/stores/{a1}/resources", headers=manager, json={
        "name": "Chair", "kind": "staff", "service_ids": [str(foreign_service)]}), "service_ids")
    _field_error(await client.post(f"/api/v1/stores/{a1}/resources", headers=manager, json={
        "name": "Chair", "kind": "robot"}), "kind")
    _field_error(await client.post(f"/api/v1/stores/{a1}/resources", headers=manager, json={
        "name": "Chair", "kind": "staff", "capacity": 0}), "capacity")

    listed = await client.get(f"/api/v1/stores/{a1}/resources",
                              headers=world.headers(world.a.members[0]))
    names = [r["name"] for r in listed.json()]
    assert names == ["Tony", "Table 4"]
    services = await client.get(f"/api/v1/stores/{a1}/services",
                                headers=world.headers(world.a.members[0]))
    assert {s["name"] for s in services.json()} == {"Haircut", "Perm"}


async def test_wechat_config_round_trip(client: httpx.AsyncClient, world: World) -> None:
    op = world.headers(world.a.operator)
    assert (await client.get("/api/v1/wechat-config", headers=op)).status_code == 404
    put = await client.put("/api/v1/wechat-config", headers=op, json={
        "app_id": "wx0123456789", "app_secret": "top-secret-value",
        "templates": {"booking_confirmed": "TPL_A"}})
    assert put.status_code == 200
    assert "top-secret-value" not in put.text
    got = await client.get("/api/v1/wechat-config", headers=op)
    assert got.json()["templates"] == {"booking_confirmed": "TPL_A"}
    assert "top-secret-value" not in got.text
    other = await client.get("/api/v1/wechat-config", headers=world.headers(world.b.operator))
    assert other.status_code == 404
