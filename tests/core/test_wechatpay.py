"""The WeChat Pay client against the stand-in: signatures both ways, answers verified,
faults mapped, notices verified and decrypted, pay_params, the trade bill."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from app.core.wechatpay import (
    Merchant,
    NoticeSignatureError,
    WechatPayClient,
    WechatPayError,
    load_merchant,
    parse_notice,
    pay_params,
    signing,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import unreachable_url
from tests.stand_ins.wechatpay import (
    CLOSE,
    PREPAY,
    QUERY,
    REFUND,
    Fault,
    NoticeFault,
    WechatPayStandIn,
    cached_key,
    merchant_config,
)

wechat_pay_server = stand_ins.wechat_pay_server


class Receiver:
    """A notify URL on the test's loop: verifies each notice with ``parse_notice``."""

    def __init__(self, merchant: Merchant) -> None:
        self.merchant = merchant
        self.notices: list[Any] = []
        self.refused: list[str] = []
        self.url = ""
        self.fail_next = 0  # answer 500 to this many notices (a server in trouble)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500)
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


# --- our requests are checked by the stand-in ---------------------------------------------

async def test_a_request_signed_with_another_key_is_refused(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    forged = replace(merchant, private_key=cached_key("rogue"))
    with pytest.raises(WechatPayError) as caught:
        await client.query_order(forged, "T0001abc")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        401, "SIGN_ERROR", False)
    wrong_serial = replace(merchant, serial_no="0" * 40)
    with pytest.raises(WechatPayError) as caught:
        await client.query_order(wrong_serial, "T0001abc")
    assert caught.value.code == "SIGN_ERROR"
    assert [r.mchid for r in wechat_pay_server.requests_of(QUERY)] == [None, None]


async def test_requests_carry_the_documented_authorization(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    with pytest.raises(WechatPayError):
        await client.query_order(merchant, "T-missing-1")
    [sent] = wechat_pay_server.requests_of(QUERY)
    assert sent.path == f"/v3/pay/transactions/out-trade-no/T-missing-1?mchid={merchant.mchid}"
    fields = signing.parse_authorization(sent.headers["Authorization"])
    assert fields is not None
    assert set(fields) == {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}
    assert (fields["mchid"], fields["serial_no"]) == (merchant.mchid, merchant.serial_no)
    assert sent.headers["Wechatpay-Serial"] == merchant.platform_key_id
    message = f"GET\n{sent.path}\n{fields['timestamp']}\n{fields['nonce_str']}\n\n"
    assert signing.verify(merchant.private_key.public_key(), message, fields["signature"])
    assert sent.mchid == merchant.mchid


# --- answers are verified ------------------------------------------------------------------

@pytest.mark.parametrize(("script", "code"), [
    ("tamper_answer", "ANSWER_SIGNATURE_INVALID"),
    ("bad_answer_signature", "ANSWER_SIGNATURE_INVALID"),
    ("wrong_answer_serial", "ANSWER_SERIAL_UNKNOWN"),
    ("stale_answer", "ANSWER_STALE"),
])
async def test_an_answer_that_does_not_verify_is_refused(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient, merchant: Merchant,
        script: str, code: str) -> None:
    await prepay(client, merchant, "https://o2o.example.com/n")
    wechat_pay_server.pay("T0001abc", notify=False)
    getattr(wechat_pay_server, script)(QUERY)
    with pytest.raises(WechatPayError) as caught:
        await client.query_order(merchant, "T0001abc")
    assert caught.value.code == code and caught.value.retryable
    assert (await client.query_order(merchant, "T0001abc")).trade_state == "SUCCESS"


async def test_a_tampered_prepay_answer_is_refused(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    wechat_pay_server.tamper_answer(PREPAY)
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n")
    assert caught.value.code == "ANSWER_SIGNATURE_INVALID" and caught.value.retryable
    # The order was placed: asking again with the same parameters gives its prepay_id.
    assert await prepay(client, merchant, "https://o2o.example.com/n") == (
        wechat_pay_server.order("T0001abc").prepay_id)


async def test_an_error_answer_with_a_bad_signature_is_not_believed(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    wechat_pay_server.script(CLOSE, Fault(code="ORDERPAID", bad_signature=True))
    with pytest.raises(WechatPayError) as caught:
        await client.close_order(merchant, "T0001abc")
    assert caught.value.code == "ANSWER_SIGNATURE_INVALID" and caught.value.retryable


# --- faults map to retryable or final errors -------------------------------------------------

async def test_system_error_and_5xx_are_retryable(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    wechat_pay_server.fail(PREPAY, "SYSTEM_ERROR")
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        500, "SYSTEM_ERROR", True)
    wechat_pay_server.fail(PREPAY, "SYSTEM_ERROR", status=400)  # WeChat also says it on 4xx
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n")
    assert caught.value.retryable
    wechat_pay_server.http_error(PREPAY, 502)
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        502, "HTTP_ERROR", True)
    wechat_pay_server.fail(PREPAY, "FREQUENCY_LIMITED")
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n")
    assert (caught.value.status, caught.value.retryable) == (429, True)
    assert await prepay(client, merchant, "https://o2o.example.com/n")


async def test_param_error_is_final(wechat_pay_server: WechatPayStandIn,
                                    client: WechatPayClient, merchant: Merchant) -> None:
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n", no="T1")  # too short
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        400, "PARAM_ERROR", False)


async def test_timeouts_and_connection_errors_are_retryable(
        wechat_pay_server: WechatPayStandIn, merchant: Merchant) -> None:
    quick = WechatPayClient(wechat_pay_server.url, timeout_s=0.3)
    try:
        wechat_pay_server.hang(QUERY, seconds=5)
        with pytest.raises(WechatPayError) as caught:
            await quick.query_order(merchant, "T0001abc")
        assert (caught.value.status, caught.value.code, caught.value.retryable) == (
            None, "TIMEOUT", True)
        wechat_pay_server.drop(CLOSE)
        with pytest.raises(WechatPayError) as caught:
            await quick.close_order(merchant, "T0001abc")
        assert (caught.value.code, caught.value.retryable) == ("NETWORK_ERROR", True)
    finally:
        await quick.close()
    nowhere = WechatPayClient(unreachable_url(), timeout_s=1.0)
    try:
        with pytest.raises(WechatPayError) as caught:
            await nowhere.query_order(merchant, "T0001abc")
        assert (caught.value.code, caught.value.retryable) == ("NETWORK_ERROR", True)
    finally:
        await nowhere.close()


async def test_a_lost_prepay_answer_is_recovered_by_asking_again(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    wechat_pay_server.lose_answer(PREPAY)
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, "https://o2o.example.com/n")
    assert caught.value.retryable
    assert await prepay(client, merchant, "https://o2o.example.com/n") == (
        wechat_pay_server.order("T0001abc").prepay_id)


async def test_order_states_and_their_codes(wechat_pay_server: WechatPayStandIn,
                                            client: WechatPayClient,
                                            merchant: Merchant) -> None:
    url = "https://o2o.example.com/n"
    with pytest.raises(WechatPayError) as caught:
        await client.query_order(merchant, "T0001abc")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        404, "ORDER_NOT_EXIST", False)
    with pytest.raises(WechatPayError) as caught:
        await client.close_order(merchant, "T0001abc")
    assert caught.value.code == "ORDER_NOT_EXIST"

    await prepay(client, merchant, url)
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, url, amount=100)  # the number again, other terms
    assert (caught.value.code, caught.value.retryable) == ("INVALID_REQUEST", False)
    await client.close_order(merchant, "T0001abc")
    await client.close_order(merchant, "T0001abc")  # again: still 204
    assert (await client.query_order(merchant, "T0001abc")).trade_state == "CLOSED"
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, url)
    assert (caught.value.code, caught.value.retryable) == ("ORDER_CLOSED", False)

    await prepay(client, merchant, url, no="T0002abc")
    wechat_pay_server.pay("T0002abc", notify=False)
    with pytest.raises(WechatPayError) as caught:
        await client.close_order(merchant, "T0002abc")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        400, "ORDERPAID", False)
    with pytest.raises(WechatPayError) as caught:
        await prepay(client, merchant, url, no="T0002abc")
    assert caught.value.code == "ORDERPAID"


async def test_another_merchants_order_is_not_visible(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient,
        merchant: Merchant) -> None:
    other = wechat_pay_server.new_merchant()
    assert other.private_key is not merchant.private_key
    await prepay(client, merchant, "https://o2o.example.com/n")
    with pytest.raises(WechatPayError) as caught:
        await client.query_order(other, "T0001abc")
    assert caught.value.code == "ORDER_NOT_EXIST"


# --- refunds ---------------------------------------------------------------------------

async def test_refund_query_and_notices(wechat_pay_server: WechatPayStandIn,
                                        client: WechatPayClient, merchant: Merchant,
                                        receiver: Receiver) -> None:
    await prepay(client, merchant, receiver.url)
    await wechat_pay_server.pay_async("T0001abc")
    refund = await client.refund(merchant, out_trade_no="T0001abc", out_refund_no="R0001",
                                 refund_cents=20000, total_cents=50000, reason="member asked",
                                 notify_url=receiver.url)
    assert (refund.status, refund.refund_cents, refund.out_trade_no) == (
        "PROCESSING", 20000, "T0001abc")
    assert refund.refund_id
    sent = wechat_pay_server.requests_of(REFUND)[-1].json
    assert sent["amount"] == {"refund": 20000, "total": 50000, "currency": "CNY"}
    again = await client.refund(merchant, out_trade_no="T0001abc", out_refund_no="R0001",
                                refund_cents=20000, total_cents=50000, reason="member asked",
                                notify_url=receiver.url)
    assert again.refund_id == refund.refund_id  # the same refund, not a second one

    await asyncio.to_thread(wechat_pay_server.finish_refund, "R0001", "SUCCESS")
    queried = await client.query_refund(merchant, "R0001")
    assert (queried.status, queried.refund_id) == ("SUCCESS", refund.refund_id)
    assert (await client.query_order(merchant, "T0001abc")).trade_state == "REFUND"

    second = await client.refund(merchant, out_trade_no="T0001abc", out_refund_no="R0002",
                                 refund_cents=10000, total_cents=50000, reason="",
                                 notify_url=receiver.url)
    await asyncio.to_thread(wechat_pay_server.finish_refund, second.out_refund_no,
                            "ABNORMAL")
    events = [(n.event_type, n.refund.out_refund_no, n.refund.status, n.refund.refund_cents)
              for n in receiver.notices if n.refund is not None]
    assert events == [("REFUND.SUCCESS", "R0001", "SUCCESS", 20000),
                      ("REFUND.ABNORMAL", "R0002", "ABNORMAL", 10000)]

    with pytest.raises(WechatPayError) as caught:
        await client.refund(merchant, out_trade_no="T0001abc", out_refund_no="R0003",
                            refund_cents=30001, total_cents=50000, reason="",
                            notify_url=receiver.url)
    assert (caught.value.code, caught.value.retryable) == ("INVALID_REQUEST", False)
    with pytest.raises(WechatPayError) as caught:
        await client.query_refund(merchant, "R-none")
    assert (caught.value.status, caught.value.code) == (404, "RESOURCE_NOT_EXISTS")


async def test_auto_refund_sends_its_notice(wechat_pay_server: WechatPayStandIn,
                                           client: WechatPayClient, merchant: Merchant,
                                           receiver: Receiver) -> None:
    wechat_pay_server.auto_refund = "SUCCESS"
    await prepay(client, merchant, receiver.url)
    await wechat_pay_server.pay_async("T0001abc")
    result = await client.refund(merchant, out_trade_no="T0001abc", out_refund_no="R0001",
                                 refund_cents=50000, total_cents=50000, reason="",
                                 notify_url=receiver.url)
    assert result.status == "PROCESSING"  # the answer; the notice tells the end
    for _ in range(100):
        if len(receiver.notices) == 2:
            break
        await asyncio.sleep(0.02)
    assert receiver.notices[-1].event_type == "REFUND.SUCCESS"


# --- notices ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["tampered", "bad_signature", "wrong_serial", "stale",
                                   "undecryptable", "no_signature"])
async def test_a_spoiled_notice_is_refused(wechat_pay_server: WechatPayStandIn,
                                           client: WechatPayClient, merchant: Merchant,
                                           receiver: Receiver, fault: NoticeFault) -> None:
    await prepay(client, merchant, receiver.url)
    notice = await wechat_pay_server.pay_async("T0001abc", fault=fault)
    assert wechat_pay_server.deliveries_of(notice)[0].status == 401
    assert receiver.notices == [] and len(receiver.refused) == 1
    with pytest.raises(NoticeSignatureError):
        parse_notice(merchant, notice.headers, notice.body, now=datetime.now(UTC))


async def test_notice_timestamp_window(wechat_pay_server: WechatPayStandIn,
                                       client: WechatPayClient, merchant: Merchant) -> None:
    await prepay(client, merchant, "https://o2o.example.com/n")
    notice = wechat_pay_server.pay("T0001abc", notify=False)
    now = datetime.now(UTC)
    for offset in (-299, 0, 299):
        parse_notice(merchant, notice.headers, notice.body, now=now + timedelta(seconds=offset))
    for offset in (-310, 310):
        with pytest.raises(NoticeSignatureError):
            parse_notice(merchant, notice.headers, notice.body,
                         now=now + timedelta(seconds=offset))
    # Header names in any case (a framework may lower them).
    lowered = {k.lower(): v for k, v in notice.headers.items()}
    assert parse_notice(merchant, lowered, notice.body, now=now).id == notice.notice_id
    # Another merchant's APIv3 key does not decrypt it.
    other = wechat_pay_server.new_merchant()
    with pytest.raises(NoticeSignatureError):
        parse_notice(other, notice.headers, notice.body, now=now)


async def test_duplicate_late_and_out_of_order_notices(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient, merchant: Merchant,
        receiver: Receiver) -> None:
    await prepay(client, merchant, receiver.url)
    await prepay(client, merchant, receiver.url, no="T0002abc")
    first = await wechat_pay_server.pay_async("T0001abc", copies=3)
    held = await wechat_pay_server.pay_async("T0002abc", notify=False)
    assert [n.id for n in receiver.notices] == [first.notice_id] * 3
    assert await wechat_pay_server.send_async(held) == 204  # late
    assert await asyncio.to_thread(wechat_pay_server.resend, first) == 204  # re-signed
    assert [n.transaction.out_trade_no for n in receiver.notices
            if n.transaction is not None] == ["T0001abc"] * 3 + ["T0002abc", "T0001abc"]


async def test_mismatched_amount_and_unknown_order_notices_parse(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient, merchant: Merchant,
        receiver: Receiver) -> None:
    await prepay(client, merchant, receiver.url)
    await wechat_pay_server.pay_async("T0001abc", notice_total=1, payer_total=49000)
    wechat_pay_server.place(merchant.mchid, "T-never-seen", 700, receiver.url)
    await wechat_pay_server.pay_async("T-never-seen")
    mismatched, unknown = (n.transaction for n in receiver.notices)
    assert mismatched is not None and unknown is not None
    assert (mismatched.total_cents, mismatched.payer_total_cents) == (1, 49000)
    assert (unknown.out_trade_no, unknown.total_cents) == ("T-never-seen", 700)
    # The query tells the truth the notice did not.
    truth = await client.query_order(merchant, "T0001abc")
    assert (truth.total_cents, truth.payer_total_cents) == (50000, 49000)


async def test_a_notice_after_close(wechat_pay_server: WechatPayStandIn,
                                    client: WechatPayClient, merchant: Merchant,
                                    receiver: Receiver) -> None:
    await prepay(client, merchant, receiver.url)
    await client.close_order(merchant, "T0001abc")
    with pytest.raises(ValueError, match="closed"):
        wechat_pay_server.pay("T0001abc")
    await wechat_pay_server.pay_async("T0001abc", even_if_closed=True)
    [notice] = receiver.notices
    assert notice.transaction is not None and notice.transaction.trade_state == "SUCCESS"


# --- merchants and configuration ------------------------------------------------------------

def test_load_merchant_round_trip_and_validation(wechat_pay_server: WechatPayStandIn) -> None:
    m = wechat_pay_server.new_merchant()
    body = merchant_config(m)
    loaded = load_merchant(
        mchid=body["mchid"], appid=body["appid"], serial_no=body["merchant_serial_no"],
        private_key_pem=body["merchant_private_key_pem"], apiv3_key=body["apiv3_key"],
        platform_key_id=body["platform_public_key_id"],
        platform_public_key_pem=body["platform_public_key_pem"])
    assert loaded.apiv3_key == m.apiv3_key and loaded.platform_key_id == m.platform_key_id
    assert signing.private_key_pem(loaded.private_key) == body["merchant_private_key_pem"]
    assert "PRIVATE" not in repr(loaded) and str(m.apiv3_key) not in repr(loaded)
    # The bare base64 body of a PEM is accepted too.
    bare = "".join(body["platform_public_key_pem"].splitlines()[1:-1])
    assert signing.public_key_pem(signing.load_public_key(bare)) == (
        body["platform_public_key_pem"])
    good = {"mchid": m.mchid, "appid": m.appid, "serial_no": m.serial_no,
            "private_key_pem": body["merchant_private_key_pem"], "apiv3_key": m.apiv3_key,
            "platform_key_id": m.platform_key_id,
            "platform_public_key_pem": body["platform_public_key_pem"]}
    for bad in ({"apiv3_key": "short"}, {"platform_key_id": "5157F09EFDC096DE"},
                {"private_key_pem": "not a key"},
                {"private_key_pem": body["platform_public_key_pem"]},
                {"platform_public_key_pem": body["merchant_private_key_pem"]}):
        with pytest.raises(ValueError):
            load_merchant(**{**good, **bad})  # type: ignore[arg-type]


async def test_unacknowledged_notices_are_sent_again(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient, merchant: Merchant,
        receiver: Receiver) -> None:
    await prepay(client, merchant, receiver.url)
    await prepay(client, merchant, receiver.url, no="T0002abc")
    receiver.fail_next = 1
    first = await wechat_pay_server.pay_async("T0001abc")
    second = await wechat_pay_server.pay_async("T0002abc")
    assert not wechat_pay_server.acknowledged(first)
    assert wechat_pay_server.acknowledged(second)
    assert await asyncio.to_thread(wechat_pay_server.resend_unacknowledged) == 1
    assert wechat_pay_server.acknowledged(first)
    assert [d.status for d in wechat_pay_server.deliveries_of(first)] == [500, 204]
    assert await asyncio.to_thread(wechat_pay_server.resend_unacknowledged) == 0
    assert set(wechat_pay_server.paid_orders(merchant.mchid)) == {"T0001abc", "T0002abc"}


async def test_retries_on_a_short_schedule_and_sending_without_waiting(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient, merchant: Merchant,
        receiver: Receiver) -> None:
    wechat_pay_server.retry_delays = (0.05, 0.05, 0.05)
    await prepay(client, merchant, receiver.url)
    receiver.fail_next = 2
    notice = await wechat_pay_server.pay_async("T0001abc", wait=False)
    await asyncio.to_thread(wechat_pay_server.settle, 10)
    assert [d.status for d in wechat_pay_server.deliveries_of(notice)] == [500, 500, 204]
    assert [n.id for n in receiver.notices] == [notice.notice_id]
