"""Booking fixtures: a store open around the clock with a stylist and a table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core.auth import Principal
from app.core.clock import utcnow
from tests.world import PASSWORD, World

API = "/api/v1"
ALL_DAY = [{"weekday": d, "open": "00:00", "close": "24:00"} for d in range(7)]


@dataclass
class Salon:
    """One store of chain alpha with a haircut (45 min + 15 buffer) on stylist Tony, and
    dinner (60 min) on a table of 4."""

    client: httpx.AsyncClient
    world: World
    store_id: str = ""
    timezone: str = "Asia/Shanghai"
    haircut: str = ""
    dinner: str = ""
    tony: str = ""
    table: str = ""
    clerk_principal: Principal = field(init=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def operator(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    def clerk(self) -> dict[str, str]:
        return self.world.headers(self.clerk_principal)

    def member(self, n: int = 0) -> dict[str, str]:
        return self.world.headers(self.world.a.members[n])

    def day(self, ahead: int = 1) -> date:
        return utcnow().astimezone(self.zone).date() + timedelta(days=ahead)

    def at(self, hhmm: str, ahead: int = 1) -> str:
        hour, minute = map(int, hhmm.split(":"))
        return datetime.combine(self.day(ahead), time(hour, minute), self.zone).isoformat()

    async def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None,
                   **kwargs: Any) -> httpx.Response:
        return await self.client.post(f"{API}{path}", json=body,
                                      headers=headers or self.clerk(), **kwargs)

    async def get(self, path: str, headers: dict[str, str] | None = None,
                  **params: Any) -> httpx.Response:
        return await self.client.get(f"{API}{path}", headers=headers or self.clerk(),
                                     params=params)

    async def book(self, start: str, *, service: str | None = None, member: int = 0,
                   headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
        body = {"store_id": self.store_id, "service_id": service or self.haircut,
                "start": start, **extra}
        return await self.post("/bookings", body, headers or self.member(member))

    async def booked(self, start: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.book(start, **kwargs)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def slots(self, day: date, *, service: str | None = None,
                    party_size: int = 1) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"{API}/stores/{self.store_id}/availability",
            params={"service_id": service or self.haircut, "date": day.isoformat(),
                    "party_size": party_size})
        assert response.status_code == 200, response.text
        return list(response.json()["slots"])

    async def starts(self, day: date, **kwargs: Any) -> list[str]:
        """Local HH:MM of every free slot of the day."""
        return [datetime.fromisoformat(s["start"]).astimezone(self.zone).strftime("%H:%M")
                for s in await self.slots(day, **kwargs)]

    async def make_store(self, timezone: str, hours: list[dict[str, Any]] | None = None,
                         **policy: Any) -> str:
        response = await self.post("/stores", {
            "name": f"store {uuid.uuid4().hex[:6]}", "address": "", "timezone": timezone,
            "opening_hours": hours or ALL_DAY, **policy}, self.operator())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def make_service(self, store_id: str, minutes: int, buffer: int = 0,
                           price: int = 8800) -> str:
        response = await self.post(f"/stores/{store_id}/services", {
            "name": f"service {minutes}", "duration_minutes": minutes, "price_cents": price,
            "buffer_minutes": buffer}, self.operator())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def make_resource(self, store_id: str, services: list[str], *, capacity: int = 1,
                            kind: str = "staff", hours: list[dict[str, Any]] | None = None,
                            name: str = "Tony") -> str:
        body: dict[str, Any] = {"name": name, "kind": kind, "capacity": capacity,
                                "service_ids": services}
        if hours is not None:
            body["hours"] = hours
        response = await self.post(f"/stores/{store_id}/resources", body, self.operator())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture
async def salon(client: httpx.AsyncClient, world: World) -> AsyncIterator[Salon]:
    s = Salon(client=client, world=world)
    s.store_id = await s.make_store("Asia/Shanghai")
    s.haircut = await s.make_service(s.store_id, 45, buffer=15)
    s.dinner = await s.make_service(s.store_id, 60)
    s.tony = await s.make_resource(s.store_id, [s.haircut])
    s.table = await s.make_resource(s.store_id, [s.dinner], capacity=4, kind="table",
                                    name="Table 1")
    response = await s.post("/staff", {
        "username": f"salon-clerk-{uuid.uuid4().hex[:6]}", "password": PASSWORD,
        "role": "clerk", "store_ids": [s.store_id]}, s.operator())
    assert response.status_code == 201, response.text
    s.clerk_principal = Principal(kind="staff", id=uuid.UUID(response.json()["id"]),
                                  chain_id=world.a.id, role="clerk",
                                  store_ids=frozenset({uuid.UUID(s.store_id)}))
    yield s
