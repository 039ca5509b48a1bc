"""Voucher gifting (WeChat's 转赠, issue 20): a member gives a voucher by a link; it cannot
be spent while gifted; one accept wins; the old code dies and the new owner gets a new
signed code; cancel and expiry give it back; a transfer is not a new issue."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from app.core.auth import Principal
from app.core.codes.format import parse
from app.core.db import Sql, json_column
from app.core.settings import Settings
from cards.tables import Campaign
from marketing.gifts import service as gifts
from marketing.gifts import worker
from marketing.tick import Tick
from tests.cards.conftest import API
from tests.cards.test_vouchers import Vouchers
from tests.conftest import LiveServer
from tests.world import World

_EVENTS = Sql("SELECT type, object_id, data FROM core_event WHERE object_id = {} "
              "ORDER BY position")
_NOTES = Sql("SELECT event, member_id, data FROM core_notification WHERE chain_id = {} "
             "AND event = {} ORDER BY created_at")


@pytest.fixture
def v(client: httpx.AsyncClient, world: World) -> Vouchers:
    return Vouchers(client, world)


def member(v: Vouchers, index: int) -> dict[str, str]:
    return v.member(index)


async def give(v: Vouchers, voucher_id: str, index: int = 0,
               **headers: str) -> httpx.Response:
    return await v.client.post(f"{API}/vouchers/{voucher_id}/gift",
                               headers={**member(v, index), **headers})


async def accept(v: Vouchers, token: str, who: Principal | int) -> httpx.Response:
    headers = v.world.headers(who) if isinstance(who, Principal) else member(v, who)
    return await v.client.post(f"{API}/gifts/{token}/accept", headers=headers)


async def my_vouchers(v: Vouchers, index: int) -> dict[str, dict[str, Any]]:
    response = await v.client.get(f"{API}/me/vouchers", headers=member(v, index))
    return {x["id"]: x for x in response.json()}


async def events_of(object_id: str) -> list[str]:
    return [row["type"] for row in await _EVENTS.rows(uuid.UUID(object_id))]


async def test_a_gift_moves_the_voucher_and_kills_its_old_code(v: Vouchers) -> None:
    plain = await v.voucher(name="Not giftable")
    refused = await give(v, plain["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "not_giftable")
    voucher = await v.voucher(name="Giftable ¥20", giftable=True, min_spend_cents=0)
    vid, old_code, old_short = voucher["id"], voucher["code"], voucher["short_code"]
    assert (await give(v, vid, 1)).status_code == 404  # not the caller's

    # Two gift requests at once: one gift.
    first, second = await asyncio.gather(give(v, vid), give(v, vid))
    assert sorted([first.status_code, second.status_code]) == [201, 409], second.text
    gift = (first if first.status_code == 201 else second).json()
    token = gift["token"]
    assert len(token) >= 22 and set(gift) >= {"id", "token", "link", "expires_at"}
    query = parse_qs(urlparse(gift["link"]).query)
    assert query == {"chain": [str(v.world.a.id)], "gift": [token]}
    assert 0 < (datetime.fromisoformat(gift["expires_at"]) - datetime.now(UTC)).total_seconds() \
        <= 24 * 3600
    assert (await my_vouchers(v, 0))[vid]["status"] == "gifting"
    pending = await v.client.get(f"{API}/me/gifts", headers=member(v, 0))
    assert [g["id"] for g in pending.json()] == [gift["id"]]

    # While gifted: no scan, preview or offline upload spends it.
    for answer in (await v.redeem(old_code, amount=5_000), await v.preview(old_code)):
        assert (answer.status_code, answer.json()["code"]) == (409, "voucher_gifting")
    synced = await v.sync([{"code": old_code, "redeemed_at": datetime.now(UTC).isoformat(),
                            "client_ref": "while-gifted"}])
    assert synced.json()["results"][0]["code"] == "voucher_gifting"

    # The friend sees what is offered; the giver cannot take their own gift.
    seen = await v.client.get(f"{API}/gifts/{token}", headers=member(v, 1))
    assert seen.status_code == 200, seen.text
    assert (seen.json()["status"], seen.json()["own"], seen.json()["voucher_id"]) == \
        ("pending", False, vid)
    assert "code" not in seen.json()
    own = await accept(v, token, 0)
    assert (own.status_code, own.json()["code"]) == (409, "own_gift")
    unknown = await accept(v, "x" * 32, 1)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    other_chain = await accept(v, token, v.world.b.members[0])
    assert other_chain.status_code == 404

    taken = await accept(v, token, 1)
    assert taken.status_code == 200, taken.text
    mine = taken.json()
    assert (mine["id"], mine["member_id"], mine["status"]) == \
        (vid, str(v.world.a.members[1].id), "issued")
    assert mine["code"] != old_code and mine["short_code"] != old_short
    assert parse(mine["code"])[0].not_after == parse(old_code)[0].not_after - 1
    assert vid not in await my_vouchers(v, 0)
    again = await accept(v, token, 1)
    assert (again.status_code, again.json()["code"]) == (409, "gift_not_pending")

    # The old code and short code are dead, online and offline; the new one redeems once.
    dead = await v.redeem(old_code, amount=5_000)
    assert (dead.status_code, dead.json()["code"]) == (422, "invalid_code")
    assert (await v.redeem(short_code=old_short, amount=5_000)).status_code == 404
    late = await v.sync([{"code": old_code, "redeemed_at": datetime.now(UTC).isoformat(),
                          "client_ref": "old-code"}])
    assert (late.json()["results"][0]["status"], late.json()["results"][0]["code"]) == \
        ("rejected", "invalid_code")
    spent = await v.redeem(mine["code"], amount=5_000)
    assert spent.status_code == 201, spent.text
    twice = await v.redeem(mine["code"], amount=5_000)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_redeemed")
    regift = await give(v, vid, 1)
    assert (regift.status_code, regift.json()["code"]) == (409, "invalid_state")

    # A transfer is no new issue; the feed and both members were told.
    campaign = await Campaign.select(Campaign.issued_count).where(
        Campaign.id == voucher["campaign_id"]).first().run()
    assert campaign is not None and campaign["issued_count"] == 1
    results = await v.client.get(f"{API}/campaigns/{voucher['campaign_id']}/results",
                                 headers=v.operator)
    assert (results.json()["issued"], results.json()["redeemed"]) == (1, 1)
    assert (await events_of(vid))[:3] == ["voucher.issued", "voucher.gifted",
                                          "voucher.gift_accepted"]
    gave = await _NOTES.rows(v.world.a.id, "voucher_gift")
    assert [(str(n["member_id"]), json_column(n["data"])["outcome"]) for n in gave] == \
        [(str(v.world.a.members[0].id), "accepted")]
    received = await _NOTES.rows(v.world.a.id, "voucher_issued")
    assert str(v.world.a.members[1].id) in {str(n["member_id"]) for n in received}


async def test_cancel_and_expiry_give_the_voucher_back(
        v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    voucher = await v.voucher(name="Back home", giftable=True)
    vid = voucher["id"]
    # Cancelled: the giver's again, with the same code, which still works.
    gift = (await give(v, vid)).json()
    friend = await v.client.post(f"{API}/gifts/{gift['id']}/cancel", headers=member(v, 1))
    assert friend.status_code == 404
    cancelled = await v.client.post(f"{API}/gifts/{gift['id']}/cancel", headers=member(v, 0))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert (await my_vouchers(v, 0))[vid]["status"] == "issued"
    assert (await v.preview(voucher["code"])).status_code == 200
    late = await accept(v, gift["token"], 1)
    assert (late.status_code, late.json()["code"]) == (409, "gift_not_pending")

    # Expired, found by the runner's tick: back to the giver, who is told.
    gift = (await give(v, vid)).json()
    later = datetime.now(UTC) + timedelta(hours=25)
    await worker.tick(Tick(signer=v.runtime.signer, now=later,
                           settings=Settings.from_env()))
    await worker.tick(Tick(signer=v.runtime.signer, now=later,
                           settings=Settings.from_env()))  # twice: nothing more happens
    assert (await my_vouchers(v, 0))[vid]["status"] == "issued"
    expired = await accept(v, gift["token"], 1)
    assert (expired.status_code, expired.json()["code"]) == (410, "gift_expired")

    # Expired, found by the friend's accept before any tick: same outcome.
    gift = (await give(v, vid)).json()
    monkeypatch.setattr(gifts, "utcnow", lambda: later)
    expired = await accept(v, gift["token"], 1)
    assert (expired.status_code, expired.json()["code"]) == (410, "gift_expired")
    assert (await my_vouchers(v, 0))[vid]["status"] == "issued"
    assert (await v.client.get(f"{API}/gifts/{gift['token']}", headers=member(v, 1))
            ).json()["status"] == "expired"
    returned = await _NOTES.rows(v.world.a.id, "voucher_gift")
    assert [json_column(n["data"])["outcome"] for n in returned] == ["returned", "returned"]
    assert (await events_of(vid)).count("voucher.gift_returned") == 3


Outcome = tuple[str, int, dict[str, Any]]


def race_over_http(server: LiveServer, world: World,
                   calls: list[tuple[str, str, Principal]]) -> list[Outcome]:
    """``calls`` (what, path, who) posted at once to the server, one thread each."""
    ready = threading.Barrier(len(calls))

    def post(n: int) -> Outcome:
        what, path, who = calls[n]
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            http.get("/api/v1/health")
            ready.wait(timeout=60)
            response = http.post(path, headers=world.headers(who))
            return what, response.status_code, dict(response.json())

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(post, range(len(calls))))


async def test_one_accept_wins_over_real_http(v: Vouchers, database_url: str) -> None:
    """Eight friends accept one link while its giver cancels it, at once, in two
    processes: a running server (half the friends, one thread each) and this test's own
    app (the other half and the giver): exactly one wins; the others are told the gift is
    not pending; the voucher follows the winner."""
    friends = await v.new_members(8)
    voucher = await v.voucher(name="Race", giftable=True)
    gift = (await give(v, voucher["id"])).json()
    accept_path = f"{API}/gifts/{gift['token']}/accept"
    remote = [("accept", accept_path, f) for f in friends[:4]]
    server = LiveServer(database_url)
    await asyncio.to_thread(server.start)
    try:

        async def local(what: str, path: str, who: Principal) -> Outcome:
            response = await v.client.post(path, headers=v.world.headers(who))
            return what, response.status_code, dict(response.json())

        calls = [local("accept", accept_path, f) for f in friends[4:]]
        calls.append(local("cancel", f"{API}/gifts/{gift['id']}/cancel", v.world.a.members[0]))
        over_http, *here = await asyncio.gather(
            asyncio.to_thread(race_over_http, server, v.world, remote), *calls)
    finally:
        server.stop()
    results = [*over_http, *here]
    winners = [(what, body) for what, status, body in results if status == 200]
    assert len(winners) == 1, Counter((what, status) for what, status, _ in results)
    assert Counter((s, b["code"]) for _, s, b in results if s != 200) == \
        Counter({(409, "gift_not_pending"): len(results) - 1})
    what, body = winners[0]
    after = await v.read(voucher["id"])
    if what == "accept":
        assert (after["member_id"], after["status"]) == (body["member_id"], "issued")
        assert after["code"] == body["code"] != voucher["code"]
    else:
        assert (after["member_id"], after["status"]) == (voucher["member_id"], "issued")
        assert after["code"] == voucher["code"]
