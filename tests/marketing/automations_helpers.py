"""What the automations tests share: a test clock, a campaign, members with birthdays,
cards and visits made through the real endpoints, and the tick called directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core import clock
from app.core.runtime import Runtime
from marketing.automations import worker
from marketing.automations.tables import AutomationRun
from marketing.runner import MarketingRunner
from marketing.tick import Tick
from stores import service as stores
from stores.schemas import MemberCreate
from tests.world import World

API = "/api/v1"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def test_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MovingClock]:
    """This process's clock, moved by the test; the in-process app's runner stays off
    (the tests call the tick themselves)."""
    monkeypatch.setattr(MarketingRunner, "start", lambda self: None)
    moved = MovingClock(tmp_path / "clock")
    moved.set(utc(2027, 1, 5))
    clock.use_clock_file(moved.path)
    yield moved
    clock.use_clock_file(None)


@dataclass
class MovingClock:
    path: Path

    def set(self, instant: datetime) -> None:
        clock.set_clock_file_instant(self.path, instant)


@dataclass
class Shop:
    """Chain a of the world, as an operator and a clerk drive it over HTTP."""

    client: httpx.AsyncClient
    world: World
    campaign_id: str = ""
    templates: list[str] = field(default_factory=list)
    cards: dict[tuple[uuid.UUID, int], str] = field(default_factory=dict)

    @property
    def operator(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    @property
    def clerk(self) -> dict[str, str]:
        return self.world.headers(self.world.a.staff["alpha-clerk1"])

    async def campaign(self, **body: Any) -> str:
        values: dict[str, Any] = {
            "name": "Automation ¥10", "kind": "cash", "value_cents": 1000,
            "total_quantity": 10_000, "per_member_limit": 100,
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2031-01-01T00:00:00Z",
            **body}
        response = await self.client.post(f"{API}/campaigns", json=values,
                                          headers=self.operator)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def automation(self, trigger: str, campaign_id: str | None = None,
                         **params: int) -> dict[str, Any]:
        response = await self.client.post(f"{API}/automations", json={
            "name": f"{trigger} automation", "trigger": trigger, "params": params,
            "campaign_id": campaign_id or self.campaign_id}, headers=self.operator)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def member(self, name: str, birthday: date | None = None) -> uuid.UUID:
        out = await stores.register_member(self.world.a.operator, MemberCreate(
            name=name, phone=f"139{uuid.uuid4().int % 10**8:08d}", birthday=birthday))
        return out.id

    async def template(self) -> str:
        response = await self.client.post(f"{API}/card-templates", json={
            "name": f"Member {len(self.templates)}", "kind": "membership",
            "points_per_yuan": 1}, headers=self.operator)
        assert response.status_code == 201, response.text
        self.templates.append(str(response.json()["id"]))
        return self.templates[-1]

    async def card(self, member_id: uuid.UUID, template: int = 0) -> str:
        """The member's card of the shop's ``template``-th template (issued once)."""
        while len(self.templates) <= template:
            await self.template()
        key = (member_id, template)
        if key not in self.cards:
            response = await self.client.post(f"{API}/cards", json={
                "template_id": self.templates[template], "member_id": str(member_id),
                "store_id": str(self.world.a.stores[0])}, headers=self.clerk)
            assert response.status_code == 201, response.text
            self.cards[key] = str(response.json()["id"])
        return self.cards[key]

    async def visit(self, member_id: uuid.UUID) -> str:
        """A redemption (points earned on a bill) with the member's card: a visit."""
        card_id = await self.card(member_id)
        token = self.world.token(_member(self.world, member_id))
        code = await self.client.get(f"{API}/cards/{card_id}/code",
                                     headers={"Authorization": f"Bearer {token}"})
        assert code.status_code == 200, code.text
        response = await self.client.post(f"{API}/redemptions", json={
            "code": code.json()["code"], "action": "earn", "amount_cents": 5000,
            "store_id": str(self.world.a.stores[0])}, headers=self.clerk)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def runs(self, automation: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/automations/{automation['id']}/runs",
                                         params={"limit": 500}, headers=self.operator)
        assert response.status_code == 200, response.text
        return list(response.json())


def _member(world: World, member_id: uuid.UUID) -> Any:
    from app.core.auth import Principal
    return Principal(kind="member", id=member_id, chain_id=world.a.id, role="member")


async def tick(world: World, now: datetime | None = None) -> None:
    runtime: Runtime = world.app.state.runtime
    await worker.tick(Tick(signer=runtime.signer, now=now or clock.utcnow(),
                           settings=runtime.settings))


async def occurrences(automation: dict[str, Any]) -> list[tuple[uuid.UUID, str, str]]:
    """(member, occurrence, status) of every run, read from the table."""
    rows = await AutomationRun.select(
        AutomationRun.member, AutomationRun.occurrence, AutomationRun.status).where(
        AutomationRun.automation == uuid.UUID(automation["id"])).run()
    return sorted((r["member"], r["occurrence"], r["status"]) for r in rows)
