"""Bad input at the edge (app/core/edge.py): answered 4xx with the contract's code, never
500, and never stored, on both engines.

- a control character (NUL above all, which PostgreSQL refuses) in any JSON string, in a
  query value or in a static file's path;
- JSON nested deeper than the limit;
- money and counts that are not JSON integers (``"100"``, ``"1e3"``, ``1000.0``), and
  a key named twice in one object;
- a body that is not ``application/json``.

And the small ones: OPTIONS lists every method of a path, the CSV export has one
charset, and time zones are IANA places (not ``localtime`` or ``Factory``).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from app.core.edge import MAX_JSON_DEPTH
from tests.hardening.seed import tomorrow_at
from tests.world import PASSWORD, World

API = "/api/v1"
NUL_ESCAPE = "\\u0000"


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["code"] == code, body
    return body


def _refused(response: httpx.Response, field: str) -> None:
    body = _problem(response, 400, "validation_error")
    assert field in [e["field"] for e in body["errors"]], body


async def _raw(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
               content: bytes | str, content_type: str | None = "application/json",
               ) -> httpx.Response:
    if content_type is not None:
        headers = {**headers, "Content-Type": content_type}
    return await client.request(method, API + path, headers=headers,
                                content=content.encode() if isinstance(content, str) else content)


async def _card(client: httpx.AsyncClient, world: World) -> tuple[str, dict[str, str]]:
    """A stored-value card of alpha's member 1 holding ¥500, and a clerk of store 1."""
    op = world.headers(world.a.operator)
    template = await client.post(f"{API}/card-templates", headers=op, json={
        "name": "Prepaid", "kind": "stored_value"})
    card = await client.post(f"{API}/cards", headers=op, json={
        "template_id": template.json()["id"], "member_id": str(world.a.members[0].id)})
    card_id = str(card.json()["id"])
    top_up = await client.post(f"{API}/cards/{card_id}/top-ups", headers=op, json={
        "amount_cents": 50_000, "store_id": str(world.a.stores[0])})
    assert top_up.status_code == 201, top_up.text
    return card_id, world.headers(world.a.staff["alpha-clerk1"])


async def _balance(client: httpx.AsyncClient, world: World, card_id: str) -> int:
    response = await client.get(f"{API}/cards/{card_id}",
                                headers=world.headers(world.a.operator))
    return int(response.json()["balance_cents"])


# --- control characters --------------------------------------------------------------

async def test_nul_in_any_json_string_is_400_naming_the_field(client: httpx.AsyncClient,
                                                               world: World) -> None:
    op = world.headers(world.a.operator)
    member = world.headers(world.a.members[0])
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    store = str(world.a.stores[0])
    login = await _raw(client, "POST", "/auth/staff/login", {},
                       f'{{"username": "alpha-operator{NUL_ESCAPE}", "password": "{PASSWORD}"}}')
    _refused(login, "username")
    for field in ("name", "address"):
        body = {"name": "Store 9", "address": "1 Road", "timezone": "Asia/Shanghai",
                "opening_hours": []}
        text = json.dumps(body).replace(f'"{body[field]}"', f'"x{NUL_ESCAPE}y"')
        _refused(await _raw(client, "POST", "/stores", op, text), field)
    _refused(await _raw(client, "PATCH", "/me", member, f'{{"name": "a{NUL_ESCAPE}"}}'),
             "name")
    booking = json.dumps({
        "store_id": store, "service_id": str(world.a.services[world.a.stores[0]]),
        "start": tomorrow_at("11:00"), "note": "NOTE"}).replace("NOTE", f"by the{NUL_ESCAPE}door")
    _refused(await _raw(client, "POST", "/bookings", member, booking), "note")
    sync = json.dumps({"store_id": store, "items": [{
        "code": "O2O1AAAA", "redeemed_at": datetime.now(UTC).isoformat(),
        "client_ref": "REF"}]}).replace("REF", f"ref{NUL_ESCAPE}1")
    _refused(await _raw(client, "POST", "/redemptions/sync", clerk, sync),
             "items[0].client_ref")
    stores = await client.get(f"{API}/stores", headers=op)
    assert all("\x00" not in s["name"] + (s["address"] or "") for s in stores.json())


async def test_other_control_characters_but_tab_and_newlines(client: httpx.AsyncClient,
                                                             world: World) -> None:
    member = world.headers(world.a.members[0])
    for escape in ("\\u0001", "\\u001F", "\\u001b", "\\b", "\\f", "\\u000B"):
        _refused(await _raw(client, "PATCH", "/me", member, f'{{"name": "a{escape}b"}}'),
                 "name")
    # Tab, line feed and carriage return are text; an escaped backslash before "u0000"
    # is the six characters \u0000, no NUL.
    for escape, stored in (("\\t\\n\\r", "\t\n\r"), ("\\\\u0000", "\\u0000"),
                           ("\\\\\\\\b", "\\\\b")):
        response = await _raw(client, "PATCH", "/me", member, f'{{"name": "a{escape}b"}}')
        assert response.status_code == 200, response.text
        assert response.json()["name"] == f"a{stored}b"


async def test_control_characters_in_a_query_value_are_400(client: httpx.AsyncClient,
                                                           world: World) -> None:
    op = world.headers(world.a.operator)
    for query in ("phone=138%0000001", "phone=1%0A2", "phone=%1f", "phone=%C2%9A%E9%92%AE%10"):
        _refused(await client.get(f"{API}/members?{query}", headers=op), "phone")
    assert (await client.get(f"{API}/members?phone=13800001", headers=op)).status_code == 200


async def test_a_static_path_the_os_cannot_look_up_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/static/x%00y", "/static/clerk/app.js%00.png", "/static/clerk/app.js/x",
                 "/static/" + "a" * 300):
        response = await client.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "not_found"
    assert (await client.get("/static/clerk/app.js")).status_code == 200


# --- nesting ---------------------------------------------------------------------------

async def test_deep_json_is_400_before_any_decoder_recurses(client: httpx.AsyncClient,
                                                            world: World) -> None:
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    store = str(world.a.stores[0])
    deep_array = "[" * 1000 + "]" * 1000
    deep_object = '{"a":' * 1000 + "1" + "}" * 1000
    deep_field = f'{{"store_id": "{store}", "code": {"[" * 100_000}{"]" * 100_000}}}'
    over = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    for body in (deep_array, deep_object, deep_field, over):
        body_problem = _problem(await _raw(client, "POST", "/redemptions", clerk, body),
                                400, "validation_error")
        assert "nested deeper" in body_problem["detail"], body_problem
    # Brackets inside strings are text; a wide batch is not a deep one.
    items = [{"code": "[" * 40 + "{" * 40, "redeemed_at": datetime.now(UTC).isoformat(),
              "client_ref": f"ref-{n}"} for n in range(60)]
    response = await client.post(f"{API}/redemptions/sync", headers=clerk,
                                 json={"store_id": store, "items": items})
    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {"rejected"}


# --- strict integers and duplicate keys ------------------------------------------------

NOT_INTEGERS = ('"100"', '"1e3"', "1000.0", "1e3", "true", '"10.5"')


async def test_money_is_a_json_integer_on_redemptions_and_top_ups(
        client: httpx.AsyncClient, world: World) -> None:
    card_id, clerk = await _card(client, world)
    store = str(world.a.stores[0])
    code = (await client.get(f"{API}/cards/{card_id}/code",
                             headers=world.headers(world.a.members[0]))).json()["code"]
    for amount in NOT_INTEGERS:
        redeem = (f'{{"code": "{code}", "store_id": "{store}", "action": "charge", '
                  f'"amount_cents": {amount}}}')
        _refused(await _raw(client, "POST", "/redemptions", clerk, redeem), "amount_cents")
        top_up = f'{{"store_id": "{store}", "amount_cents": {amount}}}'
        _refused(await _raw(client, "POST", f"/cards/{card_id}/top-ups", clerk, top_up),
                 "amount_cents")
    assert await _balance(client, world, card_id) == 50_000
    # The same code and amount as an integer go through: the refusals were the type's.
    ok = await client.post(f"{API}/redemptions", headers=clerk, json={
        "code": code, "store_id": store, "action": "charge", "amount_cents": 1000})
    assert ok.status_code == 201, ok.text
    assert await _balance(client, world, card_id) == 49_000


async def test_a_key_named_twice_is_400(client: httpx.AsyncClient, world: World) -> None:
    card_id, clerk = await _card(client, world)
    store = str(world.a.stores[0])
    code = (await client.get(f"{API}/cards/{card_id}/code",
                             headers=world.headers(world.a.members[0]))).json()["code"]
    redeem = (f'{{"code": "{code}", "store_id": "{store}", "action": "charge", '
              f'"amount_cents": 1, "amount_cents": 40000}}')
    _refused(await _raw(client, "POST", "/redemptions", clerk, redeem), "amount_cents")
    top_up = f'{{"amount_cents": 100, "store_id": "{store}", "amount_cents": 100000}}'
    _refused(await _raw(client, "POST", f"/cards/{card_id}/top-ups", clerk, top_up),
             "amount_cents")
    nested = json.dumps({"store_id": store, "items": [{
        "code": "O2O1AAAA", "redeemed_at": datetime.now(UTC).isoformat(),
        "client_ref": "r1"}]}).replace('"client_ref": "r1"',
                                       '"client_ref": "r1", "client_ref": "r2"')
    _refused(await _raw(client, "POST", "/redemptions/sync", clerk, nested), "client_ref")
    assert await _balance(client, world, card_id) == 50_000


# --- media type ------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json",
    "application/jsonx", "multipart/form-data; boundary=x"])
async def test_a_body_is_only_application_json(client: httpx.AsyncClient, world: World,
                                               content_type: str | None) -> None:
    member = world.headers(world.a.members[0])
    response = await _raw(client, "PATCH", "/me", member, '{"name": "Li"}', content_type)
    _problem(response, 415, "unsupported_media_type")


async def test_application_json_with_a_charset_is_accepted(client: httpx.AsyncClient,
                                                           world: World) -> None:
    member = world.headers(world.a.members[0])
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        response = await _raw(client, "PATCH", "/me", member, '{"name": "Li"}', content_type)
        assert response.status_code == 200, (content_type, response.text)


# --- the small ones --------------------------------------------------------------------

_PARAMETER = re.compile(r"\{\w+:(\w+)\}")
_EXAMPLES = {"uuid": str(uuid.uuid4()), "path": "/clerk/app.js"}


async def test_options_lists_every_method_of_the_path(client: httpx.AsyncClient,
                                                      app: Litestar) -> None:
    wrong = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = _PARAMETER.sub(lambda m: _EXAMPLES.get(m.group(1), "x"), route.path)
        response = await client.options(path)  # no token: it tells what the schema does
        allowed = set(response.headers.get("allow", "").replace(" ", "").split(","))
        if response.status_code != 204 or allowed != route.methods:
            wrong.append(f"{route.path}: {response.status_code} {sorted(allowed)} "
                         f"!= {sorted(route.methods)}")
    assert wrong == [], "\n".join(wrong)


async def test_the_csv_export_has_one_charset(client: httpx.AsyncClient,
                                              world: World) -> None:
    response = await client.get(f"{API}/stats/export.csv", headers=world.headers(
        world.a.operator), params={"from": "2026-12-01", "to": "2026-12-02"})
    assert response.status_code == 200, response.text
    media_type, *parameters = [p.strip() for p in response.headers["content-type"].split(";")]
    assert media_type == "text/csv"
    assert parameters == ["charset=utf-8"]


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "posix/Asia/Shanghai",
                                  "right/UTC", "Asia/../UTC", "asia/shanghai"])
async def test_a_timezone_is_an_iana_place(client: httpx.AsyncClient, world: World,
                                           zone: str) -> None:
    op = world.headers(world.a.operator)
    created = await client.post(f"{API}/stores", headers=op, json={
        "name": "Store 9", "timezone": zone, "opening_hours": []})
    _refused(created, "timezone")
    patched = await client.patch(f"{API}/stores/{world.a.stores[0]}", headers=op,
                                 json={"timezone": zone})
    _refused(patched, "timezone")


async def test_iana_zones_and_their_links_are_accepted(client: httpx.AsyncClient,
                                                       world: World) -> None:
    op = world.headers(world.a.operator)
    for zone in ("UTC", "Asia/Shanghai", "Europe/Paris", "PRC", "America/Argentina/Salta"):
        response = await client.patch(f"{API}/stores/{world.a.stores[0]}", headers=op,
                                      json={"timezone": zone})
        assert response.status_code == 200, (zone, response.text)
