"""Webhooks (issue 18): a chain's endpoints, the fan-out of its numbered events into
deliveries, and their signed, retried delivery (Standard Webhooks)."""
