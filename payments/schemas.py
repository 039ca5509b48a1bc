"""Request and response bodies of the payments domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

from payments.rows import OrderStatus

MAX_PEM = 10_000


class PayConfigIn(Struct, forbid_unknown_fields=True):
    """The three keys may be left out (or null) once the chain is configured: the stored
    ones are kept (the operator's form need not show secrets to change the mchid)."""

    mchid: Annotated[str, Meta(pattern=r"^[0-9]{1,32}$")]
    appid: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
    merchant_serial_no: Annotated[str, Meta(pattern=r"^[0-9A-Fa-f]{1,64}$")]
    platform_public_key_id: Annotated[str, Meta(pattern=r"^PUB_KEY_ID_[0-9A-Za-z_-]{1,53}$")]
    merchant_private_key_pem: Annotated[str, Meta(min_length=1, max_length=MAX_PEM)] | None = None
    apiv3_key: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    platform_public_key_pem: Annotated[str, Meta(min_length=1, max_length=MAX_PEM)] | None = None


class PayConfigOut(Struct):
    mchid: str | None
    appid: str | None
    merchant_serial_no: str | None
    platform_public_key_id: str | None
    configured: bool
    updated_at: datetime | None = None


class TopUpOrderIn(Struct, forbid_unknown_fields=True):
    amount_cents: Annotated[int, Meta(ge=1, le=100_000_000)]


class PayParams(Struct, rename="camel"):
    """What the page hands to ``WeixinJSBridge.invoke('getBrandWCPayRequest', ...)``
    (keys ``appId``, ``timeStamp``, ``nonceStr``, ``package``, ``signType``,
    ``paySign``); in sandbox mode ``signType`` is ``SANDBOX`` and ``paySign`` empty."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str


class TopUpOrderOut(Struct):
    """An order as the contract answers it (plus ``member_id``, ``refunding_cents``: paid
    money of refunds asked and not finished, ``expires_at``, ``closed_at``, ``sandbox``
    and ``anomaly``: why a closed order ended although WeChat Pay took money for it,
    ``amount_mismatch`` or ``refunded_elsewhere``; null otherwise)."""

    id: uuid.UUID
    card_id: uuid.UUID
    member_id: uuid.UUID
    out_trade_no: str
    transaction_id: str | None
    amount_cents: int
    bonus_cents: int
    refunded_cents: int
    refunding_cents: int
    status: OrderStatus
    sandbox: bool
    paid_at: datetime | None
    closed_at: datetime | None
    expires_at: datetime
    created_at: datetime
    anomaly: str | None = None


class PlacedOrderOut(Struct):
    """``POST /cards/{id}/top-up-orders``: the order and its ``pay_params``."""

    id: uuid.UUID
    card_id: uuid.UUID
    member_id: uuid.UUID
    out_trade_no: str
    transaction_id: str | None
    amount_cents: int
    bonus_cents: int
    refunded_cents: int
    refunding_cents: int
    status: OrderStatus
    sandbox: bool
    paid_at: datetime | None
    closed_at: datetime | None
    expires_at: datetime
    created_at: datetime
    pay_params: PayParams
    anomaly: str | None = None


class TopUpOrderPage(Struct):
    """``GET /top-up-orders``: newest first; ``next_cursor`` (null at the end) asks for
    the next page."""

    items: list[TopUpOrderOut]
    next_cursor: str | None


class PayAnomalyOut(Struct):
    """Something WeChat Pay said (a notice, a query, the bill) that was not applied as
    is: for a person to settle. ``out_trade_no``/``transaction_id`` are '' when unknown;
    ``order_id`` is the chain's order of that ``out_trade_no`` (null: none)."""

    id: uuid.UUID
    kind: str
    out_trade_no: str
    transaction_id: str
    amount_cents: int | None
    order_id: uuid.UUID | None
    detail: dict[str, Any]
    created_at: datetime


class PayAnomalyPage(Struct):
    """``GET /pay-anomalies``: newest first; ``next_cursor`` (null at the end)."""

    items: list[PayAnomalyOut]
    next_cursor: str | None


class NoticeAnswer(Struct):
    """What the notify endpoint answers WeChat Pay when it does not take a notice (WeChat
    Pay's own shape, not problem+json): ``SIGN_ERROR`` or ``FAIL``."""

    code: str
    message: str
