"""Errors of the cards domain, with their status and contract code."""

from __future__ import annotations

from app.core.errors import AppError, Conflict


class CardExists(Conflict):
    code = "card_exists"
    title = "The member already has an active card of this template"


class CodeUsed(Conflict):
    code = "code_used"
    title = "This dynamic card code was used already"


class WrongStore(AppError):
    status = 403
    code = "wrong_store"
    title = "Not valid at this store"


class CardInactive(Conflict):
    code = "card_inactive"
    title = "The card is frozen, expired or cancelled"


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    title = "The card's balance does not cover the charge"


class NoVisitsLeft(Conflict):
    code = "no_visits_left"
    title = "The times card has no visits left"


class WrongCardKind(Conflict):
    code = "wrong_card_kind"
    title = "This card cannot do that"


class AlreadyReversed(Conflict):
    code = "already_reversed"
    title = "The redemption was reversed already"


class ReversalWindowClosed(Conflict):
    code = "reversal_window_closed"
    title = "Redemptions can be reversed within 24 hours only"


class InvalidCardState(Conflict):
    code = "invalid_state"
    title = "The card's status does not allow this"
