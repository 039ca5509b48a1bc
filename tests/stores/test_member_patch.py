"""``PATCH /members/{id}`` (issue 18): staff correct a member's name, phone, birthday or
external id; and the member events: ``member.created`` on every path that creates a
member, ``member.updated`` on every change of what the API shows of one, written in the
change's own transaction with the member as the staff API answers it (a failed change
writes none).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from piccolo.query import Select

from app.core.tables import Event
from stores import repository as stores_repo
from tests.world import World

MEMBERS = "/api/v1/members"
LOGIN = "/api/v1/auth/member/wechat"
ME = "/api/v1/me"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


_phones = iter(range(10_000, 99_999))


def phone() -> str:
    return f"1366666{next(_phones):05d}"


async def register(client: httpx.AsyncClient, headers: dict[str, str],
                   **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = ok(await client.post(
        MEMBERS, headers=headers, json={"name": "Zhang", "phone": phone(), **extra}), 201)
    return body


async def events_of(member_id: str | uuid.UUID) -> list[dict[str, Any]]:
    """The member's events as written (in insert order), numbered or not."""
    query: Select[Any] = Event.select().where(
        Event.object_id == uuid.UUID(str(member_id))).order_by(Event.created_at)
    rows: list[dict[str, Any]] = await query.output(load_json=True).run()
    return rows


async def wechat_login(client: httpx.AsyncClient, chain_id: uuid.UUID,
                       openid: str) -> tuple[dict[str, str], dict[str, Any]]:
    answer = ok(await client.post(LOGIN, json={"chain_id": str(chain_id),
                                               "code": f"sandbox:{openid}"}))
    return {"Authorization": f"Bearer {answer['token']}"}, answer["member"]


async def test_staff_change_each_field(client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    member = await register(client, clerk, birthday="1990-05-01")
    url = f"{MEMBERS}/{member['id']}"

    renamed = ok(await client.patch(url, headers=clerk, json={"name": "  Zhang Wei  "}))
    assert renamed["name"] == "Zhang Wei"
    assert (renamed["phone"], renamed["birthday"]) == (member["phone"], "1990-05-01")
    assert ok(await client.patch(url, headers=clerk, json={"birthday": "1991-06-02"}))[
        "birthday"] == "1991-06-02"
    new_phone = phone()
    moved = ok(await client.patch(url, headers=clerk, json={"phone": new_phone[:3] + " "
                                                             + new_phone[3:]}))
    assert (moved["phone"], moved["phone_verified"]) == (new_phone, True)
    assert ok(await client.patch(url, headers=clerk, json={"external_id": "C-77"}))[
        "external_id"] == "C-77"
    # Several at once; and the answer is what GET answers.
    both = ok(await client.patch(url, headers=clerk, json={"name": "Wei", "birthday": None,
                                                          "external_id": None}))
    assert (both["name"], both["birthday"], both["external_id"]) == ("Wei", None, None)
    assert ok(await client.get(url, headers=clerk)) == both
    # The old number finds no one; the new one finds the member.
    assert ok(await client.get(MEMBERS, headers=clerk, params={"phone": member["phone"]})) == []
    found = ok(await client.get(MEMBERS, headers=clerk, params={"phone": new_phone}))
    assert [m["id"] for m in found] == [member["id"]]


async def test_null_clears_the_name_birthday_and_external_id(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.headers(world.a.operator)
    member = await register(client, operator, birthday="2000-01-01", external_id="N-1")
    cleared = ok(await client.patch(f"{MEMBERS}/{member['id']}", headers=operator,
                                    json={"name": None, "birthday": None,
                                          "external_id": None}))
    assert (cleared["name"], cleared["birthday"], cleared["external_id"]) == ("", None, None)
    assert cleared["phone"] == member["phone"]


@pytest.mark.parametrize("body", [
    {}, {"phone": None}, {"phone": "12"}, {"phone": "not a phone"}, {"name": ""},
    {"name": "   "}, {"name": "x" * 121}, {"birthday": "1990-13-01"}, {"external_id": ""},
    {"openid": "o-stolen"}, {"phone_verified": False}, {"name": 5},
])
async def test_bad_bodies_are_400(client: httpx.AsyncClient, world: World,
                                  body: dict[str, Any]) -> None:
    operator = world.headers(world.a.operator)
    member = world.a.members[0]
    before = ok(await client.get(f"{MEMBERS}/{member.id}", headers=operator))
    problem(await client.patch(f"{MEMBERS}/{member.id}", headers=operator, json=body), 400,
            "validation_error")
    assert ok(await client.get(f"{MEMBERS}/{member.id}", headers=operator)) == before
    assert [e["type"] for e in await events_of(member.id)] == ["member.created"]


async def test_a_taken_phone_is_409_and_a_claimed_one_is_taken_over(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    owner = await register(client, clerk)
    other = await register(client, clerk)
    body = problem(await client.patch(f"{MEMBERS}/{other['id']}", headers=clerk,
                                      json={"phone": owner["phone"], "name": "Not saved"}),
                   409, "phone_taken")
    assert "phone" in body["detail"]
    assert ok(await client.get(f"{MEMBERS}/{other['id']}", headers=clerk))["name"] == "Zhang"
    # Its own number again is no conflict.
    ok(await client.patch(f"{MEMBERS}/{owner['id']}", headers=clerk,
                          json={"phone": owner["phone"]}))

    # A number a member only typed themselves (PATCH /me, unverified) goes to the member
    # the staff set it on, verified; the claimant loses it (member.updated for both).
    claimant_headers, claimant = await wechat_login(client, world.a.id, "oPatchClaimant")
    claimed = phone()
    ok(await client.patch(ME, headers=claimant_headers, json={"phone": claimed}))
    got = ok(await client.patch(f"{MEMBERS}/{other['id']}", headers=clerk,
                                json={"phone": claimed}))
    assert (got["phone"], got["phone_verified"]) == (claimed, True)
    assert ok(await client.get(ME, headers=claimant_headers))["phone"] is None
    claimant_events = await events_of(claimant["id"])
    assert [e["type"] for e in claimant_events] == [
        "member.created", "member.updated", "member.updated"]
    assert claimant_events[-1]["data"]["phone"] is None

    # The member's own unverified number, set by staff, becomes verified.
    own_headers, own = await wechat_login(client, world.a.id, "oPatchOwn")
    typed = phone()
    ok(await client.patch(ME, headers=own_headers, json={"phone": typed}))
    verified = ok(await client.patch(f"{MEMBERS}/{own['id']}", headers=clerk,
                                     json={"phone": typed}))
    assert (verified["phone"], verified["phone_verified"]) == (typed, True)


async def test_who_may_change_a_member(client: httpx.AsyncClient, world: World) -> None:
    member_id = world.a.members[0].id
    url = f"{MEMBERS}/{member_id}"
    # Staff see every member of their chain: a clerk of the other store too.
    for name in ("alpha-clerk1", "alpha-clerk2", "alpha-manager"):
        ok(await client.patch(url, headers=world.headers(world.a.staff[name]),
                              json={"name": name}))
    ok(await client.patch(url, headers=world.headers(world.a.operator), json={"name": "op"}))
    # Another chain's staff: not there. A member: not for them (PATCH /me is).
    for principal in (world.b.operator, world.b.staff["beta-clerk1"]):
        problem(await client.patch(url, headers=world.headers(principal), json={"name": "x"}),
                404, "not_found")
    problem(await client.patch(url, headers=world.headers(world.a.members[0]),
                               json={"name": "me"}), 403, "forbidden")
    problem(await client.patch(url, json={"name": "anon"}), 401, "unauthorized")
    problem(await client.patch(f"{MEMBERS}/{uuid.uuid4()}",
                               headers=world.headers(world.a.operator), json={"name": "x"}),
            404, "not_found")
    assert ok(await client.get(url, headers=world.headers(world.a.operator)))["name"] == "op"


# --- events -----------------------------------------------------------------------------

async def test_member_created_on_registration_and_first_login(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    store = world.a.stores[0]
    member = await register(client, clerk, store_id=str(store), external_id="E-1")
    [created] = await events_of(member["id"])
    assert created["type"] == "member.created"
    assert created["chain_id"] == world.a.id and created["store_id"] == store
    assert created["data"] == member  # the member as the staff API answers it

    _, fresh = await wechat_login(client, world.a.id, "oFirstLogin")
    [login_created] = await events_of(fresh["id"])
    assert login_created["type"] == "member.created" and login_created["store_id"] is None
    staff_view = ok(await client.get(f"{MEMBERS}/{fresh['id']}",
                                     headers=world.headers(world.a.operator)))
    assert login_created["data"] == staff_view
    # A second login creates nothing.
    await wechat_login(client, world.a.id, "oFirstLogin")
    assert len(await events_of(fresh["id"])) == 1


async def test_member_updated_on_every_change(client: httpx.AsyncClient,
                                              world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    member = await register(client, clerk)
    url = f"{MEMBERS}/{member['id']}"

    changed = ok(await client.patch(url, headers=clerk, json={"name": "Li"}))
    kinds = [e["type"] for e in await events_of(member["id"])]
    assert kinds == ["member.created", "member.updated"]
    assert (await events_of(member["id"]))[-1]["data"] == changed
    # The same values again change nothing: no event.
    ok(await client.patch(url, headers=clerk, json={"name": "Li", "phone": member["phone"]}))
    assert len(await events_of(member["id"])) == 2

    # The member's own changes: PATCH /me and a phone proved through WeChat.
    headers, own = await wechat_login(client, world.a.id, "oSelfChanges")
    ok(await client.patch(ME, headers=headers, json={"name": "Self"}))
    proved = phone()
    ok(await client.post(f"{ME}/phone/wechat", headers=headers,
                         json={"code": f"sandbox:{proved}"}))
    written = await events_of(own["id"])
    assert [e["type"] for e in written] == ["member.created", "member.updated",
                                             "member.updated"]
    assert written[1]["data"]["name"] == "Self"
    assert (written[2]["data"]["phone"], written[2]["data"]["phone_verified"]) == (proved, True)
    assert written[2]["data"] == ok(await client.get(
        f"{MEMBERS}/{own['id']}", headers=world.headers(world.a.operator)))


async def test_a_failed_change_writes_no_event(client: httpx.AsyncClient,
                                               world: World,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    owner = await register(client, clerk, external_id="F-OWNER")
    member = await register(client, clerk)
    url = f"{MEMBERS}/{member['id']}"
    problem(await client.patch(url, headers=clerk, json={"phone": owner["phone"],
                                                         "name": "x"}), 409, "phone_taken")
    problem(await client.patch(url, headers=clerk, json={"external_id": "F-OWNER",
                                                         "name": "x"}), 409,
            "external_id_taken")

    # Past the check, refused by the unique index after the row was written: the event
    # went with the rolled-back transaction.
    async def nobody(*_: Any) -> None:
        return None

    monkeypatch.setattr(stores_repo, "external_id_holder", nobody)
    problem(await client.patch(url, headers=clerk, json={"external_id": "F-OWNER",
                                                         "name": "y"}), 409,
            "external_id_taken")
    taken = await client.post(MEMBERS, headers=clerk, json={
        "name": "Dup", "phone": phone(), "external_id": "F-OWNER"})
    problem(taken, 409, "external_id_taken")

    assert [e["type"] for e in await events_of(member["id"])] == ["member.created"]
    assert ok(await client.get(url, headers=clerk))["name"] == "Zhang"
    all_types = [e["type"] for e in await Event.select(Event.type).where(
        Event.chain_id == world.a.id).output(load_json=True).run()]
    # The world's two members, owner and member: nothing from the refused writes.
    assert all_types.count("member.created") == 4
    assert "member.updated" not in all_types
