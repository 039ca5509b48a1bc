"""Online top-up under a storm (issue 19's bar): real `o2o serve` processes in live WeChat
Pay mode against the stand-in, WeChat Pay's notices spread over them by a round-robin
proxy (``O2O_PUBLIC_URL``), and the active-query poller running in every process.

Orders are placed over HTTP (a fifth of them double-tapped on two servers with one
Idempotency-Key); WeChat Pay then pays most of them, with duplicated, late, reordered,
tampered and lying notices, notices for orders never placed, payments it never tells of
(only a query finds them), payments of another amount, orders past their 2 h that the
pollers close while the member pays at the last moment, and orders refunded in full by
the operator whose payment notice WeChat Pay then sends again; all along, queries answer
SYSTEM_ERROR, 500 or hang (one fault per order paid, spread over the storm). At the end
(tests/hardening/paystorm.py ``check``):

- every paid order is credited exactly once: `top_up` (+ `top_up_bonus`) once, one
  `top_up_order.paid` event, one balance notification; a refunded one has its one
  `refund` entry and `top_up_order.refunded` event; the card balances (and their bonus
  parts) equal the paid, unrefunded orders' amount + bonus;
- nothing that was not paid is credited; a payment of another amount and a notice for an
  unknown order are recorded once as anomalies and credit nothing;
- every good notice was acknowledged, every tampered one refused (401), no 5xx but
  WeChat Pay's "try again" (503 FAIL: a closed order's payment not confirmable just then);
- `o2o pay reconcile`, run once racing the storm's end and once after, finds every paid
  order matched and nothing left to credit late;
- `o2o verify-ledger` passes; no traceback in any server's log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.hardening import paystorm
from tests.hardening.notice_proxy import NoticeProxy
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import WechatPayStandIn

wechat_pay_server = stand_ins.wechat_pay_server


async def _storm(database_url: str, stand_in: WechatPayStandIn, tmp_path: Path, *,
                 processes: int, cards: int, orders: int, seed: int) -> None:
    with NoticeProxy(backends=[]) as proxy:
        env = paystorm.server_env(stand_in.url, proxy.url)
        servers = [LiveServer(database_url, env=env, log_file=tmp_path / f"server-{n}.log",
                              log_level="warning") for n in range(processes)]
        proxy.set_backends([s.base_url for s in servers])
        # The servers come up (seconds each) while this process seeds the chain.
        starting = asyncio.ensure_future(asyncio.to_thread(paystorm.start_servers, servers))
        try:
            shop = await paystorm.seed(database_url, stand_in, cards)
            await starting
            urls = [s.base_url for s in servers]
            storm = paystorm.Storm()
            await asyncio.to_thread(paystorm.place_orders, urls, shop, storm, orders, seed)
            assert len(storm.orders) == orders, storm.bad_answers
            paystorm.assign_fates(storm, seed)
            await paystorm.expire(database_url, storm)
            notify_url = f"{proxy.url}/api/v1/pay/wechat/notify/{shop.chain_id}"
            await asyncio.to_thread(paystorm.drive, stand_in, shop, storm, notify_url, seed,
                                    urls[-1])
            # WeChat Pay's re-sends, the pollers and `o2o pay reconcile` (the third
            # crediting path) all at once.
            await asyncio.gather(
                asyncio.to_thread(paystorm.redeliver, stand_in, storm, include_lost=False),
                asyncio.to_thread(paystorm.reconcile, database_url, stand_in, shop))
            await paystorm.wait_credited(database_url, storm, timeout_s=40)
            await asyncio.sleep(1.0)  # stragglers: a duplicate or a query still in flight
        finally:
            await asyncio.gather(starting, return_exceptions=True)
            for server in servers:
                server.stop()
        forwarded = proxy.answers()
    await asyncio.to_thread(paystorm.reconciled_after, database_url, stand_in, shop, storm)
    errors = paystorm.server_errors(forwarded)
    assert errors == [], errors
    # A notice and a query both found it paid: typically a third of the paid orders.
    both_ways = paystorm.raced(stand_in, storm)
    assert both_ways >= 3, f"only {both_ways} orders were raced by a notice and a query"
    await paystorm.check(database_url, stand_in, storm, shop.mchid)
    problems = paystorm.log_problems(tmp_path)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("engine_name", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_two_processes_credit_every_paid_order_once(
        database_url: str, wechat_pay_server: WechatPayStandIn, tmp_path: Path) -> None:
    await _storm(database_url, wechat_pay_server, tmp_path, processes=2, cards=12, orders=60,
                 seed=19)


@pytest.mark.parametrize("engine_name", ["sqlite"])
async def test_two_processes_on_one_sqlite_file_credit_once(
        database_url: str, wechat_pay_server: WechatPayStandIn, tmp_path: Path) -> None:
    await _storm(database_url, wechat_pay_server, tmp_path, processes=2, cards=6, orders=24,
                 seed=7)
