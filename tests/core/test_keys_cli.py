"""`o2o keys rotate|list` as an operator runs them, against the server's database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from litestar import Litestar

from app.core.codes import CodeKind, parse
from app.core.runtime import Runtime
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def o2o(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_rotate_from_the_command_line(client: httpx.AsyncClient, app: Litestar,
                                            database_url: str) -> None:
    runtime: Runtime = app.state.runtime
    chain = uuid.uuid4()
    not_after = datetime.now(UTC) + timedelta(days=1)
    old_code = await runtime.signer.sign(chain, CodeKind.VOUCHER, uuid.uuid4(), not_after)

    result = o2o(database_url, "keys", "rotate", "--chain", str(chain),
                 "--max-code-lifetime-days", "7")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["chain_id"] == str(chain) and len(printed["kid"]) == 8

    listed = o2o(database_url, "keys", "list", "--chain", str(chain))
    assert listed.returncode == 0, listed.stderr
    kids = [key["kid"] for key in json.loads(listed.stdout)["keys"]]
    assert kids == [parse(old_code)[0].kid_hex, printed["kid"]]
    served = (await client.get("/api/v1/keys", params={"chain_id": str(chain)})).json()
    assert [key["kid"] for key in served["keys"]] == kids
    # The old code still verifies; the retired key is listed for the 7 days, then not.
    assert (await runtime.signer.verify(old_code, now=datetime.now(UTC))).chain_id == chain
    after = await runtime.signer.published_keys(
        chain, now=datetime.now(UTC) + timedelta(days=7, minutes=1))
    assert [key["kid"] for key in after] == [printed["kid"]]

    bad = o2o(database_url, "keys", "rotate", "--chain", "not-a-uuid")
    assert bad.returncode == 2 and "invalid UUID" in bad.stderr
