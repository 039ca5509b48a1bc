"""The event types of the feed (the contract's 17, ../shared/API.md "Events").

A type is ``<family>.<what happened>``; the family (text before the '.') and the changed
object's id are the per-object order key (webhooks keep one object's events in order).
"""

from __future__ import annotations

from typing import Final

MEMBER_CREATED: Final = "member.created"
MEMBER_UPDATED: Final = "member.updated"
CARD_ISSUED: Final = "card.issued"
CARD_UPDATED: Final = "card.updated"  # status, tier, frozen, cancelled
CARD_TOPPED_UP: Final = "card.topped_up"  # CardOut after the top-up + "ledger_entry"
REDEMPTION_CREATED: Final = "redemption.created"
REDEMPTION_REVERSED: Final = "redemption.reversed"
VOUCHER_ISSUED: Final = "voucher.issued"
VOUCHER_REVOKED: Final = "voucher.revoked"
# Gifting (issue 20): the voucher as staff see it (no code); gift_accepted names the new
# member_id and carries "from_member_id"; gift_returned after a cancel or an expiry.
VOUCHER_GIFTED: Final = "voucher.gifted"
VOUCHER_GIFT_ACCEPTED: Final = "voucher.gift_accepted"
VOUCHER_GIFT_RETURNED: Final = "voucher.gift_returned"
BOOKING_CREATED: Final = "booking.created"
BOOKING_RESCHEDULED: Final = "booking.rescheduled"
BOOKING_CANCELLED: Final = "booking.cancelled"
BOOKING_CHECKED_IN: Final = "booking.checked_in"
BOOKING_COMPLETED: Final = "booking.completed"
BOOKING_NO_SHOW: Final = "booking.no_show"
TOP_UP_ORDER_PAID: Final = "top_up_order.paid"
TOP_UP_ORDER_REFUNDED: Final = "top_up_order.refunded"

ALL: Final[tuple[str, ...]] = (
    MEMBER_CREATED, MEMBER_UPDATED, CARD_ISSUED, CARD_UPDATED, CARD_TOPPED_UP,
    REDEMPTION_CREATED, REDEMPTION_REVERSED, VOUCHER_ISSUED, VOUCHER_REVOKED,
    BOOKING_CREATED, BOOKING_RESCHEDULED, BOOKING_CANCELLED, BOOKING_CHECKED_IN,
    BOOKING_COMPLETED, BOOKING_NO_SHOW, TOP_UP_ORDER_PAID, TOP_UP_ORDER_REFUNDED,
    VOUCHER_GIFTED, VOUCHER_GIFT_ACCEPTED, VOUCHER_GIFT_RETURNED,
)
KNOWN: Final[frozenset[str]] = frozenset(ALL)
MAX_LENGTH: Final = 40  # core_event.type is Varchar(40)


def family(event_type: str) -> str:
    """``card`` of ``card.topped_up``: with the object id, the per-object order key."""
    return event_type.split(".", 1)[0]
