"""Errors of the signed codes, with the contract's status and ``code`` (API.md)."""

from __future__ import annotations

from app.core.errors import AppError


class InvalidCode(AppError):
    """Bad format or signature, or a key nobody knows: 422 ``invalid_code``."""

    status = 422
    code = "invalid_code"
    title = "Invalid code"


class CodeExpired(AppError):
    """A genuine code past its ``not_after``: 410 ``code_expired``."""

    status = 410
    code = "code_expired"
    title = "Code expired"
