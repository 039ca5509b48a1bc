"""`o2o campaigns issue`: bulk issuing from a file, with a progress bar and a summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from cards.tables import Voucher
from tests.conftest import TEST_SECRET
from tests.world import World

ROOT = Path(__file__).resolve().parents[2]


async def test_issue_from_a_members_file(client: httpx.AsyncClient, world: World,
                                         database_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    campaign = (await client.post("/api/v1/campaigns", headers=world.headers(world.a.operator),
                                  json={"name": "Spring", "kind": "cash", "value_cents": 500,
                                        "total_quantity": 2, "per_member_limit": 1,
                                        "valid_from": now.isoformat(),
                                        "valid_until": (now + timedelta(days=3)).isoformat()}
                                  )).json()
    members = [str(m.id) for m in world.a.members] + [str(world.b.members[0].id)]
    path = tmp_path / "members.txt"
    path.write_text("# spring list\n" + "\n".join(members) + "\n")
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "campaigns", "issue", "--campaign", campaign["id"],
         "--members-file", str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["issued"] == 2
    assert summary["skipped"] == [{"member_id": members[2], "code": "not_found"}]
    assert "3/3" in result.stderr  # the progress bar reached the end
    assert await Voucher.count().where(Voucher.campaign == campaign["id"]).run() == 2
