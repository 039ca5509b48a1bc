"""Voucher campaigns, claims and bulk issue, signed codes, exactly-once redemption,
reversal, offline sync and the store's day sheet: what a clerk, a member and an operator
notice (issue 4, "The bar")."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core import throttle
from app.core.auth import Principal
from app.core.codes.format import CodeKind
from app.core.runtime import Runtime
from cards import repository, sync
from cards.tables import Campaign, CampaignClaims, Redemption, Voucher
from stores import service as stores
from stores.schemas import MemberCreate, StaffCreate
from tests.cards.conftest import API
from tests.conftest import LiveServer
from tests.hardening import rawdb
from tests.world import PASSWORD, World

ZBARIMG = shutil.which("zbarimg")
RSVG = shutil.which("rsvg-convert")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # every store of the test world


def now() -> datetime:
    return datetime.now(UTC)


def at(moment: str | None) -> datetime:
    assert moment is not None
    return datetime.fromisoformat(moment)


@dataclass
class Vouchers:
    client: httpx.AsyncClient
    world: World
    registered: int = 0

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.world.app.state.runtime
        return runtime

    def staff(self, name: str) -> dict[str, str]:
        return self.world.headers(self.world.a.staff[name])

    @property
    def operator(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    def member(self, index: int = 0) -> dict[str, str]:
        return self.world.headers(self.world.a.members[index])

    async def create(self, **body: Any) -> httpx.Response:
        start = now()
        values: dict[str, Any] = {
            "name": "Spring ¥20 off", "kind": "cash", "value_cents": 2_000,
            "total_quantity": 100, "per_member_limit": 1,
            "valid_from": (start - timedelta(days=1)).isoformat(),
            "valid_until": (start + timedelta(days=7)).isoformat()}
        values.update(body)
        values = {k: v for k, v in values.items() if v is not None}
        return await self.client.post(f"{API}/campaigns", json=values, headers=self.operator)

    async def campaign(self, **body: Any) -> dict[str, Any]:
        response = await self.create(**body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def read_campaign(self, campaign_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{API}/campaigns/{campaign_id}",
                                         headers=self.operator)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def claim(self, campaign_id: str, member: Principal | None = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        who = self.world.headers(member or self.world.a.members[0])
        return await self.client.post(f"{API}/campaigns/{campaign_id}/claim",
                                      headers={**who, **(headers or {})})

    async def voucher(self, member_index: int = 0, **campaign: Any) -> dict[str, Any]:
        """A fresh campaign and one voucher of it, claimed by a member of chain alpha."""
        created = await self.campaign(**campaign)
        claimed = await self.claim(created["id"], self.world.a.members[member_index])
        assert claimed.status_code == 201, claimed.text
        return dict(claimed.json())

    async def read(self, voucher_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{API}/vouchers/{voucher_id}", headers=self.operator)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def body(self, code: str | None = None, *, short_code: str | None = None,
             store: int = 0, amount: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"store_id": str(self.world.a.stores[store])}
        if code is not None:
            body["code"] = code
        if short_code is not None:
            body["short_code"] = short_code
        if amount is not None:
            body["amount_cents"] = amount
        return body

    async def redeem(self, code: str | None = None, *, short_code: str | None = None,
                     store: int = 0, clerk: str = "alpha-clerk1",
                     amount: int | None = None) -> httpx.Response:
        return await self.client.post(
            f"{API}/redemptions", headers=self.staff(clerk),
            json=self.body(code, short_code=short_code, store=store, amount=amount))

    async def preview(self, code: str | None = None, *, short_code: str | None = None,
                      store: int = 0, clerk: str = "alpha-clerk1") -> httpx.Response:
        params = {"store_id": str(self.world.a.stores[store])}
        if code is not None:
            params["code"] = code
        if short_code is not None:
            params["short_code"] = short_code
        return await self.client.get(f"{API}/redemptions/preview", params=params,
                                     headers=self.staff(clerk))

    async def sync(self, items: list[dict[str, Any]], *, store: int = 0,
                   clerk: str = "alpha-clerk1") -> httpx.Response:
        return await self.client.post(
            f"{API}/redemptions/sync", headers=self.staff(clerk),
            json={"store_id": str(self.world.a.stores[store]), "items": items})

    async def sign(self, object_id: str | uuid.UUID, not_after: datetime, *,
                   chain: uuid.UUID | None = None, kind: CodeKind = CodeKind.VOUCHER) -> str:
        return await self.runtime.signer.sign(chain or self.world.a.id, kind,
                                              uuid.UUID(str(object_id)), not_after)

    async def new_members(self, count: int) -> list[Principal]:
        members = []
        for _ in range(count):
            self.registered += 1
            member = await stores.register_member(self.world.a.operator, MemberCreate(
                name=f"member {self.registered}", phone=f"1390000{self.registered:04d}"))
            members.append(Principal(kind="member", id=member.id, chain_id=self.world.a.id,
                                     role="member"))
        return members


@pytest.fixture
def v(client: httpx.AsyncClient, world: World) -> Vouchers:
    return Vouchers(client, world)


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    return Counter((r.status_code, r.json().get("code") if r.status_code >= 400 else None)
                   for r in responses)


async def redemptions_of(voucher_id: str) -> int:
    return int(await Redemption.count().where(
        Redemption.object_id == uuid.UUID(voucher_id)).run())


def tamper(code: str, index: int) -> str:
    return code[:index] + ("B" if code[index] == "A" else "A") + code[index + 1:]


# --- campaigns --------------------------------------------------------------------------

async def test_campaigns_of_each_kind_and_bad_ones(v: Vouchers) -> None:
    a1 = v.world.a.stores[0]
    cash = await v.campaign(kind="cash", value_cents=2_000, min_spend_cents=10_000)
    discount = await v.campaign(name="15% off", kind="discount", value_cents=None,
                                percent_off=15, max_discount_cents=3_000)
    gift = await v.campaign(name="Free dessert", kind="gift", value_cents=None,
                            item_name="Mango pudding", store_ids=[str(a1)])
    service = await v.campaign(name="Free wash", kind="service", value_cents=None,
                               item_name="Hair wash", total_quantity=5, per_member_limit=2)
    assert (cash["kind"], cash["value_cents"], cash["min_spend_cents"]) == \
        ("cash", 2_000, 10_000)
    assert (discount["percent_off"], discount["max_discount_cents"]) == (15, 3_000)
    assert discount["value_cents"] is None
    assert (gift["item_name"], gift["store_ids"]) == ("Mango pudding", [str(a1)])
    assert cash["store_ids"] is None  # every store of the chain
    assert (service["kind"], service["total_quantity"], service["per_member_limit"]) == \
        ("service", 5, 2)
    for created in (cash, discount, gift, service):
        assert created["status"] == "active" and created["issued_count"] == 0
        assert created["chain_id"] == str(v.world.a.id)
        assert await v.read_campaign(created["id"]) == created
    # Without a cap a discount has none.
    uncapped = await v.campaign(kind="discount", value_cents=None, percent_off=10)
    assert uncapped["max_discount_cents"] is None

    start = now()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"valid_from": start.isoformat(),
          "valid_until": (start - timedelta(hours=1)).isoformat()}, "valid_until"),
        ({"value_cents": None}, "value_cents"),
        ({"kind": "discount", "value_cents": None}, "percent_off"),
        ({"kind": "discount", "value_cents": None, "percent_off": 101}, "percent_off"),
        ({"kind": "gift", "value_cents": None}, "item_name"),
        ({"kind": "service", "value_cents": None}, "item_name"),
        ({"kind": "coupon"}, "kind"),
        ({"total_quantity": 0}, "total_quantity"),
        ({"store_ids": [str(v.world.b.stores[0])]}, "store_ids"),
        ({"store_ids": [str(v.world.a.stores[0]), str(uuid.uuid4())]}, "store_ids"),
    ]
    for body, field in cases:
        response = await v.create(**body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "validation_error"
        assert field in {e["field"] for e in response.json()["errors"]}, (body, response.text)
    listed = await v.client.get(f"{API}/campaigns", headers=v.operator)
    assert len(listed.json()) == 5  # the five above, none of the refused ones


async def test_list_read_pause_and_roles(v: Vouchers) -> None:
    running = await v.campaign(name="Running")
    paused = await v.campaign(name="Paused")
    await v.client.post(f"{API}/campaigns/{paused['id']}/pause", headers=v.operator)
    operator_list = (await v.client.get(f"{API}/campaigns", headers=v.operator)).json()
    assert {c["id"]: c["status"] for c in operator_list} == \
        {running["id"]: "active", paused["id"]: "paused"}
    member_list = (await v.client.get(f"{API}/campaigns", headers=v.member())).json()
    assert [c["id"] for c in member_list] == [running["id"]]
    assert (await v.client.get(f"{API}/campaigns/{running['id']}",
                               headers=v.member())).status_code == 200
    beta = v.world.headers(v.world.b.operator)
    assert (await v.client.get(f"{API}/campaigns", headers=beta)).json() == []
    assert (await v.client.get(f"{API}/campaigns",
                               headers=v.world.headers(v.world.b.members[0]))).json() == []

    resumed = await v.client.post(f"{API}/campaigns/{paused['id']}/resume", headers=v.operator)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert len((await v.client.get(f"{API}/campaigns", headers=v.member())).json()) == 2

    for who in ("alpha-clerk1", "alpha-manager"):
        refused = await v.client.post(f"{API}/campaigns", headers=v.staff(who), json={
            "name": "x", "kind": "gift", "item_name": "x", "total_quantity": 1,
            "valid_from": now().isoformat(),
            "valid_until": (now() + timedelta(days=1)).isoformat()})
        assert refused.status_code == 403, who
        assert refused.json()["code"] == "forbidden"
        pause = await v.client.post(f"{API}/campaigns/{running['id']}/pause",
                                    headers=v.staff(who))
        assert pause.status_code == 403
    member_create = await v.client.post(f"{API}/campaigns", headers=v.member(), json={})
    assert member_create.status_code == 403
    assert (await v.client.post(f"{API}/campaigns/{running['id']}/claim",
                                headers=v.staff("alpha-clerk1"))).status_code == 403
    # Another chain cannot tell the campaign exists.
    for method, suffix in (("GET", ""), ("POST", "/pause"), ("POST", "/resume")):
        response = await v.client.request(method, f"{API}/campaigns/{running['id']}{suffix}",
                                          headers=beta)
        assert response.status_code == 404, (method, suffix)
    foreign_claim = await v.claim(running["id"], v.world.b.members[0])
    assert foreign_claim.status_code == 404
    foreign_issue = await v.client.post(
        f"{API}/campaigns/{running['id']}/issue", headers=beta,
        json={"member_ids": [str(v.world.b.members[0].id)]})
    assert foreign_issue.status_code == 404
    assert (await v.read_campaign(running["id"]))["status"] == "active"
    assert (await v.client.get(f"{API}/campaigns/{uuid.uuid4()}",
                               headers=v.operator)).status_code == 404

    # A paused campaign issues nothing, to anyone.
    campaign = await v.campaign()
    await v.client.post(f"{API}/campaigns/{campaign['id']}/pause", headers=v.operator)
    bulk = await v.client.post(f"{API}/campaigns/{campaign['id']}/issue", headers=v.operator,
                               json={"member_ids": [str(v.world.a.members[0].id)]})
    assert bulk.status_code == 201, bulk.text
    assert bulk.json()["issued"] == []
    assert bulk.json()["skipped"] == [{"member_id": str(v.world.a.members[0].id),
                                       "code": "campaign_inactive"}]
    refused = await v.claim(campaign["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "campaign_inactive"
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 0
    await v.client.post(f"{API}/campaigns/{campaign['id']}/resume", headers=v.operator)
    assert (await v.claim(campaign["id"])).status_code == 201

    # Not started yet: active but outside its window (an ended one: test_expiry).
    later = await v.campaign(valid_from=(now() + timedelta(hours=1)).isoformat())
    early = await v.claim(later["id"])
    assert early.status_code == 409 and early.json()["code"] == "campaign_inactive"


async def test_member_claiming_a_paused_campaign_is_told_it_is_inactive(v: Vouchers) -> None:
    campaign = await v.campaign()
    await v.client.post(f"{API}/campaigns/{campaign['id']}/pause", headers=v.operator)
    refused = await v.claim(campaign["id"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "campaign_inactive"


# --- claiming ---------------------------------------------------------------------------

async def test_claim_races_never_pass_the_quantity_or_the_member_limit(v: Vouchers) -> None:
    campaign = await v.campaign(total_quantity=3, per_member_limit=1)
    racers = [*v.world.a.members, *await v.new_members(6)]
    results = await asyncio.gather(*(v.claim(campaign["id"], m) for m in racers))
    assert codes(list(results)) == {(201, None): 3, (409, "campaign_sold_out"): 5}
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 3
    assert await Voucher.count().where(Voucher.campaign == uuid.UUID(campaign["id"])).run() == 3
    winners = {r.json()["member_id"] for r in results if r.status_code == 201}
    assert len(winners) == 3
    late = await v.claim(campaign["id"], racers[0])
    assert late.status_code == 409

    # One member racing past the per-member limit.
    campaign = await v.campaign(total_quantity=50, per_member_limit=2)
    member = v.world.a.members[0]
    results = await asyncio.gather(*(v.claim(campaign["id"], member) for _ in range(8)))
    assert codes(list(results)) == {(201, None): 2, (409, "claim_limit_reached"): 6}
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 2
    mine = (await v.client.get(f"{API}/me/vouchers", headers=v.member())).json()
    assert sorted(x["id"] for x in mine if x["campaign_id"] == campaign["id"]) == \
        sorted(r.json()["id"] for r in results if r.status_code == 201)
    # The other member still has a full allowance.
    other = await v.claim(campaign["id"], v.world.a.members[1])
    assert other.status_code == 201


async def test_claim_with_an_idempotency_key_replays_the_voucher(v: Vouchers) -> None:
    campaign = await v.campaign(per_member_limit=3)
    key = {"Idempotency-Key": "h5-claim-0001"}
    first = await v.claim(campaign["id"], headers=key)
    second = await v.claim(campaign["id"], headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 1
    # Another member's same key is another request.
    theirs = await v.claim(campaign["id"], v.world.a.members[1], headers=key)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    fresh = await v.claim(campaign["id"], headers={"Idempotency-Key": "h5-claim-0002"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 3
    # A double tap: the same key sent at once issues one voucher at most.
    taps = await asyncio.gather(*(v.claim(campaign["id"], v.world.a.members[1],
                                          headers={"Idempotency-Key": "h5-claim-0003"})
                                  for _ in range(5)))
    assert {r.status_code for r in taps} <= {201, 409}
    assert {r.json()["code"] for r in taps if r.status_code == 409} <= \
        {"idempotency_in_flight"}
    assert len({r.json()["id"] for r in taps if r.status_code == 201}) == 1
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 4


# --- bulk issue -------------------------------------------------------------------------

async def test_bulk_issue_skips_with_reasons_and_never_oversells(v: Vouchers) -> None:
    m0, m1 = v.world.a.members
    [m2] = await v.new_members(1)
    campaign = await v.campaign(total_quantity=3, per_member_limit=1)
    url = f"{API}/campaigns/{campaign['id']}/issue"
    beta_member, nobody = v.world.b.members[0].id, uuid.uuid4()

    first = await v.client.post(url, headers=v.operator, json={
        "member_ids": [str(m0.id), str(beta_member), str(nobody), str(m0.id)]})
    assert first.status_code == 201, first.text
    assert [x["member_id"] for x in first.json()["issued"]] == [str(m0.id)]
    assert first.json()["skipped"] == [
        {"member_id": str(beta_member), "code": "not_found"},
        {"member_id": str(nobody), "code": "not_found"}]

    # m0 is over the limit: skipped, and the skip takes nothing from the quantity.
    second = await v.client.post(url, headers=v.operator,
                                 json={"member_ids": [str(m0.id), str(m1.id)]})
    assert [x["member_id"] for x in second.json()["issued"]] == [str(m1.id)]
    assert second.json()["skipped"] == [{"member_id": str(m0.id),
                                         "code": "claim_limit_reached"}]
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 2
    third = await v.claim(campaign["id"], m2)  # the third and last voucher
    assert third.status_code == 201

    [m3, m4] = await v.new_members(2)
    sold_out = await v.client.post(url, headers=v.operator,
                                   json={"member_ids": [str(m3.id), str(m4.id)]})
    assert sold_out.json()["issued"] == []
    assert sold_out.json()["skipped"] == [
        {"member_id": str(m3.id), "code": "campaign_sold_out"},
        {"member_id": str(m4.id), "code": "campaign_sold_out"}]
    assert (await v.read_campaign(campaign["id"]))["issued_count"] == 3
    assert await Voucher.count().where(Voucher.campaign == uuid.UUID(campaign["id"])).run() == 3
    # A skipped member's count was not consumed: only the three holders have counted claims.
    claims = await CampaignClaims.select(CampaignClaims.member, CampaignClaims.claimed).where(
        CampaignClaims.campaign == uuid.UUID(campaign["id"])).run()
    assert {str(c["member"]): c["claimed"] for c in claims} == \
        {str(m0.id): 1, str(m1.id): 1, str(m2.id): 1}

    clerk = await v.client.post(url, headers=v.staff("alpha-clerk1"),
                                json={"member_ids": [str(m3.id)]})
    assert clerk.status_code == 403
    empty = await v.client.post(url, headers=v.operator, json={"member_ids": []})
    assert empty.status_code == 400
    assert "member_ids" in {e["field"] for e in empty.json()["errors"]}

    # A retried batch (same Idempotency-Key) replays its answer and issues nothing more.
    members = [*v.world.a.members, *await v.new_members(4)]
    campaign = await v.campaign(total_quantity=4, per_member_limit=1)
    url = f"{API}/campaigns/{campaign['id']}/issue"
    body = {"member_ids": [str(m.id) for m in members]}
    key = {**v.operator, "Idempotency-Key": "spring-batch-1"}
    first = await v.client.post(url, headers=key, json=body)
    again = await v.client.post(url, headers=key, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert [x["member_id"] for x in first.json()["issued"]] == body["member_ids"][:4]
    assert [x["code"] for x in first.json()["skipped"]] == ["campaign_sold_out"] * 2
    other = await v.client.post(url, headers=key, json={"member_ids": body["member_ids"][:1]})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert await Voucher.count().where(Voucher.campaign == uuid.UUID(campaign["id"])).run() == 4


# --- vouchers ---------------------------------------------------------------------------

async def test_voucher_code_short_code_and_visibility(v: Vouchers) -> None:
    until = (now() + timedelta(days=3)).replace(microsecond=0)
    campaign = await v.campaign(name="Spring", per_member_limit=5,
                                valid_until=until.isoformat())
    vouchers = [(await v.claim(campaign["id"])).json() for _ in range(5)]
    voucher = vouchers[0]
    assert voucher["status"] == "issued"
    assert voucher["campaign_id"] == campaign["id"]
    assert voucher["member_id"] == str(v.world.a.members[0].id)
    assert voucher["redeemed_at"] is None and voucher["redemption_id"] is None
    assert at(voucher["valid_until"]) == until
    for one in vouchers:
        assert one["code"].startswith("O2O1") and len(one["code"]) == 148
        checked = await v.runtime.signer.verify(one["code"], now=now(), chain_id=v.world.a.id)
        assert checked.kind == CodeKind.VOUCHER
        assert checked.object_id == uuid.UUID(one["id"])
        assert checked.expires_at == until
        assert len(one["short_code"]) == 12 and one["short_code"].isdigit()
    assert len({one["short_code"] for one in vouchers}) == 5
    assert len({one["code"] for one in vouchers}) == 5

    mine = (await v.client.get(f"{API}/me/vouchers", headers=v.member())).json()
    assert sorted(x["id"] for x in mine) == sorted(x["id"] for x in vouchers)
    assert (await v.client.get(f"{API}/me/vouchers", headers=v.member(1))).json() == []
    assert (await v.client.get(f"{API}/me/vouchers",
                               headers=v.staff("alpha-clerk1"))).status_code == 403

    url = f"{API}/vouchers/{voucher['id']}"
    own = await v.client.get(url, headers=v.member())
    assert own.status_code == 200 and own.json() == voucher
    assert (await v.client.get(url, headers=v.world.headers(v.world.a.operator))).json() \
        == voucher
    # A code spends the voucher: no clerk or manager gets it, whatever their store (the
    # clerk redeems what the member shows).
    for stranger in (v.world.a.members[1], v.world.b.operator, v.world.b.members[0],
                     v.world.b.staff["beta-clerk1"], v.world.a.staff["alpha-clerk1"],
                     v.world.a.staff["alpha-clerk2"], v.world.a.staff["alpha-manager"]):
        for suffix in ("", "/qr.png", "/qr.svg"):
            hidden = await v.client.get(url + suffix, headers=v.world.headers(stranger))
            assert hidden.status_code == 404, (stranger.role, suffix)
            assert hidden.json()["code"] == "not_found"
    assert (await v.client.get(f"{API}/vouchers/{uuid.uuid4()}",
                               headers=v.member())).status_code == 404

    for suffix, media, magic in (("qr.png", "image/png", b"\x89PNG"),
                                 ("qr.svg", "image/svg+xml", b"<?xml")):
        image = await v.client.get(f"{url}/{suffix}", headers=v.member())
        assert image.status_code == 200
        assert image.headers["content-type"].startswith(media)
        assert image.content.startswith(magic)
        cache = image.headers["cache-control"]
        assert "max-age=" in cache and int(cache.split("max-age=")[1].split(",")[0]) >= 3600
        assert "no-store" not in cache and "no-cache" not in cache
        again = await v.client.get(f"{url}/{suffix}", headers=v.member())
        assert again.content == image.content  # a voucher's code never changes


@pytest.mark.skipif(ZBARIMG is None or RSVG is None,
                    reason="zbarimg/rsvg-convert not installed (zbar-tools, librsvg2-bin)")
async def test_voucher_qr_decodes_to_its_code_which_redeems(v: Vouchers,
                                                            tmp_path: Path) -> None:
    assert ZBARIMG is not None and RSVG is not None
    voucher = await v.voucher()
    url = f"{API}/vouchers/{voucher['id']}"
    png = tmp_path / "voucher.png"
    png.write_bytes((await v.client.get(f"{url}/qr.png", headers=v.member())).content)
    svg = tmp_path / "voucher.svg"
    svg.write_bytes((await v.client.get(f"{url}/qr.svg", headers=v.member())).content)
    rendered = tmp_path / "voucher-svg.png"
    subprocess.run([RSVG, "--width", "400", "--background-color", "white", "--output",
                    str(rendered), str(svg)], check=True, timeout=30)
    for image in (png, rendered):
        decoded = subprocess.run(
            [ZBARIMG, "--raw", "--quiet", "-Sdisable", "-Sqrcode.enable", str(image)],
            capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
        assert decoded == [voucher["code"]]
    scanned = await v.redeem(voucher["code"], amount=5_000)
    assert scanned.status_code == 201, scanned.text
    assert scanned.json()["object_id"] == voucher["id"]


async def test_revoke(v: Vouchers) -> None:
    voucher = await v.voucher()
    url = f"{API}/vouchers/{voucher['id']}/revoke"
    for who in (v.staff("alpha-clerk1"), v.staff("alpha-manager"), v.member()):
        assert (await v.client.post(url, headers=who)).status_code == 403
    assert (await v.client.post(url, headers=v.world.headers(v.world.b.operator))
            ).status_code == 404
    revoked = await v.client.post(url, headers=v.operator)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    mine = (await v.client.get(f"{API}/me/vouchers", headers=v.member())).json()
    assert [x["status"] for x in mine] == ["revoked"]
    for attempt in (await v.redeem(voucher["code"], amount=5_000),
                    await v.redeem(short_code=voucher["short_code"], amount=5_000),
                    await v.preview(voucher["code"])):
        assert attempt.status_code == 409, attempt.text
        assert attempt.json()["code"] == "voucher_revoked"
    assert await redemptions_of(voucher["id"]) == 0
    again = await v.client.post(url, headers=v.operator)
    assert again.status_code == 409
    # A redeemed voucher cannot be revoked: the clerk already gave the discount.
    used = await v.voucher(member_index=1)
    assert (await v.redeem(used["code"], amount=5_000)).status_code == 201
    late = await v.client.post(f"{API}/vouchers/{used['id']}/revoke", headers=v.operator)
    assert late.status_code == 409 and late.json()["code"] == "already_redeemed"
    assert (await v.read(used["id"]))["status"] == "redeemed"


async def test_expiry(v: Vouchers) -> None:
    voucher = await v.voucher()
    other = await v.voucher(member_index=1)
    past = now() - timedelta(minutes=1)
    await Voucher.update({Voucher.valid_until: past}).where(
        Voucher.id == uuid.UUID(voucher["id"])).run()
    await Campaign.update({Campaign.valid_until: past}).where(
        Campaign.id == uuid.UUID(voucher["campaign_id"])).run()
    assert (await v.read(voucher["id"]))["status"] == "expired"
    mine = (await v.client.get(f"{API}/me/vouchers", headers=v.member())).json()
    assert [x["status"] for x in mine] == ["expired"]
    # Its code's own not_after is still ahead: the server's record decides.
    for attempt in (await v.redeem(voucher["code"], amount=5_000),
                    await v.redeem(short_code=voucher["short_code"], amount=5_000),
                    await v.preview(voucher["code"])):
        assert attempt.status_code == 410, attempt.text
        assert attempt.json()["code"] == "code_expired"
    late_claim = await v.claim(voucher["campaign_id"], v.world.a.members[1])
    assert late_claim.status_code == 409 and late_claim.json()["code"] == "campaign_inactive"
    # A code whose signed time is over is refused whatever the record says.
    stale = await v.sign(other["id"], now() - timedelta(seconds=5))
    refused = await v.redeem(stale, amount=5_000)
    assert refused.status_code == 410 and refused.json()["code"] == "code_expired"
    assert (await v.read(other["id"]))["status"] == "issued"
    assert await redemptions_of(voucher["id"]) + await redemptions_of(other["id"]) == 0


# --- redemption -------------------------------------------------------------------------

async def test_discounts_of_each_kind(v: Vouchers) -> None:
    clerk = v.world.a.staff["alpha-clerk1"]
    cash = await v.voucher(value_cents=2_000)
    redeemed = await v.redeem(cash["code"], amount=5_000)
    assert redeemed.status_code == 201, redeemed.text
    body = redeemed.json()
    assert (body["kind"], body["action"], body["object_id"]) == ("voucher", None, cash["id"])
    assert (body["store_id"], body["staff_id"]) == (str(v.world.a.stores[0]), str(clerk.id))
    assert (body["amount_cents"], body["discount_cents"], body["charged_cents"]) == \
        (5_000, 2_000, 3_000)
    assert body["reversed_at"] is None
    assert abs(at(body["created_at"]) - now()) < timedelta(seconds=30)
    after = await v.read(cash["id"])
    assert after["status"] == "redeemed"
    assert after["redemption_id"] == body["id"]
    assert at(after["redeemed_at"]) == at(body["created_at"])

    small_bill = await v.voucher(member_index=1, value_cents=2_000)
    retried = {**v.staff("alpha-clerk1"), "Idempotency-Key": "till-1:scan-77"}
    body_small = v.body(small_bill["code"], amount=1_500)
    capped = await v.client.post(f"{API}/redemptions", json=body_small, headers=retried)
    assert capped.status_code == 201, capped.text
    assert (capped.json()["discount_cents"], capped.json()["charged_cents"]) == (1_500, 0)
    again = await v.client.post(f"{API}/redemptions", json=body_small, headers=retried)
    assert (again.status_code, again.json()) == (201, capped.json())
    assert await redemptions_of(small_bill["id"]) == 1

    percent: dict[str, Any] = {"kind": "discount", "value_cents": None, "percent_off": 15,
               "max_discount_cents": 1_000}
    below_cap = await v.voucher(**percent)
    assert (await v.redeem(below_cap["code"], amount=4_000)).json()["discount_cents"] == 600
    at_cap = await v.voucher(member_index=1, **percent)
    no_bill = await v.redeem(at_cap["code"])
    assert no_bill.status_code == 400
    assert "amount_cents" in {e["field"] for e in no_bill.json()["errors"]}
    over = (await v.redeem(at_cap["code"], amount=10_000)).json()
    assert (over["discount_cents"], over["charged_cents"]) == (1_000, 9_000)

    for kind, item in (("gift", "Mango pudding"), ("service", "Hair wash")):
        thing = await v.voucher(kind=kind, value_cents=None, item_name=item)
        preview = (await v.preview(thing["code"])).json()
        assert item in preview["summary"]
        free = await v.redeem(thing["code"])
        assert free.status_code == 201, free.text
        assert free.json()["discount_cents"] == 0 and free.json()["charged_cents"] == 0


async def test_min_spend_and_store_restrictions(v: Vouchers) -> None:
    a1 = v.world.a.stores[0]
    voucher = await v.voucher(min_spend_cents=10_000)
    for bill in (9_999, None):
        short = await v.redeem(voucher["code"], amount=bill)
        assert short.status_code == 409, short.text
        assert short.json()["code"] == "min_spend_not_met"
    assert (await v.read(voucher["id"]))["status"] == "issued"
    assert (await v.redeem(voucher["code"], amount=10_000)).status_code == 201

    store_one = await v.voucher(store_ids=[str(a1)])
    wrong = await v.redeem(store_one["code"], store=1, clerk="alpha-clerk2", amount=5_000)
    assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_store"
    wrong_preview = await v.preview(store_one["code"], store=1, clerk="alpha-clerk2")
    assert wrong_preview.status_code == 403 and wrong_preview.json()["code"] == "wrong_store"
    # A clerk cannot act for a store that is not theirs.
    not_mine = await v.redeem(store_one["code"], store=1, clerk="alpha-clerk1", amount=5_000)
    assert not_mine.status_code == 404
    assert (await v.read(store_one["id"]))["status"] == "issued"
    assert (await v.redeem(store_one["code"], amount=5_000)).status_code == 201


async def test_preview_changes_nothing_and_short_codes_redeem(v: Vouchers) -> None:
    voucher = await v.voucher(name="Spring", min_spend_cents=8_800)
    for attempt in (await v.preview(voucher["code"]),
                    await v.preview(short_code=voucher["short_code"])):
        assert attempt.status_code == 200, attempt.text
        preview = attempt.json()
        assert (preview["kind"], preview["object_id"]) == ("voucher", voucher["id"])
        assert preview["member"]["id"] == str(v.world.a.members[0].id)
        assert preview["member"]["name"] == "alpha member 1"
        assert "Spring" in preview["summary"] and "20.00" in preview["summary"]
        assert "88.00" in preview["summary"]
    assert (await v.read(voucher["id"]))["status"] == "issued"
    assert await redemptions_of(voucher["id"]) == 0
    assert (await v.redeem(voucher["code"], amount=8_800)).status_code == 201
    used = await v.preview(voucher["code"])
    assert used.status_code == 409 and used.json()["code"] == "already_redeemed"

    # Typed short codes redeem like the scanned code.
    voucher = await v.voucher(member_index=1)
    redeemed = await v.redeem(short_code=voucher["short_code"], amount=5_000)
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["object_id"] == voucher["id"]
    again = await v.redeem(short_code=voucher["short_code"], amount=5_000)
    assert again.status_code == 409 and again.json()["code"] == "already_redeemed"
    both = await v.client.post(f"{API}/redemptions", headers=v.staff("alpha-clerk1"), json={
        **v.body(voucher["code"], amount=1), "short_code": voucher["short_code"]})
    assert both.status_code == 400
    neither = await v.redeem(amount=1)
    assert neither.status_code == 400
    for typo in ("12345", "12345678901a", "1234567890123"):
        bad = await v.redeem(short_code=typo)
        assert bad.status_code == 400, typo
        assert "short_code" in {e["field"] for e in bad.json()["errors"]}
    unknown = await v.redeem(short_code="000000000000" if voucher["short_code"] !=
                             "000000000000" else "000000000001")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    # Another chain's short code is no voucher of this chain.
    beta = await v.client.post(f"{API}/campaigns", headers=v.world.headers(v.world.b.operator),
                               json={"name": "b", "kind": "gift", "item_name": "tea",
                                     "total_quantity": 1, "valid_from": now().isoformat(),
                                     "valid_until": (now() + timedelta(days=1)).isoformat()})
    beta_voucher = (await v.client.post(f"{API}/campaigns/{beta.json()['id']}/claim",
                                        headers=v.world.headers(v.world.b.members[0]))).json()
    foreign = await v.redeem(short_code=beta_voucher["short_code"])
    assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"


async def test_short_code_guessing_is_rate_limited(v: Vouchers,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # One fixed moment: the counters' 10-minute windows cannot roll over mid-test.
    frozen = time.time()
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: frozen))
    voucher = await v.voucher()
    taken = voucher["short_code"]
    guesses = (f"{n:012d}" for n in range(10**6) if f"{n:012d}" != taken)

    for _ in range(20):
        miss = await v.redeem(short_code=next(guesses), amount=100)
        assert miss.status_code == 404 and miss.json()["code"] == "not_found"
    blocked = await v.redeem(short_code=next(guesses), amount=100)
    assert blocked.status_code == 429 and blocked.json()["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) > 0
    # Even a right guess is refused now, so trying on cannot find one.
    right = await v.redeem(short_code=taken, amount=5_000)
    assert right.status_code == 429
    assert (await v.preview(short_code=taken)).status_code == 429
    # A scanned code still works for the clerk; other clerks can still type.
    assert (await v.preview(voucher["code"])).status_code == 200
    other_store = await v.redeem(short_code=next(guesses), store=1, clerk="alpha-clerk2")
    assert other_store.status_code == 404

    # Per store: 60 misses at store 1 from any of its staff lock the store's typing.
    for headers in (v.staff("alpha-manager"), v.operator):
        for _ in range(20):
            miss = await v.client.post(f"{API}/redemptions", headers=headers,
                                       json=v.body(short_code=next(guesses)))
            assert miss.status_code == 404, miss.text
    staff = await stores.create_staff(v.world.a.operator, StaffCreate(
        username="alpha-clerk3", password=PASSWORD, role="clerk",
        store_ids=[v.world.a.stores[0]]))
    newcomer = v.world.headers(Principal(kind="staff", id=staff.id, chain_id=v.world.a.id,
                                         role="clerk",
                                         store_ids=frozenset([v.world.a.stores[0]])))
    locked = await v.client.post(f"{API}/redemptions", headers=newcomer,
                                 json=v.body(short_code=taken, amount=5_000))
    assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"
    elsewhere = await v.redeem(short_code=next(guesses), store=1, clerk="alpha-clerk2")
    assert elsewhere.status_code == 404
    assert (await v.read(voucher["id"]))["status"] == "issued"
    scanned = await v.client.post(f"{API}/redemptions", headers=newcomer,
                                  json=v.body(voucher["code"], amount=5_000))
    assert scanned.status_code == 201


async def test_bad_codes_each_get_their_own_error(v: Vouchers) -> None:
    voucher = await v.voucher(per_member_limit=2)
    revoked = (await v.claim(voucher["campaign_id"])).json()
    await v.client.post(f"{API}/vouchers/{revoked['id']}/revoke", headers=v.operator)
    code = voucher["code"]
    in_a_day = now() + timedelta(days=1)
    cases = {
        "tampered signature": (tamper(code, -10), 422, "invalid_code"),
        "tampered payload": (tamper(code, 40), 422, "invalid_code"),
        "truncated": (code[:-8], 422, "invalid_code"),
        "lower case": (code.lower(), 422, "invalid_code"),
        "not a code": ("hello", 422, "invalid_code"),
        "foreign chain": (await v.sign(voucher["id"], in_a_day, chain=v.world.b.id),
                          422, "invalid_code"),
        "no such voucher": (await v.sign(uuid.uuid4(), in_a_day), 422, "invalid_code"),
        "expired": (await v.sign(voucher["id"], now() - timedelta(seconds=5)),
                    410, "code_expired"),
        "revoked": (revoked["code"], 409, "voucher_revoked"),
    }
    for name, (text, status, error) in cases.items():
        for response in (await v.redeem(text, amount=5_000), await v.preview(text)):
            assert (response.status_code, response.json()["code"]) == (status, error), name
    # A genuine code of chain alpha is another chain's code at chain beta's till.
    beta_clerk = v.world.b.staff["beta-clerk1"]
    at_beta = await v.client.post(f"{API}/redemptions", headers=v.world.headers(beta_clerk),
                                  json={"code": code, "store_id": str(v.world.b.stores[0]),
                                        "amount_cents": 5_000})
    assert at_beta.status_code == 422 and at_beta.json()["code"] == "invalid_code"
    assert (await v.read(voucher["id"]))["status"] == "issued"
    assert await redemptions_of(voucher["id"]) == 0
    assert (await v.redeem(code, amount=5_000)).status_code == 201


# --- exactly once -----------------------------------------------------------------------

def assert_exactly_once(statuses_and_bodies: list[tuple[int, dict[str, Any]]],
                        world: World) -> dict[str, Any]:
    """One 201; every other answer is already_redeemed, saying when and at which store."""
    winners = [body for status, body in statuses_and_bodies if status == 201]
    assert len(winners) == 1, Counter(status for status, _ in statuses_and_bodies)
    winner = winners[0]
    store_names = {str(world.a.stores[0]): "alpha store 1", str(world.a.stores[1]):
                   "alpha store 2"}
    for status, body in statuses_and_bodies:
        if status == 201:
            continue
        assert (status, body["code"]) == (409, "already_redeemed"), body
        assert body["store_id"] == winner["store_id"]
        assert at(body["redeemed_at"]) == at(winner["created_at"])
        assert store_names[winner["store_id"]] in body["detail"]
    return winner


async def test_thirty_simultaneous_scans_at_two_stores(v: Vouchers) -> None:
    voucher = await v.voucher()
    results = await asyncio.gather(*(
        v.redeem(voucher["code"], store=n % 2, clerk=f"alpha-clerk{n % 2 + 1}", amount=5_000)
        for n in range(30)))
    winner = assert_exactly_once([(r.status_code, r.json()) for r in results], v.world)
    assert await redemptions_of(voucher["id"]) == 1
    after = await v.read(voucher["id"])
    assert (after["status"], after["redemption_id"]) == ("redeemed", winner["id"])


def race_over_http(servers: list[LiveServer], world: World, code: str,
                   scans: int) -> list[tuple[int, dict[str, Any]]]:
    """``scans`` clerks press the button at once, alternating servers and stores."""
    clerks = [world.headers(world.a.staff[name]) for name in ("alpha-clerk1", "alpha-clerk2")]
    ready = threading.Barrier(scans)

    def post(n: int) -> tuple[int, dict[str, Any]]:
        server = servers[n % len(servers)]
        store = (n // len(servers)) % 2
        body = {"code": code, "store_id": str(world.a.stores[store]), "amount_cents": 5_000}
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            http.get("/api/v1/health")  # connected before the race starts
            ready.wait(timeout=60)
            response = http.post(f"{API}/redemptions", json=body, headers=clerks[store])
            return response.status_code, dict(response.json())

    with ThreadPoolExecutor(max_workers=scans) as pool:
        return list(pool.map(post, range(scans)))


async def test_simultaneous_scans_over_real_http(v: Vouchers, database_url: str,
                                                 engine_name: str) -> None:
    """Against running servers: one on SQLite; on PostgreSQL two processes, the requests
    alternating between them."""
    voucher = await v.voucher()
    count = 1 if engine_name == "sqlite" else 2
    servers = [LiveServer(database_url) for _ in range(count)]
    try:
        started = await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers),
                                       return_exceptions=True)
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        results = await asyncio.to_thread(race_over_http, servers, v.world, voucher["code"],
                                          32)
    finally:
        for server in servers:
            server.stop()
    winner = assert_exactly_once(results, v.world)
    assert await redemptions_of(voucher["id"]) == 1
    assert (await v.read(voucher["id"]))["redemption_id"] == winner["id"]


_REFUSE_NOTIFICATIONS = {
    "sqlite": ["CREATE TRIGGER refuse_notifications BEFORE INSERT ON core_notification "
               "BEGIN SELECT RAISE(ABORT, 'no outbox today'); END"],
    "postgres": ["CREATE FUNCTION refuse_notifications() RETURNS trigger LANGUAGE plpgsql "
                 "AS $$ BEGIN RAISE EXCEPTION 'no outbox today'; END $$",
                 "CREATE TRIGGER refuse_notifications BEFORE INSERT ON core_notification "
                 "FOR EACH ROW EXECUTE FUNCTION refuse_notifications()"],
}


async def test_a_spend_whose_notification_fails_leaves_the_voucher_issued(
        v: Vouchers, database_url: str, engine_name: str) -> None:
    """The spend, its redemption and its outbox row commit together or not at all (on
    PostgreSQL one statement outside any transaction): the outbox failing last leaves
    nothing half-redeemed, and the voucher redeems once the outbox is back."""
    voucher = await v.voucher()
    for statement in _REFUSE_NOTIFICATIONS[engine_name]:
        await rawdb.fetch(database_url, statement)
    failed = await v.redeem(voucher["code"], amount=5_000)
    assert failed.status_code == 500, failed.text
    assert (await v.read(voucher["id"]))["status"] == "issued"
    assert await redemptions_of(voucher["id"]) == 0
    await rawdb.fetch(database_url, "DROP TRIGGER refuse_notifications"
                      + (" ON core_notification" if engine_name == "postgres" else ""))
    redeemed = await v.redeem(voucher["code"], amount=5_000)
    assert redeemed.status_code == 201, redeemed.text
    assert await redemptions_of(voucher["id"]) == 1
    notes = await rawdb.fetch(database_url, "SELECT dedupe_key FROM core_notification "
                              "WHERE event = 'redeemed'")
    assert [n["dedupe_key"] for n in notes] == [f"redemption:{redeemed.json()['id']}"]


async def test_a_scan_sees_its_store_renamed_and_never_another_chains_store(
        v: Vouchers, database_url: str) -> None:
    """The till keeps its store's row for a few seconds: a rename through this process
    shows in the very next scan's notification, and a store kept for one chain is still
    no store at all to another chain's staff."""
    first = await v.voucher()
    assert (await v.redeem(first["code"], amount=5_000)).status_code == 201
    store = str(v.world.a.stores[0])
    renamed = await v.client.patch(f"{API}/stores/{store}", json={"name": "Alpha Flagship"},
                                   headers=v.operator)
    assert renamed.status_code == 200, renamed.text
    second = await v.voucher(member_index=1)
    redeemed = await v.redeem(second["code"], amount=5_000)
    assert redeemed.status_code == 201, redeemed.text
    notes = await rawdb.fetch(database_url, "SELECT dedupe_key, data FROM core_notification "
                              "WHERE event = 'redeemed'")
    data = {n["dedupe_key"]: n["data"] for n in notes}[f"redemption:{redeemed.json()['id']}"]
    assert "Alpha Flagship" in str(data)
    other_chain = v.world.headers(v.world.b.operator)
    elsewhere = await v.client.post(f"{API}/redemptions", headers=other_chain,
                                    json=v.body(second["code"]))
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "not_found")


# --- reversal ---------------------------------------------------------------------------

async def test_reversal_puts_the_voucher_back_once(v: Vouchers) -> None:
    voucher = await v.voucher()
    first = (await v.redeem(voucher["code"], amount=5_000)).json()
    url = f"{API}/redemptions/{first['id']}/reverse"
    clerk = await v.client.post(url, headers=v.staff("alpha-clerk1"))
    assert clerk.status_code == 403
    assert (await v.read(voucher["id"]))["status"] == "redeemed"
    reversed_ = await v.client.post(url, headers=v.staff("alpha-manager"))
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["id"] == first["id"]
    assert reversed_.json()["reversed_at"] is not None
    back = await v.read(voucher["id"])
    assert (back["status"], back["redeemed_at"], back["redemption_id"]) == ("issued", None, None)
    twice = await v.client.post(url, headers=v.staff("alpha-manager"))
    assert twice.status_code == 409 and twice.json()["code"] == "already_reversed"

    second = await v.redeem(voucher["code"], store=1, clerk="alpha-clerk2", amount=6_000)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first["id"]
    assert (await v.read(voucher["id"]))["redemption_id"] == second.json()["id"]
    # The manager of store 1 does not manage store 2; reversing the old one again changes
    # nothing of the new one.
    foreign = await v.client.post(f"{API}/redemptions/{second.json()['id']}/reverse",
                                  headers=v.staff("alpha-manager"))
    assert foreign.status_code == 404
    assert (await v.client.post(url, headers=v.operator)).status_code == 409
    assert (await v.read(voucher["id"]))["status"] == "redeemed"

    # Past 24 hours a redemption stands.
    old = await v.voucher(member_index=1)
    used = (await v.redeem(old["code"], amount=5_000)).json()
    await Redemption.update({Redemption.created_at: now() - timedelta(hours=25)}).where(
        Redemption.id == uuid.UUID(used["id"])).run()
    closed = await v.client.post(f"{API}/redemptions/{used['id']}/reverse", headers=v.operator)
    assert closed.status_code == 409 and closed.json()["code"] == "reversal_window_closed"
    assert (await v.read(old["id"]))["status"] == "redeemed"


# --- offline sync -----------------------------------------------------------------------

async def test_sync_the_same_voucher_twice_then_replay_and_conflicts(v: Vouchers) -> None:
    voucher = await v.voucher()
    first_at = (now() - timedelta(minutes=30)).replace(microsecond=0)
    second_at = first_at + timedelta(minutes=5)
    items = [{"code": voucher["code"], "redeemed_at": first_at.isoformat(),
              "client_ref": "till-1:0001", "amount_cents": 5_000},
             {"code": voucher["code"], "redeemed_at": second_at.isoformat(),
              "client_ref": "till-1:0002", "amount_cents": 7_000}]
    response = await v.sync(items)
    assert response.status_code == 200, response.text
    accepted, conflict = response.json()["results"]
    assert (accepted["client_ref"], accepted["status"]) == ("till-1:0001", "accepted")
    assert (conflict["client_ref"], conflict["status"]) == ("till-1:0002", "conflict")
    assert conflict["code"] == "already_redeemed"
    assert conflict["store_id"] == str(v.world.a.stores[0])
    assert at(conflict["redeemed_at"]) == first_at

    # The offline time is kept, on the redemption beside the time it was recorded, and on
    # the voucher.
    row = await Redemption.select().where(
        Redemption.id == uuid.UUID(accepted["redemption_id"])).first().run()
    assert row is not None
    assert row["redeemed_at"] == first_at and row["client_ref"] == "till-1:0001"
    assert row["created_at"] > now() - timedelta(minutes=1)  # recorded at the upload
    assert (row["amount_cents"], row["discount_cents"]) == (5_000, 2_000)
    after = await v.read(voucher["id"])
    assert after["status"] == "redeemed"
    assert at(after["redeemed_at"]) == first_at
    assert after["redemption_id"] == accepted["redemption_id"]

    replay = await v.sync(items)
    assert replay.status_code == 200
    assert [(r["client_ref"], r["status"]) for r in replay.json()["results"]] == \
        [("till-1:0001", "duplicate"), ("till-1:0002", "duplicate")]
    assert replay.json()["results"][0]["redemption_id"] == accepted["redemption_id"]
    assert await redemptions_of(voucher["id"]) == 1
    assert await v.read(voucher["id"]) == after
    # Online, the clerk is told when and where the offline scan used it.
    online = await v.redeem(voucher["code"], store=1, clerk="alpha-clerk2", amount=5_000)
    assert online.status_code == 409 and online.json()["code"] == "already_redeemed"
    assert online.json()["store_id"] == str(v.world.a.stores[0])
    assert at(online.json()["redeemed_at"]) == first_at

    # And the other way round: redeemed online first, then an offline scan is synced.
    voucher = await v.voucher(member_index=1)
    online_first = (await v.redeem(voucher["code"], store=1, clerk="alpha-clerk2",
                                   amount=5_000)).json()
    offline_at = (now() - timedelta(minutes=3)).isoformat()
    response = await v.sync([{"code": voucher["code"], "redeemed_at": offline_at,
                              "client_ref": "till-9:0001", "amount_cents": 5_000}])
    [result] = response.json()["results"]
    assert (result["status"], result["code"]) == ("conflict", "already_redeemed")
    assert result["store_id"] == str(v.world.a.stores[1])
    assert at(result["redeemed_at"]) == at(online_first["created_at"])
    assert "alpha store 2" in result["detail"]
    assert await redemptions_of(voucher["id"]) == 1
    assert (await v.read(voucher["id"]))["redemption_id"] == online_first["id"]


async def test_a_batch_replayed_concurrently_is_a_duplicate(
        v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first upload is slow to commit (a busy database), so the scanner's retry after a
    # timeout arrives while it is still running.
    insert_receipt = repository.insert_sync_receipt

    async def slow_insert(values: dict[str, Any]) -> None:
        await asyncio.sleep(0.3)
        await insert_receipt(values)

    monkeypatch.setattr(repository, "insert_sync_receipt", slow_insert)
    voucher = await v.voucher()
    items = [{"code": voucher["code"], "client_ref": "till-3:0001", "amount_cents": 5_000,
              "redeemed_at": (now() - timedelta(minutes=3)).isoformat()}]

    async def retry_later() -> httpx.Response:
        await asyncio.sleep(0.1)
        return await v.sync(items)

    first, retry = await asyncio.gather(v.sync(items), retry_later())
    assert await redemptions_of(voucher["id"]) == 1
    statuses = sorted([first.json()["results"][0]["status"],
                       retry.json()["results"][0]["status"]])
    assert statuses == ["accepted", "duplicate"], (first.json(), retry.json())


async def test_sync_rejections(v: Vouchers) -> None:
    campaign = await v.campaign(per_member_limit=5,
                                valid_from=(now() - timedelta(days=1)).isoformat())
    lapsed, late, revoked, fine = [(await v.claim(campaign["id"])).json() for _ in range(4)]
    # Two vouchers lapsed an hour ago (their codes' signed time is still ahead).
    for one in (lapsed, late):
        await Voucher.update({Voucher.valid_until: now() - timedelta(hours=1),
                              Voucher.created_at: now() - timedelta(hours=5)}).where(
            Voucher.id == uuid.UUID(one["id"])).run()
    store_two = await v.voucher(store_ids=[str(v.world.a.stores[1])])
    await v.client.post(f"{API}/vouchers/{revoked['id']}/revoke", headers=v.operator)
    card_template = (await v.client.post(f"{API}/card-templates", headers=v.operator, json={
        "name": "Member", "kind": "membership", "points_per_yuan": 1})).json()
    card = (await v.client.post(f"{API}/card-templates/{card_template['id']}/claim",
                                headers=v.member())).json()
    card_code = (await v.client.get(f"{API}/cards/{card['id']}/code",
                                    headers=v.member())).json()["code"]

    ten_min_ago = (now() - timedelta(minutes=10)).isoformat()
    items = [
        {"code": tamper(fine["code"], -10), "redeemed_at": ten_min_ago, "client_ref": "bad-sig"},
        {"code": late["code"], "redeemed_at": ten_min_ago, "client_ref": "late"},
        {"code": lapsed["code"], "redeemed_at": (now() - timedelta(hours=2)).isoformat(),
         "client_ref": "in-time", "amount_cents": 5_000},
        {"code": await v.sign(fine["id"], now() - timedelta(minutes=20)),
         "redeemed_at": ten_min_ago, "client_ref": "code-expired"},
        {"code": revoked["code"], "redeemed_at": ten_min_ago, "client_ref": "revoked"},
        {"code": card_code, "redeemed_at": now().isoformat(), "client_ref": "card",
         "action": "earn", "amount_cents": 1_000},
        {"code": fine["code"], "redeemed_at": (now() + timedelta(hours=1)).isoformat(),
         "client_ref": "future"},
        {"code": await v.sign(fine["id"], now() + timedelta(days=1), chain=v.world.b.id),
         "redeemed_at": ten_min_ago, "client_ref": "foreign"},
        {"code": store_two["code"], "redeemed_at": ten_min_ago, "client_ref": "wrong-store"},
    ]
    response = await v.sync(items)
    assert response.status_code == 200, response.text
    results = {r["client_ref"]: (r["status"], r.get("code")) for r in response.json()["results"]}
    assert results == {
        "bad-sig": ("rejected", "invalid_code"),
        "late": ("rejected", "code_expired"),
        "in-time": ("accepted", None),  # made offline before the voucher lapsed
        "code-expired": ("rejected", "code_expired"),
        "revoked": ("rejected", "voucher_revoked"),
        "card": ("rejected", "not_supported_offline"),
        "future": ("rejected", "offline_window_exceeded"),
        "foreign": ("rejected", "invalid_code"),
        "wrong-store": ("rejected", "wrong_store"),
    }
    assert [r["client_ref"] for r in response.json()["results"]] == \
        [i["client_ref"] for i in items]
    assert (await v.read(fine["id"]))["status"] == "issued"
    assert (await v.read(late["id"]))["status"] == "expired"
    assert (await v.read(lapsed["id"]))["status"] == "redeemed"
    replay = await v.sync(items)
    assert {r["client_ref"]: (r["status"], r.get("code")) for r in replay.json()["results"]} \
        == {ref: ("duplicate", code) for ref, (_, code) in results.items()}
    assert await Redemption.count().where(Redemption.kind == "voucher").run() == 1
    # Only staff of the store may upload its batch.
    elsewhere = await v.sync(items[:1], store=1, clerk="alpha-clerk1")
    assert elsewhere.status_code == 404
    member = await v.client.post(f"{API}/redemptions/sync", headers=v.member(), json={
        "store_id": str(v.world.a.stores[0]), "items": items[:1]})
    assert member.status_code == 403


# --- the day sheet ----------------------------------------------------------------------

async def test_the_stores_day_sheet(v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    today = datetime.now(SHANGHAI).date()
    yesterday = today - timedelta(days=1)
    campaign = await v.campaign(per_member_limit=5,
                                valid_from=(now() - timedelta(days=3)).isoformat())
    vouchers = [(await v.claim(campaign["id"])).json() for _ in range(3)]
    online = (await v.redeem(vouchers[0]["code"], amount=5_000)).json()
    noon_yesterday = datetime.combine(yesterday, dtime(12), SHANGHAI)
    # Uploaded yesterday, five minutes after it was scanned offline: the sheet lists a
    # redemption under the day the server recorded it.
    with monkeypatch.context() as patch:
        patch.setattr(sync, "utcnow", lambda: noon_yesterday + timedelta(minutes=5))
        synced = (await v.sync([{"code": vouchers[1]["code"], "client_ref": "t:1",
                                 "redeemed_at": noon_yesterday.isoformat(),
                                 "amount_cents": 5_000}])).json()["results"][0]
    assert synced["status"] == "accepted"
    other_store = (await v.redeem(vouchers[2]["code"], store=1, clerk="alpha-clerk2",
                                  amount=5_000)).json()

    async def sheet(headers: dict[str, str], store: int = 0, first: object = None,
                    last: object = None) -> httpx.Response:
        params = {"store_id": str(v.world.a.stores[store])}
        if first is not None:
            params["from"] = str(first)
        if last is not None:
            params["to"] = str(last)
        return await v.client.get(f"{API}/redemptions", params=params, headers=headers)

    clerk = v.staff("alpha-clerk1")
    default = await sheet(clerk)
    assert default.status_code == 200, default.text
    assert [r["id"] for r in default.json()] == [online["id"]]
    assert [r["id"] for r in (await sheet(clerk, first=today, last=today)).json()] == \
        [online["id"]]
    assert [r["id"] for r in (await sheet(clerk, first=yesterday, last=yesterday)).json()] == \
        [synced["redemption_id"]]
    both = (await sheet(v.staff("alpha-manager"), first=yesterday, last=today)).json()
    assert [r["id"] for r in both] == [synced["redemption_id"], online["id"]]
    assert all(r["kind"] == "voucher" and r["store_id"] == str(v.world.a.stores[0])
               for r in both)
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert (await sheet(clerk, first=tomorrow, last=tomorrow)).json() == []
    store_two = (await sheet(v.staff("alpha-clerk2"), store=1)).json()
    assert [r["id"] for r in store_two] == [other_store["id"]]
    assert len((await sheet(v.operator, store=1)).json()) == 1

    for who, store in ((v.staff("alpha-clerk2"), 0), (clerk, 1)):
        hidden = await sheet(who, store=store)
        assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    assert (await sheet(v.member())).status_code == 403
    backwards = await sheet(clerk, first=today, last=yesterday)
    assert backwards.status_code == 400
