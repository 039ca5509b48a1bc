"""Crash safety of online top-up (issue 19's bar): two `o2o serve` processes in live WeChat
Pay mode share the notices (round-robin proxy at ``O2O_PUBLIC_URL``) and poll WeChat Pay;
one is SIGKILLed while WeChat Pay's notices and the pollers' queries race (a credit, a
claimed query, a notice may be half-way), and started again.

The notices the dead process never answered (502 from the proxy, or a connection cut
mid-request) are sent again, as WeChat Pay does; the survivor and the restarted process
poll. Then every paid order is credited exactly once, nothing unpaid is credited, the
card balances equal the paid amounts + bonuses, anomalies are recorded once, and
`o2o verify-ledger` passes (tests/hardening/paystorm.py ``check``).

PostgreSQL, and SQLite with both processes on one database file (a smaller storm): a
process killed inside its write transaction leaves SQLite's lock and WAL to the other.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.hardening import paystorm
from tests.hardening.notice_proxy import NoticeProxy
from tests.hardening.rawdb import fetch
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import WechatPayStandIn

wechat_pay_server = stand_ins.wechat_pay_server

ORDERS = 48


async def _paid_count(database_url: str) -> int:
    rows = await fetch(database_url, "SELECT count(*) AS n FROM top_up_order "
                                     "WHERE status = 'paid'")
    return int(rows[0]["n"])


@pytest.mark.parametrize("engine_name", ["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
async def test_sigkill_mid_storm_then_every_paid_order_credited_once(
        engine_name: str, database_url: str, wechat_pay_server: WechatPayStandIn,
        tmp_path: Path) -> None:
    stand_in = wechat_pay_server
    orders = ORDERS if engine_name == "postgres" else ORDERS // 2
    with NoticeProxy(backends=[]) as proxy:
        env = paystorm.server_env(stand_in.url, proxy.url)

        def server(name: str) -> LiveServer:
            # The victim's log ("victim.log") ends abruptly: log_problems reads the others.
            log = "victim.log" if name == "victim" else f"server-{name}.log"
            return LiveServer(database_url, env=env, log_file=tmp_path / log)

        victim, survivor = server("victim"), server("survivor")
        proxy.set_backends([victim.base_url, survivor.base_url])
        running = [victim, survivor]
        # The servers come up (seconds each) while this process seeds the chain.
        starting = asyncio.ensure_future(asyncio.to_thread(paystorm.start_servers,
                                                           [victim, survivor]))
        try:
            shop = await paystorm.seed(database_url, stand_in, cards=10)
            await starting
            storm = paystorm.Storm()
            await asyncio.to_thread(paystorm.place_orders, [victim.base_url,
                                                            survivor.base_url],
                                    shop, storm, orders, 23)
            assert len(storm.orders) == orders, storm.bad_answers
            paystorm.assign_fates(storm, 23)
            await paystorm.expire(database_url, storm)
            notify_url = f"{proxy.url}/api/v1/pay/wechat/notify/{shop.chain_id}"
            driver = threading.Thread(target=paystorm.drive, args=(
                stand_in, shop, storm, notify_url, 23, survivor.base_url))
            driver.start()
            # Kill once a few orders are credited (notices and queries in full flight),
            # at a moment the victim is applying a notice.
            deadline = time.monotonic() + 30
            while await _paid_count(database_url) < 6 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            while not proxy.busy(victim.base_url) and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            assert driver.is_alive(), "the storm ended before the kill"
            await asyncio.to_thread(victim.kill)
            killed_at = len(proxy.answers())
            # Restarted at once, but the proxy sends it nothing before the rest of the
            # storm (late and reordered notices included) has met the dead process (502).
            reborn = server("reborn")
            running.append(reborn)
            await asyncio.to_thread(reborn.start)
            await asyncio.to_thread(driver.join, 120)
            proxy.set_backends([reborn.base_url, survivor.base_url])
            await asyncio.to_thread(paystorm.redeliver, stand_in, storm, include_lost=False)
            await paystorm.wait_credited(database_url, storm, timeout_s=40)
            await asyncio.sleep(1.0)
        finally:
            await asyncio.gather(starting, return_exceptions=True)
            for process in running:
                process.stop()
        forwarded = proxy.answers()
    assert any(f.backend == victim.base_url and 200 <= f.status < 300
               for f in forwarded[:killed_at]), "the victim applied no notice before dying"
    assert any(f.status == 502 for f in forwarded[killed_at:]), \
        "no notice met the dead process"
    errors = paystorm.server_errors(forwarded, dead=frozenset({victim.base_url}))
    assert errors == [], errors
    await asyncio.to_thread(paystorm.reconciled_after, database_url, stand_in, shop, storm)
    await paystorm.check(database_url, stand_in, storm, shop.mchid)
    problems = paystorm.log_problems(tmp_path)
    assert problems == [], "\n".join(problems)
