"""The roles table as a matrix: every endpoint x every role x own / sibling / foreign object.

"own" is the caller's store (store 1 of chain alpha, where the manager and clerk work) or
the calling member; "sibling" is another store or member of the same chain; "foreign" is
chain beta's. Expected statuses come from API.md's roles table and the scope rule: outside
the caller's scope is 404, a role that may never act is 403, no token is 401.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from tests.world import PASSWORD, World

ROLES = ("operator", "manager", "clerk", "member", "anonymous")
TARGETS = ("own", "sibling", "foreign")
_counter = itertools.count()

Body = Callable[[uuid.UUID], Any]


def _store_body(_: uuid.UUID) -> Any:
    return {"name": "New store", "timezone": "Asia/Tokyo",
            "opening_hours": [{"weekday": 0, "open": "09:00", "close": "18:00"}]}


def _service_body(_: uuid.UUID) -> Any:
    return {"name": "Beard trim", "duration_minutes": 20, "price_cents": 3000}


def _resource_body(_: uuid.UUID) -> Any:
    return {"name": "Chair 9", "kind": "staff", "capacity": 1, "service_ids": []}


def _clerk_body(store: uuid.UUID) -> Any:
    return {"username": f"new-clerk-{next(_counter)}-{uuid.uuid4().hex[:6]}",
            "password": PASSWORD, "role": "clerk", "store_ids": [str(store)]}


def _manager_body(store: uuid.UUID) -> Any:
    return {"username": f"new-manager-{next(_counter)}-{uuid.uuid4().hex[:6]}",
            "password": PASSWORD, "role": "manager", "store_ids": [str(store)]}


def _member_body(_: uuid.UUID) -> Any:
    return {"name": "Walk-in", "phone": f"139{next(_counter):04d}{uuid.uuid4().int % 10000:04d}"}


def _wechat_body(_: uuid.UUID) -> Any:
    return {"app_id": "wx1234567890", "app_secret": "s3cret-s3cret",
            "templates": {"booking_confirmed": "TPL-1"}}


def _patch_store_body(_: uuid.UUID) -> Any:
    return {"address": "1 New Road"}


def _me_body(_: uuid.UUID) -> Any:
    return {"name": "Renamed"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # "{store}" or "{member}" is replaced by the target
    expect: dict[str, int | dict[str, int]]  # role -> status, or role -> {target: status}
    body: Body | None = None
    target_kind: str = "store"


ALL_STORES = {"own": 200, "sibling": 200, "foreign": 404}
LISTED_STORE = {"own": 200, "sibling": 404, "foreign": 404}
CREATE_ALL = {"own": 201, "sibling": 201, "foreign": 404}
CREATE_LISTED = {"own": 201, "sibling": 404, "foreign": 404}

ENDPOINTS = [
    Endpoint("create store", "POST", "/stores", body=_store_body,
             expect={"operator": 201, "manager": 403, "clerk": 403, "member": 403}),
    Endpoint("list stores", "GET", "/stores",
             expect={"operator": 200, "manager": 200, "clerk": 200, "member": 200}),
    Endpoint("read store", "GET", "/stores/{store}",
             expect={"operator": ALL_STORES, "manager": LISTED_STORE, "clerk": LISTED_STORE,
                     "member": ALL_STORES}),
    Endpoint("patch store", "PATCH", "/stores/{store}", body=_patch_store_body,
             expect={"operator": ALL_STORES, "manager": 403, "clerk": 403, "member": 403}),
    Endpoint("create service", "POST", "/stores/{store}/services", body=_service_body,
             expect={"operator": CREATE_ALL, "manager": CREATE_LISTED, "clerk": 403,
                     "member": 403}),
    Endpoint("list services", "GET", "/stores/{store}/services",
             expect={"operator": ALL_STORES, "manager": LISTED_STORE, "clerk": LISTED_STORE,
                     "member": ALL_STORES}),
    Endpoint("create resource", "POST", "/stores/{store}/resources", body=_resource_body,
             expect={"operator": CREATE_ALL, "manager": CREATE_LISTED, "clerk": 403,
                     "member": 403}),
    Endpoint("list resources", "GET", "/stores/{store}/resources",
             expect={"operator": ALL_STORES, "manager": LISTED_STORE, "clerk": LISTED_STORE,
                     "member": ALL_STORES}),
    Endpoint("create clerk", "POST", "/staff", body=_clerk_body,
             expect={"operator": CREATE_ALL, "manager": CREATE_LISTED, "clerk": 403,
                     "member": 403}),
    Endpoint("create manager", "POST", "/staff", body=_manager_body,
             expect={"operator": CREATE_ALL, "manager": 403, "clerk": 403, "member": 403}),
    Endpoint("list staff", "GET", "/staff",
             expect={"operator": 200, "manager": 200, "clerk": 403, "member": 403}),
    Endpoint("register member", "POST", "/members", body=_member_body,
             expect={"operator": 201, "manager": 201, "clerk": 201, "member": 403}),
    # Without a filter (tests/stores/test_member_phone.py covers phone and card number).
    Endpoint("find members", "GET", "/members",
             expect={"operator": 200, "manager": 200, "clerk": 403, "member": 403}),
    Endpoint("read member", "GET", "/members/{member}", target_kind="member",
             expect={"operator": ALL_STORES, "manager": ALL_STORES, "clerk": ALL_STORES,
                     "member": LISTED_STORE}),
    Endpoint("read me", "GET", "/me",
             expect={"operator": 403, "manager": 403, "clerk": 403, "member": 200}),
    Endpoint("patch me", "PATCH", "/me", body=_me_body,
             expect={"operator": 403, "manager": 403, "clerk": 403, "member": 200}),
    Endpoint("put wechat config", "PUT", "/wechat-config", body=_wechat_body,
             expect={"operator": 200, "manager": 403, "clerk": 403, "member": 403}),
]


def _principal(world: World, role: str) -> Principal | None:
    return {
        "operator": world.a.operator,
        "manager": world.a.staff["alpha-manager"],
        "clerk": world.a.staff["alpha-clerk1"],
        "member": world.a.members[0],
        "anonymous": None,
    }[role]


def _target(world: World, kind: str, target: str) -> uuid.UUID:
    if kind == "member":
        return {"own": world.a.members[0].id, "sibling": world.a.members[1].id,
                "foreign": world.b.members[0].id}[target]
    return {"own": world.a.stores[0], "sibling": world.a.stores[1],
            "foreign": world.b.stores[0]}[target]


def _expected(endpoint: Endpoint, role: str, target: str) -> int:
    if role == "anonymous":
        return 401
    rule = endpoint.expect[role]
    return rule if isinstance(rule, int) else rule[target]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
async def test_role_matrix(endpoint: Endpoint, client: httpx.AsyncClient,
                           world: World) -> None:
    scoped = "{" in endpoint.path or endpoint.body is not None
    targets = TARGETS if scoped else ("own",)
    holes: list[str] = []
    for role, target in itertools.product(ROLES, targets):
        principal = _principal(world, role)
        target_id = _target(world, endpoint.target_kind, target)
        path = "/api/v1" + endpoint.path.replace("{store}", str(target_id)).replace(
            "{member}", str(target_id))
        headers = world.headers(principal) if principal else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if endpoint.body is not None:
            kwargs["json"] = endpoint.body(target_id)
        response = await client.request(endpoint.method, path, **kwargs)
        want = _expected(endpoint, role, target)
        if response.status_code != want:
            holes.append(f"{role} on {target}: {response.status_code} (want {want}) "
                         f"{response.text[:160]}")
        elif want >= 400:
            problem = response.json()
            assert response.headers["content-type"].startswith("application/problem+json")
            assert problem["code"] == {401: "unauthorized", 403: "forbidden",
                                       404: "not_found"}[want], problem
    assert holes == [], "\n".join(holes)


async def test_lists_only_show_the_callers_scope(client: httpx.AsyncClient,
                                                 world: World) -> None:
    a1, a2 = world.a.stores
    manager = world.headers(world.a.staff["alpha-manager"])
    stores = (await client.get("/api/v1/stores", headers=manager)).json()
    assert [s["id"] for s in stores] == [str(a1)]

    member_view = (await client.get("/api/v1/stores",
                                    headers=world.headers(world.a.members[0]))).json()
    assert {s["id"] for s in member_view} == {str(a1), str(a2)}

    staff = (await client.get("/api/v1/staff", headers=manager)).json()
    usernames = {s["username"] for s in staff}
    assert usernames == {"alpha-manager", "alpha-clerk1"}  # not alpha-clerk2 of store 2

    operator_staff = (await client.get("/api/v1/staff",
                                       headers=world.headers(world.a.operator))).json()
    assert {s["chain_id"] for s in operator_staff} == {str(world.a.id)}
    assert not any("password" in key for s in operator_staff for key in s)

    members = (await client.get("/api/v1/members",
                                headers=world.headers(world.a.operator))).json()
    assert {m["chain_id"] for m in members} == {str(world.a.id)}
    assert len(members) == 2
