"""Logs (issue 15, items 4 and 5): what a client sends cannot forge a line, a live code
never reaches a log, and the JSON format is one object per line.

In process, the records go through o2o's own formatters the moment they are logged (as
under `o2o serve`); a real server then shows the whole path, uvicorn included."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.params import FromPath

from app.asgi import create_app
from app.core.auth import PUBLIC
from app.core.logs import FORMATTERS, REDACTED, escape, logging_config, redact, redact_query
from app.core.settings import Settings
from tests.conftest import LiveServer
from tests.world import World

API = "/api/v1"
FORGED = "2026-01-01T00:00:00.000Z INFO o2o.access forged"
# The path of a request that tries to start a line of its own, then return to the start of
# the line (%0d) and colour the terminal (%1b).
EVIL_PATH = "/nowhere%0a" + FORGED.replace(" ", "%20") + "%0d%1b[31m"
TEXT_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ [\w.]+ ")


@get("/boom/{rest:path}", opt=PUBLIC, include_in_schema=False, sync_to_thread=False)
def boom(rest: FromPath[str]) -> None:
    """A handler that fails: its 500 logs the (decoded) path through app.core.errors."""
    raise RuntimeError("kaboom")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    app = create_app(settings)
    app.register(boom)
    return app


@dataclass
class Captured:
    log_format: str
    stream: io.StringIO

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[str]:
        """The records' first lines (a traceback's lines start with '  | ' in text)."""
        return [line for line in self.lines if not line.startswith("  | ")]


@pytest.fixture(params=["text", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[Captured]:
    """Every record formatted by o2o's formatter as it is logged, like `o2o serve`'s
    handler (app.core.logs.logging_config), with o2o's loggers at info."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FORMATTERS[request.param]())
    root, o2o = logging.getLogger(), logging.getLogger("o2o")
    level = o2o.level
    root.addHandler(handler)
    o2o.setLevel(logging.INFO)
    try:
        yield Captured(request.param, stream)
    finally:
        root.removeHandler(handler)
        o2o.setLevel(level)


def _logger(line: str, log_format: str) -> str | None:
    if log_format == "json":
        return str(json.loads(line)["logger"])
    return line.split(" ")[2] if TEXT_RECORD.match(line) else None


def _access_lines(captured: Captured, needle: str) -> list[str]:
    return [line for line in captured.records()
            if _logger(line, captured.log_format) == "o2o.access" and needle in line]


# --- a forged line -----------------------------------------------------------------------

async def test_a_path_with_newlines_is_one_escaped_line(client: httpx.AsyncClient,
                                                       captured: Captured) -> None:
    response = await client.get(EVIL_PATH)
    assert response.status_code == 404
    lines = _access_lines(captured, "/nowhere")
    assert len(lines) == 1, captured.lines
    assert not any(line.startswith(FORGED) or "\x1b" in line for line in captured.lines)
    if captured.log_format == "json":
        access = json.loads(lines[0])
        assert access["path"] == EVIL_PATH  # as sent: percent-encoded
        assert access["status"] == 404 and access["method"] == "GET"
        assert access["logger"] == "o2o.access" and access["level"] == "INFO"
        assert access["request_id"] and access["client"] == "203.0.113.7"
        assert isinstance(access["duration_ms"], float)
    else:
        assert TEXT_RECORD.match(lines[0])
        assert f'"GET {EVIL_PATH}" 404 ' in lines[0]


async def test_an_error_logs_the_decoded_path_escaped_with_the_access_lines_id(
        client: httpx.AsyncClient, captured: Captured) -> None:
    """The 500's record (app.core.errors) names the path decoded: the newline, carriage
    return and escape character come out escaped, in one line, and the record carries the
    request id of the request's access line and of the answer."""
    response = await client.get("/boom/a%0a" + FORGED.replace(" ", "%20") + "%0d%1b")
    assert response.status_code == 500
    request_id = response.json()["request_id"]
    records = captured.records()
    assert not any(line.startswith(FORGED) or "\x1b" in line or "\r" in line
                   for line in captured.lines)
    errors = [line for line in records if _logger(line, captured.log_format) == "o2o.errors"]
    access = _access_lines(captured, "/boom/")
    assert len(errors) == 1 and len(access) == 1, captured.lines
    if captured.log_format == "json":
        error = json.loads(errors[0])
        assert "/boom/a\n" + FORGED + "\r\x1b" in error["message"]  # faithful once decoded
        assert error["request_id"] == request_id == json.loads(access[0])["request_id"]
        assert "RuntimeError: kaboom" in error["exception"]
        assert len(captured.lines) == len(records)  # the traceback is inside the object
    else:
        assert "/boom/a\\n" + FORGED + "\\r\\x1b" in errors[0]
        assert errors[0].endswith(f"request_id={request_id}")
        assert access[0].endswith(f"request_id={request_id}")
        assert any(line == "  | RuntimeError: kaboom" for line in captured.lines)
    for line in records:
        assert captured.log_format == "text" or json.loads(line)
        assert captured.log_format == "json" or TEXT_RECORD.match(line), line


# --- codes in logs -----------------------------------------------------------------------

async def _voucher(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    start = datetime.now(UTC)
    created = await client.post(f"{API}/campaigns", headers=world.headers(world.a.operator),
                                json={"name": "¥20 off", "kind": "cash", "value_cents": 2000,
                                      "total_quantity": 10,
                                      "valid_from": (start - timedelta(days=1)).isoformat(),
                                      "valid_until": (start + timedelta(days=7)).isoformat()})
    assert created.status_code == 201, created.text
    claimed = await client.post(f"{API}/campaigns/{created.json()['id']}/claim",
                                headers=world.headers(world.a.members[0]))
    assert claimed.status_code == 201, claimed.text
    return dict(claimed.json())


async def test_a_preview_code_never_reaches_a_log(client: httpx.AsyncClient, world: World,
                                                  captured: Captured) -> None:
    voucher = await _voucher(client, world)
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    store = str(world.a.stores[0])
    for params in ({"code": voucher["code"], "store_id": store},
                   {"short_code": voucher["short_code"], "store_id": store},
                   # Spelled another way, or under another name, or in a failing request.
                   {"c%6Fde": voucher["code"], "store_id": store},
                   {"q": voucher["code"], "store_id": "not-a-uuid"}):
        query = "&".join(f"{name}={value}" for name, value in params.items())
        response = await client.get(f"{API}/redemptions/preview?{query}", headers=clerk)
        assert response.status_code in (200, 400), response.text
    output = captured.stream.getvalue()
    assert len(_access_lines(captured, "/redemptions/preview")) == 4, output
    assert voucher["code"] not in output and voucher["short_code"] not in output
    assert f"code={REDACTED}" in output and f"short_code={REDACTED}" in output
    assert f"c%6Fde={REDACTED}" in output and f"q={REDACTED}" in output
    assert "Bearer" not in output


# --- the formatters, record by record ----------------------------------------------------

def _record(message: str, *args: Any, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad input\n" + FORGED)
        except ValueError:
            import sys
            exc_info = sys.exc_info()
    return logging.LogRecord("o2o.test", logging.WARNING, __file__, 1, message, args,
                             exc_info)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_any_logger_gets_one_record_per_line_escaped_and_redacted(log_format: str) -> None:
    formatter = FORMATTERS[log_format]()
    secret_url = ("https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=s3cr3t"
                  "&js_code=0a1b2c&grant_type=authorization_code")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    line = formatter.format(_record("fetch %s for %s with Authorization: Bearer %s and %s",
                                    secret_url, "a\nb\u2028c\x9bd", jwt, "O2O1" + "A" * 40))
    assert "\n" not in line and "\u2028" not in line and "\x9b" not in line
    for secret in ("s3cr3t", "0a1b2c", jwt, "O2O1AAAA"):
        assert secret not in line
    assert "appid=wx1" in line and "grant_type=authorization_code" in line
    if log_format == "json":
        assert json.loads(line)["message"].startswith("fetch https://api.weixin.qq.com")
        assert "\\u2028" in line and "\\u009b" in line
    else:
        assert "a\\nb\\u2028c\\x9bd" in line
    failed = formatter.format(_record("failed", exc=True))
    if log_format == "json":
        assert "\n" not in failed
        assert json.loads(failed)["exception"].endswith("ValueError: bad input\n" + FORGED)
    else:
        first, *rest = failed.split("\n")
        assert TEXT_RECORD.match(first) and rest
        assert all(line.startswith("  | ") for line in rest)


def test_escape_and_redact_query() -> None:
    assert escape("a\tb\\c\x00\x7f\u202ed") == "a\\tb\\\\c\\x00\\x7f\\u202ed"
    assert escape("门店 ¥20") == "门店 ¥20"
    assert redact_query("code=X&store_id=1&SHORT_CODE=123456789012&access%5Ftoken=t&a=&b") \
        == f"code={REDACTED}&store_id=1&SHORT_CODE={REDACTED}&access%5Ftoken={REDACTED}&a=&b"
    assert redact("status=200 errcode=40001 request_id=abc") \
        == "status=200 errcode=40001 request_id=abc"
    assert redact(f"code={REDACTED}&password=hunter2") \
        == f"code={REDACTED}&password={REDACTED}"


def test_the_serve_configuration_formats_every_logger_and_drops_uvicorns_access_log(
        ) -> None:
    for log_format in ("text", "json"):
        config = logging_config(log_format, "warning")  # type: ignore[arg-type]
        assert config["formatters"]["o2o"]["()"] is FORMATTERS[log_format]
        assert config["root"]["handlers"] == ["stderr"]
        assert config["loggers"]["o2o"]["level"] == "WARNING"
        assert config["loggers"]["uvicorn.access"]["propagate"] is False


# --- a real server ------------------------------------------------------------------------

@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_real_servers_log_is_escaped_redacted_and_parses(
        database_url: str, tmp_path: Path, log_format: str) -> None:
    """`o2o serve` (uvicorn, its own records included) with the access log on."""
    log_file = tmp_path / "server.log"
    code = "O2O1" + "Q" * 144
    server = LiveServer(database_url, env={"O2O_LOG_FORMAT": log_format},
                        log_file=log_file, log_level="info").start()
    try:
        evil = httpx.get(server.base_url + EVIL_PATH, timeout=5)
        preview = httpx.get(f"{server.base_url}{API}/redemptions/preview?code={code}"
                            "&short_code=123456789012&store_id=x", timeout=5,
                            headers={"Authorization": "Bearer not.a.jwt-but-secret"})
    finally:
        server.stop()
    assert (evil.status_code, preview.status_code) == (404, 401)
    lines = log_file.read_text().splitlines()
    assert code not in "\n".join(lines) and "123456789012" not in "\n".join(lines)
    assert not any(line.startswith(FORGED) or "\x1b" in line for line in lines)
    assert len([line for line in lines if "/nowhere" in line]) == 1, lines
    assert len([line for line in lines if "/redemptions/preview" in line]) == 1, lines
    for line in lines:
        if log_format == "json":
            assert isinstance(json.loads(line), dict), line
        else:
            assert TEXT_RECORD.match(line), line
    if log_format == "json":
        access = [json.loads(line) for line in lines
                  if _logger(line, log_format) == "o2o.access"]
        assert {entry["path"].split("?")[0] for entry in access} >= {
            "/nowhere" + EVIL_PATH.removeprefix("/nowhere"), f"{API}/redemptions/preview"}


def test_under_a_bare_uvicorn_its_records_are_ours_too() -> None:
    """`uvicorn app.asgi:serve_app` applies uvicorn's logging config before the app sets
    up ours: uvicorn's records must still come out formatted (escaped), not through
    Python's last-resort handler as two lines."""
    script = (
        "import logging, logging.config\n"
        "from uvicorn.config import LOGGING_CONFIG\n"
        "logging.config.dictConfig(LOGGING_CONFIG)\n"
        "logging.getLogger().handlers.clear()\n"
        "from app.core.logs import ensure_logging\n"
        "ensure_logging('text')\n"
        "logging.getLogger('uvicorn.error').info('hello\\nFORGED line')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True, cwd=Path(__file__).resolve().parents[2])
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "hello\\nFORGED line" in lines[0]
    assert "uvicorn.error" in lines[0]
