"""API keys (app.core.apikeys, app/api_keys_api.py): created by operators and shown once,
stored as a keyed hash, listed without the key, revoked at once; a key is a principal
whose scopes and stores limit it; its last use is written in batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.asgi import create_app
from app.core.apikeys import repository as key_repo
from app.core.runtime import Runtime
from app.core.settings import Settings
from tests.conftest import serving
from tests.hardening.rawdb import fetch
from tests.world import World

API = "/api/v1"


@pytest.fixture(autouse=True)
async def _listening(client: httpx.AsyncClient, app: Litestar, engine_name: str) -> None:
    """On PostgreSQL the revocations' LISTEN connection comes up in the background and
    forgets every remembered verdict when it does (what changed before it listened). The
    tests that count lookups wait for it: a slow start-up on a loaded machine forgot the
    real key mid-test (seen in a CI run)."""
    revocations = app.state.runtime.auth.revocations
    for _ in range(500):
        if revocations.listening or engine_name == "sqlite":
            return
        await asyncio.sleep(0.01)


async def make_key(client: httpx.AsyncClient, world: World, scopes: list[str],
                   store_ids: list[str] | None = None, name: str = "POS") -> dict[str, Any]:
    response = await client.post(f"{API}/api-keys", headers=world.headers(world.a.operator),
                                 json={"name": name, "scopes": scopes, "store_ids": store_ids})
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_create_list_revoke(client: httpx.AsyncClient, world: World,
                                  database_url: str) -> None:
    op = world.headers(world.a.operator)
    created = await make_key(client, world, ["members:read", "redeem"])
    key = created["key"]
    assert key.startswith("o2o_sk_") and len(key) >= len("o2o_sk_") + 32
    assert created["prefix"] == key[:12]
    assert created["scopes"] == ["members:read", "redeem"]
    assert created["store_ids"] is None and created["revoked_at"] is None
    assert created["last_used_at"] is None
    assert created["created_by"] == str(world.a.operator.id)

    # Never shown again, and not in the database.
    listed = (await client.get(f"{API}/api-keys", headers=op)).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and key not in str(listed)
    rows = await fetch(database_url, "SELECT * FROM core_api_key")
    assert len(rows) == 1
    assert key not in str(rows) and key[12:] not in str(rows)
    assert len(rows[0]["key_hash"]) == 64 and rows[0]["prefix"] == key[:12]

    # Another chain sees none of it.
    beta = world.headers(world.b.operator)
    assert (await client.get(f"{API}/api-keys", headers=beta)).json() == []
    other = await client.post(f"{API}/api-keys/{created['id']}/revoke", headers=beta)
    assert other.status_code == 404

    assert (await client.get(f"{API}/members", headers=bearer(key))).status_code == 200
    revoked = await client.post(f"{API}/api-keys/{created['id']}/revoke", headers=op)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    # This process refuses it from the next request on.
    refused = await client.get(f"{API}/members", headers=bearer(key))
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    again = await client.post(f"{API}/api-keys/{created['id']}/revoke", headers=op)
    assert again.status_code == 200 and again.json() == revoked.json()
    listed = (await client.get(f"{API}/api-keys", headers=op)).json()
    assert listed[0]["revoked_at"] == revoked.json()["revoked_at"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "scopes": ["members:read", "root"]}, "scopes"),
    ({"name": "x", "scopes": []}, "scopes"),
    ({"name": "x", "scopes": ["redeem"], "store_ids": []}, "store_ids"),
    ({"name": "x", "scopes": ["redeem"], "store_ids": "FOREIGN"}, "store_ids"),
    ({"name": "", "scopes": ["redeem"]}, "name"),
    ({"scopes": ["redeem"]}, "name"),
])
async def test_bad_bodies_are_400_naming_the_field(client: httpx.AsyncClient, world: World,
                                                   body: dict[str, Any], field: str) -> None:
    if body.get("store_ids") == "FOREIGN":
        body = {**body, "store_ids": [str(world.a.stores[0]), str(world.b.stores[0])]}
    response = await client.post(f"{API}/api-keys", headers=world.headers(world.a.operator),
                                 json=body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_only_operators_and_never_keys_manage_keys(client: httpx.AsyncClient,
                                                         world: World) -> None:
    every = ["members:read", "members:write", "cards:read", "cards:write", "redeem",
             "bookings:read", "bookings:write", "stats:read", "events:read"]
    key = (await make_key(client, world, every))["key"]
    for headers in (world.headers(world.a.staff["alpha-manager"]),
                    world.headers(world.a.staff["alpha-clerk1"]),
                    world.headers(world.a.members[0]), bearer(key)):
        for method, path, body in (("GET", "/api-keys", None),
                                   ("POST", "/api-keys", {"name": "x", "scopes": ["redeem"]})):
            response = await client.request(method, f"{API}{path}", headers=headers, json=body)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "forbidden"
    # Members' own routes and people's tools refuse keys too.
    for path in ("/me", "/me/cards", "/staff", "/chain", "/notifications"):
        response = await client.get(f"{API}{path}", headers=bearer(key))
        assert response.status_code == 403, (path, response.text)


@pytest.mark.parametrize("credential", [
    "o2o_sk_" + "A" * 43, "o2o_sk_", "o2o_sk_" + "x" * 500, "o2o_sk_\u00e4",
    "o2o_sk_" + "A" * 43 + " extra"])
async def test_unknown_or_malformed_keys_are_401(client: httpx.AsyncClient, world: World,
                                                 credential: str) -> None:
    await make_key(client, world, ["members:read"])
    header = {b"Authorization": f"Bearer {credential}".encode()}
    response = await client.get(f"{API}/members", headers=header)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


async def test_a_known_key_costs_no_query(client: httpx.AsyncClient, world: World,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    key = (await make_key(client, world, ["members:read"]))["key"]
    lookups = 0
    real = key_repo.by_hash

    async def counted(digest: str) -> Any:
        nonlocal lookups
        lookups += 1
        return await real(digest)

    monkeypatch.setattr(key_repo, "by_hash", counted)
    for _ in range(5):
        assert (await client.get(f"{API}/stores", headers=bearer(key))).status_code == 200
    assert lookups == 1


async def test_guessed_keys_never_push_a_real_key_out(client: httpx.AsyncClient,
                                                      world: World,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals are remembered apart, and fewer: a flood of made-up keys (each a lookup,
    each 401) leaves the till's real key answered from memory (found in review)."""
    from app.core.apikeys import verdicts
    monkeypatch.setattr(verdicts, "_MAX_VERDICTS", 3)
    monkeypatch.setattr(verdicts, "_MAX_REFUSALS", 3)
    key = (await make_key(client, world, ["members:read"]))["key"]
    assert (await client.get(f"{API}/stores", headers=bearer(key))).status_code == 200
    lookups = 0
    real = key_repo.by_hash

    async def counted(digest: str) -> Any:
        nonlocal lookups
        lookups += 1
        return await real(digest)

    monkeypatch.setattr(key_repo, "by_hash", counted)
    for n in range(10):
        guess = bearer("o2o_sk_" + f"{n:02d}" * 22)
        assert (await client.get(f"{API}/stores", headers=guess)).status_code == 401
    assert lookups == 10
    assert (await client.get(f"{API}/stores", headers=bearer(key))).status_code == 200
    assert lookups == 10  # still remembered


async def test_key_principal_role_and_staff_columns(client: httpx.AsyncClient, world: World,
                                                    database_url: str) -> None:
    """A chain-wide key acts as an operator; what it writes never names it as staff."""
    key = (await make_key(client, world, ["members:write", "cards:write", "cards:read",
                                          "bookings:write"]))["key"]
    op = world.headers(world.a.operator)
    template = (await client.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value"})).json()["id"]
    member = await client.post(f"{API}/members", headers=bearer(key),
                               json={"name": "From the ERP", "phone": "13912345678"})
    assert member.status_code == 201, member.text
    card = await client.post(f"{API}/cards", headers=bearer(key), json={
        "template_id": template, "member_id": member.json()["id"]})
    assert card.status_code == 201, card.text
    top_up = await client.post(f"{API}/cards/{card.json()['id']}/top-ups", headers=bearer(key),
                               json={"amount_cents": 1000, "store_id": str(world.a.stores[0])})
    assert top_up.status_code == 201, top_up.text
    store = world.a.stores[0]
    booking = await client.post(f"{API}/bookings", headers=bearer(key), json={
        "store_id": str(store), "service_id": str(world.a.services[store]),
        "member_id": member.json()["id"], "start": _tomorrow_at(15)})
    assert booking.status_code == 201, booking.text
    assert (await fetch(database_url, "SELECT registered_by FROM member WHERE name = "
                        "'From the ERP'")) == [{"registered_by": None}]
    cards = await fetch(database_url, f"SELECT issued_by FROM card WHERE id = "
                        f"'{card.json()['id']}'")
    assert cards == [{"issued_by": None}]
    entries = await fetch(database_url, f"SELECT staff_id FROM card_ledger WHERE card = "
                          f"'{card.json()['id']}'")
    assert entries and all(e["staff_id"] is None for e in entries)
    assert (await fetch(database_url, f"SELECT booked_by FROM booking WHERE id = "
                        f"'{booking.json()['id']}'")) == [{"booked_by": None}]
    # Operator-only acts outside its scopes stay refused.
    frozen = await client.post(f"{API}/cards/{card.json()['id']}/freeze", headers=bearer(key))
    assert frozen.status_code == 403


def _tomorrow_at(hour: int) -> str:
    from tests.hardening.seed import tomorrow_at
    return tomorrow_at(f"{hour:02d}:00")


async def _voucher_codes(client: httpx.AsyncClient, world: World, count: int) -> list[str]:
    op = world.headers(world.a.operator)
    now = datetime.now(UTC)
    campaign = (await client.post(f"{API}/campaigns", headers=op, json={
        "name": "¥1 off", "kind": "cash", "value_cents": 100, "total_quantity": 100,
        "per_member_limit": 100, "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=3)).isoformat()})).json()["id"]
    codes: list[str] = []
    while len(codes) < count:  # one voucher per member and call
        issued = await client.post(f"{API}/campaigns/{campaign}/issue", headers=op,
                                   json={"member_ids": [str(world.a.members[0].id)]})
        assert issued.status_code == 201, issued.text
        codes.extend(v["code"] for v in issued.json()["issued"])
    return codes


async def test_a_store_limited_key_redeems_at_its_store_only(
        client: httpx.AsyncClient, world: World, database_url: str) -> None:
    s1, s2 = (str(s) for s in world.a.stores)
    made = await make_key(client, world, ["redeem"], store_ids=[s1])
    key = made["key"]
    codes = await _voucher_codes(client, world, 2)
    here = await client.post(f"{API}/redemptions", headers=bearer(key),
                             json={"code": codes[0], "store_id": s1, "amount_cents": 5000})
    assert here.status_code == 201, here.text
    assert here.json()["staff_id"] is None  # a key, not a staff member
    assert here.json()["api_key_id"] == made["id"]
    rows = await fetch(database_url, f"SELECT staff, api_key_id FROM redemption WHERE id = "
                       f"'{here.json()['id']}'")
    assert rows == [{"staff": None, "api_key_id": made["id"]}]
    there = await client.post(f"{API}/redemptions", headers=bearer(key),
                              json={"code": codes[1], "store_id": s2, "amount_cents": 5000})
    assert there.status_code in (403, 404), there.text
    preview = await client.get(f"{API}/redemptions/preview", headers=bearer(key),
                               params={"code": codes[1], "store_id": s2})
    assert preview.status_code in (403, 404), preview.text
    # Its scopes: redeem only.
    member = await client.get(f"{API}/members/{world.a.members[0].id}", headers=bearer(key))
    assert member.status_code == 403
    # A store-limited key is its stores' manager: chain-wide-only routes refuse it.
    stats_key = (await make_key(client, world, ["stats:read"], store_ids=[s1]))["key"]
    mine = await client.get(f"{API}/stats/overview", headers=bearer(stats_key), params={
        "from": "2026-01-01", "to": "2026-01-02", "store_id": s1})
    assert mine.status_code == 200, mine.text
    theirs = await client.get(f"{API}/stats/overview", headers=bearer(stats_key), params={
        "from": "2026-01-01", "to": "2026-01-02", "store_id": s2})
    assert theirs.status_code in (403, 404), theirs.text


async def test_last_use_is_written_in_one_batch(client: httpx.AsyncClient, world: World,
                                                app: Litestar, database_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [await make_key(client, world, ["members:read"], name=f"k{n}") for n in range(3)]
    for _ in range(3):
        for made in keys[:2]:
            response = await client.get(f"{API}/stores", headers=bearer(made["key"]))
            assert response.status_code == 200
    rows = await fetch(database_url, "SELECT last_used_at FROM core_api_key")
    assert all(r["last_used_at"] is None for r in rows), "a write per request"
    # The list shows this process's last use before it is written.
    listed = (await client.get(f"{API}/api-keys", headers=world.headers(world.a.operator)))
    used = {k["id"]: k["last_used_at"] for k in listed.json()}
    assert used[keys[0]["id"]] and used[keys[1]["id"]] and used[keys[2]["id"]] is None

    batches: list[int] = []
    real = key_repo.touch

    async def counted(pairs: list[Any]) -> None:
        batches.append(len(pairs))
        await real(pairs)

    monkeypatch.setattr(key_repo, "touch", counted)
    runtime: Runtime = app.state.runtime
    await runtime.auth.api_keys.flush()
    assert batches == [2]
    last = {r["id"]: r["last_used_at"] for r in await fetch(
        database_url, "SELECT id, last_used_at FROM core_api_key")}
    assert last[keys[0]["id"]] is not None and last[keys[1]["id"]] is not None
    assert last[keys[2]["id"]] is None
    await runtime.auth.api_keys.flush()  # nothing used since: no statement
    assert batches == [2]


async def test_last_use_is_written_at_shutdown(client: httpx.AsyncClient, world: World,
                                               settings: Settings, database_url: str) -> None:
    key = await make_key(client, world, ["members:read"])
    other = create_app(settings)  # a second process of the same database, stopped below
    async with serving(other) as http:
        assert (await http.get(f"{API}/stores", headers=bearer(key["key"]))).status_code == 200
        rows = await fetch(database_url, "SELECT last_used_at FROM core_api_key")
        assert rows == [{"last_used_at": None}]
    rows = await fetch(database_url, "SELECT last_used_at FROM core_api_key")
    assert rows[0]["last_used_at"] is not None


async def test_a_last_use_never_moves_back(client: httpx.AsyncClient, world: World,
                                           database_url: str) -> None:
    """Two processes flush in any order: the later use stays."""
    import uuid

    from app.core.db import write_transaction

    made = await make_key(client, world, ["members:read"])
    key_id = uuid.UUID(made["id"])
    later = datetime(2026, 12, 6, 12, 0, 30, 250_000, tzinfo=UTC)
    for at in (later, later - timedelta(seconds=20), later - timedelta(microseconds=1)):
        async with write_transaction():
            await key_repo.touch([(key_id, at)])
    listed = (await client.get(f"{API}/api-keys", headers=world.headers(world.a.operator)))
    assert datetime.fromisoformat(listed.json()[0]["last_used_at"]) == later


def test_a_key_is_redacted_from_logs() -> None:
    from app.core.apikeys.service import new_key
    from app.core.logs import redact, redact_query

    key = new_key()
    for text in (f"GET /api/v1/x/{key}", f"token was {key}!", f"Authorization: {key}"):
        assert key[12:] not in redact(text), text
    assert key[12:] not in redact_query(f"a=1&b={key}")


async def test_last_use_is_written_by_the_process_on_its_own(
        client: httpx.AsyncClient, world: World, settings: Settings,
        database_url: str) -> None:
    import asyncio

    key = await make_key(client, world, ["members:read"])
    other = create_app(settings)
    runtime: Runtime = other.state.runtime
    runtime.auth.api_keys.flush_s = 0.2  # production: every 30 s
    async with serving(other) as http:
        assert (await http.get(f"{API}/stores", headers=bearer(key["key"]))).status_code == 200
        for _ in range(50):
            rows = await fetch(database_url, "SELECT last_used_at FROM core_api_key")
            if rows[0]["last_used_at"] is not None:
                break
            await asyncio.sleep(0.1)
        assert rows[0]["last_used_at"] is not None
