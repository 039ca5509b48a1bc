"""The rows the payments repository returns, one shape each (the columns of
payments/tables.py), cast once at the repository's boundary so mypy checks every
``row["field"]``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, TypedDict

OrderStatus = Literal["pending", "paid", "closed", "refunded", "partially_refunded"]
# What pay_anomaly.kind says (the refund module adds its own kinds: free text there).
AnomalyKind = Literal["unknown_order", "amount_mismatch", "closed_order", "merchant_mismatch",
                      "payer_mismatch", "unknown_refund", "bill_unknown", "bill_mismatch"]
# Why an order ended although WeChat Pay took money for it.
OrderAnomaly = Literal["amount_mismatch", "refunded_elsewhere"]


class PayConfigRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    mchid: str
    appid: str
    merchant_serial_no: str
    merchant_private_key_sealed: str
    apiv3_key_sealed: str
    platform_public_key_id: str
    platform_public_key_pem: str
    updated_at: datetime


class PayConfigPreviousRow(PayConfigRow):
    superseded_at: datetime


class TopUpOrderRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    card: uuid.UUID
    member: uuid.UUID
    out_trade_no: str
    amount_cents: int
    bonus_cents: int
    status: OrderStatus
    sandbox: bool
    prepay_id: str | None
    transaction_id: str | None
    refunded_cents: int  # paid money of finished refunds
    refunding_cents: int  # paid money of refunds asked and not finished
    bonus_refunded_cents: int  # bonus money taken back so far
    paid_at: datetime | None
    closed_at: datetime | None
    expires_at: datetime
    next_query_at: datetime | None
    query_attempts: int
    created_at: datetime
    mchid: str  # the merchant it was placed with ('' in sandbox)
    appid: str
    platform_public_key_id: str
    payer_openid: str | None  # who was asked to pay (live)
    anomaly: str | None  # why it ended closed although WeChat Pay took money


class PayAnomalyRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID | None
    kind: str  # AnomalyKind, or one of the refund module's
    out_trade_no: str
    transaction_id: str
    amount_cents: int | None
    detail: dict[str, Any]
    created_at: datetime


# refunds (helper followup) ------------------------------------------------------------

RefundStatus = Literal["pending", "processing", "abnormal", "success", "failed"]


class TopUpRefundRow(TypedDict):
    id: uuid.UUID
    chain: uuid.UUID
    order: uuid.UUID
    out_refund_no: str
    amount_cents: int  # paid money back to the payer
    bonus_cents: int  # bonus money taken off the card with it
    status: RefundStatus
    reason: str
    refund_id: str | None  # WeChat Pay's
    created_by: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
    next_query_at: datetime | None
    query_attempts: int
