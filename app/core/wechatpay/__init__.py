"""WeChat Pay API v3 (kernel: imports no domain). See ``client`` for the HTTP client,
``signing`` for the signatures and ``bill`` for the trade bill; decision 046."""

from app.core.wechatpay.client import (
    WechatPayClient,
    load_merchant,
    parse_notice,
    pay_params,
)
from app.core.wechatpay.models import (
    BillLine,
    Merchant,
    Notice,
    NoticeSignatureError,
    RefundResult,
    Transaction,
    WechatPayError,
)

__all__ = ["BillLine", "Merchant", "Notice", "NoticeSignatureError", "RefundResult",
           "Transaction", "WechatPayClient", "WechatPayError", "load_merchant",
           "parse_notice", "pay_params"]
