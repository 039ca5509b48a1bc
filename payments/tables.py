"""The payments tables: a chain's WeChat Pay merchant, top-up orders, and what the
notices and the bill showed that could not be applied (anomalies).

``top_up_refund`` (refunds) is the followup module's own table, in its own migration.
Raw SQL in the migration adds the unique index of ``pay_anomaly`` (kind, out_trade_no,
transaction_id), so a repeated notice records its anomaly once.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from stores.tables import Chain


class PayConfig(Table, tablename="pay_config"):
    """A chain's WeChat Pay merchant. The private key and the APIv3 key are AES-GCM
    sealed (app.core.crypto.SecretBox, the chain's id as associated data)."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.cascade, unique=True)
    mchid = Varchar(length=32, null=False)
    appid = Varchar(length=64, null=False)
    merchant_serial_no = Varchar(length=64, null=False)
    merchant_private_key_sealed = Text(null=False)
    apiv3_key_sealed = Varchar(length=255, null=False)
    platform_public_key_id = Varchar(length=64, null=False)
    platform_public_key_pem = Text(null=False)
    updated_at = Timestamptz(null=False, default=TimestamptzNow())


class PayConfigPrevious(Table, tablename="pay_config_previous"):
    """A chain's superseded WeChat Pay merchant, kept sealed as it was (same columns as
    ``pay_config``): the orders placed with it are still queried, closed and refunded
    through it, and its notices (its APIv3 key, its platform key) still verify."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.cascade, index=True)
    mchid = Varchar(length=32, null=False)
    appid = Varchar(length=64, null=False)
    merchant_serial_no = Varchar(length=64, null=False)
    merchant_private_key_sealed = Text(null=False)
    apiv3_key_sealed = Varchar(length=255, null=False)
    platform_public_key_id = Varchar(length=64, null=False)
    platform_public_key_pem = Text(null=False)
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    superseded_at = Timestamptz(null=False, default=TimestamptzNow())


class TopUpOrder(Table, tablename="top_up_order"):
    """A member's online top-up of a stored-value card. ``status``: pending | paid |
    closed | refunded | partially_refunded; it becomes ``paid`` once, by the conditional
    update of ``payments.service.credit``. ``mchid``/``appid``/``platform_public_key_id``:
    the merchant it was placed with ('' in sandbox); ``payer_openid``: who was asked to
    pay; ``anomaly``: why a closed order ended although WeChat Pay took money for it
    (``amount_mismatch``; ``refunded_elsewhere``: refunded at WeChat Pay before we
    credited it)."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    card = UUID(null=False, index=True)
    member = UUID(null=False, index=True)
    out_trade_no = Varchar(length=32, null=False, unique=True)
    amount_cents = BigInt(null=False)
    bonus_cents = BigInt(null=False, default=0)
    status = Varchar(length=24, null=False, default="pending")
    sandbox = Boolean(null=False, default=False)
    prepay_id = Varchar(length=64, null=True, default=None)
    transaction_id = Varchar(length=64, null=True, default=None)
    refunded_cents = BigInt(null=False, default=0)
    refunding_cents = BigInt(null=False, default=0)
    bonus_refunded_cents = BigInt(null=False, default=0)
    paid_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=False)
    next_query_at = Timestamptz(null=True, default=None, index=True)
    query_attempts = Integer(null=False, default=0)
    created_at = Timestamptz(null=False, default=TimestamptzNow(), index=True)
    mchid = Varchar(length=32, null=False, default="")
    appid = Varchar(length=64, null=False, default="")
    platform_public_key_id = Varchar(length=64, null=False, default="")
    payer_openid = Varchar(length=128, null=True, default=None)
    anomaly = Varchar(length=24, null=True, default=None)


class PayAnomaly(Table, tablename="pay_anomaly"):
    """Something WeChat Pay said that was not applied: ``kind`` unknown_order |
    amount_mismatch | closed_order | merchant_mismatch | payer_mismatch | unknown_refund |
    bill_unknown | bill_mismatch | bill_missing | refund_abnormal | refund_after_revert |
    refunded_elsewhere. Operators read them at ``GET /pay-anomalies``.
    ``out_trade_no`` and ``transaction_id`` are '' when unknown (so the unique index
    holds on both engines)."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=True, default=None, on_delete=OnDelete.cascade,
                       index=True)
    kind = Varchar(length=24, null=False)
    out_trade_no = Varchar(length=64, null=False, default="")
    transaction_id = Varchar(length=64, null=False, default="")
    amount_cents = BigInt(null=True, default=None)
    detail = JSON(null=False, default="{}")
    created_at = Timestamptz(null=False, default=TimestamptzNow())


# refunds (helper followup: payments/refunds.py; its own migration) -------------------

class TopUpRefund(Table, tablename="top_up_refund"):
    """A refund of an order's paid money (``amount_cents``) and the bonus taken back with
    it (``bonus_cents``). ``status``: pending (asked, money off the card, not yet accepted
    by WeChat Pay) | processing (WeChat Pay has it) | abnormal (WeChat Pay could not pay it
    out yet: still open) | success | failed (the money went back
    on the card: ``refund_reverted``); it ends once, by a conditional update."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    order = ForeignKey(TopUpOrder, null=False, on_delete=OnDelete.restrict, index=True)
    out_refund_no = Varchar(length=64, null=False, unique=True)
    amount_cents = BigInt(null=False)
    bonus_cents = BigInt(null=False, default=0)
    status = Varchar(length=16, null=False, default="pending")
    reason = Varchar(length=80, null=False, default="")
    refund_id = Varchar(length=64, null=True, default=None)  # WeChat Pay's
    created_by = UUID(null=True, default=None)  # the staff member who asked
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    next_query_at = Timestamptz(null=True, default=None, index=True)
    query_attempts = Integer(null=False, default=0)
