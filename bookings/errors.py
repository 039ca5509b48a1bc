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
