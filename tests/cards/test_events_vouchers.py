"""The feed's voucher.* events and the redemption events of vouchers (issue 18): online and
offline redemption, reversal, claim, bulk issue, revocation. Each writes exactly one event
whose ``data`` is the object as the staff API answers it (a voucher never with its code);
a refused change writes none; a replay (Idempotency-Key, offline sync) writes none again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from cards import repository
from tests.cards.conftest import API
from tests.cards.events_feed import one, refuse_events, types, written
from tests.cards.test_vouchers import Vouchers, now
from tests.hardening import rawdb
from tests.world import World


@pytest.fixture
def v(client: httpx.AsyncClient, world: World) -> Vouchers:
    return Vouchers(client, world)


async def _staff_view(v: Vouchers, voucher_id: str, member: int = 0) -> dict[str, Any]:
    """The voucher as staff read it (GET /members/{id}/vouchers: no code)."""
    member_id = v.world.a.members[member].id
    response = await v.client.get(f"{API}/members/{member_id}/vouchers", headers=v.operator)
    assert response.status_code == 200, response.text
    return next(dict(x) for x in response.json() if x["id"] == voucher_id)


async def _day_sheet_entry(v: Vouchers, redemption_id: str) -> dict[str, Any]:
    """A redemption as the store's day sheet answers it, cut to RedemptionOut's keys."""
    response = await v.client.get(f"{API}/redemptions", headers=v.operator,
                                  params={"store_id": str(v.world.a.stores[0])})
    assert response.status_code == 200, response.text
    return next(dict(x) for x in response.json() if x["id"] == redemption_id)


async def test_a_claim_writes_voucher_issued_as_staff_see_it(v: Vouchers) -> None:
    campaign = await v.campaign(per_member_limit=1)
    keyed = {"Idempotency-Key": "claim-1"}
    claimed = await v.claim(campaign["id"], headers=keyed)
    assert claimed.status_code == 201, claimed.text
    replay = await v.claim(campaign["id"], headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    over = await v.claim(campaign["id"])
    assert (over.status_code, over.json()["code"]) == (409, "claim_limit_reached")

    voucher = claimed.json()
    event = await one("voucher.issued", voucher["id"])
    assert event["store_id"] is None
    assert "code" not in event["data"] and "short_code" not in event["data"]
    assert event["data"] == await _staff_view(v, voucher["id"])
    assert event["data"] == {k: x for k, x in voucher.items()
                             if k not in ("code", "short_code")}
    assert await types() == ["voucher.issued"]


async def test_a_bulk_issue_writes_its_events_in_one_insert(v: Vouchers,
                                                           monkeypatch: Any) -> None:
    campaign = await v.campaign(per_member_limit=1)
    # Member 1 already holds one: skipped in the bulk issue, with no event.
    assert (await v.claim(campaign["id"], v.world.a.members[1])).status_code == 201
    members = await v.new_members(3)
    batches: list[int] = []
    real = repository.insert_events

    async def counted(rows: Any) -> None:
        batches.append(len(rows))
        await real(rows)

    monkeypatch.setattr(repository, "insert_events", counted)
    ids = [str(m.id) for m in members] + [str(v.world.a.members[1].id), str(uuid.uuid4())]
    response = await v.client.post(f"{API}/campaigns/{campaign['id']}/issue",
                                   json={"member_ids": ids}, headers=v.operator)
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["issued"]) == 3 and len(body["skipped"]) == 2
    assert batches == [3]  # one write for the three events, none for the skipped
    for voucher in body["issued"]:
        event = await one("voucher.issued", voucher["id"])
        assert event["data"] == {k: x for k, x in voucher.items()
                                 if k not in ("code", "short_code")}
    assert len(await written("voucher.issued")) == 4


async def test_a_revocation_writes_voucher_revoked(v: Vouchers) -> None:
    voucher = await v.voucher()
    revoked = await v.client.post(f"{API}/vouchers/{voucher['id']}/revoke",
                                  headers=v.operator)
    assert revoked.status_code == 200, revoked.text
    again = await v.client.post(f"{API}/vouchers/{voucher['id']}/revoke", headers=v.operator)
    assert again.status_code == 409, again.text
    event = await one("voucher.revoked", voucher["id"])
    assert event["data"]["status"] == "revoked"
    assert event["data"] == await _staff_view(v, voucher["id"])
    assert event["data"] == {k: x for k, x in revoked.json().items()
                             if k not in ("code", "short_code")}
    # A redeemed voucher cannot be revoked: nothing written.
    spent = await v.voucher(member_index=1)
    assert (await v.redeem(spent["code"], amount=5_000)).status_code == 201
    refused = await v.client.post(f"{API}/vouchers/{spent['id']}/revoke", headers=v.operator)
    assert (refused.status_code, refused.json()["code"]) == (409, "already_redeemed")
    assert len(await written("voucher.revoked")) == 1


async def test_an_online_redemption_and_its_reversal(v: Vouchers) -> None:
    voucher = await v.voucher()
    redeemed = await v.redeem(voucher["code"], amount=5_000)
    assert redeemed.status_code == 201, redeemed.text
    twice = await v.redeem(voucher["code"], amount=5_000)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_redeemed")
    redemption = redeemed.json()
    event = await one("redemption.created", redemption["id"])
    assert (event["store_id"], event["data"]) == (str(v.world.a.stores[0]), redemption)
    entry = await _day_sheet_entry(v, redemption["id"])
    assert event["data"] == {k: entry[k] for k in event["data"]}

    reversed_ = await v.client.post(f"{API}/redemptions/{redemption['id']}/reverse",
                                    headers=v.operator)
    assert reversed_.status_code == 200, reversed_.text
    event = await one("redemption.reversed", redemption["id"])
    assert event["data"] == reversed_.json()
    # Redeemable again: a second redemption, a second event of its own.
    again = await v.redeem(voucher["code"], amount=6_000)
    assert again.status_code == 201, again.text
    assert (await one("redemption.created", again.json()["id"]))["data"] == again.json()
    assert await types() == ["voucher.issued", "redemption.created", "redemption.reversed",
                             "redemption.created"]


async def test_a_min_spend_refusal_writes_nothing(v: Vouchers) -> None:
    voucher = await v.voucher(min_spend_cents=10_000)
    short = await v.redeem(voucher["code"], amount=5_000)
    assert (short.status_code, short.json()["code"]) == (409, "min_spend_not_met")
    assert await types() == ["voucher.issued"]


async def test_offline_sync_writes_accepted_items_once(v: Vouchers) -> None:
    voucher = await v.voucher()
    other = await v.voucher(member_index=1)
    first_at = (now() - timedelta(minutes=30)).replace(microsecond=0)
    items = [{"code": voucher["code"], "redeemed_at": first_at.isoformat(),
              "client_ref": "till-9:0001", "amount_cents": 5_000},
             {"code": voucher["code"], "redeemed_at": (first_at + timedelta(minutes=1))
              .isoformat(), "client_ref": "till-9:0002", "amount_cents": 5_000},
             {"code": other["code"], "redeemed_at": first_at.isoformat(),
              "client_ref": "till-9:0003", "amount_cents": 100, "action": "charge"}]
    response = await v.sync(items)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "conflict", "accepted"]
    replay = await v.sync(items)
    assert [r["status"] for r in replay.json()["results"]] == ["duplicate"] * 3

    created = await written("redemption.created")
    assert [e["object_id"] for e in created] == [results[0]["redemption_id"],
                                                 results[2]["redemption_id"]]
    for event in created:
        entry = await _day_sheet_entry(v, str(event["object_id"]))
        assert event["data"] == {k: entry[k] for k in event["data"]}
        assert event["data"]["offline"] is True
        assert event["store_id"] == str(v.world.a.stores[0])


async def test_a_spend_whose_event_fails_leaves_the_voucher_issued(
        v: Vouchers, database_url: str, engine_name: str) -> None:
    """The event is the last step of the spend's one statement (PostgreSQL) or of its
    write transaction (SQLite): when it fails, nothing is half-redeemed."""
    voucher = await v.voucher()
    await refuse_events(database_url, engine_name, True)
    failed = await v.redeem(voucher["code"], amount=5_000)
    assert failed.status_code == 500, failed.text
    assert (await v.read(voucher["id"]))["status"] == "issued"
    assert await rawdb.fetch(database_url, "SELECT id FROM redemption") == []
    await refuse_events(database_url, engine_name, False)
    redeemed = await v.redeem(voucher["code"], amount=5_000)
    assert redeemed.status_code == 201, redeemed.text
    assert (await one("redemption.created", redeemed.json()["id"]))["data"] == redeemed.json()
