"""Errors of the payments domain, with their status and contract code."""

from __future__ import annotations

from typing import ClassVar

from app.core.errors import AppError, Conflict


class PaymentNotConfigured(Conflict):
    """Live mode without the chain's WeChat Pay config or without O2O_PUBLIC_URL."""

    code = "payment_not_configured"
    title = "Online payment is not configured"


class AmountNotOffered(AppError):
    """An amount that is not one of the card's options: an invalid body (the contract's
    400 ``validation_error``, ``amount_cents`` named, the options in the message and in
    ``options``)."""

    status = 400
    code = "validation_error"
    title = "Invalid request"

    def __init__(self, offered: list[tuple[int, int]]) -> None:
        amounts = ", ".join(str(a) for a, _ in sorted(offered)) or "none"
        message = f"must be one of the card's top-up amounts: {amounts}"
        super().__init__(f"amount_cents: {message}",
                         errors=[{"field": "amount_cents", "message": message}],
                         options=[{"amount_cents": a, "bonus_cents": b}
                                  for a, b in sorted(offered)])


class InvalidPayConfig(AppError):
    """A WeChat Pay config that cannot work (a key that is not an RSA key, an APIv3 key
    that is not 32 bytes): an invalid body, 400 ``validation_error`` naming the fields."""

    status = 400
    code = "validation_error"
    title = "Invalid request"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(detail, errors=errors)


class MemberNotLinked(Conflict):
    code = "member_not_linked"
    title = "The member has no WeChat openid to pay with"


class PaymentUnavailable(AppError):
    """WeChat Pay could not be reached or failed on its side (timeout, 5xx,
    SYSTEM_ERROR): no order was placed; a new Idempotency-Key may try again."""

    status = 503
    code = "payment_unavailable"
    title = "WeChat Pay is unavailable; nothing was charged"


class PaymentRefused(AppError):
    """WeChat Pay refused the order (``wechat_code`` says why): nothing was charged."""

    status = 502
    code = "payment_refused"
    title = "WeChat Pay refused the order; nothing was charged"


class SandboxOnly(Conflict):
    code = "sandbox_only"
    title = "Only sandbox orders in sandbox mode can be paid this way"


class OrderClosed(Conflict):
    code = "order_closed"
    title = "The order is closed"


class NoticeError(AppError):
    """An answer to WeChat Pay's notify call, in WeChat Pay's own shape
    ``{"code", "message"}`` (not problem+json): create_app renders it with
    ``payments.controllers.notice_error``."""

    wechat: ClassVar[bool] = True


class NoticeSignError(NoticeError):
    status = 401
    code = "SIGN_ERROR"
    title = "The notice's signature does not verify"


class NoticeFailed(NoticeError):
    """Verified, but not applied now (WeChat Pay could not confirm a closed order's
    payment): WeChat Pay sends the notice again."""

    status = 503
    code = "FAIL"
    title = "The notice could not be applied now; send it again"
