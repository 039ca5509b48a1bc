"""The event types an endpoint may subscribe to: the feed's (app.core.events.types)."""

from __future__ import annotations

from app.core.events import types

EVENT_TYPES: frozenset[str] = types.KNOWN
family = types.family
