"""The trade bill: fetched (signed GET of download_url), its SHA1 checked, its CSV parsed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.core.wechatpay import Merchant, WechatPayClient, WechatPayError
from app.core.wechatpay.bill import ALL_COLUMNS, SUMMARY_COLUMNS, cents, parse_trade_bill
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import DOWNLOAD, TRADEBILL, WechatPayStandIn

wechat_pay_server = stand_ins.wechat_pay_server
CHINA = timezone(timedelta(hours=8))
DAY = date(2026, 12, 5)


@pytest.fixture
async def client(wechat_pay_server: WechatPayStandIn) -> AsyncIterator[WechatPayClient]:
    c = WechatPayClient(wechat_pay_server.url, timeout_s=2.0)
    yield c
    await c.close()


async def place(client: WechatPayClient, m: Merchant, no: str, amount: int) -> None:
    await client.jsapi_prepay(m, out_trade_no=no, description="Top up, 充值", amount_cents=amount,
                              openid="o-1", notify_url="https://o2o.example.com/n",
                              time_expire=datetime.now(UTC) + timedelta(hours=2))


async def test_the_days_bill_lists_payments_and_refunds(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient) -> None:
    m = wechat_pay_server.new_merchant()
    await place(client, m, "T0001abc", 50000)
    await place(client, m, "T0002abc", 10001)
    await place(client, m, "T0003abc", 300)
    wechat_pay_server.pay("T0001abc", notify=False, at=datetime(2026, 12, 5, 9, 30,
                                                                 tzinfo=CHINA))
    # 23:59 UTC on the 4th is the 5th in Beijing.
    wechat_pay_server.pay("T0002abc", notify=False, payer_total=9001,
                          at=datetime(2026, 12, 4, 23, 59, tzinfo=UTC))
    wechat_pay_server.pay("T0003abc", notify=False, at=datetime(2026, 12, 6, 0, 1,
                                                                 tzinfo=CHINA))
    wechat_pay_server.misstate_bill("T0002abc", 10002)

    lines = await client.trade_bill(m, DAY)
    assert [(x.out_trade_no, x.trade_state, x.total_cents) for x in lines] == [
        ("T0002abc", "SUCCESS", 10002), ("T0001abc", "SUCCESS", 50000)]
    first = lines[1]
    assert (first.appid, first.mchid, first.trade_type) == (m.appid, m.mchid, "JSAPI")
    assert first.transaction_id == wechat_pay_server.order("T0001abc").transaction_id
    assert first.trade_time == datetime(2026, 12, 5, 9, 30, tzinfo=CHINA)
    assert (first.refund_id, first.out_refund_no, first.refund_cents,
            first.refund_status) == (None, None, 0, None)
    [asked] = wechat_pay_server.requests_of(TRADEBILL)
    assert asked.query == {"bill_date": "2026-12-05", "bill_type": "ALL"}
    [download] = wechat_pay_server.requests_of(DOWNLOAD)
    assert download.mchid == m.mchid  # the download was a signed GET

    # A refund succeeding today shows on today's bill as a REFUND line.
    await client.refund(m, out_trade_no="T0003abc", out_refund_no="R0003", refund_cents=100,
                        total_cents=300, reason="", notify_url="https://o2o.example.com/n")
    wechat_pay_server.finish_refund("R0003", notify=False)
    today = datetime.now(CHINA).date()
    refund_lines = [x for x in await client.trade_bill(m, today) if x.trade_state == "REFUND"]
    assert [(x.out_trade_no, x.out_refund_no, x.refund_cents, x.refund_status, x.total_cents)
            for x in refund_lines] == [("T0003abc", "R0003", 100, "SUCCESS", 300)]
    assert refund_lines[0].refund_id == wechat_pay_server.refunds[(m.mchid, "R0003")].refund_id


async def test_a_bill_whose_hash_differs_is_refused(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient) -> None:
    m = wechat_pay_server.new_merchant()
    await place(client, m, "T0001abc", 50000)
    wechat_pay_server.pay("T0001abc", notify=False, at=datetime(2026, 12, 5, 9, tzinfo=CHINA))
    wechat_pay_server.corrupt_bill_hash(DAY)
    with pytest.raises(WechatPayError) as caught:
        await client.trade_bill(m, DAY)
    assert (caught.value.code, caught.value.retryable) == ("BILL_HASH_MISMATCH", True)


async def test_a_day_without_a_bill_and_a_bill_not_ready(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient) -> None:
    m = wechat_pay_server.new_merchant()
    assert await client.trade_bill(m, DAY) == []
    wechat_pay_server.fail(TRADEBILL, "STATEMENT_CREATING")
    with pytest.raises(WechatPayError) as caught:
        await client.trade_bill(m, DAY)
    assert (caught.value.code, caught.value.retryable) == ("STATEMENT_CREATING", True)


async def test_a_tampered_tradebill_answer_is_refused(
        wechat_pay_server: WechatPayStandIn, client: WechatPayClient) -> None:
    m = wechat_pay_server.new_merchant()
    await place(client, m, "T0001abc", 500)
    wechat_pay_server.pay("T0001abc", notify=False, at=datetime(2026, 12, 5, 9, tzinfo=CHINA))
    wechat_pay_server.tamper_answer(TRADEBILL)
    with pytest.raises(WechatPayError) as caught:
        await client.trade_bill(m, DAY)
    assert caught.value.code == "ANSWER_SIGNATURE_INVALID"
    assert wechat_pay_server.requests_of(DOWNLOAD) == []


def test_a_download_url_elsewhere_is_not_fetched() -> None:
    client = WechatPayClient("https://api.mch.weixin.qq.com")
    assert client._download_path(
        "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc") == (
        "/v3/billdownload/file?token=abc")
    assert client._download_path("https://api2.mch.weixin.qq.com/v3/billdownload/file?t=1")
    for url in ("https://evil.example.com/v3/billdownload/file?token=abc",
                "http://api.mch.weixin.qq.com/v3/billdownload/file?token=abc",
                "https://mch.weixin.qq.com.evil.example/x"):
        with pytest.raises(WechatPayError):
            client._download_path(url)


# --- the parser on WeChat Pay's format -----------------------------------------------------------

def bill_text(rows: list[dict[str, str]], count: int | None = None) -> bytes:
    lines = [",".join(ALL_COLUMNS)]
    for row in rows:
        lines.append(",".join("`" + row.get(name, "") for name in ALL_COLUMNS))
    lines.append(",".join(SUMMARY_COLUMNS))
    lines.append(",".join("`" + v for v in (str(len(rows) if count is None else count),
                                           "0.00", "0.00", "0.00", "0.00000", "0.00",
                                           "0.00")))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


ROW = {"交易时间": "2026-12-05 10:00:00", "公众账号ID": "wx1", "商户号": "1900000001",
       "微信订单号": "4200000001", "商户订单号": "T0001abc", "交易类型": "JSAPI",
       "交易状态": "SUCCESS", "微信退款单号": "0", "商户退款单号": "0", "退款金额": "0.00",
       "订单金额": "500.01", "应结订单金额": "500.01", "商品名称": "充值 500, 送 50"}


def test_parse_a_bill_with_commas_and_a_bom() -> None:
    [line] = parse_trade_bill(bill_text([ROW]))
    assert (line.out_trade_no, line.total_cents) == ("T0001abc", 50001)


def test_parse_refuses_what_is_not_a_bill() -> None:
    with pytest.raises(ValueError, match="counts"):
        parse_trade_bill(bill_text([ROW], count=2))
    with pytest.raises(ValueError, match="fen"):
        parse_trade_bill(bill_text([{**ROW, "订单金额": "1.001"}]))
    with pytest.raises(ValueError, match="summary"):
        parse_trade_bill(bill_text([ROW]).split(SUMMARY_COLUMNS[0].encode())[0])
    with pytest.raises(ValueError):
        parse_trade_bill(b"")
    with pytest.raises(ValueError, match="line 2"):
        parse_trade_bill(bill_text([{**ROW, "交易时间": "yesterday"}]))


def test_cents_are_exact() -> None:
    assert [cents(x) for x in ("0.01", "500.00", "19.9", "0", "", "-3.10")] == [
        1, 50000, 1990, 0, 0, -310]
