"""Errors of the stores domain, with their status and contract code."""

from __future__ import annotations

from app.core.errors import AppError, Conflict


class InvalidCredentials(AppError):
    status = 401
    code = "invalid_credentials"
    title = "Wrong username or password"


class WechatLoginFailed(AppError):
    status = 401
    code = "wechat_login_failed"
    title = "WeChat login failed"


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "Username already taken"


class PhoneTaken(Conflict):
    code = "phone_taken"
    title = "A member of this chain already has this phone number"


class WechatPhoneFailed(AppError):
    status = 400
    code = "wechat_phone_failed"
    title = "WeChat did not vouch for a phone number"


class WechatUnavailable(AppError):
    status = 503
    code = "wechat_unavailable"
    title = "WeChat cannot be reached; try again"


class LastOperator(Conflict):
    code = "last_operator"
    title = "The chain's last active operator cannot be demoted or deactivated"


class ExternalIdTaken(Conflict):
    """Another object of the same kind in this chain has this external id. Ours (the
    contract leaves the code open); ``errors`` names the field, as a validation error."""

    code = "external_id_taken"
    title = "Another object of this chain already has this external id"

    def __init__(self, kind: str, external_id: str, field: str = "external_id") -> None:
        message = f"another {kind} of this chain has external_id {external_id!r}"
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])
