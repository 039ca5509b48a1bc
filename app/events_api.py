"""HTTP endpoint of the event feed (the composition root: the kernel's feed, served)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from app.core.auth import MANAGERS
from app.core.events import service
from app.core.events.schemas import EventPage
from app.core.params import Caller

_DESCRIPTION = (
    "The chain's events in ascending `sequence` (1, 2, 3, ... per chain, no gaps): once "
    "an event with sequence N has been answered, none with a smaller one appears later. "
    "An event is here as soon as its change has committed, and kept at least 30 days. "
    "Page with `after` = the previous page's `next_after`. Operators; API keys with "
    "`events:read` (a store-limited key: its stores' events only).")


class EventsController(Controller):
    path = "/events"
    tags = ["events"]
    # Managers through: a store-limited API key acts as a manager; the service refuses
    # people other than operators.
    guards = [MANAGERS]

    @get("/", summary="The chain's ordered event feed", description=_DESCRIPTION)
    async def feed(
        self, principal: Caller,
        after: Annotated[int, QueryParameter(
            ge=0, le=service.MAX_AFTER, description="the last sequence already read")] = 0,
        limit: Annotated[int, QueryParameter(
            ge=1, le=service.MAX_LIMIT, description="1 to 1000")] = service.DEFAULT_LIMIT,
        types: Annotated[str | None, QueryParameter(
            max_length=1000, description="comma-separated event types (default: all)",
        )] = None,
    ) -> EventPage:
        return await service.read_feed(principal, after=after, limit=limit,
                                       event_types=service.parse_types(types))


CONTROLLERS = [EventsController]
