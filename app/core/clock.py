"""The one place that reads the wall clock, so tests and rules agree on "now"."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
