"""The controllable clock (O2O_CLOCK_FILE), the runner's settings and the chain's zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.core import clock
from app.core.settings import Settings, SettingsError
from tests.world import World

API = "/api/v1"


@pytest.fixture
def clock_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "clock"
    yield path
    clock.use_clock_file(None)


def test_unset_clock_is_the_wall_clock() -> None:
    before = datetime.now(UTC)
    assert before <= clock.utcnow() <= datetime.now(UTC)


def test_clock_file_is_read_again_when_it_changes(clock_file: Path) -> None:
    first = datetime(2027, 2, 28, 16, 0, tzinfo=UTC)
    clock.set_clock_file_instant(clock_file, first)
    clock.use_clock_file(clock_file)
    assert clock.utcnow() == first
    assert clock.utcnow() == first  # no change: the cached instant
    later = datetime(2028, 2, 28, 16, 0, 5, tzinfo=UTC)
    clock.set_clock_file_instant(clock_file, later)
    assert clock.utcnow() == later
    # Written by hand with a zone offset (RFC 3339), in another process's way.
    clock_file.write_text("2029-01-01T08:00:00+08:00\n")
    os.utime(clock_file, ns=(time.time_ns(), time.time_ns() + 1))
    assert clock.utcnow() == datetime(2029, 1, 1, 0, 0, tzinfo=UTC)
    clock.use_clock_file(None)
    assert clock.utcnow().year == datetime.now(UTC).year


def test_clock_file_is_refused_in_production() -> None:
    env = {"O2O_ENV": "production", "O2O_SECRET_KEY": "x" * 40,
           "O2O_DATABASE_URL": "postgresql://db/o2o", "O2O_CLOCK_FILE": "/tmp/clock"}
    with pytest.raises(SettingsError, match="O2O_CLOCK_FILE"):
        Settings.from_env(env)
    del env["O2O_CLOCK_FILE"]
    assert Settings.from_env(env).env == "production"


def test_runner_settings() -> None:
    base = {"O2O_SECRET_KEY": "x" * 40, "O2O_DATABASE_URL": "sqlite:///x.sqlite3"}
    default = Settings.from_env(base)
    assert default.marketing_runner is True and default.marketing_tick_s == 15.0
    off = Settings.from_env({**base, "O2O_MARKETING_RUNNER": "0",
                             "O2O_MARKETING_TICK_SECONDS": "0.5"})
    assert off.marketing_runner is False and off.marketing_tick_s == 0.5
    with pytest.raises(SettingsError, match="O2O_MARKETING_TICK_SECONDS"):
        Settings.from_env({**base, "O2O_MARKETING_TICK_SECONDS": "-1"})


async def test_chain_timezone_is_set_and_validated(client: httpx.AsyncClient,
                                                   world: World) -> None:
    operator = world.headers(world.a.operator)
    got = await client.get(f"{API}/chain", headers=operator)
    assert got.status_code == 200, got.text
    assert got.json()["timezone"] == "Asia/Shanghai"
    bad = await client.patch(f"{API}/chain", json={"timezone": "Mars/Olympus"},
                             headers=operator)
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error" and "timezone" in bad.text
    ok = await client.patch(f"{API}/chain", json={"timezone": "Europe/Paris"},
                            headers=operator)
    assert ok.status_code == 200 and ok.json()["timezone"] == "Europe/Paris"
    assert (await client.get(f"{API}/chain", headers=operator)).json()["timezone"] \
        == "Europe/Paris"
    # Another chain keeps its own.
    other = await client.get(f"{API}/chain", headers=world.headers(world.b.operator))
    assert other.json()["timezone"] == "Asia/Shanghai"
