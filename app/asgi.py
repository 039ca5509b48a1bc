"""The composition root: create_app() wires the kernel and every domain into one Litestar app."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.stores.memory import MemoryStore
from litestar.types import ControllerRouterHandler

from app import key_scopes
from app.api_docs import render_plugins
from app.api_keys_api import CONTROLLERS as API_KEY_CONTROLLERS
from app.core.auth import Auth, Principal, principal_of
from app.core.crypto import SecretBox
from app.core.db import bind_tables, close_engine, make_engine, prepare_engine
from app.core.edge import EdgeRequest, complete_options_allow, refuse_control_characters
from app.core.errors import exception_handlers
from app.core.events.sequencer import Sequencer
from app.core.housekeeping import Housekeeping
from app.core.logs import ensure_logging, install_access_log
from app.core.openapi import StrictStructSchemaPlugin, declare_errors
from app.core.params import RuntimeDep
from app.core.runtime import Runtime, client_key
from app.core.security_headers import security_headers
from app.core.settings import Settings
from app.core.wechat import WechatClient
from app.core.wechatpay import WechatPayClient
from app.events_api import CONTROLLERS as EVENT_CONTROLLERS
from app.health import HealthController
from app.keys_api import KeysController
from app.live import CONTROLLERS as LIVE_CONTROLLERS
from app.live import end_streams_on_stop
from app.notifications_api import CONTROLLERS as NOTIFICATION_CONTROLLERS
from app.notifications_api import build_dispatcher
from app.stats import service as stats_service
from app.stats.controllers import CONTROLLERS as STATS_CONTROLLERS
from app.tables import all_tables
from app.web.routes import web_router
from app.webhooks_api import CONTROLLERS as WEBHOOK_CONTROLLERS
from app.webhooks_api import build_webhook_worker, purge_webhook_log
from bookings.controllers import CONTROLLERS as BOOKING_CONTROLLERS
from bookings.scans import SCAN_HANDLERS as BOOKING_SCANS
from cardbag import service as cardbag_service
from cardbag.controllers import CONTROLLERS as CARDBAG_CONTROLLERS
from cardbag.sync import CardBagSync, wechat_states
from cards import card_scans, voucher_scans
from cards import service as card_service
from cards.controllers import CONTROLLERS as CARD_CONTROLLERS
from cards.redemption import ScanHandlers
from marketing.automations.controllers import CONTROLLERS as AUTOMATION_CONTROLLERS
from marketing.gifts.controllers import CONTROLLERS as GIFT_CONTROLLERS
from marketing.jobs import service as jobs_service
from marketing.jobs.controllers import CONTROLLERS as JOB_CONTROLLERS
from marketing.referral import service as referral_service
from marketing.referral.controllers import CONTROLLERS as REFERRAL_CONTROLLERS
from marketing.runner import MarketingRunner
from marketing.segments.controllers import CONTROLLERS as SEGMENT_CONTROLLERS
from payments import service as payments_service
from payments.controllers import CONTROLLERS as PAYMENT_CONTROLLERS
from payments.controllers import notice_error
from payments.errors import NoticeError
from payments.poller import PayPoller
from payments.refunds import CONTROLLERS as REFUND_CONTROLLERS
from stores.controllers import CONTROLLERS as STORE_CONTROLLERS
from stores.service import MemberFinders

API_PREFIX = "/api/v1"
VERSION = "0.1.0"
# Requests per minute per client on the login routes (failed logins are also counted per
# username and per client in the database, across processes).
LOGIN_REQUESTS_PER_MINUTE = 60


async def _is_login_route(request: Request[Any, Any, Any]) -> bool:
    # Async: Litestar would run a sync check in a worker thread, on every request.
    return bool(request.route_handler.opt.get("login_route", False))


def serve_app(routes: Sequence[ControllerRouterHandler] = ()) -> Litestar:
    """The app of a server process (`o2o serve`): create_app, freezing the collector's
    view of what start-up built."""
    settings = Settings.from_env()
    ensure_logging(settings.log_format)  # `uvicorn app.asgi:serve_app` without `o2o serve`
    return create_app(settings, freeze_gc=True, routes=routes)


def _principal_after_runtime(request: Request[Any, Any, Any],
                             runtime: RuntimeDep) -> Principal:
    """The ``principal`` dependency, declared after ``runtime`` (which it does not use):
    Litestar resolves independent dependencies of a handler together in an anyio task
    group, two tasks per request for what are two attribute reads; one after the other
    they take none (measured: 5 % of the server's CPU per redemption went to the group)."""
    del runtime
    return principal_of(request)


def create_app(settings: Settings | None = None, *, freeze_gc: bool = False,
               routes: Sequence[ControllerRouterHandler] = ()) -> Litestar:
    """``routes``: more handlers under the API prefix, from outside the product (the
    benchmarks' ceilings, bench.server); production passes none."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    bind_tables(engine, all_tables())
    auth = Auth(settings, exclude=["^/schema"])
    runtime = Runtime(settings=settings, engine=engine, auth=auth,
                      secrets=SecretBox(settings.secret_key),
                      wechat=WechatClient(settings.wechat_api_base,
                                          timeout=settings.wechat_timeout_s))
    # Online top-up: one WeChat Pay client per process (its connection pool), closed at
    # shutdown.
    pay = payments_service.Pay(settings=settings, box=runtime.secrets,
                               client=WechatPayClient(settings.wechat_pay_api_base,
                                                      timeout_s=settings.wechat_pay_timeout_s))
    # Orders and refunds WeChat Pay has not told us the end of (active queries, closing
    # stale orders): a task of its own, like the webhook worker.
    poller = PayPoller(settings, runtime.secrets, pay.client)
    # Marketing's sweeps (automations, jobs, ...): a task of its own, like the poller.
    marketing = MarketingRunner(settings, runtime.signer)
    housekeeping = Housekeeping([card_service.purge_code_expiries, purge_webhook_log,
                                 cardbag_service.purge_old_rows],
                                often=[stats_service.fold_queue_now])
    dispatcher = build_dispatcher(settings, runtime.wechat, runtime.secrets)
    # Numbers the event feed's committed rows (every process; they take turns per chain).
    sequencer = Sequencer()
    # Webhooks: their own tasks, never in the dispatcher's round.
    webhooks = build_webhook_worker(settings, runtime.secrets)
    # The WeChat card bag's sync (live WeChat only): follows the feed, pushes to WeChat.
    cardbag_sync = CardBagSync(settings, runtime.wechat, runtime.secrets)
    # The clerk's scan endpoint, given each domain's kinds of code (cards never imports
    # bookings: the booking code's handler joins here).
    scans = ScanHandlers(card_scans.SCAN_HANDLERS, voucher_scans.SCAN_HANDLERS, BOOKING_SCANS)
    # The members' endpoint, given what later domains know of members (stores imports none).
    member_finders = MemberFinders.joined(card_service.MEMBER_FINDERS)

    async def startup() -> None:
        bind_tables(engine, all_tables())
        await prepare_engine(engine)
        auth.revocations.start(engine)
        auth.api_keys.start()
        housekeeping.start()
        sequencer.start()
        if settings.notify_dispatcher:
            dispatcher.start()
        if settings.webhook_worker:
            webhooks.start()
        if settings.pay_poller:
            poller.start()
        if settings.marketing_runner:
            marketing.start()
        if settings.cardbag_sync and settings.wechat_mode == "live":
            cardbag_sync.start()
        if freeze_gc:
            # Everything built so far lives as long as the process: out of the collector's
            # sight, so that a full collection under load scans only what requests made
            # (measured: pauses of 80 ms, a third of the p99 of a redemption on SQLite).
            gc.collect()
            gc.freeze()

    async def shutdown() -> None:
        await dispatcher.stop()
        await cardbag_sync.stop()
        await poller.stop()
        await marketing.stop()
        await webhooks.stop()
        await sequencer.stop()
        await housekeeping.stop()
        await auth.api_keys.stop()  # writes the keys' last use
        await auth.revocations.stop()
        await runtime.wechat.close()
        await pay.client.close()
        await close_engine(engine)

    handlers: list[Any] = [HealthController, KeysController, *STORE_CONTROLLERS,
                           *CARD_CONTROLLERS, *BOOKING_CONTROLLERS, *PAYMENT_CONTROLLERS,
                           *REFUND_CONTROLLERS, *CARDBAG_CONTROLLERS, *SEGMENT_CONTROLLERS,
                           *JOB_CONTROLLERS,
                           *AUTOMATION_CONTROLLERS, *REFERRAL_CONTROLLERS, *GIFT_CONTROLLERS,
                           *NOTIFICATION_CONTROLLERS, *STATS_CONTROLLERS, *LIVE_CONTROLLERS,
                           *API_KEY_CONTROLLERS, *EVENT_CONTROLLERS, *WEBHOOK_CONTROLLERS,
                           *routes]
    api = Router(path=API_PREFIX, route_handlers=handlers)
    login_rate_limit = RateLimitConfig(
        rate_limit=("minute", LOGIN_REQUESTS_PER_MINUTE),
        identifier_for_request=client_key,
        check_throttle_handler=_is_login_route,
        store="rate_limit",
    )
    app = Litestar(
        route_handlers=[api, web_router()],
        on_app_init=[auth.jwt.on_app_init],
        on_startup=[startup, end_streams_on_stop],
        on_shutdown=[shutdown],
        middleware=[login_rate_limit.middleware, refuse_control_characters],
        request_class=EdgeRequest,
        before_send=[security_headers(production=settings.env == "production")],
        plugins=[StrictStructSchemaPlugin()],
        stores={"rate_limit": MemoryStore()},
        dependencies={
            "principal": Provide(_principal_after_runtime, sync_to_thread=False),
            "runtime": Provide(lambda: runtime, sync_to_thread=False, use_cache=True),
        },
        signature_types=[Principal, Runtime],
        # WeChat Pay's notices are answered in its own shape ({"code", "message"}).
        exception_handlers={**exception_handlers(),  # type: ignore[dict-item]
                            NoticeError: notice_error},
        request_max_body_size=settings.max_body_bytes,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins))
        if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="o2o API",
            version=VERSION,
            description="Membership cards, QR vouchers, redemption and bookings for chains "
                        "of life-service stores. Errors are application/problem+json with "
                        "a stable `code`.",
            path="/schema",
            render_plugins=render_plugins(settings.api_docs),
            components=Components(security_schemes={"BearerToken": SecurityScheme(
                type="http", scheme="bearer", bearer_format="JWT")}),
        ),
        state=State({"runtime": runtime, "dispatcher": dispatcher, "webhooks": webhooks,
                     "scans": scans, "pay": pay,
                     "member_finders": member_finders,
                     # CardOut.wechat: which cards are in a WeChat card bag.
                     "card_wechat": wechat_states,
                     # What later domains do when a WeChat login creates a member.
                     "member_join_hooks": (referral_service.record_invite,),
                     # POST /campaigns/{id}/issue with a segment: marketing's job.
                     "segment_issuer": jobs_service.start_issue_job}),
        debug=False,
        logging_config=None,  # the process configures logging (app.core.logs), not the app
    )
    declare_errors(app, API_PREFIX)
    key_scopes.apply(app)  # which scopes an API key needs where (app/key_scopes.py)
    complete_options_allow(app)
    install_access_log(app, settings.trusted_proxies)
    return app
