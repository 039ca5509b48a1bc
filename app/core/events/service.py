"""The rules of the event feed: who reads which events, and what a page is.

- Operators (and chain-wide API keys, which act as operators) read the whole chain.
- A store-limited API key (role manager with its stores) reads the events of its stores
  only: a store-less event (a member who joined through WeChat, a card an operator froze)
  is the chain's, and would show one store's till the others' members and cards.
  People other than operators do not read the feed.
- A page is the chain's numbered events after ``after``, ascending; it numbers what has
  committed first, so an event is in the feed as soon as its change has committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from app.core.auth import Principal
from app.core.errors import Forbidden, ValidationError
from app.core.events import repository as repo
from app.core.events import sequencer, types
from app.core.events.rows import EventRow
from app.core.events.schemas import EventOut, EventPage

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_AFTER = 2**62  # a sequence is a bigint; larger is no sequence at all


def _is_key(principal: Principal) -> bool:
    """An API key (issue 18: keys carry their scopes; people carry None)."""
    return getattr(principal, "scopes", None) is not None


def parse_types(raw: str | None) -> list[str] | None:
    """``a,b`` into known types (None: every type); an unknown one is 400."""
    if raw is None:
        return None
    names = [t.strip() for t in raw.split(",") if t.strip()]
    if not names:
        raise ValidationError("types", "name at least one event type")
    unknown = sorted({t for t in names if t not in types.KNOWN})
    if unknown:
        raise ValidationError("types", f"unknown event type: {', '.join(unknown)[:200]}")
    return sorted(set(names))


async def read_feed(principal: Principal, *, after: int = 0, limit: int = DEFAULT_LIMIT,
                    event_types: Sequence[str] | None = None) -> EventPage:
    if not 0 <= after <= MAX_AFTER:
        raise ValidationError("after", "must be a sequence number, 0 or more")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit", f"must be 1 to {MAX_LIMIT}")
    if principal.role == "operator":
        store_ids = None
    elif principal.role == "manager" and _is_key(principal):
        store_ids = principal.store_ids
    else:
        raise Forbidden("the event feed is for operators and API keys")
    # Whatever has committed gets its number before we read (behind a sequencer that is
    # numbering this chain right now: its numbers commit before ours are given).
    await sequencer.number_chain(principal.chain_id, wait=True)
    rows = await repo.numbered(principal.chain_id, after, limit, event_types, store_ids)
    items = [EventOut(id=r["id"], sequence=r["sequence"], type=r["type"],
                      created_at=r["created_at"], store_id=r["store_id"], data=r["data"])
             for r in rows]
    return EventPage(items=items, next_after=items[-1].sequence if items else after)


# --- the webhook fan-out's door (no principal: the kernel's own readers) -----------------

async def numbered(chain_id: uuid.UUID, after: int, limit: int = 500,
                   event_types: Sequence[str] | None = None) -> list[EventRow]:
    """A chain's numbered events after ``after``, ascending ``sequence`` (the order a
    webhook endpoint gets them in). Unnumbered rows are not there yet: the sequencer
    numbers them (:func:`app.core.events.sequencer.number_chain`)."""
    return await repo.numbered(chain_id, after, limit, event_types)


async def heads() -> dict[uuid.UUID, int]:
    """Every chain's last sequence handed out (chains that never had an event: absent)."""
    return await repo.heads()
