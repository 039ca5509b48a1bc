"""Sandbox orders and the poller: never asked about at WeChat Pay, only closed, locally,
after their 2 h."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.core.crypto import SecretBox
from app.core.settings import Settings
from app.core.wechatpay import WechatPayClient
from payments.poller import PayPoller
from tests.payments.followup_world import LivePay, Pay
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import WechatPayStandIn
from tests.world import World

wechat_pay_server = stand_ins.wechat_pay_server


async def test_sandbox_orders_are_never_queried_only_closed(
        client: httpx.AsyncClient, world: World, settings: Settings,
        wechat_pay_server: WechatPayStandIn) -> None:
    pay = Pay(client, world)
    card = await pay.card()
    order = await pay.place(card, 10000)
    assert order["pay_params"]["signType"] == "SANDBOX"
    placed = (await LivePay(client, world).row(order["id"]))["created_at"]
    poller = PayPoller(settings, SecretBox(settings.secret_key),
                       WechatPayClient(wechat_pay_server.url))
    try:
        assert sum((await poller.run_once(placed + timedelta(seconds=16))).values()) == 0
        assert sum((await poller.run_once(placed + timedelta(hours=1))).values()) == 0
        assert (await poller.run_once(placed + timedelta(hours=2, seconds=1)))["closed"] == 1
        assert sum((await poller.run_once(placed + timedelta(hours=3))).values()) == 0
    finally:
        assert poller.client is not None
        await poller.client.close()
    assert wechat_pay_server.requests == []
    assert (await pay.order(order["id"]))["status"] == "closed"
    # A closed order cannot be paid any more.
    late = await client.post(f"/api/v1/top-up-orders/{order['id']}/sandbox-pay",
                             headers=pay.member)
    assert late.status_code == 409
