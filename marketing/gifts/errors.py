"""Errors of gifting, with their status and code."""

from __future__ import annotations

from app.core.errors import AppError, Conflict


class GiftExpired(AppError):
    """Past its 24 h (or the voucher's end) without an accept: the voucher went back to
    the giver."""

    status = 410
    code = "gift_expired"
    title = "The gift expired; the voucher went back to its giver"


class GiftNotPending(Conflict):
    code = "gift_not_pending"
    title = "The gift was accepted or cancelled already"


class OwnGift(Conflict):
    code = "own_gift"
    title = "A member cannot accept their own gift"
