"""The error half of the OpenAPI document: every operation declares the problem+json
answers it can give, so clients (and schemathesis) can hold the API to its schema.

Each route declares its own domain answers in its decorator with :func:`problems`
(``responses=problems(409)``). :func:`declare_errors` adds, once the app is built, the
answers that follow from the route's shape: 400 for anything with parameters or a body,
401/403 behind a token, 404 with ids in the path or a ``store_id`` query, 409 with an
Idempotency-Key, 413 with a body, 429 on the login routes. It also puts the bearer
requirement on each protected operation instead of the whole document, so the public
ones (health, keys, logins, availability) say they need none.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition
from msgspec import UNSET, Struct, UnsetType

from app.core.errors import PROBLEM_JSON
from app.core.idempotency import HEADER as IDEMPOTENCY_HEADER

SECURITY_SCHEME = "BearerToken"
# Handler parameters Litestar injects itself (dependencies are looked up per handler).
_RESERVED = frozenset({"request", "scope", "state", "socket", "headers", "cookies", "query"})


class FieldProblem(Struct):
    field: str
    message: str
    source: str | UnsetType = UNSET


class Problem(Struct):
    """RFC 9457 problem details; ``code`` is the contract's stable snake_case code."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | UnsetType = UNSET  # validation_error: the fields named
    request_id: str | UnsetType = UNSET  # internal_error


_DESCRIPTIONS = {
    400: "validation_error: invalid parameters or body, the fields named",
    401: "unauthorized: missing, expired or invalid bearer token",
    403: "forbidden: the caller's role or scope does not allow this",
    404: "not_found: no such object in the caller's scope",
    409: "a conflict with the object's state (the code says which), or an "
         "Idempotency-Key reused or still running",
    410: "code_expired: the code is past its time",
    413: "payload_too_large: the body is over the limit",
    415: "unsupported_media_type: a body that is not application/json",
    422: "the code cannot be used (the code says why)",
    429: "rate_limited: too many attempts; see Retry-After",
}


class StrictStructSchemaPlugin(StructSchemaPlugin):  # Litestar 2 exports it under no public name
    """Litestar's msgspec schemas, made to say what the decoder enforces:

    - ``additionalProperties: false`` for bodies that refuse unknown fields
      (``forbid_unknown_fields=True``);
    - the bounds of optional fields (``Annotated[int, Meta(ge=0)] | None``), which
      Litestar 2 drops when they are falsy (a minimum of 0).
    """

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if not isinstance(info, msgspec.inspect.StructType):
            return schema
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            prop = (schema.properties or {}).get(field.encode_name)
            if isinstance(prop, Schema):
                _restore_bounds(prop, _without_none(field.type))
        return schema


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusive_minimum",
           "lt": "exclusive_maximum", "min_length": "min_length", "max_length": "max_length",
           "pattern": "pattern", "multiple_of": "multiple_of"}
_ITEM_BOUNDS = {"min_length": "min_items", "max_length": "max_items"}
_PROPERTY_BOUNDS = {"min_length": "min_properties", "max_length": "max_properties"}


def _without_none(kind: Any) -> Any:
    if isinstance(kind, msgspec.inspect.UnionType):
        rest = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
        return rest[0] if len(rest) == 1 else None
    return kind


def _restore_bounds(prop: Schema, kind: Any) -> None:
    if isinstance(kind, msgspec.inspect.DictType):  # keys, values and size of a mapping
        if isinstance(kind.key_type, msgspec.inspect.StrType) and prop.property_names is None:
            prop.property_names = Schema(type=OpenAPIType.STRING)
            _restore_bounds(prop.property_names, kind.key_type)
        if isinstance(prop.additional_properties, Schema):
            _restore_bounds(prop.additional_properties, kind.value_type)
        names = _PROPERTY_BOUNDS
    elif isinstance(kind, msgspec.inspect.ListType):
        names = _ITEM_BOUNDS
    else:
        names = _BOUNDS
    for constraint, attribute in names.items():
        value = getattr(kind, constraint, None)
        if value is not None and getattr(prop, attribute, None) is None:
            setattr(prop, attribute, value)


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a route decorator: these statuses answer problem+json."""
    return {status: ResponseSpec(
        data_container=Problem, media_type=PROBLEM_JSON, generate_examples=False,
        description=_DESCRIPTIONS.get(status, HTTPStatus(status).phrase))
        for status in statuses}


def _client_parameters(handler: Any) -> dict[str, Any]:
    """The handler's parameters the client sends (not injected dependencies)."""
    injected = set(handler.resolve_dependencies()) | _RESERVED
    return {name: field for name, field in handler.parsed_fn_signature.parameters.items()
            if name not in injected}


def _shape_statuses(handler: Any, route: HTTPRoute) -> set[int]:
    params = _client_parameters(handler)
    public = bool(handler.opt.get("exclude_from_auth"))
    statuses = set()
    if set(params) - set(route.path_parameters):  # a typed path id that fails is a 404
        statuses.add(400)
    if not public:
        statuses |= {401, 403}
    if route.path_parameters or "store_id" in params:  # a store outside the caller's scope
        statuses.add(404)
    if "data" in params:
        statuses |= {413, 415}
    if any(_is_idempotency_key(field.kwarg_definition) for field in params.values()):
        statuses.add(409)
    if handler.opt.get("login_route"):
        statuses.add(429)
    return statuses


def _is_idempotency_key(kwarg: Any) -> bool:
    return isinstance(kwarg, ParameterKwarg) and IDEMPOTENCY_HEADER in (kwarg.header,
                                                                         kwarg.name)


def declare_errors(app: Litestar, prefix: str) -> None:
    """Complete every API operation's error responses and security requirement.

    Runs after the app is built and before the OpenAPI document is first generated (it
    is generated lazily); a route's own ``responses`` win over the derived ones.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(prefix):
            continue
        for handler in route.route_handlers:
            derived = problems(*sorted(_shape_statuses(handler, route)))
            handler.responses = {**derived, **(handler.responses or {})}
            if not handler.opt.get("exclude_from_auth"):
                handler.security = [{SECURITY_SCHEME: []}]
    if app.openapi_config is not None:
        app.openapi_config.security = None
