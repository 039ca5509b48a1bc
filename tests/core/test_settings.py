"""Settings from the environment, as API.md names them; unsafe production refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 40


def test_development_defaults_need_no_variable(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert settings.wechat_mode == "sandbox"
    assert settings.wechat_api_base == "https://api.weixin.qq.com"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'o2o.sqlite3'}"
    # The generated secret is kept, so a restart keeps tokens and encrypted data valid.
    assert len(settings.secret_key) >= 32
    assert Settings.from_env({}).secret_key == settings.secret_key
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_production_defaults_to_live_and_requires_a_secret() -> None:
    settings = Settings.from_env({"O2O_ENV": "production", "O2O_SECRET_KEY": SECRET,
                                  "O2O_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.wechat_mode == "live"
    with pytest.raises(SettingsError, match="O2O_SECRET_KEY is required"):
        Settings.from_env({"O2O_ENV": "production", "O2O_DATABASE_URL": "postgresql://u@h/d"})
    with pytest.raises(SettingsError, match="sandbox is refused"):
        Settings.from_env({"O2O_ENV": "production", "O2O_SECRET_KEY": SECRET,
                           "O2O_WECHAT_MODE": "sandbox"})


@pytest.mark.parametrize("env, message", [
    ({"O2O_ENV": "staging"}, "O2O_ENV"),
    ({"O2O_WECHAT_MODE": "mock"}, "O2O_WECHAT_MODE"),
    ({"O2O_SECRET_KEY": "short"}, "at least 32"),
    ({"O2O_DATABASE_URL": "mysql://x"}, "O2O_DATABASE_URL"),
    ({"O2O_MAX_BODY_BYTES": "1MB"}, "O2O_MAX_BODY_BYTES"),
    ({"O2O_NOTIFY_LEASE_SECONDS": "0"}, "O2O_NOTIFY_LEASE_SECONDS"),
    ({"O2O_NOTIFY_POLL_SECONDS": "nan"}, "O2O_NOTIFY_POLL_SECONDS"),
    ({"O2O_NOTIFY_MAX_ATTEMPTS": "-3"}, "O2O_NOTIFY_MAX_ATTEMPTS"),
    ({"O2O_WECHAT_TIMEOUT_SECONDS": "soon"}, "O2O_WECHAT_TIMEOUT_SECONDS"),
])
def test_bad_values_are_refused_with_a_reason(env: dict[str, str], message: str,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_api_base_and_proxies_are_read() -> None:
    settings = Settings.from_env({
        "O2O_SECRET_KEY": SECRET, "O2O_DATABASE_URL": "sqlite:////tmp/x.sqlite3",
        "O2O_WECHAT_API_BASE": "http://127.0.0.1:9/", "O2O_WECHAT_MODE": "live",
        "O2O_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2"})
    assert settings.wechat_api_base == "http://127.0.0.1:9"
    assert settings.trusted_proxies == frozenset({"10.0.0.1", "10.0.0.2"})


def test_trusted_proxies_may_be_networks_and_nonsense_is_refused() -> None:
    from app.core.runtime import _is_trusted

    env = {"O2O_SECRET_KEY": SECRET, "O2O_DATABASE_URL": "sqlite:////tmp/x.sqlite3"}
    proxies = Settings.from_env({**env, "O2O_TRUSTED_PROXIES": "172.28.0.0/16, ::1"}
                                ).trusted_proxies
    assert _is_trusted("172.28.3.4", proxies) and _is_trusted("::1", proxies)
    assert not _is_trusted("172.29.0.1", proxies)
    assert not _is_trusted("not-an-ip", proxies)
    with pytest.raises(SettingsError, match="O2O_TRUSTED_PROXIES"):
        Settings.from_env({**env, "O2O_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"})


def test_notification_knobs_are_read() -> None:
    base = {"O2O_SECRET_KEY": SECRET, "O2O_DATABASE_URL": "sqlite:////tmp/x.sqlite3"}
    defaults = Settings.from_env(base)
    assert (defaults.notify_dispatcher, defaults.notify_poll_s, defaults.notify_lease_s,
            defaults.notify_max_attempts, defaults.wechat_timeout_s) == (True, 1.0, 60.0, 10, 5.0)
    settings = Settings.from_env({
        **base, "O2O_NOTIFY_DISPATCHER": "0", "O2O_NOTIFY_POLL_SECONDS": "0.25",
        "O2O_NOTIFY_LEASE_SECONDS": "30", "O2O_NOTIFY_MAX_ATTEMPTS": "4",
        "O2O_NOTIFY_RETRY_BASE_SECONDS": "2", "O2O_WECHAT_TIMEOUT_SECONDS": "3"})
    assert (settings.notify_dispatcher, settings.notify_poll_s, settings.notify_lease_s,
            settings.notify_max_attempts, settings.notify_retry_base_s,
            settings.wechat_timeout_s) == (False, 0.25, 30.0, 4, 2.0, 3.0)


@pytest.mark.parametrize("env, reason", [
    ({"O2O_ENV": "production"}, "O2O_SECRET_KEY is required when O2O_ENV=production"),
    ({"O2O_ENV": "production", "O2O_SECRET_KEY": SECRET, "O2O_WECHAT_MODE": "sandbox"},
     "O2O_WECHAT_MODE=sandbox is refused when O2O_ENV=production"),
])
def test_serve_refuses_unsafe_production_in_one_line(env: dict[str, str], reason: str,
                                                     tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"], cwd=ROOT,
        env={**clean, **env, "O2O_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"},
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"o2o: {reason}"
