"""Every query of the event feed: the change's insert, the sequencer's numbering, the
feed's reads and the retention purge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from app.core.db import Sql

# --- the write path: one insert, nothing shared --------------------------------------

_INSERT_INTO = ("INSERT INTO core_event (id, chain_id, type, store_id, object_id, data, "
                "created_at) ")
_INSERT_VALUES = "{}, {}, {}, {}, {}, {}, {}"
# In every change's transaction (a redemption's among them): no query building.
_INSERT = Sql(_INSERT_INTO + f"VALUES ({_INSERT_VALUES})")


def insert_after(source: str) -> str:
    """The event insert as a step of a larger statement: it inserts only if the CTE
    ``source`` returned a row (a spend that won). Its ``{}`` take :func:`insert_args`."""
    # ``source`` is a CTE name written in code, never input.
    return _INSERT_INTO + f"SELECT {_INSERT_VALUES} FROM {source}"  # noqa: S608


def insert_args(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The arguments of the insert (either form) for a row of ``events.event``."""
    return (values["id"], values["chain_id"], values["type"], values["store_id"],
            values["object_id"], msgspec.json.encode(values["data"]).decode(),
            values["created_at"])


async def insert(values: Mapping[str, Any]) -> None:
    await _INSERT.rows(*insert_args(values))
