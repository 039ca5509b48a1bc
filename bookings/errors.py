"""Errors of the bookings domain, with their status and contract code."""

from __future__ import annotations

from app.core.errors import Conflict


class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    title = "The slot is taken or does not exist"


class NotCancellable(Conflict):
    code = "booking_not_cancellable"
    title = "Too late to cancel this booking"


class InvalidState(Conflict):
    code = "invalid_state"
    title = "The booking's status does not allow this"


class PaymentUnusable(Conflict):
    code = "payment_unusable"
    title = "The card or voucher cannot pay for this booking"


class VoucherNotHeld(Conflict):
    """The booking's voucher belongs to another member now (its member gave it away since
    booking: issue 20's gifting). It is not spent, and the booking is not completed without
    it behind the clerk's back: the clerk decides (cancel, take the payment otherwise)."""

    code = "voucher_not_held"
    title = "The booking's voucher now belongs to another member"
