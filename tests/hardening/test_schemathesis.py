"""schemathesis against /schema/openapi.json of a real `o2o serve`, with every default check.

Each operation gets a bounded, derandomized number of examples (no shrinking, no example
database), drawn from four strategies: positive ones with generated ids, positive ones
with the ids of a seeded world in the path and query, positive ones with a NUL or another
control character put into every string of the body and query (generated strings may
hold NUL too: allow-x00 is on, but a few examples seldom draw one), and negative ones
(bodies and parameters off their schema). Every operation with a body also gets explicit
cases of JSON nested 1,000 deep (arrays, objects, and a field holding either).
O2O_SCHEMATHESIS_EXAMPLES raises the count for a deeper run by hand. The caller is the
chain's operator, or its member on member-only routes. The bar: no server error and no
response off its declared schema (status, content type, body, headers), on both engines.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import defaultdict
from typing import Any

import httpx
import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from tests.conftest import LiveServer
from tests.hardening.routes import api_routes
from tests.hardening.seed import Seeded, seed
from tests.world import World

EXAMPLES = int(os.environ.get("O2O_SCHEMATHESIS_EXAMPLES", "8"))
_Failures = dict[str, dict[str, str]]


# Put into every generated string: NUL (which PostgreSQL refuses to store) each time, and
# beside it other C0 controls a client may send escaped (tab and newlines are text).
_CONTROLS = ("\x00", "\x00\x01", "\x08\x00\x0c", "\x1b\x00", "\x00\x1f")
_DEPTH = 1000


def _with_control(value: Any, control: str) -> Any:
    if isinstance(value, str):
        return value[:1] + control + value[1:]
    if isinstance(value, dict):
        return {key: _with_control(item, control) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_control(item, control) for item in value]
    return value


def _with_controls(case: Any, control: str) -> Any:
    if isinstance(case.body, dict | list | str):
        case.body = _with_control(case.body, control)
    if case.query:
        case.query = _with_control(dict(case.query), control)
    return case


def _deep_bodies() -> list[bytes]:
    """JSON nested past any decoder's recursion limit (sent as bytes: the standard
    library's encoder would itself give up before)."""
    array = b"[" * _DEPTH + b"]" * _DEPTH
    obj = b'{"a":' * _DEPTH + b"1" + b"}" * _DEPTH
    return [array, obj, b'{"name":' + array + b"}", b'{"items":[' + obj + b"]}"]


def _examples_of(operation: Any, auth: dict[str, str], ids: dict[str, str]) -> Any:
    real_path = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
    real_query = {p.name: ids[p.name] for p in operation.query if p.name in ids}
    positive = [operation.as_strategy(GenerationMode.POSITIVE, headers=auth)]
    if real_path or real_query:
        positive.append(operation.as_strategy(GenerationMode.POSITIVE, headers=auth,
                                              path_parameters=real_path or None,
                                              query=real_query or None))
    with_controls = st.tuples(st.one_of(*positive), st.sampled_from(_CONTROLS)).map(
        lambda drawn: _with_controls(*drawn))
    return st.one_of(*positive, with_controls,
                     operation.as_strategy(GenerationMode.NEGATIVE, headers=auth))


def _check_operation(operation: Any, key: str, auth: dict[str, str], ids: dict[str, str],
                     base_url: str, session: requests.Session, failures: _Failures,
                     statuses: dict[str, set[int]]) -> None:
    @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, database=None,
                         deadline=None, phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=_examples_of(operation, auth, ids))
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=auth)
        statuses[key].add(response.status_code)
        validate(case, response, "")
        if case.meta.generation.mode == GenerationMode.POSITIVE:
            for message in _structural_refusals(response):
                record(f"schema-valid data refused by the decoder: {message}", case, response)

    def validate(case: Any, response: Any, label: str) -> None:
        """schemathesis's checks of the answer; each failure recorded under ``label``."""
        try:
            case.validate_response(response, headers=auth, transport_kwargs={
                "base_url": base_url, "session": session, "headers": auth})
        except (Failure, FailureGroup) as found:
            group = found.exceptions if isinstance(found, FailureGroup) else (found,)
            for failure in group:
                first_line = (failure.message.strip() or "-").splitlines()[0][:200]
                record(f"{label}{failure.title}: {first_line}", case, response)

    def record(summary: str, case: Any, response: Any) -> None:
        # One example per operation and kind of failure is enough to act on.
        failures[key].setdefault(summary, case.as_curl_command(base_url=base_url)[:600]
                                 + f"\n    -> {response.status_code} {response.text[:300]}")

    def check_explicit(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=auth)
        statuses[key].add(response.status_code)
        if response.status_code != 400:
            record(f"deep JSON answered {response.status_code}", case, response)
        validate(case, response, "deep JSON: ")

    check()
    # Deep JSON where a JSON body is taken (the member import takes text/csv: 415).
    if any(body.media_type == "application/json" for body in operation.body):
        real_path = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
        for body in _deep_bodies():
            check_explicit(operation.Case(body=body, media_type="application/json",
                                          headers=auth, path_parameters=real_path))


# Refusals of the decoder itself (msgspec) mean the schema promised more than the server
# takes: a missing bound, pattern or required field. The one exception: JSON Schema's
# "integer" admits 5.0, which money and counts refuse on purpose (never floats).
_STRUCTURAL = re.compile(r"^(Expected `|Object (contains unknown|missing required) field)")
_INTEGRAL_FLOAT = re.compile(r"^Expected `int( \| null)?`, got `float`")


def _structural_refusals(response: Any) -> list[str]:
    if response.status_code != 400:
        return []
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        return ["400 without a JSON problem body"]
    return [f"{e.get('field')}: {e.get('message')}" for e in errors
            if _STRUCTURAL.match(str(e.get("message", "")))
            and not _INTEGRAL_FLOAT.match(str(e.get("message")))]


def _run(base_url: str, seeded: Seeded,
         member_only: set[str]) -> tuple[_Failures, dict[str, set[int]]]:
    world = seeded.world
    operator = world.headers(world.a.operator)
    member = world.headers(world.a.members[0])
    # Logout ends the token it is called with: a token of its own, not the operator's.
    logout = {"POST /api/v1/auth/logout": world.headers(world.a.operator)}
    ids = seeded.bundles["own"].ids()
    schema = schemathesis.openapi.from_url(base_url + "/schema/openapi.json")
    schema.config.generation.update(allow_x00=True)  # the default, said: NUL is fair game
    # Schema-valid data may still break a rule JSON Schema cannot state (an IANA zone that
    # does not exist, valid_until before valid_from, a code whose signature fails): the
    # contract answers those 400 validation_error, 410 code_expired or 422 invalid_code.
    # The decoder's own refusals are still failures (see _structural_refusals).
    acceptance = schema.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "400", "410", "422"]
    failures: _Failures = defaultdict(dict)
    statuses: dict[str, set[int]] = defaultdict(set)
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err fails loudly
        key = f"{operation.method.upper()} {operation.path}"
        auth = logout.get(key) or (member if key in member_only else operator)
        _check_operation(operation, key, auth, ids, base_url, session, failures, statuses)
    return failures, statuses


async def test_no_server_error_and_no_response_off_schema(
        client: httpx.AsyncClient, world: World, app: Litestar, database_url: str) -> None:
    seeded = await seed(client, world)
    member_only = {r.key for r in api_routes(app) if r.roles == {"member"}}
    server = LiveServer(database_url).start()
    try:
        failures, statuses = await asyncio.to_thread(_run, server.base_url, seeded,
                                                     member_only)
    finally:
        server.stop()
    report = "\n".join(f"{key}: {summary}\n    {curl[:600]}"
                       for key, found in sorted(failures.items())
                       for summary, curl in sorted(found.items()))
    assert not failures, report
    # Not vacuous: every operation was reached past authentication, most of them succeeded.
    assert [key for key, seen in statuses.items() if seen <= {401, 403}] == []
    succeeded = [key for key, seen in statuses.items() if any(s < 300 for s in seen)]
    assert len(succeeded) >= len(statuses) // 2, sorted(set(statuses) - set(succeeded))
