"""Review of issue 20's voucher side, as an attacker and as WeChat 转赠 users expect:
who may accept, idempotent replays by someone else, re-gifting, the boundaries of a
gift's life, what the feed and the outbox carry, and the lock order of issuing (a member's
claim racing a batch that issues the same campaign on PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from app.core.codes.format import parse
from app.core.db import Sql, current_engine, is_sqlite, write_transaction
from cards import public, voucher_scans
from cards.campaign_rules import usable_at
from cards.offline_bundle import voucher_key
from marketing.gifts import service as gifts
from tests.cards.conftest import API
from tests.cards.test_vouchers import Vouchers
from tests.world import World

_FEED = Sql("SELECT data FROM core_event WHERE object_id = {}")
_OUTBOX = Sql("SELECT data FROM core_notification WHERE chain_id = {}")
_WAITING_ON_A_LOCK = Sql(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND datname = current_database()")


@pytest.fixture
def v(client: httpx.AsyncClient, world: World) -> Vouchers:
    return Vouchers(client, world)


Who = Principal | int  # a member, or the index of one of chain alpha's


def as_member(v: Vouchers, who: Who) -> dict[str, str]:
    return v.world.headers(who) if isinstance(who, Principal) else v.member(who)


async def give(v: Vouchers, voucher_id: str, who: Who = 0) -> httpx.Response:
    return await v.client.post(f"{API}/vouchers/{voucher_id}/gift", headers=as_member(v, who))


async def accept(v: Vouchers, token: str, who: Who, **headers: str) -> httpx.Response:
    return await v.client.post(f"{API}/gifts/{token}/accept",
                               headers={**as_member(v, who), **headers})


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), \
        response.text
    return response.status_code, str(response.json()["code"])


async def test_who_may_accept_and_replays_by_someone_else(v: Vouchers) -> None:
    """Staff may not take a member's gift; an Idempotency-Key is the caller's own, so a
    second member replaying the winner's key gets no copy of the winner's voucher."""
    voucher = await v.voucher(name="Who accepts", giftable=True)
    gift = (await give(v, voucher["id"])).json()
    for staff in (v.operator, v.staff("alpha-clerk1")):
        refused = await v.client.post(f"{API}/gifts/{gift['token']}/accept", headers=staff)
        assert refused.status_code == 403, refused.text
    assert (await v.client.get(f"{API}/gifts/{gift['token']}", headers=v.operator)
            ).status_code == 403
    won = await accept(v, gift["token"], 1, **{"Idempotency-Key": "take-it"})
    assert won.status_code == 200, won.text
    replay = await accept(v, gift["token"], 1, **{"Idempotency-Key": "take-it"})
    assert replay.json() == won.json() and replay.headers.get("Idempotent-Replayed") == "true"
    (third,) = await v.new_members(1)
    other = await accept(v, gift["token"], third, **{"Idempotency-Key": "take-it"})
    assert problem(other) == (409, "gift_not_pending")
    assert "code" not in other.json() or other.json()["code"] == "gift_not_pending"
    assert won.json()["code"] not in other.text


async def test_a_received_voucher_is_given_on_and_every_old_code_dies(v: Vouchers) -> None:
    """A → B → C: each transfer kills the codes before it (online and by short code); the
    last holder's code redeems once; the feed and the outbox never carry a code or a
    token."""
    voucher = await v.voucher(name="Passed on", giftable=True, min_spend_cents=0)
    codes = [(voucher["code"], voucher["short_code"])]
    tokens = []
    holder: Who = 0
    friends: list[Who] = [1, *await v.new_members(1)]
    for friend in friends:
        gift = await give(v, voucher["id"], holder)
        assert gift.status_code == 201, gift.text
        tokens.append(gift.json()["token"])
        taken = await accept(v, gift.json()["token"], friend)
        assert taken.status_code == 200, taken.text
        codes.append((taken.json()["code"], taken.json()["short_code"]))
        holder = friend
    for code, short in codes[:-1]:
        assert problem(await v.redeem(code, amount=5_000)) == (422, "invalid_code")
        assert problem(await v.preview(code)) == (422, "invalid_code")
        assert (await v.redeem(short_code=short, amount=5_000)).status_code == 404
    code, _ = codes[-1]
    assert (await v.redeem(code, amount=5_000)).status_code == 201
    assert problem(await v.redeem(code, amount=5_000)) == (409, "already_redeemed")
    secrets = {c for pair in codes for c in pair} | set(tokens)
    written = [str(r["data"]) for r in await _FEED.rows(uuid.UUID(voucher["id"]))]
    written += [str(r["data"]) for r in await _OUTBOX.rows(v.world.a.id)]
    assert written and not [s for s in secrets if any(s in w for w in written)]


async def test_what_cannot_be_given(v: Vouchers) -> None:
    """Revoked → 409 invalid_state; past its end → 410 code_expired; being given →
    409 voucher_gifting; a paused campaign's voucher may still be given (pausing stops
    issuing, not using: it still redeems at the till)."""
    revoked = await v.voucher(name="Revoked", giftable=True)
    assert (await v.client.post(f"{API}/vouchers/{revoked['id']}/revoke",
                                headers=v.operator)).status_code == 200
    assert problem(await give(v, revoked["id"])) == (409, "invalid_state")
    paused = await v.voucher(name="Paused", giftable=True)
    assert (await v.client.post(f"{API}/campaigns/{paused['campaign_id']}/pause",
                                headers=v.operator)).status_code == 200
    assert (await give(v, paused["id"])).status_code == 201
    assert problem(await give(v, paused["id"])) == (409, "voucher_gifting")
    soon = datetime.now(UTC) + timedelta(seconds=30)
    ending = await v.voucher(name="Ending", giftable=True,
                             valid_until=soon.isoformat())
    gift = await give(v, ending["id"])
    assert gift.status_code == 201, gift.text
    # The gift ends before the voucher's last second: the friend never receives a
    # voucher already over (its new code ends one second before the old one).
    expires = datetime.fromisoformat(gift.json()["expires_at"])
    assert expires <= datetime.fromisoformat(ending["valid_until"]) - timedelta(seconds=1)


async def test_an_accept_losing_to_the_clock_is_a_410_and_the_voucher_comes_back(
        v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 24 h boundary: the accept's check runs just before the end and its write just
    after. The friend is told 410 gift_expired (no voucher, no 500); the giver's next
    read settles the gift and has the voucher back, its old code working."""
    voucher = await v.voucher(name="Boundary", giftable=True)
    gift = (await give(v, voucher["id"])).json()
    end = datetime.fromisoformat(gift["expires_at"])
    clock = iter([end - timedelta(milliseconds=1)])
    monkeypatch.setattr(gifts, "utcnow", lambda: next(clock, end))
    late = await accept(v, gift["token"], 1)
    assert problem(late) == (410, "gift_expired")
    mine = await v.client.get(f"{API}/me/gifts?pending=false", headers=v.member(0))
    assert [g["status"] for g in mine.json()] == ["expired"]
    monkeypatch.undo()
    back = await v.client.get(f"{API}/vouchers/{voucher['id']}", headers=v.member(0))
    assert (back.status_code, back.json()["status"]) == (200, "issued")
    assert (await v.preview(voucher["code"])).status_code == 200


async def test_a_claim_racing_a_batch_of_the_same_campaign_does_not_deadlock(
        v: Vouchers) -> None:
    """A batch (a job, a bulk issue) issues one campaign to m1 then m2 in one transaction
    while m2 claims it. Issuing locked the member's claim row before the campaign row,
    so the batch held the campaign and waited for m2's claim row while m2's claim held
    that row and waited for the campaign: PostgreSQL aborted one (a 500 for the member,
    or a failed batch). The campaign row is now taken first: the two take turns."""
    made = await v.campaign(name="Turns", total_quantity=10)
    cid = uuid.UUID(made["id"])
    m1, m2 = await v.new_members(2)
    signer = v.runtime.signer
    go = asyncio.Event()

    async def member_claims() -> httpx.Response:
        await go.wait()  # created outside the batch's transaction: its own context
        return await v.claim(made["id"], m2)

    claim = asyncio.create_task(member_claims())
    async with write_transaction():
        await public.issue_voucher(v.world.a.id, cid, m1.id, signer=signer, source="job")
        go.set()
        if not is_sqlite(current_engine()):
            deadline = asyncio.get_running_loop().time() + 10
            while (await _WAITING_ON_A_LOCK.rows())[0]["n"] < 1:
                assert asyncio.get_running_loop().time() < deadline, "the claim never waited"
                await asyncio.sleep(0.02)
        try:
            await public.issue_voucher(v.world.a.id, cid, m2.id, signer=signer, source="job")
            batch = "issued"
        except Exception as err:  # noqa: BLE001 - the deadlock is what is looked for
            batch = type(err).__name__
    claimed = await claim
    assert batch == "issued"
    assert claimed.status_code in (201, 409), claimed.text
    if claimed.status_code == 409:
        assert problem(claimed) == (409, "claim_limit_reached")



ODD_RULES: list[dict[str, Any]] = [
    {"hours": "10:00-14:00"}, {"hours": {"from": "10:00", "to": "14:00", "tz": "UTC"}},
    {"hours": {"from": "10:00", "to": 1400}}, {"hours": {"from": "24:00", "to": "24:00"}},
    {"weekdays": [True]}, {"weekdays": "0-4"},
]


async def test_odd_rule_shapes_are_400_problems(v: Vouchers) -> None:
    for body in ODD_RULES:
        assert problem(await v.create(**body)) == (400, "validation_error"), body


async def test_both_spellings_of_hours_to_midnight_agree(v: Vouchers) -> None:
    hours = {"from": "18:00", "to": "24:00"}
    made = await v.campaign(name="Night", hours=hours, time_from="18:00",
                            time_until="24:00")
    assert (made["hours"], made["time_until"]) == (hours, "24:00")


def test_hours_follow_the_wall_clock_across_dst() -> None:
    """A store in a zone with daylight saving: the hours are its wall clock's. At the
    autumn fold 01:30 happens twice and both are inside 01:00-02:00; the spring gap has
    no 02:30, and the hour after 01:59 is 03:00."""
    rules = {"weekdays": None, "time_from": "01:00", "time_until": "02:00"}
    zone = "America/New_York"
    first_0130 = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT
    second_0130 = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # EST
    assert usable_at(rules, first_0130, zone) and usable_at(rules, second_0130, zone)
    assert not usable_at(rules, datetime(2026, 11, 1, 7, 0, tzinfo=UTC), zone)  # 02:00
    spring = {"weekdays": None, "time_from": "02:00", "time_until": "03:00"}
    assert not usable_at(spring, datetime(2026, 3, 8, 7, 0, tzinfo=UTC), zone)  # 03:00 EDT
    assert usable_at({"weekdays": [6], "time_from": "23:00", "time_until": "24:00"},
                     datetime(2026, 3, 9, 3, 30, tzinfo=UTC), zone)  # Sunday 23:30 EDT


async def bundle_document(v: Vouchers) -> dict[str, Any]:
    bundle = await v.client.get(f"{API}/campaigns/offline-bundle",
                                params={"store_id": str(v.world.a.stores[0])},
                                headers=v.staff("alpha-clerk1"))
    assert bundle.status_code == 200, bundle.text
    payload = bundle.json()["payload"]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_the_offline_bundle_knows_gifting_and_replaced_codes(v: Vouchers) -> None:
    """An offline scanner cannot ask the server whether a code was replaced: the signed
    bundle lists the vouchers being given (refused offline: voucher_gifting) and, for a
    voucher given already, the not_after of its code now (the giver's dead code ends a
    second later: refused offline instead of queued)."""
    voucher = await v.voucher(name="Offline gift", giftable=True)
    kept = await v.voucher(member_index=1, name="Kept")
    key, kept_key = voucher_key(uuid.UUID(voucher["id"])), voucher_key(uuid.UUID(kept["id"]))
    gift = (await give(v, voucher["id"])).json()
    document = await bundle_document(v)
    assert key in document["gifting"] and key not in document["vouchers"]
    assert (await accept(v, gift["token"], 1)).status_code == 200
    document = await bundle_document(v)
    new_code = (await v.client.get(f"{API}/vouchers/{voucher['id']}",
                                   headers=v.member(1))).json()["code"]
    assert document["gifting"] == [] and key in document["vouchers"]
    assert document["code_ends"] == {key: parse(new_code)[0].not_after}
    assert parse(voucher["code"])[0].not_after != document["code_ends"][key]
    assert kept_key in document["vouchers"] and kept_key not in document["code_ends"]


async def test_the_access_log_never_carries_a_gift_token(
        v: Vouchers, caplog: pytest.LogCaptureFixture) -> None:
    """A gift's token is a bearer secret (whoever holds it may accept) and the contract
    puts it in the path: the access line must not keep it."""
    voucher = await v.voucher(name="Logged", giftable=True)
    gift = (await give(v, voucher["id"])).json()
    assert gift["token"].startswith(gifts.TOKEN_PREFIX)
    with caplog.at_level(logging.INFO, logger="o2o.access"):
        assert (await v.client.get(f"{API}/gifts/{gift['token']}",
                                   headers=v.member(1))).status_code == 200
        assert (await v.client.get("/m/", params={"chain": str(v.world.a.id),
                                                  "gift": gift["token"]})).status_code < 500
    lines = [record.getMessage() for record in caplog.records]
    assert any("/gifts/" in line for line in lines), lines
    assert not [line for line in lines if gift["token"][len(gifts.TOKEN_PREFIX):] in line]


async def test_odd_gift_requests_are_4xx_problems(v: Vouchers) -> None:
    """Whatever the path or query holds, a problem with a code, never a 500."""
    m = v.member(1)
    tries = [
        ("GET", f"{API}/gifts/{'x' * 101}", 400), ("GET", f"{API}/gifts/%00", 404),
        ("POST", f"{API}/gifts/{'o2o_gt_' + 'A' * 32}/accept", 404),
        ("POST", f"{API}/gifts/%E2%80%AE/accept", 404),
        ("POST", f"{API}/gifts/not-a-uuid/cancel", 404),
        ("POST", f"{API}/gifts/{uuid.uuid4()}/cancel", 404),
        ("POST", f"{API}/vouchers/{uuid.uuid4()}/gift", 404),
        ("GET", f"{API}/me/gifts?pending=maybe", 400),
    ]
    for method, path, status in tries:
        answer = await v.client.request(method, path, headers=m)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"], answer.text
    bad_key = await v.client.post(f"{API}/gifts/{'A' * 32}/accept",
                                  headers={**m, "Idempotency-Key": "x" * 256})
    assert problem(bad_key) == (400, "validation_error")


async def test_a_scan_of_the_old_code_racing_the_accept_spends_nothing(
        v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    """The till checks the giver's code while it is still theirs; before its write, the
    gift is made and accepted. The spend must not go through with the old code (the
    voucher is the friend's now, under a new code): 422 invalid_code, and the friend's
    code still redeems."""
    voucher = await v.voucher(name="Raced", giftable=True, min_spend_cents=0)
    taken: dict[str, Any] = {}
    check = voucher_scans.VOUCHERS.check

    async def check_then_the_gift_happens(scan: Any) -> Any:
        checked = await check(scan)
        if not taken:
            gift = (await give(v, voucher["id"])).json()
            taken.update((await accept(v, gift["token"], 1)).json())
        return checked

    monkeypatch.setattr(voucher_scans.VOUCHERS, "check", check_then_the_gift_happens)
    raced = await v.redeem(voucher["code"], amount=5_000)
    assert problem(raced) == (422, "invalid_code")
    assert taken["member_id"] == str(v.world.a.members[1].id)
    monkeypatch.undo()
    assert (await v.redeem(taken["code"], amount=5_000)).status_code == 201
