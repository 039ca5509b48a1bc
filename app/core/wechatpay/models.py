"""What the WeChat Pay client takes and gives: credentials, answers, notices, bill lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


@dataclass(frozen=True)
class Merchant:
    """One chain's WeChat Pay credentials, decrypted and parsed (parse once, reuse).

    ``serial_no`` is the serial number of the merchant's API certificate (it names the key
    that signs our requests); ``platform_key_id`` is the ``PUB_KEY_ID_…`` of WeChat Pay's
    public key (the public-key scheme WeChat Pay gives new merchants): every answer and
    notice must carry it in ``Wechatpay-Serial`` and verify with ``platform_public_key``.
    """

    mchid: str
    appid: str
    serial_no: str
    private_key: RSAPrivateKey
    apiv3_key: bytes  # the 32-character APIv3 key, as bytes
    platform_key_id: str
    platform_public_key: RSAPublicKey

    def __repr__(self) -> str:  # never print keys
        return (f"Merchant(mchid={self.mchid!r}, appid={self.appid!r}, "
                f"serial_no={self.serial_no!r}, platform_key_id={self.platform_key_id!r})")


class WechatPayError(Exception):
    """A call did not give an answer we can act on.

    ``status`` is the HTTP status (None: no answer at all: timeout, connection error);
    ``code`` is WeChat Pay's error code (``ORDER_NOT_EXIST``, ``ORDERPAID``,
    ``ORDER_CLOSED``, ``SIGN_ERROR``, ``PARAM_ERROR``, ``NOT_ENOUGH``, …) or one of ours:
    ``TIMEOUT``, ``NETWORK_ERROR``, ``HTTP_ERROR`` (an answer without WeChat's error body),
    ``ANSWER_SIGNATURE_INVALID``, ``ANSWER_SERIAL_UNKNOWN``, ``ANSWER_STALE``,
    ``ANSWER_MALFORMED``, ``BILL_HASH_MISMATCH``, ``BILL_MALFORMED``.
    ``retryable``: the same call may succeed later (5xx, ``SYSTEM_ERROR``, rate limits,
    timeouts, connection errors, answers we could not verify); a final error will not.
    A retryable error on a call that changes something (prepay, close, refund) means its
    outcome is unknown: ask again with the same identifiers, or query.
    """

    def __init__(self, status: int | None, code: str, message: str = "", *,
                 retryable: bool = False) -> None:
        super().__init__(f"WeChat Pay {code} (HTTP {status}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable


class NoticeSignatureError(Exception):
    """A notice that must be refused (401 ``SIGN_ERROR``): no or bad signature, a
    ``Wechatpay-Serial`` that is not the configured public key id, a timestamp more than
    five minutes away, a resource that does not decrypt, or a body that is not a notice."""

    code = "SIGN_ERROR"


@dataclass(frozen=True)
class Transaction:
    """A payment as WeChat Pay reports it (query answer or ``TRANSACTION.SUCCESS``)."""

    out_trade_no: str
    transaction_id: str | None
    trade_state: str  # SUCCESS|REFUND|NOTPAY|CLOSED|REVOKED|USERPAYING|PAYERROR
    total_cents: int
    payer_total_cents: int | None
    success_time: datetime | None
    mchid: str
    appid: str


@dataclass(frozen=True)
class RefundResult:
    """A refund as WeChat Pay reports it (refund answer, refund query, ``REFUND.*``)."""

    out_refund_no: str
    refund_id: str | None
    status: str  # SUCCESS|CLOSED|PROCESSING|ABNORMAL
    refund_cents: int
    out_trade_no: str


@dataclass(frozen=True)
class Notice:
    """A verified, decrypted notice. ``transaction`` is set for ``TRANSACTION.*`` events,
    ``refund`` for ``REFUND.*``; ``resource`` is the decrypted resource as sent."""

    id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    resource: dict[str, Any]
    transaction: Transaction | None
    refund: RefundResult | None


@dataclass(frozen=True)
class BillLine:
    """One detail line of a trade bill (``bill_type=ALL``), amounts in fen.

    ``trade_state`` is ``SUCCESS`` for a payment, ``REFUND`` for a refund line (then
    ``refund_id``, ``out_refund_no``, ``refund_cents`` and ``refund_status`` are set),
    ``REVOKED`` for a revoked payment. ``total_cents`` is the order amount (订单金额).
    ``trade_time`` is aware (Beijing time, as the bill writes it).
    """

    trade_time: datetime
    appid: str
    mchid: str
    transaction_id: str
    out_trade_no: str
    trade_type: str
    trade_state: str
    total_cents: int
    refund_id: str | None
    out_refund_no: str | None
    refund_cents: int
    refund_status: str | None

