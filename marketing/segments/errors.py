"""Errors of segments: the house's own (400 validation_error, 404 not_found, 403
forbidden) carry every refusal; nothing segment-specific in the contract."""

from __future__ import annotations

from app.core.errors import NotFound


class SegmentNotFound(NotFound):
    title = "Segment not found"
