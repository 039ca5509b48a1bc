"""The `o2o` command: migrate, create-operator, serve, demo, worker, and the domains' groups
(keys, campaigns, import, stats, pay)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

from app.core.codes import cli as keys_cli
from app.core.commands import bound_engine, settings_or_exit
from app.stats import cli as stats_cli
from cards import cli as campaigns_cli
from payments import cli as pay_cli

# Piccolo finds its configuration by module name; ours lives inside the package.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")


def cmd_migrate(_: argparse.Namespace) -> int:
    settings = settings_or_exit()
    from piccolo.apps.migrations.commands.forwards import run_forwards

    if settings.is_sqlite:
        path = settings.database_url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    async def run() -> bool:
        result = await run_forwards(app_name="all")
        return bool(result.success)

    ok = asyncio.run(run())
    if not ok:
        print("o2o: migrations failed", file=sys.stderr)
        return 1
    return 0


def cmd_create_operator(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    from app.core.errors import AppError
    from stores.service import create_chain_with_operator

    if len(args.password) < 10:
        print("o2o: --password must be at least 10 characters", file=sys.stderr)
        return 2

    async def run() -> tuple[str, str]:
        async with bound_engine(settings):
            chain_id, staff_id = await create_chain_with_operator(args.chain, args.username,
                                                                  args.password)
        return str(chain_id), str(staff_id)

    try:
        chain_id, staff_id = asyncio.run(run())
    except AppError as exc:
        print(f"o2o: {exc.detail}", file=sys.stderr)
        return 1
    print(json.dumps({"chain_id": chain_id, "staff_id": staff_id}))
    return 0


def cmd_serve(args: argparse.Namespace, factory: str = "app.asgi:serve_app") -> int:
    """``factory``: the app of each process (the benchmarks serve theirs, bench.server)."""
    settings = settings_or_exit()  # refuse to start with unsafe settings, with a reason
    import uvicorn

    from app.core.logs import logging_config

    uvicorn.run(
        factory, factory=True, host=args.host, port=args.port,
        workers=args.workers,
        # We decide which X-Forwarded-For to believe (O2O_TRUSTED_PROXIES), not uvicorn.
        proxy_headers=False, server_header=False, log_level=args.log_level,
        # Every record through o2o's formatter (escaped, redacted, text or JSON; each
        # worker process applies the dictionary too); the access log is o2o's own
        # (app.core.logs.AccessLog): uvicorn's would write the decoded path unescaped.
        log_config=logging_config(settings.log_format, args.log_level), access_log=False,
        # A live stream (GET /me/events) never ends by itself: a stop waits this long for
        # the requests in flight, then cancels them.
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_verify_ledger(_: argparse.Namespace) -> int:
    """Recompute every card's hash chain and totals; non-zero exit on any mismatch."""
    settings = settings_or_exit()
    from cards.ledger import verify_all

    async def run() -> tuple[int, list[str]]:
        async with bound_engine(settings):
            checked, problems = await verify_all()
        return checked, [f"card {p.card_id}: {p.problem}" for p in problems]

    checked, problems = asyncio.run(run())
    for line in problems:
        print(f"o2o: ledger mismatch: {line}", file=sys.stderr)
    print(json.dumps({"cards_checked": checked, "mismatches": len(problems)}))
    return 1 if problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    if settings.env == "production":
        print("o2o: demo data is for development; refused when O2O_ENV=production",
              file=sys.stderr)
        return 2
    if not 0 < args.scale <= 1:
        print("o2o: --scale must be in (0, 1]", file=sys.stderr)
        return 2
    from app.demo import seed_demo
    from bench.demo_large import seed_large

    def progress(done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} members")
        sys.stderr.write("\n" if done == total else "")
        sys.stderr.flush()

    async def run() -> list[str]:
        async with bound_engine(settings):
            if args.size == "large":
                return await seed_large(settings.secret_key, args.scale, progress)
            return await seed_demo()

    for line in asyncio.run(run()):
        print(line)
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    """What goes out, without HTTP, until SIGINT or SIGTERM (then a clean stop): the
    notification dispatcher, the event feed's sequencer, the webhook worker, the
    payment poller, marketing's runner and the card bag's sync (servers run with
    O2O_NOTIFY_DISPATCHER=0, O2O_WEBHOOK_WORKER=0, O2O_PAY_POLLER=0,
    O2O_MARKETING_RUNNER=0 and O2O_CARDBAG_SYNC=0 when workers do this)."""
    settings = settings_or_exit()
    import signal

    from app.core import logs
    from app.core.crypto import SecretBox
    from app.core.events.sequencer import Sequencer
    from app.core.wechat import WechatClient
    from app.core.wechatpay import WechatPayClient
    from app.notifications_api import build_dispatcher
    from app.webhooks_api import build_webhook_worker
    from cardbag.sync import CardBagSync
    from marketing.runner import build_marketing_runner
    from payments.poller import build_pay_poller

    logs.configure(settings.log_format)

    async def run() -> None:
        async with bound_engine(settings):
            client = WechatClient(settings.wechat_api_base, timeout=settings.wechat_timeout_s)
            box = SecretBox(settings.secret_key)
            dispatcher = build_dispatcher(settings, client, box)
            sequencer, webhooks = Sequencer(), build_webhook_worker(settings, box)
            pay_client = WechatPayClient(settings.wechat_pay_api_base,
                                         timeout_s=settings.wechat_pay_timeout_s)
            poller = build_pay_poller(settings, box, pay_client)
            marketing = build_marketing_runner(settings)
            cardbag = CardBagSync(settings, client, box)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            dispatcher.start()
            sequencer.start()
            webhooks.start()
            poller.start()
            marketing.start()
            if settings.cardbag_sync and settings.wechat_mode == "live":
                cardbag.start()
            print("o2o worker: delivering notifications and webhooks, following payments, "
                  "running marketing, syncing WeChat card bags", file=sys.stderr, flush=True)
            await stop.wait()
            await cardbag.stop()
            await marketing.stop()
            await poller.stop()
            await pay_client.close()
            await webhooks.stop()
            await sequencer.stop()
            await dispatcher.stop()
            await client.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2o", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply all migrations to O2O_DATABASE_URL").set_defaults(
        func=cmd_migrate)

    op = sub.add_parser("create-operator", help="create a chain and its first operator")
    op.add_argument("--chain", required=True, help="the chain's name")
    op.add_argument("--username", required=True)
    op.add_argument("--password", required=True)
    op.set_defaults(func=cmd_create_operator)

    serve = sub.add_parser("serve", help="run the API and the web pages")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="seed a demo chain and print its logins")
    demo.add_argument("--size", choices=("small", "large"), default="small",
                      help="large: a year of a ten-store chain (100k members, 1M "
                           "redemptions) for benchmarks")
    demo.add_argument("--scale", type=float, default=1.0,
                      help="with --size large: shrink every count by this factor")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("verify-ledger", help="check every card's hash-chained ledger and totals"
                   ).set_defaults(func=cmd_verify_ledger)
    sub.add_parser("worker", help="deliver notifications and webhooks (no HTTP), until stopped"
                   ).set_defaults(func=cmd_worker)
    keys_cli.register(sub)
    campaigns_cli.register(sub)
    stats_cli.register(sub)
    pay_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
