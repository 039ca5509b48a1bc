"""Automations (issue 20): vouchers issued by themselves on a birthday, after a spell
of inactivity, on a first card, at the n-th visit."""
