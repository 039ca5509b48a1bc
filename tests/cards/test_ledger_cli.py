"""`o2o verify-ledger` as an operator runs it, and a race over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from cards.tables import LedgerEntry
from tests.cards.conftest import API, Cards
from tests.conftest import TEST_SECRET, LiveServer

ROOT = Path(__file__).resolve().parents[2]


def verify_ledger(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", "verify-ledger"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_verify_ledger_command_passes_then_fails_on_an_edit(cards: Cards,
                                                                  database_url: str) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value", points_per_yuan=1)
    card = await cards.issue(template["id"])
    await cards.top_up(card["id"], 8_000)
    assert (await cards.redeem(await cards.code(card["id"]), action="charge",
                               amount=2_500)).status_code == 201
    ok = verify_ledger(database_url)
    assert ok.returncode == 0, ok.stderr
    assert '"mismatches": 0' in ok.stdout

    await LedgerEntry.update({LedgerEntry.points_after: 1}).where(
        LedgerEntry.kind == "charge").run()
    bad = verify_ledger(database_url)
    assert bad.returncode == 1
    assert card["id"] in bad.stderr
    await LedgerEntry.update({LedgerEntry.points_after: 25}).where(
        LedgerEntry.kind == "charge").run()


async def test_one_code_raced_over_real_http_redeems_once(cards: Cards,
                                                          database_url: str) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value")
    card = await cards.issue(template["id"])
    await cards.top_up(card["id"], 10_000)
    code = await cards.code(card["id"])
    clerk = cards.world.headers(cards.world.a.staff["alpha-clerk1"])
    body = {"code": code, "action": "charge", "amount_cents": 700,
            "store_id": str(cards.world.a.stores[0])}
    server = LiveServer(database_url).start()
    try:
        def post(_: int) -> int:
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                return http.post(f"{API}/redemptions", json=body, headers=clerk).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = sorted(pool.map(post, range(16)))
    finally:
        server.stop()
    assert statuses == [201] + [409] * 15
    after = await cards.card(card["id"])
    assert after["balance_cents"] == 9_300
