"""The WeChat Pay client against the stand-in: signatures both ways, answers verified,
faults mapped, notices verified and decrypted, pay_params, the trade bill."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from app.core.wechatpay import (
    Merchant,
    NoticeSignatureError,
    WechatPayClient,
    parse_notice,
    pay_params,
    signing,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import (
    PREPAY,
    WechatPayStandIn,
)

wechat_pay_server = stand_ins.wechat_pay_server


class Receiver:
    """A notify URL on the test's loop: verifies each notice with ``parse_notice``."""

    def __init__(self, merchant: Merchant) -> None:
        self.merchant = merchant
        self.notices: list[Any] = []
        self.refused: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            notice = parse_notice(self.merchant, request.headers, body, now=datetime.now(UTC))
        except NoticeSignatureError as exc:
            self.refused.append(str(exc))
            return web.json_response({"code": "SIGN_ERROR", "message": str(exc)}, status=401)
        self.notices.append(notice)
        return web.Response(status=204)


@pytest.fixture
def merchant(wechat_pay_server: WechatPayStandIn) -> Merchant:
    return wechat_pay_server.new_merchant()


@pytest.fixture
async def client(wechat_pay_server: WechatPayStandIn) -> AsyncIterator[WechatPayClient]:
    c = WechatPayClient(wechat_pay_server.url, timeout_s=2.0)
    yield c
    await c.close()


@pytest.fixture
async def receiver(merchant: Merchant) -> AsyncIterator[Receiver]:
    r = Receiver(merchant)
    app = web.Application()
    app.router.add_post("/notify/{chain}", r.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    r.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify/c1"
    yield r
    await runner.cleanup()


async def prepay(client: WechatPayClient, m: Merchant, url: str, no: str = "T0001abc",
                 amount: int = 50000) -> str:
    return await client.jsapi_prepay(
        m, out_trade_no=no, description="Top up 500", amount_cents=amount,
        openid="o-member-1", notify_url=url,
        time_expire=datetime.now(UTC) + timedelta(hours=2))


async def test_prepay_pay_notice_query(wechat_pay_server: WechatPayStandIn,
                                       client: WechatPayClient, merchant: Merchant,
                                       receiver: Receiver) -> None:
    prepay_id = await prepay(client, merchant, receiver.url)
    assert prepay_id.startswith("wx")
    sent = wechat_pay_server.requests_of(PREPAY)[-1]
    assert sent.mchid == merchant.mchid  # the stand-in verified our signature
    assert sent.json["amount"] == {"total": 50000, "currency": "CNY"}
    assert sent.json["time_expire"].endswith("+08:00")
    # The same parameters again: the same prepay_id (a retry is safe).
    assert await prepay(client, merchant, receiver.url) == prepay_id

    before = await client.query_order(merchant, "T0001abc")
    assert (before.trade_state, before.transaction_id, before.total_cents) == (
        "NOTPAY", None, 50000)

    notice = await wechat_pay_server.pay_async("T0001abc")
    assert wechat_pay_server.deliveries_of(notice)[0].status == 204
    [got] = receiver.notices
    assert got.event_type == "TRANSACTION.SUCCESS" and got.id == notice.notice_id
    assert got.transaction is not None
    assert got.transaction.trade_state == "SUCCESS"
    assert got.transaction.total_cents == got.transaction.payer_total_cents == 50000
    assert got.transaction.mchid == merchant.mchid
    assert got.transaction.appid == merchant.appid

    after = await client.query_order(merchant, "T0001abc")
    assert after.trade_state == "SUCCESS"
    assert after.transaction_id == got.transaction.transaction_id
    assert after.success_time is not None and after.success_time.tzinfo is not None


async def test_pay_params_verify_with_the_merchant_key(merchant: Merchant) -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    params = pay_params(merchant, "wx123", now=now)
    assert params["appId"] == merchant.appid
    assert params["timeStamp"] == str(int(now.timestamp()))
    assert params["package"] == "prepay_id=wx123" and params["signType"] == "RSA"
    message = (f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n"
               f"{params['package']}\n")
    assert signing.verify(merchant.private_key.public_key(), message, params["paySign"])
    assert not signing.verify(merchant.private_key.public_key(), message.replace("wx123",
                              "wx124"), params["paySign"])
