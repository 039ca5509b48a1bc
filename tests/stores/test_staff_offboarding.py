"""Off-boarding staff: deactivate, activate, change role, stores and passwords, log out;
each ends the affected tokens at once (401 from the next request), and only those."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from stores import repository as repo
from tests.world import PASSWORD, World

API = "/api/v1"
LOGIN = f"{API}/auth/staff/login"
NEW_PASSWORD = "a-brand-new-password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, username: str,
                password: str = PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"username": username, "password": password})


async def token_of(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await login(client, username, password)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def stores_answer(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(f"{API}/stores", headers=bearer(token))).status_code


async def new_staff(client: httpx.AsyncClient, world: World, role: str,
                    stores: list[uuid.UUID], by: Principal | None = None) -> dict[str, Any]:
    username = f"staff-{uuid.uuid4().hex[:10]}"
    response = await client.post(f"{API}/staff", headers=world.headers(by or world.a.operator),
                                 json={"username": username, "password": PASSWORD,
                                       "role": role, "store_ids": [str(s) for s in stores]})
    assert response.status_code == 201, response.text
    return dict(response.json())


def manager(world: World) -> Principal:
    return world.a.staff["alpha-manager"]  # manages alpha's store 1


# --- deactivation ----------------------------------------------------------------------

async def test_a_deactivated_clerk_can_neither_top_up_nor_log_in(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]
    op = world.headers(world.a.operator)
    template = await client.post(f"{API}/card-templates", headers=op,
                                 json={"name": "Prepaid", "kind": "stored_value"})
    card = await client.post(f"{API}/cards", headers=op, json={
        "template_id": template.json()["id"], "member_id": str(world.a.members[0].id)})
    top_up = {"amount_cents": 10_000, "store_id": str(world.a.stores[0])}
    token = await token_of(client, "alpha-clerk1")
    url = f"{API}/cards/{card.json()['id']}/top-ups"
    assert (await client.post(url, json=top_up, headers=bearer(token))).status_code == 201

    response = await client.post(f"{API}/staff/{clerk.id}/deactivate", headers=op)

    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert response.json()["id"] == str(clerk.id)
    assert_unauthorized(await client.post(url, json=top_up, headers=bearer(token)))
    assert_unauthorized(await client.post(url, json=top_up, headers=world.headers(clerk)))
    assert_problem(await login(client, "alpha-clerk1"), 401, "invalid_credentials")
    balance = (await client.get(f"{API}/cards/{card.json()['id']}", headers=op)).json()
    assert balance["balance_cents"] == 10_000


async def test_activation_lets_the_staff_log_in_again_but_old_tokens_stay_ended(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk2"]
    op = world.headers(world.a.operator)
    old = await token_of(client, "alpha-clerk2")
    await client.post(f"{API}/staff/{clerk.id}/deactivate", headers=op)

    response = await client.post(f"{API}/staff/{clerk.id}/activate", headers=op)

    assert response.status_code == 200, response.text
    assert response.json()["active"] is True
    assert_unauthorized(await client.get(f"{API}/stores", headers=bearer(old)))
    assert await stores_answer(client, await token_of(client, "alpha-clerk2")) == 200


async def test_deactivation_ends_only_that_staff_members_tokens(
        client: httpx.AsyncClient, world: World) -> None:
    target = await token_of(client, "alpha-clerk1")
    bystander = await token_of(client, "alpha-clerk2")
    assert await stores_answer(client, target) == 200  # remembered by this process now

    await client.post(f"{API}/staff/{world.a.staff['alpha-clerk1'].id}/deactivate",
                      headers=world.headers(world.a.operator))

    assert await stores_answer(client, target) == 401
    assert await stores_answer(client, bystander) == 200


# --- who may act on whom ---------------------------------------------------------------

async def test_a_manager_manages_clerks_of_their_own_stores(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]  # store 1, which the manager manages
    headers = world.headers(manager(world))
    token = await token_of(client, "alpha-clerk1")

    renamed = await client.patch(f"{API}/staff/{clerk.id}", headers=headers,
                                 json={"name": "Xiao Li"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Xiao Li"
    assert await stores_answer(client, token) == 200  # a new name ends no token
    reset = await client.post(f"{API}/staff/{clerk.id}/password", headers=headers,
                              json={"password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    assert await stores_answer(client, token) == 401
    assert_problem(await login(client, "alpha-clerk1"), 401, "invalid_credentials")
    fresh = await token_of(client, "alpha-clerk1", NEW_PASSWORD)
    deactivated = await client.post(f"{API}/staff/{clerk.id}/deactivate", headers=headers)
    assert deactivated.status_code == 200
    assert await stores_answer(client, fresh) == 401
    activated = await client.post(f"{API}/staff/{clerk.id}/activate", headers=headers)
    assert activated.json()["active"] is True


@pytest.mark.parametrize("action", ["patch", "deactivate", "activate", "password"])
async def test_a_manager_cannot_touch_clerks_of_other_stores_or_other_managers(
        client: httpx.AsyncClient, world: World, action: str) -> None:
    headers = world.headers(manager(world))
    elsewhere = world.a.staff["alpha-clerk2"]  # store 2 only: not the manager's
    both = await new_staff(client, world, "clerk", world.a.stores)  # store 1 and store 2
    peer = await new_staff(client, world, "manager", [world.a.stores[0]])

    async def act(staff_id: object) -> httpx.Response:
        if action == "patch":
            return await client.patch(f"{API}/staff/{staff_id}", headers=headers,
                                      json={"name": "Nope"})
        if action == "password":
            return await client.post(f"{API}/staff/{staff_id}/password", headers=headers,
                                     json={"password": NEW_PASSWORD})
        return await client.post(f"{API}/staff/{staff_id}/{action}", headers=headers)

    assert_problem(await act(elsewhere.id), 404, "not_found")
    assert_problem(await act(world.b.staff["beta-clerk1"].id), 404, "not_found")
    assert_problem(await act(both["id"]), 403, "forbidden")
    assert_problem(await act(peer["id"]), 403, "forbidden")
    assert_problem(await act(world.a.operator.id), 404, "not_found")


async def test_a_manager_can_neither_promote_nor_give_stores_they_do_not_cover(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]
    headers = world.headers(manager(world))
    url = f"{API}/staff/{clerk.id}"

    assert_problem(await client.patch(url, headers=headers, json={"role": "manager"}),
                   403, "forbidden")
    assert_problem(await client.patch(url, headers=headers, json={"role": "operator"}),
                   403, "forbidden")
    assert_problem(await client.patch(url, headers=headers, json={
        "store_ids": [str(world.a.stores[0]), str(world.a.stores[1])]}), 404, "not_found")
    assert_problem(await client.patch(url, headers=headers, json={
        "store_ids": [str(world.b.stores[0])]}), 404, "not_found")
    staff = await client.get(f"{API}/staff", headers=world.headers(world.a.operator))
    row = next(s for s in staff.json() if s["id"] == str(clerk.id))
    assert (row["role"], row["store_ids"]) == ("clerk", [str(world.a.stores[0])])


async def test_a_clerk_cannot_manage_staff(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers(world.a.staff["alpha-clerk1"])
    other = world.a.staff["alpha-clerk2"]
    assert_problem(await client.post(f"{API}/staff/{other.id}/deactivate", headers=headers),
                   403, "forbidden")
    assert_problem(await client.patch(f"{API}/staff/{other.id}", headers=headers,
                                      json={"name": "x"}), 403, "forbidden")


async def test_no_operator_edits_across_chains(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers(world.b.operator)
    clerk = world.a.staff["alpha-clerk1"]
    for response in (
        await client.patch(f"{API}/staff/{clerk.id}", headers=headers, json={"name": "x"}),
        await client.post(f"{API}/staff/{clerk.id}/deactivate", headers=headers),
        await client.post(f"{API}/staff/{clerk.id}/password", headers=headers,
                          json={"password": NEW_PASSWORD}),
        await client.post(f"{API}/staff/{world.a.operator.id}/deactivate", headers=headers),
        await client.patch(f"{API}/staff/{uuid.uuid4()}", headers=headers, json={"name": "x"}),
    ):
        assert_problem(response, 404, "not_found")
    assert await stores_answer(client, await token_of(client, "alpha-clerk1")) == 200


# --- role and store changes ------------------------------------------------------------

async def test_a_store_change_ends_the_tokens_and_the_next_login_has_the_new_scope(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]
    token = await token_of(client, "alpha-clerk1")
    assert await stores_answer(client, token) == 200

    response = await client.patch(f"{API}/staff/{clerk.id}",
                                  headers=world.headers(world.a.operator),
                                  json={"store_ids": [str(world.a.stores[1])]})

    assert response.status_code == 200, response.text
    assert response.json()["store_ids"] == [str(world.a.stores[1])]
    assert_unauthorized(await client.get(f"{API}/stores", headers=bearer(token)))
    again = await login(client, "alpha-clerk1")
    assert again.json()["staff"]["store_ids"] == [str(world.a.stores[1])]


async def test_a_promotion_ends_the_tokens(client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]
    token = await token_of(client, "alpha-clerk1")

    response = await client.patch(f"{API}/staff/{clerk.id}",
                                  headers=world.headers(world.a.operator),
                                  json={"role": "manager"})

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "manager"
    assert await stores_answer(client, token) == 401
    assert (await login(client, "alpha-clerk1")).json()["staff"]["role"] == "manager"


async def test_an_operator_covers_the_whole_chain_and_others_need_a_store(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk1"]
    headers = world.headers(world.a.operator)
    url = f"{API}/staff/{clerk.id}"
    assert_problem(await client.patch(url, headers=headers, json={
        "role": "operator", "store_ids": [str(world.a.stores[0])]}), 400, "validation_error")
    assert_problem(await client.patch(url, headers=headers, json={"store_ids": []}),
                   400, "validation_error")
    assert_problem(await client.patch(url, headers=headers, json={"role": "bogus"}),
                   400, "validation_error")

    promoted = await client.patch(url, headers=headers, json={"role": "operator"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["store_ids"] == []
    assert_problem(await client.patch(url, headers=headers, json={"role": "manager"}),
                   400, "validation_error")
    demoted = await client.patch(url, headers=headers, json={
        "role": "manager", "store_ids": [str(world.a.stores[1])]})
    assert demoted.status_code == 200, demoted.text


async def test_a_name_change_ends_no_token(client: httpx.AsyncClient, world: World) -> None:
    token = await token_of(client, "alpha-clerk2")
    response = await client.patch(f"{API}/staff/{world.a.staff['alpha-clerk2'].id}",
                                  headers=world.headers(world.a.operator),
                                  json={"name": "Wang", "role": "clerk",
                                        "store_ids": [str(world.a.stores[1])]})
    assert response.status_code == 200, response.text
    assert await stores_answer(client, token) == 200


# --- the last operator -----------------------------------------------------------------

async def test_the_chains_last_active_operator_can_neither_be_demoted_nor_deactivated(
        client: httpx.AsyncClient, world: World) -> None:
    operator = world.a.operator
    headers = world.headers(operator)
    demote = await client.patch(f"{API}/staff/{operator.id}", headers=headers,
                                json={"role": "manager", "store_ids": [str(world.a.stores[0])]})
    assert_problem(demote, 409, "last_operator")
    assert_problem(await client.post(f"{API}/staff/{operator.id}/deactivate", headers=headers),
                   409, "last_operator")
    assert await stores_answer(client, await token_of(client, "alpha-operator")) == 200

    second = await new_staff(client, world, "operator", [])
    response = await client.post(f"{API}/staff/{operator.id}/deactivate", headers=headers)
    assert response.status_code == 200, response.text
    # The second one is the last one now (the first one's tokens ended with it).
    second_token = await token_of(client, second["username"])
    assert_problem(await client.post(f"{API}/staff/{second['id']}/deactivate",
                                     headers=bearer(second_token)), 409, "last_operator")


async def test_two_operators_demoting_each_other_at_once_leave_one(
        client: httpx.AsyncClient, world: World) -> None:
    second = await new_staff(client, world, "operator", [])
    first_token = await token_of(client, "alpha-operator")
    second_token = await token_of(client, second["username"])
    body = {"role": "manager", "store_ids": [str(world.a.stores[0])]}

    responses = await asyncio.gather(
        client.patch(f"{API}/staff/{second['id']}", headers=bearer(first_token), json=body),
        client.patch(f"{API}/staff/{world.a.operator.id}", headers=bearer(second_token),
                     json=body))

    statuses = sorted(r.status_code for r in responses)
    # The loser is refused, or (its token ended by the winner's change) unauthorized.
    assert statuses in ([200, 409], [200, 401]), [r.text for r in responses]
    operators = [s for s in await repo.list_staff(world.a.id)
                 if s["role"] == "operator" and s["active"]]
    assert len(operators) == 1


# --- passwords -------------------------------------------------------------------------

async def test_an_operator_reset_ends_every_token_and_needs_ten_characters(
        client: httpx.AsyncClient, world: World) -> None:
    clerk = world.a.staff["alpha-clerk2"]
    headers = world.headers(world.a.operator)
    tokens = [await token_of(client, "alpha-clerk2") for _ in range(2)]
    short = await client.post(f"{API}/staff/{clerk.id}/password", headers=headers,
                              json={"password": "short"})
    assert_problem(short, 400, "validation_error")
    assert all([await stores_answer(client, t) == 200 for t in tokens])

    response = await client.post(f"{API}/staff/{clerk.id}/password", headers=headers,
                                  json={"password": NEW_PASSWORD})

    assert response.status_code == 204
    assert [await stores_answer(client, t) for t in tokens] == [401, 401]
    assert_problem(await login(client, "alpha-clerk2"), 401, "invalid_credentials")
    assert await stores_answer(client, await token_of(client, "alpha-clerk2",
                                                      NEW_PASSWORD)) == 200


async def test_changing_ones_own_password_ends_every_other_token_but_the_callers(
        client: httpx.AsyncClient, world: World) -> None:
    caller, other = [await token_of(client, "alpha-manager") for _ in range(2)]
    assert await stores_answer(client, other) == 200

    response = await client.post(f"{API}/me/password", headers=bearer(caller), json={
        "old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 204, response.text
    assert await stores_answer(client, caller) == 200
    assert await stores_answer(client, other) == 401
    assert_problem(await login(client, "alpha-manager"), 401, "invalid_credentials")
    fresh = await token_of(client, "alpha-manager", NEW_PASSWORD)
    assert await stores_answer(client, fresh) == 200
    # A later reset by the operator ends the kept token too.
    await client.post(f"{API}/staff/{manager(world).id}/password",
                      headers=world.headers(world.a.operator), json={"password": PASSWORD})
    assert [await stores_answer(client, t) for t in (caller, fresh)] == [401, 401]


async def test_a_wrong_old_password_changes_nothing_and_is_throttled(
        client: httpx.AsyncClient, world: World) -> None:
    token = await token_of(client, "alpha-clerk1")
    responses = [await client.post(f"{API}/me/password", headers=bearer(token), json={
        "old_password": f"wrong-{n}", "new_password": NEW_PASSWORD}) for n in range(12)]

    assert_problem(responses[0], 400, "validation_error")
    assert [e["field"] for e in responses[0].json()["errors"]] == ["old_password"]
    assert_problem(responses[-1], 429, "rate_limited")
    assert await stores_answer(client, token) == 200  # its own token still works
    assert_problem(await login(client, "alpha-clerk1", NEW_PASSWORD), 429, "rate_limited")


async def test_members_cannot_change_a_staff_password(client: httpx.AsyncClient,
                                                      world: World) -> None:
    response = await client.post(f"{API}/me/password", headers=world.headers(world.a.members[0]),
                                 json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert_problem(response, 403, "forbidden")


# --- logout ----------------------------------------------------------------------------

async def test_logout_ends_only_the_calling_staff_token(client: httpx.AsyncClient,
                                                        world: World) -> None:
    token, other = [await token_of(client, "alpha-clerk1") for _ in range(2)]
    assert await stores_answer(client, token) == 200

    response = await client.post(f"{API}/auth/logout", headers=bearer(token))

    assert response.status_code == 204, response.text
    assert await stores_answer(client, token) == 401
    assert_unauthorized(await client.post(f"{API}/auth/logout", headers=bearer(token)))
    assert await stores_answer(client, other) == 200


async def test_logout_ends_a_member_token(client: httpx.AsyncClient, world: World) -> None:
    token = world.token(world.a.members[0])
    other = world.token(world.a.members[0])
    assert (await client.get(f"{API}/me", headers=bearer(token))).status_code == 200

    response = await client.post(f"{API}/auth/logout", headers=bearer(token))

    assert response.status_code == 204, response.text
    assert_unauthorized(await client.get(f"{API}/me", headers=bearer(token)))
    assert (await client.get(f"{API}/me", headers=bearer(other))).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient, world: World) -> None:
    assert_unauthorized(await client.post(f"{API}/auth/logout"))
