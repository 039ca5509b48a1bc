"""The `o2o` command as an operator runs it: migrate, create-operator, demo, serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from app.demo import LOGINS, MEMBERS, PASSWORD
from app.demo_history import MEMBERS as HISTORY_MEMBERS
from tests.conftest import TEST_SECRET, LiveServer

ROOT = Path(__file__).resolve().parents[2]


def o2o(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O2O_DATABASE_URL": database_url, "O2O_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_migrate_is_repeatable(database_url: str) -> None:
    result = o2o(database_url, "migrate")
    assert result.returncode == 0, result.stderr


def test_create_operator_prints_one_json_line_and_the_login_works(database_url: str) -> None:
    result = o2o(database_url, "create-operator", "--chain", "Noodle House",
                 "--username", "noodle-boss", "--password", "long-enough-pw")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    ids = json.loads(lines[0])
    assert set(ids) == {"chain_id", "staff_id"}

    again = o2o(database_url, "create-operator", "--chain", "Other", "--username",
                "noodle-boss", "--password", "long-enough-pw")
    assert again.returncode == 1
    assert "taken" in again.stderr

    server = LiveServer(database_url).start()
    try:
        login = httpx.post(server.base_url + "/api/v1/auth/staff/login",
                           json={"username": "noodle-boss", "password": "long-enough-pw"})
    finally:
        server.stop()
    assert login.status_code == 200
    assert login.json()["staff"] == {"id": ids["staff_id"], "role": "operator",
                                     "chain_id": ids["chain_id"], "store_ids": [],
                                     "username": "noodle-boss", "name": "noodle-boss"}


def test_demo_is_idempotent_and_its_logins_work(database_url: str) -> None:
    first = o2o(database_url, "demo")
    second = o2o(database_url, "demo")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "created" in first.stdout
    assert "already present" in second.stdout
    chain_line = [line for line in first.stdout.splitlines() if line.startswith("chain_id:")]
    assert chain_line and chain_line[0] in second.stdout
    chain_id = chain_line[0].split(":", 1)[1].strip()
    for _, username in LOGINS:
        assert username in first.stdout

    server = LiveServer(database_url).start()
    try:
        with httpx.Client(base_url=server.base_url + "/api/v1") as http:
            stores_seen = {}
            for role, username in LOGINS:
                login = http.post("/auth/staff/login",
                                  json={"username": username, "password": PASSWORD})
                assert login.status_code == 200, login.text
                assert login.json()["staff"]["role"] == role
                token = {"Authorization": f"Bearer {login.json()['token']}"}
                stores_seen[username] = http.get("/stores", headers=token).json()
            assert len(stores_seen["demo-operator"]) == 2
            assert len(stores_seen["demo-clerk-jingan"]) == 1
            store = stores_seen["demo-operator"][0]["id"]
            operator = http.post("/auth/staff/login", json={"username": "demo-operator",
                                                           "password": PASSWORD})
            token = {"Authorization": f"Bearer {operator.json()['token']}"}
            assert len(http.get(f"/stores/{store}/services", headers=token).json()) == 3
            assert len(http.get(f"/stores/{store}/resources", headers=token).json()) == 4
            # Today's five, newest first, then the history's thirty (app/demo_history.py).
            members = http.get("/members", headers=token, params={"limit": 100}).json()
            assert len(members) == len(MEMBERS) + len(HISTORY_MEMBERS)
            assert {m["name"] for m in members[:len(MEMBERS)]} == {n for n, _ in MEMBERS}
            templates = http.get("/card-templates", headers=token).json()
            assert len(templates) == 3
            # The prepaid card can be topped up online out of the box (sandbox pay).
            prepaid = next(t for t in templates if t["kind"] == "stored_value")
            assert {(o["amount_cents"], o["bonus_cents"]) for o in prepaid["top_up_options"]} \
                == {(20_000, 1_000), (50_000, 5_000), (100_000, 15_000)}
            member = http.post("/auth/member/wechat",
                               json={"chain_id": chain_id, "code": "sandbox:demo-member-1"})
            assert member.status_code == 200
            assert member.json()["member"]["name"] == "王芳"
            mine = {"Authorization": f"Bearer {member.json()['token']}"}
            assert len(http.get("/me/cards", headers=mine).json()) == 2
            assert len(http.get("/me/vouchers", headers=mine).json()) == 1
    finally:
        server.stop()
