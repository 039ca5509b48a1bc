"""The notification events (names fixed by API.md) and the data each one carries.

A domain calls ``outbox.emit(EVENT, data=...)`` with the keys below; every value is a
string, an integer or None. Times are ISO 8601 with an offset; money is integer fen.
``store_name`` and ``timezone`` (IANA; the store's) apply to every event that has a store.
"""

from __future__ import annotations

from typing import Final

CARD_ISSUED: Final = "card_issued"  # card_name, card_number
VOUCHER_ISSUED: Final = "voucher_issued"  # campaign_name, benefit, valid_until
BOOKING_CONFIRMED: Final = "booking_confirmed"  # service_name, start
BOOKING_CANCELLED: Final = "booking_cancelled"  # service_name, start
BOOKING_REMINDER: Final = "booking_reminder"  # service_name, start
REDEEMED: Final = "redeemed"  # item, amount_cents (money off or taken), visits_left
BALANCE_CHANGED: Final = "balance_changed"  # card_name, reason, delta_cents, balance_cents
# (reason online_top_up or refund: also paid_cents, bonus_cents, out_trade_no)
# To a member who gave a voucher (issue 20): outcome "accepted" (friend_name: who took it)
# or "returned" (the gift expired unaccepted; the voucher is theirs again). The friend who
# accepts gets a voucher_issued.
VOUCHER_GIFT: Final = "voucher_gift"  # campaign_name, outcome, friend_name

ALL: Final = frozenset({CARD_ISSUED, VOUCHER_ISSUED, BOOKING_CONFIRMED, BOOKING_CANCELLED,
                        BOOKING_REMINDER, REDEEMED, BALANCE_CHANGED, VOUCHER_GIFT})
