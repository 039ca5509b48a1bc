"""Our signatures and notice decryption agree with the ``wechatpayv3`` package's own
functions (a test-only comparison: skipped when the package is not installed; it is not a
dependency of o2o)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.core.wechatpay import Merchant, parse_notice, pay_params, signing
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechatpay import WechatPayStandIn

wxp = pytest.importorskip("wechatpayv3.utils")

wechat_pay_server = stand_ins.wechat_pay_server


@pytest.fixture
def merchant(wechat_pay_server: WechatPayStandIn) -> Merchant:
    return wechat_pay_server.new_merchant()


def test_request_authorization_is_byte_for_byte_theirs(
        merchant: Merchant, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"mchid": merchant.mchid, "amount": {"total": 1}}, separators=(",", ":"))
    monkeypatch.setattr(wxp.time, "time", lambda: 1_765_000_000.4)
    theirs = wxp.build_authorization(
        "/v3/pay/transactions/jsapi", "POST",
        merchant.mchid, merchant.serial_no, merchant.private_key, data=body,
        nonce_str="ABCDEF0123456789")
    ours = signing.authorization(
        mchid=merchant.mchid, serial_no=merchant.serial_no, private_key=merchant.private_key,
        method="POST", url="/v3/pay/transactions/jsapi", body=body, timestamp="1765000000",
        nonce="ABCDEF0123456789")
    assert ours == theirs


def test_pay_sign_is_theirs(merchant: Merchant) -> None:
    params = pay_params(merchant, "wx201410272009395522657a690389285100",
                        now=datetime.now(UTC))
    sign_str = "\n".join([params["appId"], params["timeStamp"], params["nonceStr"],
                          params["package"]]) + "\n"  # wechatpayv3 Core.sign
    assert wxp.rsa_sign(merchant.private_key, sign_str) == params["paySign"]


def test_they_verify_and_decrypt_the_stand_ins_notice_like_we_do(
        wechat_pay_server: WechatPayStandIn, merchant: Merchant) -> None:
    wechat_pay_server.place(merchant.mchid, "T0001abc", 50000, "https://o2o.example.com/n")
    notice = wechat_pay_server.pay("T0001abc", notify=False)
    h = notice.headers
    assert wxp.rsa_verify(h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"],
                          notice.body.decode(), h["Wechatpay-Signature"],
                          merchant.platform_public_key)
    resource = json.loads(notice.body)["resource"]
    theirs = wxp.aes_decrypt(resource["nonce"], resource["ciphertext"],
                             resource["associated_data"], merchant.apiv3_key.decode())
    ours = parse_notice(merchant, h, notice.body, now=datetime.now(UTC))
    assert json.loads(theirs) == ours.resource == notice.resource
