"""`o2o stats rebuild [--chain ID]`: recompute the stats rollups from the events."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any


def register(sub: Any) -> None:
    stats = sub.add_parser("stats", help="operator stats")
    actions = stats.add_subparsers(dest="stats_command", required=True)
    rebuild = actions.add_parser(
        "rebuild", help="recompute the rollups from the events (PostgreSQL; writers wait "
                        "while it runs)")
    rebuild.add_argument("--chain", type=uuid.UUID, default=None,
                         help="only this chain (default: every chain)")
    rebuild.set_defaults(func=cmd_rebuild)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from app.core.commands import bound_engine, settings_or_exit
    from app.core.db import write_transaction
    from app.stats import service
    from marketing.segments import service as segments

    settings = settings_or_exit()

    async def run() -> bool:
        async with bound_engine(settings), write_transaction():
            rebuilt = await service.rebuild(args.chain)
            # The segments' per-member visit rollup is one of them (issue 20).
            await segments.rebuild(args.chain)
            return rebuilt

    started = time.monotonic()
    if not asyncio.run(run()):
        print("o2o: SQLite keeps no rollups (its stats read the events); nothing to do",
              file=sys.stderr)
    print(json.dumps({"chain_id": str(args.chain) if args.chain else None,
                      "seconds": round(time.monotonic() - started, 2)}))
    return 0
