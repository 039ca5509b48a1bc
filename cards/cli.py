"""`o2o campaigns issue --campaign ID --members-file F`: bulk issuing with a progress bar;
`o2o import members FILE --chain ID [--dry-run]`: the member import (cards.imports)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec

BATCH = 200


def register(sub: Any) -> None:
    campaigns = sub.add_parser("campaigns", help="voucher campaigns")
    actions = campaigns.add_subparsers(dest="campaigns_command", required=True)
    issue = actions.add_parser(
        "issue", help="issue one voucher of a campaign to each member id in a file "
                      "(one per line); prints a JSON summary")
    issue.add_argument("--campaign", required=True, type=uuid.UUID)
    issue.add_argument("--members-file", required=True, type=Path)
    issue.set_defaults(func=cmd_issue)

    imports = sub.add_parser("import", help="import data from CSV")
    kinds = imports.add_subparsers(dest="import_command", required=True)
    members = kinds.add_parser(
        "members", help="import members and their cards' opening figures from a CSV file "
                        "(as POST /imports/members); prints a JSON summary")
    members.add_argument("file", type=Path)
    members.add_argument("--chain", required=True, type=uuid.UUID)
    members.add_argument("--dry-run", action="store_true",
                         help="check the file and count what it would do; write nothing")
    members.set_defaults(func=cmd_import_members)


def _read_members(path: Path) -> list[uuid.UUID]:
    members: list[uuid.UUID] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            members.append(uuid.UUID(text))
        except ValueError:
            raise SystemExit(f"o2o: {path}:{number}: not a member id: {text!r}") from None
    return members


def _progress(done: int, total: int, issued: int, skipped: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                     f"issued {issued} skipped {skipped}")
    sys.stderr.flush()


def cmd_issue(args: argparse.Namespace) -> int:
    from app.core.auth import Principal
    from app.core.codes.keys import CodeSigner
    from app.core.commands import bound_engine, settings_or_exit
    from cards import repository as repo
    from cards import vouchers
    from cards.schemas import IssueIn
    from cards.tables import Campaign

    settings = settings_or_exit()
    members = _read_members(args.members_file)

    async def run() -> dict[str, Any]:
        async with bound_engine(settings):
            row = await Campaign.select(Campaign.chain).where(
                Campaign.id == args.campaign).first().run()
            if row is None or await repo.get_campaign(args.campaign, row["chain"]) is None:
                raise SystemExit(f"o2o: no campaign {args.campaign}")
            # The command line acts as the chain's operator.
            operator = Principal(kind="staff", id=uuid.UUID(int=0), chain_id=row["chain"],
                                 role="operator")
            signer = CodeSigner(settings.secret_key)
            issued, skipped = 0, []
            for start in range(0, len(members), BATCH):
                batch = members[start:start + BATCH]
                result = await vouchers.issue(operator, args.campaign,
                                              IssueIn(member_ids=batch), signer)
                issued += len(result.issued)
                skipped += [{"member_id": str(s.member_id), "code": s.code}
                            for s in result.skipped]
                _progress(start + len(batch), len(members), issued, len(skipped))
            sys.stderr.write("\n")
            return {"campaign_id": str(args.campaign), "issued": issued, "skipped": skipped}

    print(json.dumps(asyncio.run(run())))
    return 0


_STAGES = {"read": "reading", "plan": "checking", "write": "writing"}


class Bar:
    """A progress bar on stderr, one line per stage (read, plan, write); on a terminal it
    redraws in place, elsewhere (a log) it prints each stage once it is done."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.stage: str | None = None
        self.last: tuple[int, int] = (0, 0)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.finish()
            self.stage = stage
        self.last = (done, total)
        if self.tty:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def _line(self) -> str:
        done, total = self.last
        width = 30
        filled = width if total == 0 else width * done // total
        return (f"{_STAGES.get(self.stage or '', self.stage)!s:<9}"
                f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")

    def finish(self) -> None:
        if self.stage is None:
            return
        self.stream.write(("\r" if self.tty else "") + self._line() + "\n")
        self.stream.flush()
        self.stage = None


def cmd_import_members(args: argparse.Namespace) -> int:
    from app.core.commands import bound_engine, settings_or_exit
    from app.core.errors import AppError
    from cards import imports
    from cards.errors import ImportInvalid
    from stores.tables import Chain

    settings = settings_or_exit()
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"o2o: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    bar = Bar()

    async def run() -> dict[str, Any]:
        async with bound_engine(settings):
            if not await Chain.exists().where(Chain.id == args.chain).run():
                raise SystemExit(f"o2o: no chain {args.chain}")
            # The command line acts as the chain's operator, as no staff member.
            result = await imports.import_members(args.chain, data, dry_run=args.dry_run,
                                                  staff_id=None, progress=bar)
            bar.finish()
            return dict(msgspec.to_builtins(result))

    try:
        print(json.dumps(asyncio.run(run())))
    except ImportInvalid as exc:
        bar.finish()
        for error in exc.extra["errors"]:
            where = f"line {error['line']}" + (f": {error['field']}" if error["field"] else "")
            print(f"{args.file}: {where}: {error['message']}", file=sys.stderr)
        shown = len(exc.extra["errors"])
        if exc.extra["error_count"] > shown:
            print(f"o2o: ... and {exc.extra['error_count'] - shown} more", file=sys.stderr)
        print(f"o2o: {exc.detail}", file=sys.stderr)
        return 1
    except AppError as exc:
        bar.finish()
        print(f"o2o: {exc.detail}", file=sys.stderr)
        return 1
    return 0
