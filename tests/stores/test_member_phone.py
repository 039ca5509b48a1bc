"""A member's phone: verified (typed by a clerk at the counter, or vouched for by WeChat's
getPhoneNumber) or unverified (typed by the member with PATCH /me).

An unverified phone never blocks the number's owner from registering at the counter, and
the clerk's lookup by phone prefers the verified member. ``POST /me/phone/wechat``
exchanges a getPhoneNumber code: sandbox codes ``sandbox:<phone>``, live codes over real
HTTP with the WeChat stand-in (tests/stand_ins/wechat.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from stores.tables import Member
from tests.conftest import make_settings, serving
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import PHONE_NUMBER, STABLE_TOKEN, WechatStandIn
from tests.world import World, build_world

wechat_server = stand_ins.wechat_server

LOGIN = "/api/v1/auth/member/wechat"
ME = "/api/v1/me"
PHONE = "/api/v1/me/phone/wechat"
MEMBERS = "/api/v1/members"

APP_A = "wx1a2b3c4d5e6f7a8b"
SECRET_A = "alpha-app-secret-7f3c9a1e5b"
APP_B = "wx9f8e7d6c5b4a3f2e"
SECRET_B = "beta-app-secret-0d4e8b2a6c"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def wechat_member(client: httpx.AsyncClient, chain_id: uuid.UUID,
                        openid: str) -> dict[str, str]:
    """A member who signed in through WeChat (sandbox): no phone yet. Their headers."""
    response = await client.post(LOGIN, json={"chain_id": str(chain_id),
                                              "code": f"sandbox:{openid}"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def claim(client: httpx.AsyncClient, headers: dict[str, str],
                phone: str) -> dict[str, Any]:
    response = await client.patch(ME, headers=headers, json={"phone": phone})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["phone"] == phone and body["phone_verified"] is False
    return body


async def register(client: httpx.AsyncClient, headers: dict[str, str], phone: str,
                   **extra: Any) -> httpx.Response:
    return await client.post(MEMBERS, headers=headers,
                             json={"name": "Owner", "phone": phone, **extra})


async def lookup(client: httpx.AsyncClient, headers: dict[str, str],
                 **params: str) -> list[dict[str, Any]]:
    response = await client.get(MEMBERS, headers=headers, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


# --- item 7: a claimed phone never blocks its owner -------------------------------------

async def test_a_claimed_phone_never_blocks_the_owners_registration(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    claimant = await wechat_member(client, world.a.id, "oClaimant")
    claimed = await claim(client, claimant, "13911112222")

    registered = await register(client, clerk, "139 1111 2222")

    assert registered.status_code == 201, registered.text
    owner = registered.json()
    assert owner["phone"] == "13911112222" and owner["phone_verified"] is True
    # The verified owner wins: the claimant's unverified number is gone, in that same
    # transaction, and the clerk's lookup finds the owner alone.
    assert (await me(client, claimant))["phone"] is None
    found = await lookup(client, clerk, phone="13911112222")
    assert [(m["id"], m["phone_verified"]) for m in found] == [(owner["id"], True)]
    assert claimed["id"] not in {m["id"] for m in found}
    # A second registration of a verified number is still refused.
    problem(await register(client, clerk, "13911112222"), 409, "phone_taken")


async def test_lookup_prefers_the_verified_member(client: httpx.AsyncClient,
                                                  world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk2"])
    owner = (await register(client, clerk, "13933334444")).json()
    # Typing someone's verified number is accepted (and never says whose it is) ...
    late = await wechat_member(client, world.a.id, "oLateClaimant")
    await claim(client, late, "13933334444")
    # ... but the clerk still finds only the verified owner.
    found = await lookup(client, clerk, phone="13933334444")
    assert [m["id"] for m in found] == [owner["id"]]


async def test_unverified_claims_are_listed_flagged_when_no_one_is_verified(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    first = await claim(client, await wechat_member(client, world.a.id, "oFirst"),
                        "13955556666")
    second = await claim(client, await wechat_member(client, world.a.id, "oSecond"),
                         "13955556666")

    found = await lookup(client, clerk, phone="13955556666")

    assert [(m["id"], m["phone_verified"]) for m in found] == [
        (first["id"], False), (second["id"], False)]


async def test_a_members_own_phone_keeps_its_verification(client: httpx.AsyncClient,
                                                          world: World) -> None:
    member = world.headers(world.a.members[0])
    mine = await me(client, member)
    assert mine["phone_verified"] is True  # registered at the counter
    same = await client.patch(ME, headers=member, json={"phone": mine["phone"]})
    assert same.json()["phone_verified"] is True
    # A new number typed by the member proves nothing; the old one is free again.
    await claim(client, member, "13977778888")
    assert (await register(client, world.headers(world.a.operator), mine["phone"])
            ).status_code == 201


async def test_concurrent_registrations_of_one_phone_make_one_member(
        client: httpx.AsyncClient, world: World) -> None:
    clerks = [world.headers(world.a.staff[name]) for name in ("alpha-clerk1", "alpha-clerk2")]
    answers = await asyncio.gather(*(register(client, clerks[n % 2], "13912120000")
                                     for n in range(6)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"phone_taken"}


# --- item 7: POST /me/phone/wechat, sandbox ---------------------------------------------

async def test_sandbox_wechat_phone_is_verified_and_wins_over_claims(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    claimant = await wechat_member(client, world.a.id, "oSquatter")
    await claim(client, claimant, "13900001111")
    owner = await wechat_member(client, world.a.id, "oRealOwner")

    response = await client.post(PHONE, headers=owner, json={"code": "sandbox:13900001111"})

    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "13900001111"
    assert response.json()["phone_verified"] is True
    assert (await me(client, claimant))["phone"] is None
    assert [m["id"] for m in await lookup(client, clerk, phone="13900001111")] == [
        response.json()["id"]]
    # Proving one's own number again changes nothing; the counter cannot take it.
    again = await client.post(PHONE, headers=owner, json={"code": "sandbox:13900001111"})
    assert again.status_code == 200 and again.json()["phone_verified"] is True
    problem(await register(client, clerk, "13900001111"), 409, "phone_taken")


async def test_a_phone_held_verified_by_another_member_is_a_conflict(
        client: httpx.AsyncClient, world: World) -> None:
    taken = (await me(client, world.headers(world.a.members[0])))["phone"]
    newcomer = await wechat_member(client, world.a.id, "oNewcomer")

    problem(await client.post(PHONE, headers=newcomer, json={"code": f"sandbox:{taken}"}),
            409, "phone_taken")

    assert (await me(client, newcomer))["phone"] is None
    # The same number in another chain is that chain's business.
    beta = await wechat_member(client, world.b.id, "oNewcomer")
    assert (await client.post(PHONE, headers=beta, json={"code": f"sandbox:{taken}"})
            ).status_code == 200


@pytest.mark.parametrize("code", ["13900001111", "sandbox:", "sandbox:call-me",
                                  "sandbox:139\n0000", "wx-real-looking-code"])
async def test_sandbox_bad_phone_codes_are_refused(client: httpx.AsyncClient, world: World,
                                                   code: str) -> None:
    member = await wechat_member(client, world.a.id, "oBadCodes")
    problem(await client.post(PHONE, headers=member, json={"code": code}),
            400, "wechat_phone_failed")
    assert (await me(client, member))["phone"] is None


async def test_phone_codes_are_rate_limited_per_member(client: httpx.AsyncClient,
                                                       world: World) -> None:
    member = await wechat_member(client, world.a.id, "oHammer")
    for _ in range(10):
        problem(await client.post(PHONE, headers=member, json={"code": "sandbox:x"}),
                400, "wechat_phone_failed")
    problem(await client.post(PHONE, headers=member, json={"code": "sandbox:13900003333"}),
            429, "rate_limited")
    # Another member is not held back.
    other = await wechat_member(client, world.a.id, "oPatient")
    assert (await client.post(PHONE, headers=other, json={"code": "sandbox:13900003333"})
            ).status_code == 200


async def test_only_members_verify_phones(client: httpx.AsyncClient, world: World) -> None:
    body = {"code": "sandbox:13900002222"}
    problem(await client.post(PHONE, json=body), 401, "unauthorized")
    problem(await client.post(PHONE, headers=world.headers(world.a.operator), json=body),
            403, "forbidden")
    problem(await client.post(PHONE, headers=world.headers(world.a.members[0]), json={}),
            400, "validation_error")


# --- item 7: POST /me/phone/wechat, live (the WeChat stand-in) --------------------------

@dataclass
class Live:
    client: httpx.AsyncClient
    world: World
    wechat: WechatStandIn
    member: dict[str, str]  # headers of a member of chain A who signed in through WeChat

    async def verify(self, code: str) -> httpx.Response:
        return await self.client.post(PHONE, headers=self.member, json={"code": code})


@pytest.fixture
async def live(database_url: str, wechat_server: WechatStandIn) -> AsyncIterator[Live]:
    wechat_server.add_app(APP_A, SECRET_A)
    wechat_server.add_app(APP_B, SECRET_B)
    app = create_app(make_settings(database_url, wechat_mode="live",
                                   wechat_api_base=wechat_server.url))
    async with serving(app) as client:
        world = await build_world(app)
        for chain, app_id, secret in ((world.a, APP_A, SECRET_A), (world.b, APP_B, SECRET_B)):
            put = await client.put("/api/v1/wechat-config", headers=world.headers(
                chain.operator), json={"app_id": app_id, "app_secret": secret})
            assert put.status_code == 200, put.text
        login = await client.post(LOGIN, json={
            "chain_id": str(world.a.id),
            "code": wechat_server.register_code("oLivePhone", app_id=APP_A)})
        assert login.status_code == 200, login.text
        yield Live(client=client, world=world, wechat=wechat_server,
                   member={"Authorization": f"Bearer {login.json()['token']}"})


async def test_live_phone_code_is_exchanged_with_wechat(live: Live) -> None:
    login = await live.client.post(LOGIN, json={
        "chain_id": str(live.world.a.id),
        "code": live.wechat.register_code("oLiveSquatter", app_id=APP_A)})
    claimant = {"Authorization": f"Bearer {login.json()['token']}"}
    await claim(live.client, claimant, "13912345000")
    code = live.wechat.register_phone_code("13912345000", app_id=APP_A)

    response = await live.verify(code)

    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "13912345000"
    assert response.json()["phone_verified"] is True
    assert (await me(live.client, claimant))["phone"] is None
    sent = live.wechat.requests_to(PHONE_NUMBER)
    assert len(sent) == 1 and sent[0].method == "POST"
    assert sent[0].json == {"code": code}
    assert set(sent[0].query) == {"access_token"}
    assert sent[0].query["access_token"] in live.wechat.tokens
    assert [r.json["appid"] for r in live.wechat.token_fetches()] == [APP_A]


async def test_live_foreign_numbers_keep_their_country_code(live: Live) -> None:
    code = live.wechat.register_phone_code("4155550100", country_code="1", app_id=APP_A)
    response = await live.verify(code)
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "+14155550100"


async def test_live_bad_codes_are_refused(live: Live) -> None:
    problem(await live.verify("0" * 64), 400, "wechat_phone_failed")
    code = live.wechat.register_phone_code("13912345001", app_id=APP_A)
    assert (await live.verify(code)).status_code == 200
    used = problem(await live.verify(code), 400, "wechat_phone_failed")
    assert "40029" in used["detail"]
    # Another chain's mini program's code: WeChat refuses it for this app.
    problem(await live.verify(live.wechat.register_phone_code("13912345002", app_id=APP_B)),
            400, "wechat_phone_failed")
    problem(await live.verify("sandbox:13912345003"), 400, "wechat_phone_failed")
    assert (await me(live.client, live.member))["phone"] == "13912345001"


async def test_live_watermark_of_another_app_is_refused(live: Live) -> None:
    code = live.wechat.register_phone_code("13912345004", watermark_app_id=APP_B)

    body = problem(await live.verify(code), 400, "wechat_phone_failed")

    assert "another WeChat app" in body["detail"]
    assert (await me(live.client, live.member))["phone"] is None


async def test_live_refused_token_is_renewed_once(live: Live) -> None:
    assert (await live.verify(live.wechat.register_phone_code("13912345005"))
            ).status_code == 200
    live.wechat.invalidate_tokens()  # another deployment forced a new token: 40001

    response = await live.verify(live.wechat.register_phone_code("13912345006"))

    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "13912345006"
    assert len(live.wechat.token_fetches(forced=True)) == 1
    assert len(live.wechat.requests_to(PHONE_NUMBER)) == 3


@pytest.mark.parametrize("fault", ["busy", "http_error", "drop"])
async def test_live_wechat_trouble_is_a_503(live: Live, fault: str) -> None:
    code = live.wechat.register_phone_code("13912345007")
    if fault == "busy":
        live.wechat.fail(PHONE_NUMBER, -1)
    elif fault == "http_error":
        live.wechat.http_error(PHONE_NUMBER, 502)
    else:
        live.wechat.drop(PHONE_NUMBER, times=2)

    problem(await live.verify(code), 503, "wechat_unavailable")

    assert (await me(live.client, live.member))["phone"] is None
    live.wechat.clear_faults()
    assert (await live.verify(code)).status_code == 200  # the code was never used


async def test_live_chain_without_wechat_app_fails_without_calling_wechat(
        database_url: str, wechat_server: WechatStandIn) -> None:
    app = create_app(make_settings(database_url, wechat_mode="live",
                                   wechat_api_base=wechat_server.url))
    async with serving(app) as client:
        world = await build_world(app)
        response = await client.post(PHONE, headers=world.headers(world.a.members[0]),
                                     json={"code": "0" * 64})
        problem(response, 400, "wechat_phone_failed")
    assert wechat_server.requests == []
    assert STABLE_TOKEN not in {r.path for r in wechat_server.requests}


# --- item 9: who may list members -------------------------------------------------------

async def _card(client: httpx.AsyncClient, world: World, member_id: str,
                store_ids: list[uuid.UUID] | None) -> dict[str, Any]:
    operator = world.headers(world.a.operator)
    template = await client.post("/api/v1/card-templates", headers=operator, json={
        "name": f"Card {uuid.uuid4().hex[:6]}", "kind": "membership",
        "store_ids": None if store_ids is None else [str(s) for s in store_ids]})
    assert template.status_code == 201, template.text
    card = await client.post("/api/v1/cards", headers=operator, json={
        "template_id": template.json()["id"], "member_id": member_id})
    assert card.status_code == 201, card.text
    body: dict[str, Any] = card.json()
    return body


async def test_clerks_find_members_only_by_phone_or_card_number(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    problem(await client.get(MEMBERS, headers=clerk), 403, "forbidden")
    problem(await client.get(MEMBERS, headers=clerk, params={"limit": 200, "offset": 0}),
            403, "forbidden")

    member_id = str(world.a.members[1].id)
    card = await _card(client, world, member_id, [world.a.stores[1]])
    found = await lookup(client, clerk, card_number=card["number"])
    assert [m["id"] for m in found] == [member_id]
    spaced = " ".join(card["number"][i:i + 4] for i in range(0, len(card["number"]), 4))
    assert [m["id"] for m in await lookup(client, clerk, card_number=spaced)] == [member_id]
    assert await lookup(client, clerk, card_number="000000000000") == []
    # Another chain's card number finds nobody.
    beta_clerk = world.headers(world.b.staff["beta-clerk1"])
    assert await lookup(client, beta_clerk, card_number=card["number"]) == []
    problem(await client.get(MEMBERS, headers=clerk, params={
        "phone": "13800000001", "card_number": card["number"]}), 400, "validation_error")


async def test_managers_list_their_stores_members(client: httpx.AsyncClient,
                                                  world: World) -> None:
    s1, s2 = world.a.stores
    operator = world.headers(world.a.operator)
    at_s1 = (await register(client, operator, "13966660001", store_id=str(s1))).json()
    at_s2 = (await register(client, operator, "13966660002", store_id=str(s2))).json()
    card_s1 = (await register(client, operator, "13966660003", store_id=str(s2))).json()
    card_all = (await register(client, operator, "13966660004")).json()
    card_s2 = (await register(client, operator, "13966660005")).json()
    await _card(client, world, card_s1["id"], [s1])
    await _card(client, world, card_all["id"], None)  # usable at every store
    await _card(client, world, card_s2["id"], [s2])

    manager = await lookup(client, world.headers(world.a.staff["alpha-manager"]))

    assert {m["id"] for m in manager} == {at_s1["id"], card_s1["id"], card_all["id"]}
    assert {at_s2["id"], card_s2["id"]}.isdisjoint({m["id"] for m in manager})
    # Managers and clerks still find anyone of the chain by exact phone.
    for who in ("alpha-manager", "alpha-clerk1"):
        found = await lookup(client, world.headers(world.a.staff[who]), phone="13966660002")
        assert [m["id"] for m in found] == [at_s2["id"]]


async def test_operators_list_every_member_of_their_chain(client: httpx.AsyncClient,
                                                          world: World) -> None:
    operator = await lookup(client, world.headers(world.a.operator))
    assert {m["id"] for m in operator} == {str(m.id) for m in world.a.members}
    assert await Member.count().where(Member.chain == world.b.id).run() == 2
    paged = await lookup(client, world.headers(world.a.operator), limit="1", offset="1")
    assert len(paged) == 1 and paged[0]["id"] != operator[0]["id"]
