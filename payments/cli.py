"""`o2o pay reconcile --chain ID --date YYYY-MM-DD`: the day's WeChat Pay trade bill
against the orders (payments.reconcile); prints
``{"matched", "credited_late", "unknown", "amount_mismatch", "state_mismatch",
"missing"}`` (the contract's four keys, and two more: decision 048)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import date
from typing import Any


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(sub: Any) -> None:
    pay = sub.add_parser("pay", help="WeChat Pay: online top-ups")
    actions = pay.add_subparsers(dest="pay_command", required=True)
    reconcile = actions.add_parser(
        "reconcile", help="match a day's WeChat Pay trade bill with the orders, credit "
                          "what was paid and never credited, record the rest; prints a "
                          "JSON summary")
    reconcile.add_argument("--chain", required=True, type=uuid.UUID)
    reconcile.add_argument("--date", required=True, type=_day,
                           help="the bill's date: a China Standard Time (Asia/Shanghai) "
                                "calendar day, as WeChat Pay cuts its bills")
    reconcile.set_defaults(func=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from app.core.commands import bound_engine, settings_or_exit
    from app.core.crypto import SecretBox
    from app.core.wechatpay import WechatPayClient, WechatPayError
    from payments.reconcile import NotConfigured, reconcile_chain

    settings = settings_or_exit()

    async def run() -> dict[str, int]:
        async with bound_engine(settings):
            client = WechatPayClient(settings.wechat_pay_api_base,
                                     timeout_s=settings.wechat_pay_timeout_s)
            try:
                outcome = await reconcile_chain(client, SecretBox(settings.secret_key),
                                                args.chain, args.date)
            finally:
                await client.close()
        return outcome.as_dict()

    try:
        summary = asyncio.run(run())
    except NotConfigured as exc:
        print(f"o2o: {exc}", file=sys.stderr)
        return 1
    except WechatPayError as exc:
        print(f"o2o: WeChat Pay answered {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0
