"""Review of issue 20's growth side (jobs and referral) as an attacker and a chain's
marketer would read it: what the builders' tests did not try.

Jobs: a batch must not hold the campaign's row (PostgreSQL) or SQLite's write lock for
seconds, or a member's claim of the same campaign waits that long.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.clock import utcnow
from app.core.settings import Settings
from marketing.jobs import worker
from marketing.jobs.tables import MarketingJob
from marketing.referral import service
from marketing.referral.tables import Referral
from tests.conftest import make_settings
from tests.marketing.test_jobs import (
    _signer,
    add_members,
    job_state,
    job_vouchers,
    make_campaign,
    make_segment,
    segment_issuer,  # noqa: F401 - the autouse fixture wiring the jobs' issuer
    start_job,
)
from tests.marketing.test_referral import Ref, invites, referral_vouchers
from tests.world import World

API = "/api/v1"


async def test_a_batch_never_makes_a_claim_of_its_campaign_wait_long(
        client: httpx.AsyncClient, world: World) -> None:
    """A job of 150 members in batches of 200: at ~19 ms a member on PostgreSQL one batch
    held the campaign's row ~3 s, and a member claiming that campaign meanwhile waited as
    long. A batch now stops after a short time budget and commits, so a claim waits at
    most about that budget."""
    operator = world.headers(world.a.operator)
    members = await add_members(world.a.id, 150)
    campaign_id = await make_campaign(client, operator, per_member_limit=1000,
                                      total_quantity=10_000)
    segment_id = await make_segment(client, operator)
    job_id = (await start_job(client, operator, campaign_id, segment_id)).json()["job_id"]
    claimer = world.headers(world.a.members[0])

    async def work() -> None:
        while await MarketingJob.count().where(MarketingJob.status == "running").run():
            await worker.run(_signer(world), batch=200)

    waits: list[float] = []
    working = asyncio.create_task(work())
    try:
        while not working.done():
            began = time.monotonic()
            claimed = await client.post(f"{API}/campaigns/{campaign_id}/claim",
                                        headers=claimer)
            assert claimed.status_code == 201, claimed.text
            waits.append(time.monotonic() - began)
            await asyncio.sleep(0.02)  # the member's next tap, not a wait for the worker
    finally:
        await working
    state = await job_state(client, operator, job_id)
    assert (state["status"], state["issued"]) == ("done", 150)
    assert sorted((await job_vouchers(job_id)).elements()) == sorted(members)
    assert len(waits) >= 2, waits
    assert max(waits) < 1.0, f"a claim waited {max(waits):.2f} s behind a batch: {waits}"


# --- referral -----------------------------------------------------------------------------

@pytest.fixture
def settings(database_url: str) -> Settings:
    """The server's own runner stays off: the tests tick themselves, at known moments."""
    return make_settings(database_url, marketing_runner=False)


@pytest.fixture
async def ref(client: httpx.AsyncClient, world: World) -> Ref:
    return Ref(client, world)


async def test_an_invite_never_visited_expires_and_the_sweep_forgets_it(ref: Ref) -> None:
    """Pending invites whose friend never came accumulated forever, and every tick of
    every process read them all (an index probe into redemption each). After
    ``INVITE_DAYS`` an invite is refused as ``expired``: a visit after that rewards
    nobody, and the sweep reads only the invites still young enough."""
    await ref.program()
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    stale, young = await ref.login(None, code), await ref.login(None, code)
    long_ago = utcnow() - timedelta(days=service.INVITE_DAYS, minutes=1)
    await Referral.update({Referral.created_at: long_ago}).where(
        Referral.invitee == stale.id).run()
    await ref.visit(stale)
    await ref.visit(young)
    await ref.tick()
    status = {r["invitee"]: (r["status"], r["reason"]) for r in await invites()}
    assert status == {stale.id: ("refused", "expired"), young.id: ("rewarded", None)}
    assert await referral_vouchers(stale.id) == []
    assert len(await referral_vouchers(referrer.id)) == 1
    listed = await ref.client.get(f"{API}/referrals?status=refused", headers=ref.operator)
    assert [(r["invitee_id"], r["reason"]) for r in listed.json()] == [
        (str(stale.id), "expired")]


async def test_an_operator_sees_why_a_rewarded_invite_gave_no_voucher(ref: Ref) -> None:
    """The referrer's campaign allows one voucher a member (the default a marketer
    leaves): the second friend's visit is rewarded but gives the referrer nothing. The
    operator's list says so (``referrer_skip``) instead of a bare null voucher."""
    ref.referrer_campaign = await ref.campaign("Thanks, once", limit=1)
    await ref.program()
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    friends = [await ref.login(None, code) for _ in range(2)]
    for friend in friends:
        await ref.visit(friend)
        await ref.tick()
    listed = (await ref.client.get(f"{API}/referrals", headers=ref.operator)).json()
    by_invitee = {r["invitee_id"]: r for r in listed}
    first, second = (by_invitee[str(f.id)] for f in friends)
    assert (first["status"], first["referrer_skip"], first["invitee_skip"]) == (
        "rewarded", None, None)
    assert (second["status"], second["referrer_voucher_id"], second["referrer_skip"]) == (
        "rewarded", None, "claim_limit_reached")
    assert second["invitee_voucher_id"] is not None and second["invitee_skip"] is None
    mine = await ref.mine(referrer)
    assert (mine["invited"], mine["rewarded"]) == (2, 1)


async def test_a_program_asking_for_a_verified_phone_rewards_only_a_new_number(
        ref: Ref) -> None:
    """An existing customer (registered at the counter, phone verified there) opening a
    friend's link gets a new WeChat member and, without a phone, looked new: both got
    rewarded. A fake account costs only a WeChat login. With
    ``require_verified_phone``, an invite waits (pending, until it expires) for the
    invitee to prove a phone through WeChat; a number another member holds verified is
    refused by that proof (409), so the customer's second account is never rewarded."""
    program = await ref.program()
    assert program["require_verified_phone"] is False
    response = await ref.client.put(f"{API}/referral-program", headers=ref.operator, json={
        "referrer_campaign_id": ref.referrer_campaign,
        "invitee_campaign_id": ref.invitee_campaign, "require_verified_phone": True})
    assert response.status_code == 200 and response.json()["require_verified_phone"] is True
    # A PUT that leaves it out (the admin page pausing and resuming) keeps it.
    assert (await ref.program("paused"))["require_verified_phone"] is True
    assert (await ref.program("active"))["require_verified_phone"] is True
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    newcomer, regular = await ref.login(None, code), await ref.login(None, code)
    for friend in (newcomer, regular):
        await ref.visit(friend)
    await ref.tick()
    assert {r["status"] for r in await invites()} == {"pending"}

    async def prove(member: Any, phone: str) -> int:
        proved = await ref.client.post(f"{API}/me/phone/wechat", headers=ref.world.headers(
            member), json={"code": f"sandbox:{phone}"})
        return proved.status_code

    assert await prove(newcomer, "13955550000") == 200
    assert await prove(regular, "13800007002") == 409  # alpha member 2's, verified
    await ref.tick()
    status = {r["invitee"]: r["status"] for r in await invites()}
    assert status == {newcomer.id: "rewarded", regular.id: "pending"}
    assert len(await referral_vouchers(newcomer.id)) == 1
    assert await referral_vouchers(regular.id) == []


async def test_a_program_may_wait_until_the_first_visit_cannot_be_reversed(
        ref: Ref) -> None:
    """A reward came within a tick of the first visit, and a visit can be reversed for
    24 hours: a clerk scanning a fake friend and reversing it left the referrer's voucher
    given. With ``reward_after_reversal_window`` the reward waits until the visit is
    past that window; a visit reversed meanwhile never counts."""
    await ref.program()
    response = await ref.client.put(f"{API}/referral-program", headers=ref.operator, json={
        "referrer_campaign_id": ref.referrer_campaign,
        "invitee_campaign_id": ref.invitee_campaign, "reward_after_reversal_window": True})
    assert response.status_code == 200 and response.json()["reward_after_reversal_window"]
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    honest, faked = await ref.login(None, code), await ref.login(None, code)
    await ref.visit(honest)
    scanned = await ref.visit(faked)
    await ref.tick()
    assert {r["status"] for r in await invites()} == {"pending"}
    reversed_ = await ref.client.post(
        f"{API}/redemptions/{scanned}/reverse",
        headers=ref.world.headers(ref.world.a.staff["alpha-manager"]))
    assert reversed_.status_code == 200, reversed_.text
    await ref.tick(utcnow() + timedelta(hours=24, minutes=1))
    status = {r["invitee"]: r["status"] for r in await invites()}
    assert status == {honest.id: "rewarded", faked.id: "pending"}
    assert len(await referral_vouchers(referrer.id)) == 1
