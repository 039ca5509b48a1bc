"""Voucher gifting (WeChat's 转赠, issue 20): a member gives a voucher to a friend by a
link; the friend accepts it (exactly one accept wins), the giver cancels it, or after 24 h
it goes back to the giver. The voucher's side is cards' (``cards.public``)."""
