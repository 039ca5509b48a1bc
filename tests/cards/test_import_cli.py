"""`o2o import members FILE --chain ID [--dry-run]` as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from stores.tables import Member
from tests.cards.conftest import Cards
from tests.cards.test_ledger_cli import verify_ledger
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def o2o_import(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", "import", "members", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


async def test_dry_run_then_import_then_again(cards: Cards, database_url: str,
                                              tmp_path: Path) -> None:
    template = await cards.template(name="Prepaid", kind="stored_value")
    path = tmp_path / "members.csv"
    path.write_text("external_id,name,phone,card_template_id,opening_balance_cents\n"
                    + "".join(f"cli-{n},Member {n},1380000{n:04d},{template['id']},{n * 100}\n"
                              for n in range(1, 301)), encoding="utf-8")
    chain = str(cards.world.a.id)

    dry = o2o_import(database_url, str(path), "--chain", chain, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"rows": 300, "members_created": 300,
                                      "members_updated": 0, "cards_created": 300,
                                      "dry_run": True, "errors": []}
    assert await Member.count().where(Member.external_id.like("cli-%")).run() == 0
    # The progress bar: each stage on stderr (not a terminal: one line per stage).
    assert "reading" in dry.stderr and "checking" in dry.stderr
    assert "300/300" in dry.stderr and "writing" not in dry.stderr

    real = o2o_import(database_url, str(path), "--chain", chain)
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["cards_created"] == 300
    assert "writing" in real.stderr and "600/600" in real.stderr
    assert await Member.count().where(Member.external_id.like("cli-%")).run() == 300
    ledger = verify_ledger(database_url)
    assert ledger.returncode == 0, ledger.stderr

    again = o2o_import(database_url, str(path), "--chain", chain)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"rows": 300, "members_created": 0,
                                        "members_updated": 0, "cards_created": 0,
                                        "dry_run": False, "errors": []}


async def test_an_invalid_file_exits_1_with_its_errors_by_line(cards: Cards, database_url: str,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("external_id,name,birthday\nok-1,Fine,\nbad-1,Bad,yesterday\n"
                    ",Nameless,\n", encoding="utf-8")
    result = o2o_import(database_url, str(path), "--chain", str(cards.world.a.id))
    assert result.returncode == 1
    assert f"{path}: line 3: birthday: not a date (YYYY-MM-DD)" in result.stderr
    assert f"{path}: line 4: external_id: required" in result.stderr
    assert result.stdout == ""
    assert await Member.count().where(Member.external_id == "ok-1").run() == 0

    unknown = o2o_import(database_url, str(path), "--chain", str(uuid.uuid4()))
    assert unknown.returncode == 1 and "no chain" in unknown.stderr
    missing = o2o_import(database_url, str(tmp_path / "nope.csv"), "--chain",
                         str(cards.world.a.id))
    assert missing.returncode == 2
