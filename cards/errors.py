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


class CampaignSoldOut(Conflict):
    code = "campaign_sold_out"
    title = "Every voucher of this campaign has been issued"


class ClaimLimitReached(Conflict):
    code = "claim_limit_reached"
    title = "The member holds as many vouchers of this campaign as allowed"


class CampaignInactive(Conflict):
    code = "campaign_inactive"
    title = "The campaign is paused or outside its validity window"


class AlreadyRedeemed(Conflict):
    code = "already_redeemed"
    title = "The voucher was redeemed already"


class VoucherRevoked(Conflict):
    code = "voucher_revoked"
    title = "The voucher was revoked"


class MinSpendNotMet(Conflict):
    code = "min_spend_not_met"
    title = "The bill does not reach the voucher's minimum spend"


class NotSupportedOffline(AppError):
    status = 422
    code = "not_supported_offline"
    title = "Only vouchers can be redeemed offline"


class OfflineWindowExceeded(AppError):
    """An offline scan uploaded too late, or claiming a time ahead of the server's: outside
    the chain's offline window the scanner's word is not trusted (POST /redemptions/sync)."""

    status = 422
    code = "offline_window_exceeded"
    title = "Outside the chain's offline window"


class OutsideUsageHours(Conflict):
    """Outside the campaign's days of the week or hours of the day (in the store's zone);
    the problem carries ``weekdays``, ``hours`` ({"from", "to"} or null), ``time_from``,
    ``time_until`` (the same hours, older spelling) and ``timezone``. Was
    ``voucher_not_usable_now`` before issue 20 (the contract's name)."""

    code = "outside_usage_hours"
    title = "The voucher cannot be used at this day or hour"


class NotGiftable(Conflict):
    code = "not_giftable"
    title = "This voucher's campaign does not allow gifting"


class VoucherGifting(Conflict):
    """The voucher is being given to another member (a pending gift): it cannot be
    spent until the gift is accepted, cancelled or expires."""

    code = "voucher_gifting"
    title = "The voucher is being gifted"


class ImportInvalid(AppError):
    """A member import file with any invalid row (decision 045): nothing is written, and
    ``errors`` lists each problem as {"line", "field", "message"} (line 1 is the header)."""

    status = 422
    code = "import_invalid"
    title = "The import file has invalid rows; nothing was imported"
