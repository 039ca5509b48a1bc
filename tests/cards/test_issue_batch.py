"""``cards.public.issue_vouchers``: many members at once by the claim's rule in set form
(issue 20's jobs). It answers, writes and notifies as the same members issued one by
one with ``issue_voucher`` would (compared on twin campaigns), and claims racing a batch
never pass the campaign's quantity nor a member's limit."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from app.core.codes.keys import CodeSigner
from app.core.db import savepoint, write_transaction
from app.core.errors import AppError
from app.core.tables import Event, Notification
from cards import public
from cards.tables import Campaign, CampaignClaims, Voucher
from tests.cards.conftest import API
from tests.marketing.test_jobs import add_members
from tests.world import World


async def _campaign(client: httpx.AsyncClient, world: World, **body: Any) -> uuid.UUID:
    start = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": "Batch ¥5", "kind": "cash", "value_cents": 500, "total_quantity": 10,
        "per_member_limit": 1, "valid_from": (start - timedelta(days=1)).isoformat(),
        "valid_until": (start + timedelta(days=7)).isoformat(), **body}
    response = await client.post(f"{API}/campaigns", json=values,
                                 headers=world.headers(world.a.operator))
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def _signer(world: World) -> CodeSigner:
    signer: CodeSigner = world.app.state.runtime.signer
    return signer


async def _singles(world: World, campaign_id: uuid.UUID, members: list[uuid.UUID],
                   source_id: uuid.UUID) -> list[str]:
    """``issue_voucher`` member after member, each in a savepoint: "issued" or the code."""
    answers = []
    async with write_transaction():
        for member_id in members:
            try:
                async with savepoint():
                    await public.issue_voucher(world.a.id, campaign_id, member_id,
                                               signer=_signer(world), source="job",
                                               source_id=source_id)
                answers.append("issued")
            except AppError as err:
                answers.append(err.code)
    return answers


async def _batch(world: World, campaign_id: uuid.UUID, members: list[uuid.UUID],
                 source_id: uuid.UUID) -> list[str]:
    async with write_transaction():
        results = await public.issue_vouchers(world.a.id, campaign_id, members,
                                              signer=_signer(world), source="job",
                                              source_id=source_id)
    assert [r if isinstance(r, str) else r.member_id for r in results] == [
        r if isinstance(r, str) else m for r, m in zip(results, members, strict=True)]
    return [r if isinstance(r, str) else "issued" for r in results]


async def _written(campaign_id: uuid.UUID) -> dict[str, Any]:
    """What issuing left of a campaign, without ids, codes and instants."""
    vouchers = await Voucher.select().where(Voucher.campaign == campaign_id).run()
    ids = {v["id"]: v["member"] for v in vouchers}
    notes = await Notification.select().where(Notification.member_id.is_in(
        list(ids.values()) or [uuid.uuid4()])).output(load_json=True).run()
    notes = [n for n in notes if n["dedupe_key"].split(":")[1] in {str(i) for i in ids}]
    events = await Event.select().where(Event.object_id.is_in(list(ids) or [uuid.uuid4()])
                                        ).output(load_json=True).run()
    claims = await CampaignClaims.select().where(CampaignClaims.campaign == campaign_id).run()
    count = await Campaign.select(Campaign.issued_count).where(
        Campaign.id == campaign_id).first().run()
    assert count is not None
    skip = {"id", "campaign_id", "campaign", "code", "short_code", "created_at",
            "valid_until", "valid_from", "campaign_name", "object_id"}

    def plain(row: dict[str, Any]) -> tuple[Any, ...]:
        # The twins were made a few ms apart: their instants (and ids) differ, nothing else.
        return tuple(sorted((k, plain(v) if isinstance(v, dict) else str(v))
                            for k, v in row.items() if k not in skip))

    return {
        "vouchers": Counter((v["member"], v["status"], v["source"], v["source_id"])
                            for v in vouchers),
        "short_codes": all(len(v["short_code"]) == 12 for v in vouchers),
        "notifications": Counter(
            (n["member_id"], n["event"], n["status"], n["dedupe_key"] ==
             f"voucher:{next(i for i, m in ids.items() if m == n['member_id'])}:issued",
             plain(n["data"])) for n in notes),
        "events": Counter((e["type"], plain(e["data"])) for e in events),
        "claims": {c["member"]: c["claimed"] for c in claims},
        "issued_count": count["issued_count"],
    }


async def test_a_batch_answers_and_writes_as_single_issues_do(
        client: httpx.AsyncClient, world: World) -> None:
    """Quantity 4, one voucher already given (m[1], limit 1): of 7 asked, m[0], m[2], m[3]
    get the last 3 (the first in order), m[1] is at its limit, a member of another chain
    is not found, m[4] and m[5] find it sold out (their claims given back)."""
    m = await add_members(world.a.id, 6)
    stranger = world.b.members[0].id
    asked = [m[0], m[1], m[2], stranger, m[3], m[4], m[5]]
    twins = [await _campaign(client, world, total_quantity=4) for _ in range(2)]
    source = uuid.uuid4()
    for twin in twins:
        assert await _singles(world, twin, [m[1]], source) == ["issued"]
    singles = await _singles(world, twins[0], asked, source)
    batch = await _batch(world, twins[1], asked, source)
    assert batch == singles == ["issued", "claim_limit_reached", "issued", "not_found",
                                "issued", "campaign_sold_out", "campaign_sold_out"]
    one, other = await _written(twins[0]), await _written(twins[1])
    assert one == other
    assert one["issued_count"] == 4 and one["claims"] == {m[0]: 1, m[1]: 1, m[2]: 1, m[3]: 1}
    assert sum(one["notifications"].values()) == 4 and sum(one["events"].values()) == 4
    # Sold out from the start: every member under the limit is sold out, the one at its
    # limit is still told so (the claim's order).
    assert await _batch(world, twins[1], [m[4], m[1]], source) == [
        "campaign_sold_out", "claim_limit_reached"]


async def test_an_inactive_campaign_and_a_member_given_twice(
        client: httpx.AsyncClient, world: World) -> None:
    m = await add_members(world.a.id, 2)
    source = uuid.uuid4()
    paused = await _campaign(client, world)
    response = await client.post(f"{API}/campaigns/{paused}/pause",
                                 headers=world.headers(world.a.operator))
    assert response.status_code == 200, response.text
    assert await _batch(world, paused, m, source) == ["campaign_inactive"] * 2
    assert (await _written(paused))["issued_count"] == 0
    # A member twice (limit 2): answered as two calls would be, then at the limit.
    twins = [await _campaign(client, world, per_member_limit=2) for _ in range(2)]
    asked = [m[0], m[0], m[1], m[0]]
    assert await _singles(world, twins[0], asked, source) == await _batch(
        world, twins[1], asked, source) == ["issued", "issued", "issued",
                                            "claim_limit_reached"]
    assert await _written(twins[0]) == await _written(twins[1])
    with pytest.raises(AppError) as refused:
        await _batch(world, uuid.uuid4(), m, source)
    assert refused.value.code == "not_found"


async def test_claims_racing_a_batch_never_pass_quantity_or_limits(
        client: httpx.AsyncClient, world: World, engine_name: str) -> None:
    """Claims over HTTP and batches at once, on one campaign (quantity 25, limit 1):
    PostgreSQL runs them on their own connections, interleaved; no deadlock, no 500, and
    never more vouchers than the quantity nor two for one member."""
    if engine_name != "postgres":
        pytest.skip("the race is PostgreSQL's (SQLite serialises every writer)")
    members = await add_members(world.a.id, 60)
    campaign_id = await _campaign(client, world, total_quantity=25)
    source = uuid.uuid4()

    async def claim(member_id: uuid.UUID) -> int:
        principal = Principal(kind="member", id=member_id, chain_id=world.a.id, role="member")
        response = await client.post(f"{API}/campaigns/{campaign_id}/claim",
                                     headers=world.headers(principal))
        assert response.status_code in (201, 200, 409), response.text
        return response.status_code

    async def batch(part: list[uuid.UUID]) -> list[str]:
        return await _batch(world, campaign_id, part, source)

    results = await asyncio.gather(
        batch(members[0:20]), batch(members[30:50]),
        *(claim(member_id) for member_id in members[10:40]),
        *(claim(member_id) for member_id in members[45:60]))
    vouchers = Counter(r["member"] for r in await Voucher.select(Voucher.member).where(
        Voucher.campaign == campaign_id).run())
    written = await _written(campaign_id)
    assert sum(vouchers.values()) == written["issued_count"] == 25
    assert max(vouchers.values()) == 1
    assert written["claims"] == dict.fromkeys(vouchers, 1)
    batches: list[list[str]] = [results[0], results[1]]  # type: ignore[list-item]
    issued_by_batches = sum(r.count("issued") for r in batches)
    claimed = sum(1 for code in results[2:] if code in (200, 201))
    assert issued_by_batches + claimed == 25
