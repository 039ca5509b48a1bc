"""`o2o keys rotate|list`: the signing keys from the command line (app/cli.py mounts it)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from app.core.codes.keys import CodeSigner

T = TypeVar("T")


def register(sub: Any) -> None:
    """Add the ``keys`` command to the ``o2o`` parser's sub-parsers."""
    keys = sub.add_parser("keys", help="the chains' code signing keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    rotate = actions.add_parser(
        "rotate", help="retire the chain's active key and start a new one; prints "
                       '{"chain_id", "kid"}')
    rotate.add_argument("--chain", required=True, type=uuid.UUID, help="the chain's id")
    rotate.add_argument(
        "--max-code-lifetime-days", type=float, default=None, metavar="DAYS",
        help="keep the retired key published this long (the longest a code it signed "
             "stays valid); default: for ever")
    rotate.set_defaults(func=cmd_rotate)

    listing = actions.add_parser("list", help="print the published keys as JWK JSON")
    listing.add_argument("--chain", type=uuid.UUID, default=None, help="only this chain")
    listing.set_defaults(func=cmd_list)


def cmd_rotate(args: argparse.Namespace) -> int:
    lifetime = (None if args.max_code_lifetime_days is None
                else timedelta(days=args.max_code_lifetime_days))
    if lifetime is not None and lifetime < timedelta(0):
        print("o2o: --max-code-lifetime-days must not be negative", file=sys.stderr)
        return 2

    async def run(signer: CodeSigner) -> str:
        return await signer.rotate(args.chain, max_code_lifetime=lifetime)

    kid = _run(run)
    print(json.dumps({"chain_id": str(args.chain), "kid": kid}))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    async def run(signer: CodeSigner) -> list[dict[str, str]]:
        return await signer.published_keys(args.chain)

    print(json.dumps({"keys": _run(run)}))
    return 0


def _run(operation: Callable[[CodeSigner], Awaitable[T]]) -> T:
    """Run ``operation`` with a signer on the configured database (kernel tables only)."""
    from app.core.codes.keys import CodeSigner
    from app.core.commands import bound_engine, settings_or_exit
    from app.core.piccolo_app import APP_CONFIG

    settings = settings_or_exit()

    async def main() -> T:
        async with bound_engine(settings, APP_CONFIG.table_classes):
            return await operation(CodeSigner(settings.secret_key))

    return asyncio.run(main())
