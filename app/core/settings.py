"""Settings read once from the environment (names fixed by API.md)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Env = Literal["development", "production"]
WechatMode = Literal["live", "sandbox"]
SqliteSync = Literal["normal", "full"]
LogFormat = Literal["text", "json"]

DEFAULT_VAR_DIR = Path("var")
DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_WECHAT_PAY_API_BASE = "https://api.mch.weixin.qq.com"


class SettingsError(Exception):
    """A setting that makes starting unsafe or impossible; the message is one line."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    env: Env = "development"
    wechat_mode: WechatMode = "sandbox"
    wechat_api_base: str = DEFAULT_WECHAT_API_BASE
    # Beyond the contract: operational knobs with safe defaults.
    max_body_bytes: int = 1_000_000
    staff_token_minutes: int = 12 * 60
    member_token_minutes: int = 7 * 24 * 60
    # Comma-separated proxy addresses whose X-Forwarded-For is believed.
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    cors_origins: tuple[str, ...] = ()
    # SQLite's PRAGMA synchronous in WAL mode: normal (no fsync per commit; survives a
    # killed process, may lose the last commits on power loss) or full (fsync each).
    sqlite_synchronous: SqliteSync = "normal"
    # Notifications: the dispatcher in each server process (off: run `o2o worker`).
    notify_dispatcher: bool = True
    notify_poll_s: float = 1.0  # idle wait between looks for due rows
    notify_lease_s: float = 60.0  # a claimed row is another process's again after this
    notify_batch: int = 20  # rows claimed (and delivered concurrently) at once
    notify_max_attempts: int = 10  # then the row is failed
    notify_retry_base_s: float = 5.0  # backoff: base * 2^(attempt-1), jittered, capped
    wechat_timeout_s: float = 5.0  # total time of one WeChat call
    # Live streams (app/live.py): a ': ping' this often keeps proxies from closing an idle
    # stream (shorter behind a proxy with a short idle timeout); the stream checks its
    # token at each and reloads the member's cards at every fourth.
    live_heartbeat_s: float = 15.0
    # Logs: one record per line, text for a developer's terminal, JSON (the production
    # default) for a log stack. The API docs pages (/schema, /schema/swagger): on in
    # development, off in production unless asked for; /schema/openapi.json always stays.
    log_format: LogFormat = "text"
    api_docs: bool = True
    # Webhooks (app/core/webhooks): O2O_WEBHOOK_ALLOW_HTTP / O2O_WEBHOOK_ALLOW_PRIVATE lift
    # the https-only and public-address-only rules (default on in development, off in
    # production). The delivery worker runs in each server process (off: none here).
    webhook_allow_http: bool = True
    webhook_allow_private: bool = True
    webhook_worker: bool = True
    webhook_poll_s: float = 1.0  # idle wait between looks for new events / due deliveries
    # A claimed delivery is another process's again after this: keep it well above the
    # 15 s total timeout of one attempt, so only a dead process's lease runs out.
    webhook_lease_s: float = 60.0
    webhook_per_endpoint: int = 4  # attempts in flight at once per endpoint, per process
    webhook_in_flight: int = 200  # attempts in flight at once in this process
    # Multiplies the retry schedule (5 s, 1 min, ... about 3.5 days in all); tests only.
    webhook_retry_scale: float = 1.0
    # Online top-up (payments/): WeChat Pay API v3's base, and this service's public base
    # URL (scheme and host), from which WeChat Pay's notify URL is built; live mode
    # places no order without it. https only in production.
    wechat_pay_api_base: str = DEFAULT_WECHAT_PAY_API_BASE
    public_url: str | None = None
    wechat_pay_timeout_s: float = 10.0  # total time of one WeChat Pay call
    # The pay poller (payments/poller.py: active queries, closing stale orders) in each
    # server process (off: run `o2o worker`), and its idle wait between looks.
    pay_poller: bool = True
    pay_poll_s: float = 5.0
    # Multiplies the poller's query schedule (first look, backoff); tests only.
    pay_query_scale: float = 1.0
    # Marketing's background work (marketing/runner.py: automations' sweeps, jobs, ...)
    # in each server process (off: run `o2o worker`), and the wait between its rounds.
    marketing_runner: bool = True
    marketing_tick_s: float = 15.0
    # The WeChat card bag's sync (cardbag/sync.py: follow the feed, the sweep, the sender)
    # in each server process (off: run `o2o worker`); live WeChat mode only. Its idle wait
    # between looks, the sweep's period (the backstop), the lease of a claimed card (well
    # above one WeChat call's timeout; each call is cut at half of it, so only a dead or
    # stalled process's lease runs out), the cards claimed per look, and the first retry
    # delay (doubled per failed try, jittered).
    cardbag_sync: bool = True
    cardbag_poll_s: float = 1.0
    cardbag_sweep_s: float = 60.0
    cardbag_lease_s: float = 60.0
    cardbag_batch: int = 20
    cardbag_retry_base_s: float = 5.0

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env_vars = dict(os.environ if environ is None else environ)
        env = env_vars.get("O2O_ENV", "development").strip() or "development"
        if env not in ("development", "production"):
            raise SettingsError(f"O2O_ENV must be 'development' or 'production', not {env!r}")
        production = env == "production"

        default_mode = "live" if production else "sandbox"
        mode = env_vars.get("O2O_WECHAT_MODE", default_mode).strip() or default_mode
        if mode not in ("live", "sandbox"):
            raise SettingsError(f"O2O_WECHAT_MODE must be 'live' or 'sandbox', not {mode!r}")
        if production and mode == "sandbox":
            raise SettingsError("O2O_WECHAT_MODE=sandbox is refused when O2O_ENV=production")

        secret = env_vars.get("O2O_SECRET_KEY", "").strip()
        if not secret:
            if production:
                raise SettingsError("O2O_SECRET_KEY is required when O2O_ENV=production")
            secret = _development_secret(DEFAULT_VAR_DIR)
        elif len(secret) < 32:
            raise SettingsError("O2O_SECRET_KEY must be at least 32 characters")

        url = env_vars.get("O2O_DATABASE_URL", "").strip() or _default_sqlite_url()
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError(
                "O2O_DATABASE_URL must start with sqlite:/// or postgresql://"
            )

        sqlite_sync = env_vars.get("O2O_SQLITE_SYNCHRONOUS", "").strip().lower() or "normal"
        if sqlite_sync not in ("normal", "full"):
            raise SettingsError(
                f"O2O_SQLITE_SYNCHRONOUS must be 'normal' or 'full', not {sqlite_sync!r}")

        if production and env_vars.get("O2O_CLOCK_FILE", "").strip():
            raise SettingsError("O2O_CLOCK_FILE (a test clock) is refused when "
                                "O2O_ENV=production")

        log_format = env_vars.get("O2O_LOG_FORMAT", "").strip().lower() or (
            "json" if production else "text")
        if log_format not in ("text", "json"):
            raise SettingsError(f"O2O_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")

        return cls(
            database_url=url,
            secret_key=secret,
            env=env,  # type: ignore[arg-type]
            wechat_mode=mode,  # type: ignore[arg-type]
            wechat_api_base=(
                env_vars.get("O2O_WECHAT_API_BASE", "").strip() or DEFAULT_WECHAT_API_BASE
            ).rstrip("/"),
            max_body_bytes=_positive_int(env_vars, "O2O_MAX_BODY_BYTES", 1_000_000),
            trusted_proxies=_proxies(env_vars.get("O2O_TRUSTED_PROXIES", "")),
            sqlite_synchronous=sqlite_sync,  # type: ignore[arg-type]
            cors_origins=tuple(
                o.strip() for o in env_vars.get("O2O_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            notify_dispatcher=env_vars.get("O2O_NOTIFY_DISPATCHER", "1").strip() != "0",
            notify_poll_s=_positive_float(env_vars, "O2O_NOTIFY_POLL_SECONDS", 1.0),
            notify_lease_s=_positive_float(env_vars, "O2O_NOTIFY_LEASE_SECONDS", 60.0),
            notify_max_attempts=_positive_int(env_vars, "O2O_NOTIFY_MAX_ATTEMPTS", 10,
                                              "attempts"),
            notify_retry_base_s=_positive_float(env_vars, "O2O_NOTIFY_RETRY_BASE_SECONDS", 5.0),
            wechat_timeout_s=_positive_float(env_vars, "O2O_WECHAT_TIMEOUT_SECONDS", 5.0),
            live_heartbeat_s=_positive_float(env_vars, "O2O_LIVE_HEARTBEAT_SECONDS", 15.0),
            log_format=log_format,  # type: ignore[arg-type]
            api_docs=_flag(env_vars, "O2O_API_DOCS", default=not production),
            webhook_allow_http=_flag(env_vars, "O2O_WEBHOOK_ALLOW_HTTP",
                                     default=not production),
            webhook_allow_private=_flag(env_vars, "O2O_WEBHOOK_ALLOW_PRIVATE",
                                        default=not production),
            webhook_worker=_flag(env_vars, "O2O_WEBHOOK_WORKER", default=True),
            webhook_poll_s=_positive_float(env_vars, "O2O_WEBHOOK_POLL_SECONDS", 1.0),
            webhook_lease_s=_positive_float(env_vars, "O2O_WEBHOOK_LEASE_SECONDS", 60.0),
            webhook_per_endpoint=_positive_int(env_vars, "O2O_WEBHOOK_PER_ENDPOINT", 4,
                                               "attempts"),
            webhook_retry_scale=_positive_float(env_vars, "O2O_WEBHOOK_RETRY_SCALE", 1.0),
            wechat_pay_api_base=(
                env_vars.get("O2O_WECHAT_PAY_API_BASE", "").strip()
                or DEFAULT_WECHAT_PAY_API_BASE).rstrip("/"),
            public_url=_public_url(env_vars.get("O2O_PUBLIC_URL", ""), production=production),
            wechat_pay_timeout_s=_positive_float(env_vars, "O2O_WECHAT_PAY_TIMEOUT_SECONDS",
                                                 10.0),
            pay_poller=_flag(env_vars, "O2O_PAY_POLLER", default=True),
            pay_poll_s=_positive_float(env_vars, "O2O_PAY_POLL_SECONDS", 5.0),
            pay_query_scale=_positive_float(env_vars, "O2O_PAY_QUERY_SCALE", 1.0),
            marketing_runner=_flag(env_vars, "O2O_MARKETING_RUNNER", default=True),
            marketing_tick_s=_positive_float(env_vars, "O2O_MARKETING_TICK_SECONDS", 15.0),
            cardbag_sync=_flag(env_vars, "O2O_CARDBAG_SYNC", default=True),
            cardbag_poll_s=_positive_float(env_vars, "O2O_CARDBAG_POLL_SECONDS", 1.0),
            cardbag_sweep_s=_positive_float(env_vars, "O2O_CARDBAG_SWEEP_SECONDS", 60.0),
            cardbag_lease_s=_positive_float(env_vars, "O2O_CARDBAG_LEASE_SECONDS", 60.0),
            cardbag_batch=_positive_int(env_vars, "O2O_CARDBAG_BATCH", 20, "cards"),
            cardbag_retry_base_s=_positive_float(env_vars, "O2O_CARDBAG_RETRY_BASE_SECONDS",
                                                 5.0),
        )


def _public_url(raw: str, *, production: bool) -> str | None:
    """O2O_PUBLIC_URL: scheme and host (and port) of this service as the world reaches it,
    no path, query or fragment; https in production (WeChat Pay calls https notify URLs
    only). Empty: none (live mode then places no order)."""
    raw = raw.strip().rstrip("/")
    if not raw:
        return None
    parts = urlsplit(raw)
    allowed = ("https",) if production else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname or parts.path or parts.query \
            or parts.fragment or parts.username or parts.password:
        scheme = "https" if production else "http(s)"
        raise SettingsError(f"O2O_PUBLIC_URL must be {scheme}://host[:port] with nothing "
                            f"after the host, not {raw!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise SettingsError(f"O2O_PUBLIC_URL has an invalid port: {raw!r}") from None
    return raw


def _proxies(raw: str) -> frozenset[str]:
    """Addresses or networks (CIDR, e.g. a compose network) of the proxies we trust."""
    entries = frozenset(p.strip() for p in raw.split(",") if p.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"O2O_TRUSTED_PROXIES: {entry!r} is not an address or "
                                "network") from None
    return entries


def _flag(env_vars: dict[str, str], name: str, *, default: bool) -> bool:
    raw = env_vars.get(name, "").strip()
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise SettingsError(f"{name} must be 0 or 1, not {raw!r}")
    return raw == "1"


def _positive_int(env_vars: dict[str, str], name: str, default: int,
                  unit: str = "bytes") -> int:
    raw = env_vars.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name} must be a positive whole number of {unit}, not {raw!r}")
    return int(raw)


def _positive_float(env_vars: dict[str, str], name: str, default: float) -> float:
    raw = env_vars.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise SettingsError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def _default_sqlite_url() -> str:
    DEFAULT_VAR_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DEFAULT_VAR_DIR / 'o2o.sqlite3').resolve()}"


def _development_secret(var_dir: Path) -> str:
    """Generate the development secret once, so tokens and encrypted data survive restarts.

    Written to a temporary file and hard-linked into place, so two processes starting at
    once agree on one secret and neither reads a half-written file.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "secret_key"
    if not path.exists():
        tmp = var_dir / f".secret_key.{os.getpid()}"
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
