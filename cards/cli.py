"""`o2o campaigns issue --campaign ID --members-file F`: bulk issuing with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

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
