"""Logging: one record per line, nothing a client sent can forge a line or leak a secret.

- **One access log, written by o2o** (:class:`AccessLog`, around the whole app, so the 404s
  of unknown paths are logged too; uvicorn's own access log is off): client, method, the
  path and query as sent (percent-encoded), status, duration, request id.
- **Escaping**: in the text format every control character (C0, DEL, C1), the Unicode
  line and paragraph separators, the bidirectional overrides and the backslash are
  written as escapes (``\\n``, ``\\x1b``, ``\\u2028``, ``\\\\``); a record is one line. The
  only multi-line output is a traceback, every line of which starts with ``"  | "``: a line
  that starts with a timestamp is always a record o2o wrote. In the JSON format each
  record is one JSON object on one line (JSON escapes the C0 characters; the rest of the
  list above is written as ``\\uXXXX`` too).
- **Redaction**, in every line of every logger (access, errors, uvicorn, libraries):
  the value of a query parameter named like a secret (``code``, ``short_code``,
  ``token``, ``access_token``, ``js_code``, ``secret``, ``password``, ``signature``,
  ``phone``…, see :data:`SECRET_NAMES`), whatever its spelling (percent-encoded names
  included, in the access log); any value shaped like one of our signed codes
  (``O2O1…``) or a JWT, whatever its name; and the credentials after ``Bearer``/``Basic``.
  Request headers and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import time
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import unquote_plus

import msgspec
from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from app.core.runtime import client_address
from app.core.settings import LogFormat

REDACTED = "[redacted]"
ACCESS_LOGGER = "o2o.access"

# Query parameter names whose values are credentials or personal data (compared in lower
# case), and the endings that make any name one.
SECRET_NAMES = frozenset({
    "code", "short_code", "js_code", "card_code", "voucher_code", "booking_code",
    "card_number",
    "token", "access_token", "refresh_token", "id_token", "jwt",
    "secret", "app_secret", "appsecret", "client_secret",
    "password", "passwd", "pwd", "old_password", "new_password",
    "signature", "sign", "sig", "paysign",
    "ticket", "session_key", "api_key", "apikey", "key",
    "authorization", "auth", "phone",
})
SECRET_ENDINGS = ("_token", "_secret", "_password", "_key", "_signature", "_ticket")

# The request id of the request being served, for every record logged while serving it.
REQUEST_ID: ContextVar[str | None] = ContextVar("o2o_request_id", default=None)

_access = logging.getLogger(ACCESS_LOGGER)

# Values redacted whatever they are called: a signed code (app.core.codes.format: "O2O1"
# and base32), a JWT (three base64url parts, the header starting '{"') and an API key
# ("o2o_sk_" and base64url: app.core.apikeys) and a gift's token ("o2o_gt_": it sits in
# the URL by the contract, and whoever reads it may accept the gift: marketing.gifts).
_SHAPES = (r"\bO2O1[A-Z2-7]{16,}|\beyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*|o2o_sk_[\w-]{4,}"
           r"|o2o_gt_[\w-]{4,}")
_SHAPE = re.compile(_SHAPES)
_SECRETS = re.compile(
    # name=value (also name%3Dvalue): the value ends at a separator, quote or bracket.
    r"(?P<pair>(?<![\w.%-])(?P<name>[A-Za-z][\w.-]*)(?:=|%3[dD]))(?P<value>[^&\s\"'<>;,()\[\]{}]+)"
    r"|(?P<scheme>\b(?i:bearer|basic))\s+[\w.~+/=-]{6,}"
    r"|" + _SHAPES)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\\\\\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def is_secret_name(name: str) -> bool:
    name = name.strip().lower()
    return name in SECRET_NAMES or name.endswith(SECRET_ENDINGS)


def _redact_match(match: re.Match[str]) -> str:
    if match.group("pair") is not None:
        value = match.group("value")
        if is_secret_name(match.group("name")) or _SHAPE.search(value):
            return match.group("pair") + REDACTED
        return match.group(0)
    if match.group("scheme") is not None:
        return f"{match.group('scheme')} {REDACTED}"
    return REDACTED


def redact(text: str) -> str:
    """Secrets out of a free-form line (the backstop under every logger)."""
    lowered = text.lower()
    # Most lines hold none of what the expression looks for: a substring test is ten
    # times cheaper than the expression (measured: 0.5 against 7 us on an access line).
    if not ("=" in lowered or "%3d" in lowered or "o2o1" in lowered or "eyj" in lowered
            or "bearer" in lowered or "basic" in lowered or "o2o_sk_" in lowered
            or "o2o_gt_" in lowered):
        return text
    return _SECRETS.sub(_redact_match, text)


def redact_query(query: str) -> str:
    """A raw query string with the value of each secret parameter replaced; names are
    compared decoded, so ``c%6Fde=`` is ``code=``."""
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, sep, value = part.partition("=")
        if sep and value and (is_secret_name(unquote_plus(name))
                              or _SHAPE.search(unquote_plus(value))):
            parts[i] = f"{name}={REDACTED}"
    return "&".join(parts)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape(text: str) -> str:
    """Text that cannot break a log line or drive a terminal: see the module docstring."""
    return _UNSAFE.sub(_escape_char, text)


_second: list[Any] = [None, ""]  # the last second formatted, and its text


def _utc(record: logging.LogRecord) -> str:
    second = int(record.created)
    if _second[0] != second:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int(record.msecs):03d}Z"


def _request_id(record: logging.LogRecord) -> str | None:
    return getattr(record, "request_id", None) or REQUEST_ID.get()


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER MESSAGE [request_id=…]``, one line; a traceback follows on
    lines of its own, each starting with ``"  | "``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc(record)} {record.levelname} {record.name} " + escape(
            redact(record.getMessage()))
        request_id = _request_id(record)
        if request_id:
            line += f" request_id={request_id if request_id.isalnum() else escape(request_id)}"
        extra = self._details(record)
        if extra:
            line += "".join("\n  | " + escape(redact(part)) for part in extra.split("\n"))
        return line

    def _details(self, record: logging.LogRecord) -> str:
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, and when
    known ``request_id``; the access log adds ``method``, ``path`` (with the query, as
    sent), ``status``, ``duration_ms`` and ``client``; a traceback is ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc(record), "level": record.levelname, "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = _request_id(record)
        if request_id:
            document["request_id"] = request_id
        fields = getattr(record, "http", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            document["stack"] = redact(self.formatStack(record.stack_info))
        try:
            line = msgspec.json.encode(document, enc_hook=str).decode()
        except (msgspec.EncodeError, UnicodeEncodeError):  # a lone surrogate, say
            line = json.dumps(document, ensure_ascii=True, default=str)
        # Valid JSON as they are, but a terminal or a naive splitter may act on them.
        return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": TextFormatter, "json": JsonFormatter}


def logging_config(log_format: LogFormat, level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: every record (o2o's, uvicorn's, the
    libraries') through one formatter to stderr. Given to uvicorn as its ``log_config``,
    so each worker process applies it too. ``level`` is for o2o's and uvicorn's loggers;
    the libraries log warnings and worse (httpx would log each WeChat URL at info)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"o2o": {"()": FORMATTERS[log_format]}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "o2o",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "o2o": {"level": level},
            # propagate: uvicorn's own config (a bare `uvicorn app.asgi:serve_app` applies
            # it first) sets it off, which would leave its records to no handler at all.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            # o2o writes the access log (AccessLog); uvicorn's would repeat it unescaped.
            "uvicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


class AccessLog:
    """ASGI middleware around the whole app: a request id for each request (in the scope's
    state, where the error handler finds it, and in :data:`REQUEST_ID` for every record
    logged meanwhile) and one access record when the answer has been sent."""

    def __init__(self, app: ASGIApp, trusted_proxies: frozenset[str]) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = os.urandom(16).hex()  # a uuid4's randomness, without the object
        scope["state"]["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        try:
            if not _access.isEnabledFor(logging.INFO):
                await self.app(scope, receive, send)
                return
            await self._logged(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._log(scope, status, time.perf_counter() - start)

    def _log(self, scope: Scope, status: int, seconds: float) -> None:
        target = _target(scope)
        client = self._client(scope)
        method = cast("HTTPScope", scope)["method"]
        duration_ms = round(seconds * 1000, 2)
        # The message is the text line's body; the JSON line has the fields on their own.
        # makeRecord and handle, not info(): no walk up the stack for a caller's file and
        # line, which say nothing here (a fifth of the record's cost).
        record = _access.makeRecord(
            ACCESS_LOGGER, logging.INFO, __file__, 0, '%s "%s %s" %s %.2fms',
            (client, method, target, status or "-", duration_ms), None,
            extra={"http": {"method": method, "path": target, "status": status or None,
                            "duration_ms": duration_ms, "client": client}})
        _access.handle(record)

    def _client(self, scope: Scope) -> str:
        if self.trusted_proxies:
            return client_address(Request(scope), self.trusted_proxies)
        peer = scope.get("client")
        return str(peer[0]) if peer else "unknown"


def _target(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded) and the query, redacted."""
    raw = scope.get("raw_path")
    path = redact(raw.decode("latin-1") if raw else scope["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{redact_query(query)}" if query else path


def install_access_log(app: Litestar, trusted_proxies: frozenset[str]) -> None:
    """Wrap the app's whole handler (routing included: an unknown path's 404 is logged
    too; Litestar's ``middleware`` runs only after a route matched)."""
    app.asgi_handler = AccessLog(app.asgi_handler, trusted_proxies)


def configure(log_format: LogFormat, level: str = "info") -> None:
    """For the commands that log outside uvicorn (``o2o worker``)."""
    logging.config.dictConfig(logging_config(log_format, level))


def ensure_logging(log_format: LogFormat) -> None:
    """Configure logging unless the process did (``o2o serve`` gives uvicorn the same
    dictionary): an app served by a bare ``uvicorn app.asgi:serve_app`` logs the same way."""
    if not logging.getLogger().handlers:
        configure(log_format)

