"""One error hierarchy, rendered as RFC 9457 problem+json with the contract's ``code``.

Domains subclass :class:`AppError` in their own ``errors.py``; :func:`exception_handlers`
turns those, Litestar's own HTTP exceptions and anything unexpected into one shape.
"""

from __future__ import annotations

import keyword
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("o2o.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://o2o.dev/problems/"


class AppError(Exception):
    """A failure the client caused or must know about; carries status and stable code."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class ValidationError(AppError):
    status = 400
    code = "validation_error"
    title = "Invalid request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this role"


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, retry_after: int = 60) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class IdempotencyConflict(AppError):
    status = 409
    code = "idempotency_conflict"
    title = "Idempotency-Key reused with a different request"


class IdempotencyInFlight(AppError):
    status = 409
    code = "idempotency_in_flight"
    title = "A request with this Idempotency-Key is still running"


def problem(
    status: int, code: str, title: str, detail: str, extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON,
                    headers=dict(headers or {}))


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return problem(exc.status, exc.code, exc.title, exc.detail, exc.extra, headers)


def _header_name(item: dict[str, Any]) -> str | None:
    """A header parameter is named by its header (Idempotency-Key), not its Python name."""
    if item.get("source") != "header" or not item.get("key"):
        return None
    return "-".join(part.capitalize() for part in str(item["key"]).split("_"))


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", "invalid"))
            field = _header_name(item) or str(item.get("key") or "body")
            unknown = _UNKNOWN_FIELD.search(message)
            if unknown:
                field = unknown.group(1)
            elif field == "data":  # Litestar's name for the whole body
                field = "body"
            elif field.endswith("_") and keyword.iskeyword(field[:-1]):
                field = field[:-1]  # a parameter named after a keyword: `from_` is `from`
            # Litestar's ParamType is a str Enum: its value ("query"), not "ParamType.QUERY".
            source = item.get("source", "body")
            errors.append({"field": field, "message": message,
                           "source": str(getattr(source, "value", source))})
    if not errors:
        missing = _MISSING_PARAMETER.search(exc.detail or "")
        errors.append({"field": missing.group(2) if missing else "body",
                       "message": _clean(exc.detail),
                       "source": (missing.group(1) or "parameter") if missing else "body"})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(400, "validation_error", "Invalid request", detail, {"errors": errors})


_UNKNOWN_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_MISSING_PARAMETER = re.compile(
    r"Missing required (?:(query|header|path|cookie) )?parameter '([^']+)'")


def _clean(text: str) -> str:
    return text.replace("Validation failed for ", "") if text else "invalid request"


_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("validation_error", "Invalid request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed for this role"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    code, title = _HTTP_CODES.get(status, ("error", "Error"))
    if status >= 500:
        return _unexpected(_, exc)
    if status == 400:
        return _validation(_, ValidationException(detail=exc.detail, extra=exc.extra))
    detail = exc.detail if exc.detail and exc.detail != title else title
    if isinstance(exc, NotAuthorizedException):
        detail = "missing, expired or invalid bearer token"
    headers = dict(exc.headers or {})
    return problem(status, code, title, detail, headers=headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    request_id = request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
    log.exception("unhandled error request_id=%s path=%s", request_id, request.url.path,
                  exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Internal server error",
                   f"unexpected error; request id {request_id}", {"request_id": request_id})


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def exception_handlers() -> dict[type[Exception] | int, Handler]:
    return {
        AppError: _app_error,
        ValidationException: _validation,
        NotAuthorizedException: _http,
        PermissionDeniedException: _http,
        NotFoundException: _http,
        MethodNotAllowedException: _http,
        TooManyRequestsException: _http,
        HTTPException: _http,
        Exception: _unexpected,
    }
