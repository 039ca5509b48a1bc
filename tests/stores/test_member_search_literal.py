"""GET /members?q= takes the text as typed: LIKE's wildcards (%, _) and its escape (\\)
match themselves on both engines; rows carry every MemberOut field; one phone tail."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from stores.schemas import MemberOut
from stores.service import phone_tail
from tests.world import World

API = "/api/v1"
MEMBERS = f"{API}/members"
NAMES = ("50% off", "5000 off", "a_b", "axb", "A_B upper", "back\\slash", "backslash",
         "per%cent_under")


async def _register(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    ids = {}
    for n, name in enumerate(NAMES):
        created = await client.post(MEMBERS, headers=headers, json={
            "name": name, "phone": f"1397777{n:04d}"})
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    return ids


@pytest.mark.parametrize(("q", "want"), [
    ("50%", {"50% off"}),
    ("0%", {"50% off"}),
    ("a_b", {"a_b", "A_B upper"}),  # ASCII case ignored, the underscore literal
    ("_", {"a_b", "A_B upper", "per%cent_under"}),
    ("%", {"50% off", "per%cent_under"}),
    ("%cent_", {"per%cent_under"}),
    ("k\\s", {"back\\slash"}),
    ("\\", {"back\\slash"}),
    ("\\%", set()),
    ("off", {"50% off", "5000 off"}),
])
async def test_search_text_is_literal(client: httpx.AsyncClient, world: World, q: str,
                                      want: set[str]) -> None:
    operator = world.headers(world.a.operator)
    ids = await _register(client, operator)
    names = {v: k for k, v in ids.items()}
    response = await client.get(MEMBERS, headers=operator, params={"q": q, "limit": 100})
    assert response.status_code == 200, response.text
    assert {names[r["id"]] for r in response.json() if r["id"] in names} == want


async def test_listed_members_carry_every_member_field(client: httpx.AsyncClient,
                                                       world: World) -> None:
    operator = world.headers(world.a.operator)
    member = world.a.members[0]
    one = await client.get(f"{MEMBERS}/{member.id}", headers=operator)
    rows = await client.get(MEMBERS, headers=operator, params={"q": "alpha member 1"})
    assert one.status_code == rows.status_code == 200, rows.text
    (row,) = [r for r in rows.json() if r["id"] == str(member.id)]
    fields = {f.encode_name for f in msgspec.structs.fields(MemberOut)}
    assert {k: row[k] for k in fields} == {k: one.json()[k] for k in fields}
    assert row["cards_count"] == 0 and row["last_visit_at"] is None


def test_one_phone_tail() -> None:
    assert phone_tail("+86 138-0000-7001") == "7001"
    assert phone_tail("12") == "12"
    assert phone_tail(None) is None and phone_tail("") is None and phone_tail("n/a") is None
