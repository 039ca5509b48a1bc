"""The roles table for cards and vouchers: every endpoint x every role, on objects of the
caller's own chain (store 1, member 1) and of the other chain. Outside the caller's scope
is 404, a role that may never act is 403, no token is 401."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from tests.world import World

API = "/api/v1"
ROLES = ("operator", "manager", "clerk", "member", "anonymous")


@dataclass
class Objects:
    template: str
    card: str
    campaign: str
    voucher: str
    store: str


async def _objects(client: httpx.AsyncClient, world: World, chain: str) -> Objects:
    c = world.a if chain == "alpha" else world.b
    op = world.headers(c.operator)
    now = datetime.now(UTC)
    template = (await client.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value"})).json()["id"]
    card = (await client.post(f"{API}/cards", headers=op, json={
        "template_id": template, "member_id": str(c.members[0].id)})).json()["id"]
    campaign = (await client.post(f"{API}/campaigns", headers=op, json={
        "name": "Cash", "kind": "cash", "value_cents": 100, "total_quantity": 100,
        "per_member_limit": 50, "valid_from": now.isoformat(),
        "valid_until": (now + timedelta(days=1)).isoformat()})).json()["id"]
    voucher = (await client.post(f"{API}/campaigns/{campaign}/issue", headers=op, json={
        "member_ids": [str(c.members[0].id)]})).json()["issued"][0]["id"]
    return Objects(template, card, campaign, voucher, str(c.stores[0]))


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    expect: dict[str, int]  # role -> status on the own chain's object
    body: dict[str, Any] | None = None


ENDPOINTS = [
    Endpoint("create template", "POST", "/card-templates",
             {"operator": 201, "manager": 403, "clerk": 403, "member": 403},
             {"name": "T", "kind": "membership"}),
    Endpoint("read template", "GET", "/card-templates/{template}",
             {"operator": 200, "manager": 200, "clerk": 200, "member": 200}),
    Endpoint("read card", "GET", "/cards/{card}",
             {"operator": 200, "manager": 200, "clerk": 200, "member": 200}),
    Endpoint("card ledger", "GET", "/cards/{card}/ledger",
             {"operator": 200, "manager": 200, "clerk": 200, "member": 200}),
    Endpoint("card code", "GET", "/cards/{card}/code",
             {"operator": 403, "manager": 403, "clerk": 403, "member": 200}),
    Endpoint("top up", "POST", "/cards/{card}/top-ups",
             {"operator": 201, "manager": 201, "clerk": 201, "member": 403},
             {"amount_cents": 100, "store_id": "{store}"}),
    Endpoint("freeze card", "POST", "/cards/{card}/freeze",
             {"operator": 200, "manager": 403, "clerk": 403, "member": 403}),
    Endpoint("read campaign", "GET", "/campaigns/{campaign}",
             {"operator": 200, "manager": 200, "clerk": 200, "member": 200}),
    Endpoint("pause campaign", "POST", "/campaigns/{campaign}/pause",
             {"operator": 200, "manager": 403, "clerk": 403, "member": 403}),
    Endpoint("claim voucher", "POST", "/campaigns/{campaign}/claim",
             {"operator": 403, "manager": 403, "clerk": 403, "member": 201}),
    Endpoint("bulk issue", "POST", "/campaigns/{campaign}/issue",
             {"operator": 201, "manager": 403, "clerk": 403, "member": 403},
             {"member_ids": ["{member}"]}),
    # A voucher's code spends it: never a clerk's or a manager's (not found).
    Endpoint("read voucher", "GET", "/vouchers/{voucher}",
             {"operator": 200, "manager": 404, "clerk": 404, "member": 200}),
    Endpoint("voucher qr", "GET", "/vouchers/{voucher}/qr.png",
             {"operator": 200, "manager": 404, "clerk": 404, "member": 200}),
    Endpoint("revoke voucher", "POST", "/vouchers/{voucher}/revoke",
             {"operator": 200, "manager": 403, "clerk": 403, "member": 403}),
    Endpoint("day sheet", "GET", "/redemptions?store_id={store}",
             {"operator": 200, "manager": 200, "clerk": 200, "member": 403}),
    Endpoint("sync", "POST", "/redemptions/sync",
             {"operator": 200, "manager": 200, "clerk": 200, "member": 403},
             {"store_id": "{store}", "items": [{"code": "O2O1X", "client_ref": "r1",
                                                "redeemed_at": "2026-01-01T00:00:00+08:00"}]}),
]
FOREIGN_WHEN_ALLOWED = 404
PLACEHOLDER = re.compile(r"\{(template|card|campaign|voucher|store|member)\}")


def _fill(value: Any, objects: Objects, member: str) -> Any:
    if isinstance(value, str):
        return value.format(template=objects.template, card=objects.card,
                            campaign=objects.campaign, voucher=objects.voucher,
                            store=objects.store, member=member)
    if isinstance(value, list):
        return [_fill(v, objects, member) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, objects, member) for k, v in value.items()}
    return value


def _principal(world: World, role: str) -> Principal | None:
    return {"operator": world.a.operator, "manager": world.a.staff["alpha-manager"],
            "clerk": world.a.staff["alpha-clerk1"], "member": world.a.members[0],
            "anonymous": None}[role]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
async def test_cards_and_vouchers_role_matrix(endpoint: Endpoint, client: httpx.AsyncClient,
                                              world: World) -> None:
    own = await _objects(client, world, "alpha")
    foreign = await _objects(client, world, "beta")
    holes: list[str] = []
    scoped = bool(PLACEHOLDER.search(endpoint.path + repr(endpoint.body)))
    for role, target in itertools.product(ROLES, ("own", "foreign") if scoped else ("own",)):
        objects, member = ((own, str(world.a.members[0].id)) if target == "own"
                           else (foreign, str(world.b.members[0].id)))
        principal = _principal(world, role)
        path = API + _fill(endpoint.path, objects, member)
        kwargs: dict[str, Any] = {"headers": world.headers(principal) if principal else {}}
        if endpoint.body is not None:
            kwargs["json"] = _fill(endpoint.body, objects, member)
        response = await client.request(endpoint.method, path, **kwargs)
        if role == "anonymous":
            want = 401
        else:
            want = endpoint.expect[role]
            if target == "foreign" and want < 400:
                want = FOREIGN_WHEN_ALLOWED
        if response.status_code != want:
            holes.append(f"{role} on {target}: {response.status_code} (want {want}) "
                         f"{response.text[:140]}")
    assert holes == [], "\n".join(holes)
