"""The sequencer: numbers each chain's committed events 1, 2, 3, ... after commit.

A change only inserts its event row (``sequence`` NULL) in its own transaction. Here, in
a transaction of its own per chain, the sequencer locks the chain's counter row (the
only writer of it), numbers the chain's unnumbered rows it can see in insert order
(``position``) from the counter on, moves the counter, commits. Why that gives a feed
that never skips back and never has a hole: docs/decisions/042-event-feed.md.

Who numbers: a task per server process (:class:`Sequencer`), woken at once when this
process emitted (a hint; the row commits a moment later, so it looks again shortly
after) and every ``POLL_S`` otherwise (events of other processes); and ``GET /events``
before it reads (:func:`number_chain` waiting for the lock), so an event is in the feed as
soon as its change has committed. Background turns skip a chain another process is
numbering (``SKIP LOCKED``); the reader waits for it.

In-process listeners (the webhook fan-out): :func:`on_numbered` callbacks and
:func:`wait_numbered` hear of every numbering this process commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Callable

from app.core import events
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.events import repository as repo

log = logging.getLogger("o2o.events")
POLL_S = 0.5
BATCH = 1000  # rows numbered per transaction
CHAINS_PER_LOOK = 100
# After a hint, look again this much later each time the row was not committed yet.
HINT_RETRIES_S = (0.0, 0.005, 0.02, 0.05, 0.1, 0.2)

_numbered: list[Callable[[uuid.UUID, int], None]] = []
_numbered_events: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = (
    weakref.WeakKeyDictionary())


def on_numbered(callback: Callable[[uuid.UUID, int], None]) -> None:
    """Call ``callback(chain_id, last_sequence)`` after this process commits a numbering
    (runs on the event loop; keep it short: set a flag, wake a task)."""
    if callback not in _numbered:
        _numbered.append(callback)


def off_numbered(callback: Callable[[uuid.UUID, int], None]) -> None:
    if callback in _numbered:
        _numbered.remove(callback)


def _numbered_event() -> asyncio.Event:
    loop = asyncio.get_running_loop()  # one per loop: tests run several
    event = _numbered_events.get(loop)
    if event is None:
        event = _numbered_events[loop] = asyncio.Event()
    return event


async def wait_numbered(timeout_s: float) -> bool:
    """Wait until this process commits a numbering (True) or ``timeout_s`` passes (False).
    Numberings by other processes are not heard: poll the feed as well."""
    event = _numbered_event()
    event.clear()
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def _announce(chain_id: uuid.UUID, last: int) -> None:
    for callback in list(_numbered):
        try:
            callback(chain_id, last)
        except Exception:
            log.exception("event numbering listener failed")
    _numbered_event().set()


async def number_chain(chain_id: uuid.UUID, *, wait: bool = True) -> int:
    """Number the chain's committed events; returns how many. ``wait``: behind a
    sequencer already numbering it (a reader must see every committed event); else skip
    the chain when it is busy (it is being numbered)."""
    total = 0
    while True:
        async with write_transaction():
            now = utcnow()
            last = await repo.lock_counter(chain_id, now, wait=wait)
            if last is None:
                return total
            count = await repo.number(chain_id, last, BATCH)
            if count:
                await repo.set_counter(chain_id, last + count, now)
        if count:
            total += count
            _announce(chain_id, last + count)
        if count < BATCH:
            return total


async def number_pending(*, wait: bool = False) -> int:
    """Number every chain's committed events (the background turn)."""
    total = 0
    for chain_id in await repo.pending_chains(CHAINS_PER_LOOK):
        total += await number_chain(chain_id, wait=wait)
    return total


class Sequencer:
    """The numbering task of one server process."""

    def __init__(self, poll_s: float = POLL_S) -> None:
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self._hinted: asyncio.Event | None = None

    def _hint(self, _: uuid.UUID) -> None:
        if self._hinted is not None:
            self._hinted.set()

    def start(self) -> None:
        self._hinted = asyncio.Event()
        events.on_emitted(self._hint)
        self._task = asyncio.create_task(self._run(), name="o2o-event-sequencer")

    async def stop(self) -> None:
        events.off_emitted(self._hint)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._hinted is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hinted.wait(), self._poll_s)
            hinted = self._hinted.is_set()
            self._hinted.clear()
            try:
                if not hinted:
                    await number_pending()
                    continue
                # This process emitted: its change commits a moment later.
                for delay in HINT_RETRIES_S:
                    if delay:
                        await asyncio.sleep(delay)
                    if await number_pending():
                        break
            except Exception:
                log.exception("event sequencer turn failed")
                await asyncio.sleep(self._poll_s)
