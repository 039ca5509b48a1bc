"""The request edge: what a request must be before any handler sees it, checked once here
instead of field by field.

- A JSON body is ``application/json`` (anything else is 415 ``unsupported_media_type``),
  nested at most :data:`MAX_JSON_DEPTH` deep, holds no C0 control character in its
  strings but tab, line feed and carriage return (NUL is what PostgreSQL refuses to
  store; JSON forbids raw control characters inside strings, so ``\\u0000``-style and
  ``\\b``/``\\f`` escapes are the only way in, and the body is searched for those), and
  names no key twice in one object.
- The body is decoded straight into the handler's ``data`` type with msgspec in strict
  mode: ``"100"``, ``"1e3"`` and ``1000.0`` are not integers. Litestar would decode it
  to builtins and then convert with ``strict=False``, which takes all three.
- A query string holds no control character (``%00``-``%1F``): 400 naming the
  parameter. Path parameters of the API are all typed ids, which a control character
  never parses as; the static files route answers 404 for what it cannot open.

Each failure is a 400 ``validation_error`` (415 for the media type), never a 500.
bench/edge_bench.py measures what these checks cost on a redemption body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Litestar, Request
from litestar.exceptions import ValidationException
from litestar.routes import HTTPRoute
from litestar.serialization import default_deserializer
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.types.empty import Empty

from app.core.errors import UnsupportedMediaType, ValidationError

JSON_MEDIA_TYPE = "application/json"
# Deeper than any body of the API (a sync batch is 3 levels); far below the interpreter's
# recursion limit, where a decoder would fail with a RecursionError (a 500).
MAX_JSON_DEPTH = 32

_NOT_BRACKETS_OR_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
_LEAVES = re.compile(rb"\[\]|\{\}")
_OPENERS_IN_A_ROW = re.compile(rb"[\[{]{%d}" % (MAX_JSON_DEPTH + 1))
# A control-character escape but \t, \n and \r: \u0000-\u0008, \u000b, \u000c,
# \u000e-\u001f and the short escapes \b and \f. Searched in the body after every escaped
# backslash (\\) is removed, so the text `\\u0000` (a backslash, then "u0000") is no match.
_CONTROL_ESCAPE = re.compile(rb"\\(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F])|[bf])")
_QUERY_CONTROL = re.compile(rb"%[01][0-9a-fA-F]|[\x00-\x1f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ERROR_PATH = re.compile(r" - at `\$\.?(.*)`$")


def _refuse_deep(body: bytes) -> None:
    """Nesting over :data:`MAX_JSON_DEPTH` is a 400, found before any decoder recurses.

    A body with no more brackets than the limit cannot be deeper: the common case costs
    two counts. Otherwise the brackets outside strings are kept and stripped of their
    empty pairs, one level per pass (all in C): what is left after the limit's number
    of passes is deeper than the limit."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    brackets = _brackets_outside_strings(body)
    for _ in range(MAX_JSON_DEPTH + 1):  # one more pass sees that nothing is left
        if _OPENERS_IN_A_ROW.search(brackets):
            break
        stripped = _LEAVES.sub(b"", brackets)
        if stripped == brackets:  # nothing left, or unbalanced: the decoder will say
            return
        brackets = stripped
    raise ValidationError("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _brackets_outside_strings(body: bytes) -> bytes:
    """The body's brackets, but those inside strings, by C-speed byte operations only
    (five times faster than a regex for strings on a 140 kB sync batch).

    Escaped backslashes, then escaped quotes, are dropped, so each quote left opens or
    closes a string; all but brackets and quotes are dropped; two quotes side by side
    enclose no bracket (an empty string, or the gap between two strings) and go; then
    every other piece between quotes is outside a string."""
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = unescaped.translate(None, _NOT_BRACKETS_OR_QUOTES).replace(b'""', b"")
    return b"".join(skeleton.split(b'"')[::2])


def _refuse_control_escapes(body: bytes) -> None:
    if b"\\" not in body:  # no escape at all: the hot path costs one scan in C
        return
    if _CONTROL_ESCAPE.search(body.replace(b"\\\\", b"")):
        raise ValidationError(_field_with_control(body),
                              "control characters (other than tab, line feed and carriage "
                              "return) are not allowed")


def _field_with_control(body: bytes) -> str:
    """The path of the first string holding a control character (only on a refusal)."""
    try:
        return _find_control(json.loads(body), "") or "body"
    except ValueError:
        return "body"


def _find_control(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if _CONTROL.search(value) else None
    items: Any = (value.items() if isinstance(value, dict)
                  else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
        if isinstance(key, str) and _CONTROL.search(key):
            return path or "body"
        if found := _find_control(item, where):
            return found
    return None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _refuse_duplicate_keys(body: bytes) -> None:
    """msgspec keeps the last of two equal keys; the standard library's parser shows each
    pair, once per object, to a hook that can tell (measured in bench/edge_bench.py)."""
    if body.count(b":") < 2:  # one key or none: no room for a duplicate
        return
    try:
        json.loads(body, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as duplicate:
        raise ValidationError(duplicate.key, "duplicate key in a JSON object") from None
    except ValueError:  # msgspec took it, json did not (a number past its digit limit)
        raise ValidationError("body", "malformed JSON") from None


# Strict decoders by body type, made on first use (the app has one set of type decoders).
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _body_decoder(handler: Any) -> msgspec.json.Decoder[Any]:
    """A strict decoder into the handler's ``data`` type."""
    field = handler.parsed_fn_signature.parameters.get("data")
    kind = Any if field is None else field.annotation
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(
            kind, strict=True, dec_hook=partial(
                default_deserializer, type_decoders=handler.resolve_type_decoders()))
    return decoder


def _validation_exception(request: Request[Any, Any, Any],
                          exc: msgspec.ValidationError) -> ValidationException:
    """msgspec's "Expected `int`, got `str` - at `$.amount_cents`" in the shape Litestar
    gives its own body errors (errors.py renders those, naming the field)."""
    message = str(exc)
    where = _ERROR_PATH.search(message)
    key = (where.group(1) or "data") if where else "data"
    if where:
        message = message[:where.start()]
    return ValidationException(
        detail=f"Validation failed for {request.method} {request.url.path}",
        extra=[{"key": key, "message": message, "source": "body"}])


def decode_json_body(request: Request[Any, Any, Any], body: bytes) -> Any:
    """The body as the handler's ``data`` type, or the 400/415 saying what is wrong."""
    media_type = request.content_type[0]
    if media_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"the body must be {JSON_MEDIA_TYPE}, not {media_type or 'untyped'}")
    _refuse_deep(body)
    _refuse_control_escapes(body)
    try:
        value = _body_decoder(request.route_handler).decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_exception(request, exc) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ValidationError("body", f"malformed JSON: {exc}") from None
    _refuse_duplicate_keys(body)
    return value


class EdgeRequest(Request[Any, Any, Any]):
    """The app's request class: its JSON body goes through :func:`decode_json_body`."""

    __slots__ = ()

    async def json(self) -> Any:
        if self._json is Empty:
            body = await self.body()
            self._json = decode_json_body(self, body) if body else None
        return self._json


def refuse_control_characters(app: ASGIApp) -> ASGIApp:
    """Middleware: a control character in the query string is a 400 naming the parameter
    (a NUL would otherwise reach PostgreSQL, which refuses it with an error: a 500)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if query and _QUERY_CONTROL.search(query):
            _refuse_query(query)
        await app(scope, receive, send)

    return middleware


def _refuse_query(query: bytes) -> None:
    """The 400, naming the first parameter whose value holds a control character (a str
    for parse_qsl: given bytes, it fails on a non-ASCII escape)."""
    message = "control characters are not allowed"
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True,
                                 errors="replace"):
        if _ANY_CONTROL.search(name):
            break
        if _ANY_CONTROL.search(value):
            raise ValidationError(name, message)
    raise ValidationError("query", message)


def complete_options_allow(app: Litestar) -> None:
    """Make Litestar's automatic ``OPTIONS`` answer say every method of its path, to anyone.

    - Litestar 2 answers with the methods of the first handlers registered on a path only
      (its bug #4169, fixed in Litestar 3): the automatic handler keeps the route it was
      made for, and a path whose methods come from two registrations gets a new route that
      keeps the old handler. Each such handler is pointed at its final route.
    - The handler inherits its controller's guards, and the authentication middleware
      skips OPTIONS, so on a controller guarded as a whole (``/me``, ``/staff``, the
      stats) it answered 403 to everyone. It tells only what /schema/openapi.json
      publishes: it runs unguarded.

    Both reach into the handler Litestar made (its closure, its resolved guards), which
    is why they are checked by tests/hardening/test_edge.py on every route."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler = route.route_handler_map["OPTIONS"][0]
        fn: Callable[..., Any] = handler.fn
        if fn.__qualname__ != "HTTPRoute.create_options_handler.<locals>.options_handler":
            continue  # an OPTIONS handler of our own
        cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
        cells["self"].cell_contents = route
        handler._resolved_guards = []
