"""Marketing: segments, jobs, automations, referral and gifting (issue 20, decision 050).

A layer between payments and app; it acts on cards, vouchers and members only through
``cards.public`` and ``stores.service``.
"""
