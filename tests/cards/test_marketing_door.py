"""The door marketing issues vouchers through (cards.public, issue 20): the claim's rule,
the voucher's source, and the segment form of POST /campaigns/{id}/issue."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from app.core.db import savepoint, write_transaction
from app.core.errors import AppError, NotFound
from app.core.runtime import Runtime
from cards import public
from cards.tables import Voucher
from tests.cards.conftest import API
from tests.world import World


async def campaign(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    start = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": "Door ¥5", "kind": "cash", "value_cents": 500, "total_quantity": 2,
        "per_member_limit": 1, "valid_from": (start - timedelta(days=1)).isoformat(),
        "valid_until": (start + timedelta(days=7)).isoformat(), **body}
    response = await client.post(f"{API}/campaigns", json=values,
                                 headers=world.headers(world.a.operator))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_issue_voucher_follows_the_claims_rule_and_keeps_its_source(
        client: httpx.AsyncClient, world: World) -> None:
    runtime: Runtime = world.app.state.runtime
    made = await campaign(client, world)
    cid, chain = uuid.UUID(made["id"]), world.a.id
    m0, m1 = world.a.members[0].id, world.a.members[1].id
    job = uuid.uuid4()
    async with write_transaction():
        out = await public.issue_voucher(chain, cid, m0, signer=runtime.signer, source="job",
                                         source_id=job)
        refused = []
        for member, expect in ((m0, "claim_limit_reached"), (world.b.members[0].id, "not_found")):
            try:
                async with savepoint():
                    await public.issue_voucher(chain, cid, member, signer=runtime.signer,
                                               source="job", source_id=job)
            except AppError as err:
                refused.append(err.code == expect)
        await public.issue_voucher(chain, cid, m1, signer=runtime.signer, source="referral",
                                   notify=False)
    assert refused == [True, True]
    assert out.member_id == m0 and out.status == "issued"
    rows = {r["member"]: r for r in await Voucher.select(
        Voucher.member, Voucher.source, Voucher.source_id).where(Voucher.campaign == cid).run()}
    assert rows[m0]["source"] == "job" and rows[m0]["source_id"] == job
    assert rows[m1]["source"] == "referral" and rows[m1]["source_id"] is None
    async with write_transaction():
        with pytest.raises(AppError) as sold_out:
            await public.issue_voucher(chain, cid, (await _member(world)).id,
                                       signer=runtime.signer, source="automation")
    assert sold_out.value.code == "campaign_sold_out"
    with pytest.raises(NotFound):  # another chain's campaign
        async with write_transaction():
            await public.issue_voucher(world.b.id, cid, world.b.members[0].id,
                                       signer=runtime.signer, source="job")
    found = await public.campaign_in_chain(chain, cid)
    assert found is not None and found.issued_count == 2
    assert await public.campaign_in_chain(world.b.id, cid) is None
    # The existing doors write theirs.
    other = await campaign(client, world, total_quantity=5)
    claimed = await client.post(f"{API}/campaigns/{other['id']}/claim",
                                headers=world.headers(world.a.members[0]))
    issued = await client.post(f"{API}/campaigns/{other['id']}/issue",
                               json={"member_ids": [str(m1)]},
                               headers=world.headers(world.a.operator))
    assert claimed.status_code == 201 and issued.status_code == 201, issued.text
    sources = {r["member"]: r["source"] for r in await Voucher.select(
        Voucher.member, Voucher.source).where(Voucher.campaign == other["id"]).run()}
    assert sources == {m0: "claim", m1: "issue"}


async def _member(world: World) -> Principal:
    from stores import service as stores
    from stores.schemas import MemberCreate
    member = await stores.register_member(world.a.operator, MemberCreate(
        name="door member", phone="13900009999"))
    return Principal(kind="member", id=member.id, chain_id=world.a.id, role="member")


async def test_issue_to_a_segment_awaits_the_wired_issuer(client: httpx.AsyncClient,
                                                         world: World) -> None:
    made = await campaign(client, world)
    url, operator = f"{API}/campaigns/{made['id']}/issue", world.headers(world.a.operator)
    segment = str(uuid.uuid4())
    for body in ({}, {"member_ids": [str(world.a.members[0].id)], "segment_id": segment}):
        bad = await client.post(url, json=body, headers=operator)
        assert bad.status_code == 400 and bad.json()["code"] == "validation_error", bad.text
    # create_app wires marketing's issuer: a segment of no one's is 404, not a job.
    unknown = await client.post(url, json={"segment_id": segment}, headers=operator)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found", unknown.text


async def test_an_app_without_an_issuer_says_so(client: httpx.AsyncClient, world: World,
                                                app: Any) -> None:
    app.state.segment_issuer = None
    made = await campaign(client, world)
    unwired = await client.post(f"{API}/campaigns/{made['id']}/issue",
                                json={"segment_id": str(uuid.uuid4())},
                                headers=world.headers(world.a.operator))
    assert unwired.status_code == 409, unwired.text
    assert unwired.json()["code"] == "segment_issue_unavailable"


@pytest.fixture
def wired(app: Any) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    calls: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []

    async def issuer(principal: Principal, campaign_id: uuid.UUID,
                     segment_id: uuid.UUID) -> uuid.UUID:
        calls.append((principal.id, campaign_id, segment_id))
        return uuid.uuid4()

    app.state.segment_issuer = issuer  # what create_app does with marketing.jobs'

    return calls


async def test_a_wired_issuer_answers_202_and_honours_idempotency_keys(
        wired: list[Any], client: httpx.AsyncClient, world: World) -> None:
    made = await campaign(client, world)
    url = f"{API}/campaigns/{made['id']}/issue"
    headers = {**world.headers(world.a.operator), "Idempotency-Key": "seg-1"}
    segment = str(uuid.uuid4())
    first = await client.post(url, json={"segment_id": segment}, headers=headers)
    again = await client.post(url, json={"segment_id": segment}, headers=headers)
    assert first.status_code == 202 and again.status_code == 202, first.text
    assert first.json() == again.json() and set(first.json()) == {"job_id"}
    assert wired == [(world.a.operator.id, uuid.UUID(made["id"]), uuid.UUID(segment))]
