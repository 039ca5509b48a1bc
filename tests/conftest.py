"""Fixtures: fresh databases built by the real migrations, on SQLite and PostgreSQL.

Each engine gets a template database migrated once per session by the real `o2o migrate`;
each test gets its own copy (a file copy on SQLite, CREATE DATABASE … TEMPLATE on
PostgreSQL). Tests that take ``database_url`` (directly or through ``app``/``client``) run
on both engines; PostgreSQL runs when O2O_TEST_POSTGRES_URL is set, and CI requires it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
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
from tests.world import World, build_world

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("O2O_TEST_POSTGRES_URL", "").strip()
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


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
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_admin(sql: str) -> None:
    """Run one admin statement from sync code, even while an event loop runs here."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


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
                         stem: str = "o2o") -> AsyncIterator[str]:
    """A migrated database of its own: a copy of the SQLite template file, or a PostgreSQL
    database made from the template (dropped afterwards)."""
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / f"{stem}.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"o2o_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    finally:
        await conn.close()
    try:
        yield _with_db(PG_URL, name)
    finally:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def database_url(engine_name: str, request: pytest.FixtureRequest,
                       tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(engine_name, request, tmp_path) as url:
        yield url


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
async def world(client: httpx.AsyncClient, app: Litestar) -> World:
    """Two chains with stores, staff of every role and members; tokens issued directly."""
    return await build_world(app)


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


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI requires O2O_TEST_POSTGRES_URL")
