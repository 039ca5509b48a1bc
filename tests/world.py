"""A small world for tests: two chains, stores, staff of every role and members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from litestar import Litestar

from app.core.auth import Principal
from app.core.runtime import Runtime
from stores import service as stores
from stores.schemas import (
    MemberCreate,
    OpeningHours,
    ResourceCreate,
    ServiceCreate,
    StaffCreate,
    StaffRole,
    StoreCreate,
)

PASSWORD = "correct-horse-battery"
WEEK = [OpeningHours(weekday=d, open="09:00", close="21:00") for d in range(7)]


@dataclass
class Chain:
    id: uuid.UUID
    operator: Principal
    stores: list[uuid.UUID]
    services: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # store -> service
    resources: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # store -> resource
    staff: dict[str, Principal] = field(default_factory=dict)  # username -> principal
    members: list[Principal] = field(default_factory=list)


@dataclass
class World:
    app: Litestar
    a: Chain
    b: Chain

    def token(self, principal: Principal) -> str:
        runtime: Runtime = self.app.state.runtime
        return runtime.auth.issue(principal)

    def headers(self, principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(principal)}"}


async def _chain(prefix: str) -> Chain:
    chain_id, operator_id = await stores.create_chain_with_operator(
        f"{prefix} chain", f"{prefix}-operator", PASSWORD)
    operator = Principal(kind="staff", id=operator_id, chain_id=chain_id, role="operator")
    chain = Chain(id=chain_id, operator=operator, stores=[])
    for n in (1, 2):
        store = await stores.create_store(operator, StoreCreate(
            name=f"{prefix} store {n}", timezone="Asia/Shanghai", opening_hours=WEEK))
        chain.stores.append(store.id)
        svc = await stores.create_service(operator, store.id, ServiceCreate(
            name="Haircut", duration_minutes=45, price_cents=8800, buffer_minutes=15))
        res = await stores.create_resource(operator, store.id, ResourceCreate(
            name="Tony", kind="staff", capacity=1, service_ids=[svc.id]))
        chain.services[store.id] = svc.id
        chain.resources[store.id] = res.id
    roles: tuple[tuple[str, StaffRole, list[uuid.UUID]], ...] = (
        (f"{prefix}-manager", "manager", [chain.stores[0]]),
        (f"{prefix}-clerk1", "clerk", [chain.stores[0]]),
        (f"{prefix}-clerk2", "clerk", [chain.stores[1]]),
    )
    for username, role, store_ids in roles:
        staff = await stores.create_staff(operator, StaffCreate(
            username=username, password=PASSWORD, role=role, store_ids=store_ids))
        chain.staff[username] = Principal(kind="staff", id=staff.id, chain_id=chain_id,
                                          role=staff.role, store_ids=frozenset(store_ids))
    for n in (1, 2):
        member = await stores.register_member(operator, MemberCreate(
            name=f"{prefix} member {n}", phone=f"1380000{ord(prefix[0]) % 10}{n:03d}"))
        chain.members.append(Principal(kind="member", id=member.id, chain_id=chain_id,
                                       role="member"))
    return chain


async def build_world(app: Litestar) -> World:
    return World(app=app, a=await _chain("alpha"), b=await _chain("beta"))
