"""Fixtures: fresh databases built by the real migrations, on SQLite and PostgreSQL.

Each engine gets a template database migrated once per session by the real `o2o migrate`;
each test gets its own copy (a file copy on SQLite, CREATE DATABASE … TEMPLATE on
PostgreSQL). Tests that take ``database_url`` (directly or through ``app``/``client``) run
on both engines; PostgreSQL runs when O2O_TEST_POSTGRES_URL is set, and CI requires it.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar

from app.asgi import create_app
from app.core.crypto import hash_password as real_hash_password
from app.core.settings import Settings
from stores import service as stores_service
from tests.world import Chain, World, build_world

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("O2O_TEST_POSTGRES_URL", "").strip()
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# For tests that check no engine's SQL but what the app decides (the authorization
# matrices): PostgreSQL when the run has it, as CI does, else SQLite.
ONE_ENGINE = [pytest.param("postgres", marks=pytest.mark.postgres) if PG_URL else "sqlite"]


def _run_migrate(url: str) -> None:
    env = {**os.environ, "O2O_DATABASE_URL": url, "O2O_SECRET_KEY": TEST_SECRET}
    result = subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"o2o migrate failed:\n{result.stdout}\n{result.stderr}")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _run_migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("O2O_TEST_POSTGRES_URL is not set")
    name = f"o2o_tmpl_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_admin(f'CREATE DATABASE "{name}"')
    _run_migrate(_with_db(PG_URL, name))
    yield name
    _dropper.finish()
    for world_name in _pg_world_names:
        _pg_admin(f'DROP DATABASE IF EXISTS "{world_name}" WITH (FORCE)')
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Dropper:
    """Drops the tests' PostgreSQL databases on a thread of its own, in order.

    DROP DATABASE … WITH (FORCE) took 0.5 to 1.8 s a test (ending the test's last backends,
    unlinking the copy's files); nothing a test checks depends on when its copy goes, so
    the next test starts meanwhile. The session's end waits for every drop and fails if
    one failed.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def drop(self, name: str) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop")
        self._pending = [f for f in self._pending if not f.done() or f.exception()]
        self._pending.append(self._pool.submit(
            asyncio.run, _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))

    def finish(self) -> None:
        errors = [f.exception() for f in self._pending if f.exception() is not None]
        self._pending = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if errors:
            raise RuntimeError(f"dropping test databases failed: {errors}")


_dropper = _Dropper()


async def _pg_execute(*statements: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _pg_admin(sql: str) -> None:
    """Run one admin statement from sync code, even while an event loop runs here."""

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _pg_execute(sql)).result()


_password_hashes: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _hash_each_password_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt is slow on purpose; tests create the same few passwords hundreds of times.
    Each distinct password is still hashed for real, once, and checked for real."""

    def cached(password: str) -> str:
        if password not in _password_hashes:
            _password_hashes[password] = real_hash_password(password)
        return _password_hashes[password]

    monkeypatch.setattr(stores_service, "hash_password", cached)


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def fresh_database(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path,
                         stem: str = "o2o", *, source: str | None = None
                         ) -> AsyncIterator[str]:
    """A migrated database of its own: a copy of the SQLite template file, or a PostgreSQL
    database made from the template (dropped afterwards). ``source``: copy that database
    (a file path or a PostgreSQL database name) instead of the migrated template."""
    if engine_name == "sqlite":
        template = Path(source) if source else request.getfixturevalue("sqlite_template")
        target = tmp_path / f"{stem}.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = source or request.getfixturevalue("pg_template")
    name = f"o2o_t_{uuid.uuid4().hex[:12]}"
    # synchronous_commit off: a commit returns before its WAL reaches the disk. Only a
    # crash of PostgreSQL itself could lose such a commit (a killed o2o process cannot),
    # and no test crashes PostgreSQL; each commit no longer waits for an fsync.
    await _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"',
                      f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield _with_db(PG_URL, name)
    finally:
        _dropper.drop(name)


@pytest.fixture
async def database_url(engine_name: str, request: pytest.FixtureRequest,
                       tmp_path: Path) -> AsyncIterator[str]:
    source = None
    if _takes_the_plain_world(request):
        built = await _world_template(engine_name, request)
        request.node.stash[_WORLD_KEY] = built.chains
        source = built.source
    async with fresh_database(engine_name, request, tmp_path, source=source) as url:
        yield url


# --- the world, built once per engine ---------------------------------------------------
#
# build_world() made ~30 writes through the services for every test that takes `world`
# (0.5 s on SQLite, 1 s on PostgreSQL, ~700 tests). Its rows are the same every time but
# for their ids, so it is built once per engine into a copy of the migrated template, and
# such a test's database is a copy of that one: the same rows, written by the same code,
# that the test then reads and changes in its own database. Only tests whose `world`,
# `client`, `app` and `settings` are these defaults get it (another app's settings might
# have written the world differently); the others build theirs as before.

_WORLD_KEY = pytest.StashKey[tuple[Chain, Chain]]()
_WORLD_FIXTURES = ("world", "client", "app", "settings", "database_url")


@dataclass
class _WorldTemplate:
    source: str  # SQLite file or PostgreSQL database
    chains: tuple[Chain, Chain]
    days: tuple[date, date]  # UTC and Shanghai dates of the build


_world_templates: dict[str, _WorldTemplate] = {}


def _days() -> tuple[date, date]:
    now = datetime.now(UTC)
    return now.date(), (now + timedelta(hours=8)).date()


def _takes_the_plain_world(request: pytest.FixtureRequest) -> bool:
    info = getattr(getattr(request, "_pyfuncitem", None), "_fixtureinfo", None)
    if info is None or "world" not in info.names_closure:
        return False
    for name in _WORLD_FIXTURES:
        defs = info.name2fixturedefs.get(name)
        if not defs or getattr(defs[-1].func, "__module__", None) != __name__:
            return False
    return True


async def _world_template(engine_name: str, request: pytest.FixtureRequest
                          ) -> _WorldTemplate:
    known = _world_templates.get(engine_name)
    # Rebuilt when a day turns (UTC or Shanghai): rows dated today stay today's.
    if known is not None and known.days == _days():
        return known
    days = _days()
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp("world")
        source = str(folder / "world.sqlite3")
        shutil.copyfile(template, source)
        url = f"sqlite:///{source}"
    else:
        template_name: str = request.getfixturevalue("pg_template")
        source = f"o2o_world_{os.getpid()}_{len(_pg_world_names)}"
        _pg_world_names.append(source)
        await _pg_execute(f'CREATE DATABASE "{source}" TEMPLATE "{template_name}"')
        url = _with_db(PG_URL, source)
    # The background workers stay off: what they do with the world's rows (notifications,
    # webhooks) each test's own app does, as before.
    app = create_app(make_settings(url, notify_dispatcher=False, webhook_worker=False))
    async with serving(app):
        world = await build_world(app)
    if engine_name == "sqlite":
        with sqlite3.connect(source) as conn:  # everything into the file itself
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    built = _WorldTemplate(source=source, chains=(world.a, world.b), days=days)
    _world_templates[engine_name] = built
    return built


_pg_world_names: list[str] = []


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "secret_key": TEST_SECRET,
                              "env": "development", "wechat_mode": "sandbox"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan and an HTTP client, both on the test's own event loop.

    Unlike Litestar's AsyncTestClient (which runs the app on a portal thread), requests
    sent with asyncio.gather really interleave, and the test may query the database
    directly between requests.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        # Entered and left in one task: anyio's cancel scopes demand it, and pytest-asyncio
        # runs a fixture's setup and teardown in different tasks.
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run_lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # start-up failed: raise its error here
    transport = httpx.ASGITransport(app=app,  # type: ignore[arg-type]
                                    client=("203.0.113.7", 50000))
    try:
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://testserver.local") as http:
            yield http
    finally:
        stop.set()
        await task


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as http:
        yield http


@pytest.fixture
async def world(client: httpx.AsyncClient, app: Litestar,
                request: pytest.FixtureRequest) -> World:
    """Two chains with stores, staff of every role and members; tokens issued directly.
    Already in the database when it was copied from the world's template (see above)."""
    chains = request.node.stash.get(_WORLD_KEY, None)
    if chains is None:
        return await build_world(app)
    a, b = copy.deepcopy(chains)
    return World(app=app, a=a, b=b)


# --- a real server in another process ---------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, database_url: str, env: dict[str, str] | None = None,
                 log_file: Path | None = None, log_level: str = "warning") -> None:
        """``log_file``: the server's stdout and stderr go there (else: inherited)."""
        self.log_file, self._log_level = log_file, log_level
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "O2O_DATABASE_URL": database_url,
                     "O2O_SECRET_KEY": TEST_SECRET, "O2O_ENV": "development",
                     **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        log = self.log_file.open("ab") if self.log_file else None
        self._process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port),
             "--log-level", self._log_level], cwd=ROOT, env=self._env,
            stdout=log, stderr=subprocess.STDOUT if log else None)
        if log:
            log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self._process.poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy in 30 s")

    def kill(self) -> None:
        """SIGKILL: the process dies at once, holding whatever it held."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url).start()
    yield server
    server.stop()


# --- report: how many tests ran on each engine ------------------------------------------

_engine_counts: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for engine in ("sqlite", "postgres"):
            if f"[{engine}" in report.nodeid or f"-{engine}]" in report.nodeid \
                    or f"-{engine}-" in report.nodeid:
                _engine_counts[engine] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"engines: {_engine_counts['sqlite']} tests passed on SQLite, "
        f"{_engine_counts['postgres']} on PostgreSQL")


# --- two workers (make test: pytest -n 2 --dist loadgroup) -------------------------------
#
# Each xdist worker is its own process with its own templates, databases and ports (names
# carry the process id, files sit under the worker's own basetemp). Tests go one at a time
# to whichever worker is free, except two groups kept on one worker each: the browser
# pages (one demo server and one Chromium per session) and the tests that race or kill
# server processes (one storm at a time, so their bounds hold as before).

XDIST_GROUPS = {
    "browser": ("tests/web/",),
    "processes": ("tests/hardening/test_crash_safety.py", "tests/hardening/test_pay_",
                  "tests/hardening/test_concurrent_writers.py",
                  "tests/hardening/test_token_revocation.py",
                  "tests/core/test_events_race.py", "tests/core/test_api_keys_processes.py",
                  "tests/core/test_webhooks_crash.py", "tests/core/notify/test_processes.py",
                  "tests/bookings/test_booking_races.py",
                  "tests/app/test_integrations_doc.py",
                  "tests/marketing/test_automations_processes.py",
                  "tests/marketing/test_jobs_processes.py", "tests/marketing/test_gifts.py",
                  "tests/app/test_contract_i20.py",
                  "tests/cardbag/test_sync_processes.py", "tests/app/test_contract_i21.py"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The browser tests last: Playwright's sync API holds an event loop running on the main
    # thread from the first browser test to the session's end, where no async test can
    # start (so, with workers, the browser group is the last unit handed out). The process
    # races just before them: the two long groups then run side by side at the end, one
    # on each worker, instead of the browser tests alone on one.
    items.sort(key=lambda item: (item.nodeid.startswith(XDIST_GROUPS["browser"]),
                                 item.nodeid.startswith(XDIST_GROUPS["processes"])))
    for item in items:
        for group, prefixes in XDIST_GROUPS.items():
            if item.nodeid.startswith(prefixes):
                item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI requires O2O_TEST_POSTGRES_URL")
