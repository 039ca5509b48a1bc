"""Issue 19 (online top-up through WeChat Pay) read the way an outside client reads
../shared/API.md: each test here is a place where the server, run as `o2o serve` (or its
ASGI app), does not do what the contract (or the brief's out-of-the-box demo) says. See
/work/wt/api/contract.md for what was checked and conformed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.tables import Event
from tests.app.test_demo_history import run_demo
from tests.conftest import LiveServer
from tests.payments.helpers import card, place, stored_value_card
from tests.world import World

ROOT = Path(__file__).resolve().parents[2]

API = "/api/v1"


@pytest.fixture
def demo_server(database_url: str) -> Any:
    """`o2o migrate` (the template), `o2o demo`, then `o2o serve` in sandbox mode (the
    development default) on a free port: what `make run` brings up."""
    seeded = run_demo(database_url)
    server = LiveServer(database_url, env={"O2O_WECHAT_MODE": "sandbox"}).start()
    try:
        yield seeded.chain_id, server
    finally:
        server.stop()


def test_demo_member_can_top_up_online_in_sandbox(demo_server: Any) -> None:
    """Brief: `make run` must come up and the demo member page must be able to top up in
    sandbox, so `o2o demo` must seed a stored-value template with `top_up_options`.
    The demo's only stored-value template (储值卡 Prepaid) has `top_up_options: []` and
    templates cannot be edited (no PATCH), so the demo member's card answers 409
    `wrong_card_kind` to `POST /cards/{id}/top-up-orders` and the page has nothing to
    offer."""
    chain_id, server = demo_server
    with httpx.Client(base_url=server.base_url + API, timeout=20) as http:
        login = http.post("/auth/member/wechat",
                          json={"chain_id": chain_id, "code": "sandbox:demo-member-1"})
        assert login.status_code == 200, login.text
        member = {"Authorization": f"Bearer {login.json()['token']}"}
        cards = http.get("/me/cards", headers=member).json()
        prepaid = [c for c in cards if c["kind"] == "stored_value"]
        assert prepaid, cards
        card = prepaid[0]
        template = http.get(f"/card-templates/{card['template_id']}", headers=member).json()
        assert template["top_up_options"], (
            f"the demo's stored-value template {template['name']!r} offers no online top-up")
        option = template["top_up_options"][0]
        placed = http.post(f"/cards/{card['id']}/top-up-orders",
                           headers={**member, "Idempotency-Key": "demo-top-up-1"},
                           json={"amount_cents": option["amount_cents"]})
        assert placed.status_code == 201, placed.text
        assert placed.json()["pay_params"]["signType"] == "SANDBOX"
        paid = http.post(f"/top-up-orders/{placed.json()['id']}/sandbox-pay", headers=member)
        assert paid.status_code == 200, paid.text
        after = http.get(f"/cards/{card['id']}", headers=member).json()
        assert after["balance_cents"] == (card["balance_cents"] + option["amount_cents"]
                                          + option["bonus_cents"])


async def test_liability_bad_date_names_the_date_parameter(
        client: httpx.AsyncClient, world: World) -> None:
    """API.md conventions: invalid parameters → 400 `validation_error` "with the
    offending fields named". `GET /stats/liability?date=bad` names `day` (the Python
    parameter) with `source: "ParamType.QUERY"`, not `date` / `query` like every other
    endpoint (a missing `date` does name `date`)."""
    response = await client.get(f"{API}/stats/liability", params={"date": "2026-13-40"},
                                headers=world.headers(world.a.operator))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    fields = [e["field"] for e in body["errors"]]
    assert fields == ["date"], body
    assert all(e.get("source") in (None, "query") for e in body["errors"]), body


async def test_me_top_up_orders_is_a_list_of_orders(
        client: httpx.AsyncClient, world: World) -> None:
    """API.md: "`GET /top-up-orders/{id}` (...), `GET /me/top-up-orders` → order {...}":
    a client reading only the contract takes the /me list to be a JSON array of orders,
    like `GET /me/cards`, `GET /me/vouchers` and `GET /me/bookings` answer. The server
    answers an object `{"items": [...], "next_cursor"}` (the brief's own
    `GET /top-up-orders` page shape, not named by the contract)."""
    card_id = await stored_value_card(client, world)
    placed = await place(client, world, card_id, key="contract-me-list")
    assert placed.status_code == 201, placed.text
    mine = await client.get(f"{API}/me/top-up-orders",
                            headers=world.headers(world.a.members[0]))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert isinstance(body, list), f"expected a list of orders, got {type(body).__name__}"
    assert [o["id"] for o in body] == [placed.json()["id"]]



async def test_amount_not_offered_is_a_validation_error(
        client: httpx.AsyncClient, world: World) -> None:
    """API.md: the body is `{"amount_cents"}` "(one of the template's options)"; the
    conventions say invalid bodies answer 400 `validation_error` with the offending field
    named, and that `code` is one of the contract's stable codes. An amount that is not an
    option answers 422 `amount_not_offered`, a code the contract does not have (debatable:
    the lead may call it a business rule; then API.md should name the code)."""
    card_id = await stored_value_card(client, world)
    response = await place(client, world, card_id, 12_345, key="contract-not-offered")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error", body
    assert "amount_cents" in [e["field"] for e in body.get("errors", [])], body


async def test_unusable_pay_config_keys_are_a_validation_error(
        client: httpx.AsyncClient, world: World) -> None:
    """API.md conventions: invalid bodies → 400 `validation_error`, offending fields named.
    `PUT /wechat-pay-config` with an APIv3 key that is not 32 bytes and PEMs that are not
    RSA keys answers 422 `invalid_pay_config` (a code the contract does not have), while a
    bad `mchid` in the same body answers 400 `validation_error`: one body, two answers."""
    response = await client.put(f"{API}/wechat-pay-config", headers=world.headers(
        world.a.operator), json={
            "mchid": "1900000001", "appid": "wx1234567890abcdef",
            "merchant_serial_no": "ABCDEF0123", "merchant_private_key_pem": "not a key",
            "apiv3_key": "short", "platform_public_key_id": "PUB_KEY_ID_0112345",
            "platform_public_key_pem": "not a key"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error", body
    assert {"apiv3_key", "merchant_private_key_pem", "platform_public_key_pem"} <= {
        e["field"] for e in body["errors"]}, body


async def test_one_online_top_up_is_one_card_topped_up_event(
        client: httpx.AsyncClient, world: World) -> None:
    """API.md Events: `data` "is the changed object as the API answers it"; the brief:
    `move_stored_value` "emits card.topped_up for top_up". A paid order with a bonus
    writes two `card.topped_up` events, the first carrying a card (paid 50000, bonus 0,
    balance 50000) that no API call can ever see (both entries are one transaction), so
    a POS counting `card.topped_up` counts two top-ups for one payment."""
    card_id = await stored_value_card(client, world)
    placed = await place(client, world, card_id, 50_000, key="contract-one-event")
    assert placed.status_code == 201, placed.text
    paid = await client.post(f"{API}/top-up-orders/{placed.json()['id']}/sandbox-pay",
                             headers=world.headers(world.a.members[0]))
    assert paid.status_code == 200, paid.text
    answered = await card(client, world, card_id)
    rows = await Event.select(Event.type, Event.data).where(
        Event.type == "card.topped_up").output(load_json=True).run()
    mine = [r["data"] for r in rows if r["data"]["id"] == card_id]
    assert len(mine) == 1, [(d["balance_cents"], d["bonus_balance_cents"]) for d in mine]
    assert (mine[0]["balance_cents"], mine[0]["paid_balance_cents"],
            mine[0]["bonus_balance_cents"]) == (answered["balance_cents"],
                                                answered["paid_balance_cents"],
                                                answered["bonus_balance_cents"])


# --- the README -----------------------------------------------------------------------

def _readme_rows(prefix: str) -> list[str]:
    return [line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith(prefix)]


def test_readme_command_table_has_pay_reconcile() -> None:
    """The brief: README/docs describe `o2o pay reconcile`. docs/operations.md does, but
    the README's command table (which `o2o --help` mirrors) has no `o2o pay` row."""
    assert _readme_rows("| `o2o pay reconcile"), "README's command table lacks o2o pay reconcile"
    help_text = subprocess.run([sys.executable, "-m", "app.cli", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=False).stdout
    assert "pay" in help_text


def test_readme_worker_row_says_it_follows_wechat_pay() -> None:
    """README: "`o2o worker` | delivers notifications only (no HTTP)"; docs/operations.md:
    it also delivers webhooks and runs the WeChat Pay poller (and the README's own
    `O2O_PAY_POLLER` row says another process "or `o2o worker`" must follow orders)."""
    rows = _readme_rows("| `o2o worker`")
    assert rows, "no o2o worker row"
    assert "only" not in rows[0] and re.search(r"pay", rows[0], re.IGNORECASE), rows[0]


def test_readme_settings_table_lists_every_pay_setting() -> None:
    """The brief: README describes the new settings (O2O_WECHAT_PAY_API_BASE,
    O2O_PUBLIC_URL, O2O_PAY_*). `O2O_PAY_QUERY_SCALE` (read by app/core/settings.py) is in
    docs/api.md only; the README table lists the analogous O2O_WEBHOOK_RETRY_SCALE."""
    settings_py = (ROOT / "app" / "core" / "settings.py").read_text()
    read = set(re.findall(r'"(O2O_(?:PAY_|WECHAT_PAY_|PUBLIC_URL)[A-Z_]*)"', settings_py))
    assert read >= {"O2O_WECHAT_PAY_API_BASE", "O2O_PUBLIC_URL", "O2O_PAY_POLLER"}
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in read if f"| `{v}` |" not in readme)
    assert not missing, f"README settings table lacks {missing}"
