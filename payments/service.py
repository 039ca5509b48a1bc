"""The business rules of online top-up (decision 047): a chain's WeChat Pay merchant, the
members' top-up orders, WeChat Pay's notices, and ``credit``, the one path by which an
order becomes paid and its money reaches the card.

Crediting exactly once: ``credit`` runs a conditional update (``status`` pending or closed
→ paid) and, only when it changed the row, the card's two ledger entries (``top_up`` of
the paid money, ``top_up_bonus`` of the bonus), the member's notification and the
``top_up_order.paid`` event, in one write transaction. Notices, active queries (the
poller), sandbox-pay and reconciliation all call it; whoever comes second changes nothing.

Placing an order calls WeChat Pay, which is never done inside a write transaction: the
order is inserted (pending) and committed first, then the JSAPI prepay is asked for, then
the prepay id is stored with the answer. A failed prepay closes the order at once (nobody
holds a prepay id for it, so it can never be paid) and answers 503 ``payment_unavailable``
(WeChat Pay unreachable or failing on its side) or 502 ``payment_refused`` (WeChat Pay
said no). With an Idempotency-Key the failure is the stored answer: the replay places no
second WeChat Pay order; a new key tries again.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import logging
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import msgspec
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Response

from app.core import events as feed
from app.core import idempotency
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.errors import NotFound, ValidationError
from app.core.notify import events as notices
from app.core.notify import outbox
from app.core.settings import Settings
from app.core.wechatpay import (
    Merchant,
    Notice,
    NoticeSignatureError,
    RefundResult,
    Transaction,
    WechatPayClient,
    WechatPayError,
    load_merchant,
    parse_notice,
)
from app.core.wechatpay import pay_params as signed_pay_params
from cards import public as cards
from cards.errors import CardInactive, WrongCardKind
from payments import repository as repo
from payments.errors import (
    AmountNotOffered,
    InvalidPayConfig,
    MemberNotLinked,
    NoticeFailed,
    NoticeSignError,
    OrderClosed,
    PaymentNotConfigured,
    PaymentRefused,
    PaymentUnavailable,
    SandboxOnly,
)
from payments.rows import PayAnomalyRow, PayConfigRow, TopUpOrderRow
from payments.schemas import (
    PayAnomalyOut,
    PayAnomalyPage,
    PayConfigIn,
    PayConfigOut,
    PayParams,
    PlacedOrderOut,
    TopUpOrderIn,
    TopUpOrderOut,
    TopUpOrderPage,
)
from stores import service as stores

# The API's prefix (app/asgi.py API_PREFIX; payments may not import the composition root).
API_PREFIX = "/api/v1"
ORDER_LIFETIME = timedelta(hours=2)
FIRST_QUERY_AFTER = timedelta(seconds=15)  # the poller's first look at a live order
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SANDBOX_MCHID = "sandbox"
log = logging.getLogger("o2o.payments")


@dataclass(frozen=True, slots=True)
class Pay:
    """What payments needs of the process: the settings, the secret box of secrets at
    rest, and the one WeChat Pay client (built by create_app, closed at shutdown)."""

    settings: Settings
    box: SecretBox
    client: WechatPayClient

    @property
    def sandbox(self) -> bool:
        return self.settings.wechat_mode == "sandbox"


# --- the chain's merchant -------------------------------------------------------------------

def _aad(chain_id: uuid.UUID, what: str) -> str:
    """Associated data of a sealed secret: the chain and the field, so a ciphertext moved
    to another chain or column fails to open."""
    return f"{chain_id}/wechat-pay/{what}"


def _config_out(row: PayConfigRow | None) -> PayConfigOut:
    if row is None:
        return PayConfigOut(mchid=None, appid=None, merchant_serial_no=None,
                            platform_public_key_id=None, configured=False)
    return PayConfigOut(mchid=row["mchid"], appid=row["appid"],
                        merchant_serial_no=row["merchant_serial_no"],
                        platform_public_key_id=row["platform_public_key_id"],
                        configured=True, updated_at=row["updated_at"])


def _checked_keys(private_pem: str | None, public_pem: str | None,
                  apiv3_key: str | None) -> None:
    errors: list[dict[str, str]] = []
    private = None
    if private_pem is not None:
        try:
            private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            private = None
    if not isinstance(private, rsa.RSAPrivateKey):
        errors.append({"field": "merchant_private_key_pem",
                       "message": "required: an unencrypted RSA private key in PEM "
                                  "(apiclient_key.pem)" if private_pem is None else
                                  "must be an unencrypted RSA private key in PEM "
                                  "(apiclient_key.pem)"})
    elif private.key_size < 2048:
        errors.append({"field": "merchant_private_key_pem",
                       "message": "must be an RSA key of at least 2048 bits"})
    public = None
    if public_pem is not None:
        try:
            public = serialization.load_pem_public_key(public_pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            public = None
    if not isinstance(public, rsa.RSAPublicKey):
        errors.append({"field": "platform_public_key_pem",
                       "message": ("required: " if public_pem is None else "must be ")
                       + "WeChat Pay's RSA public key in PEM (pub_key.pem)"})
    if apiv3_key is None or len(apiv3_key.encode()) != 32:
        errors.append({"field": "apiv3_key",
                       "message": "required: 32 bytes" if apiv3_key is None
                       else "must be 32 bytes"})
    if errors:
        raise InvalidPayConfig(errors)


async def put_pay_config(principal: Principal, body: PayConfigIn,
                         box: SecretBox) -> PayConfigOut:
    """``PUT /wechat-pay-config``: the keys are checked, the private key and the APIv3 key
    sealed (AES-GCM under O2O_SECRET_KEY's derived key), never answered. A key left out
    keeps the stored one (none stored: 422, the field named)."""
    chain_id = principal.chain_id
    stored = await repo.get_pay_config(chain_id)
    private_pem, apiv3_key = body.merchant_private_key_pem, body.apiv3_key
    public_pem = body.platform_public_key_pem
    if stored is not None and None in (private_pem, apiv3_key, public_pem):
        try:
            if private_pem is None:
                private_pem = box.open(stored["merchant_private_key_sealed"],
                                       _aad(chain_id, "private-key")).decode()
            if apiv3_key is None:
                apiv3_key = box.open(stored["apiv3_key_sealed"],
                                     _aad(chain_id, "apiv3-key")).decode()
        except (InvalidTag, ValueError, binascii.Error):
            pass  # unreadable since O2O_SECRET_KEY changed: as if none were stored
        if public_pem is None:
            public_pem = stored["platform_public_key_pem"]
    _checked_keys(private_pem, public_pem, apiv3_key)
    assert private_pem is not None and apiv3_key is not None and public_pem is not None
    now = utcnow()
    superseded = stored is not None and _supersedes(box, stored, body, private_pem,
                                                    apiv3_key, public_pem)
    values = {
        "chain": chain_id, "mchid": body.mchid, "appid": body.appid,
        "merchant_serial_no": body.merchant_serial_no.upper(),
        "merchant_private_key_sealed": box.seal(private_pem.encode(),
                                                _aad(chain_id, "private-key")),
        "apiv3_key_sealed": box.seal(apiv3_key.encode(), _aad(chain_id, "apiv3-key")),
        "platform_public_key_id": body.platform_public_key_id,
        "platform_public_key_pem": public_pem,
        "updated_at": now,
    }
    async with write_transaction():
        if superseded and stored is not None:
            # Orders placed with it are still queried, closed, refunded and told of
            # (their notices verified) with it: kept sealed as it was (decision 047).
            await repo.keep_previous_pay_config(stored, now)
        await repo.upsert_pay_config(values)
    return _config_out(await repo.get_pay_config(chain_id))


def _supersedes(box: SecretBox, stored: PayConfigRow, body: PayConfigIn, private_pem: str,
                apiv3_key: str, public_pem: str) -> bool:
    """Whether the new config differs from the stored one in anything a past order's
    calls or notices need (then the stored one is kept as a previous config)."""
    if (stored["mchid"], stored["appid"], stored["merchant_serial_no"],
            stored["platform_public_key_id"], stored["platform_public_key_pem"]) != (
            body.mchid, body.appid, body.merchant_serial_no.upper(),
            body.platform_public_key_id, public_pem):
        return True
    chain_id = stored["chain"]
    try:
        return (box.open(stored["merchant_private_key_sealed"],
                         _aad(chain_id, "private-key")).decode() != private_pem
                or box.open(stored["apiv3_key_sealed"],
                            _aad(chain_id, "apiv3-key")).decode() != apiv3_key)
    except (InvalidTag, ValueError, binascii.Error):
        return False  # unreadable: nothing a past order could use


async def get_pay_config(principal: Principal) -> PayConfigOut:
    return _config_out(await repo.get_pay_config(principal.chain_id))


def _merchant(box: SecretBox, row: PayConfigRow) -> Merchant:
    chain_id = row["chain"]
    try:
        private_pem = box.open(row["merchant_private_key_sealed"], _aad(chain_id, "private-key"))
        apiv3_key = box.open(row["apiv3_key_sealed"], _aad(chain_id, "apiv3-key"))
        # The client caches the PEM parsing: cheap per request.
        return load_merchant(mchid=row["mchid"], appid=row["appid"],
                             serial_no=row["merchant_serial_no"],
                             private_key_pem=private_pem.decode(), apiv3_key=apiv3_key,
                             platform_key_id=row["platform_public_key_id"],
                             platform_public_key_pem=row["platform_public_key_pem"])
    except (InvalidTag, ValueError, binascii.Error):
        # O2O_SECRET_KEY changed since the config was stored.
        raise PaymentNotConfigured("the chain's WeChat Pay keys cannot be read; the "
                                   "operator must PUT /wechat-pay-config again") from None


async def merchant_for(box: SecretBox, chain_id: uuid.UUID) -> Merchant | None:
    """The chain's merchant, its keys opened; None when the chain has no config. 409
    ``payment_not_configured`` when the sealed keys cannot be opened any more."""
    row = await repo.get_pay_config(chain_id)
    return _merchant(box, row) if row is not None else None


async def merchant_for_order(box: SecretBox, order: TopUpOrderRow) -> Merchant | None:
    """The merchant ``order`` was placed with, its keys opened: the chain's current config
    when its mchid and appid are the order's, else the most recently superseded config of
    the order's mchid (and appid, when one matches). None for a sandbox order, or when no
    config of that merchant is kept. 409 ``payment_not_configured`` when the sealed keys
    cannot be opened any more. Every call about an order (query, close, refund, refund
    query) goes through the order's own merchant (decision 047)."""
    if order["sandbox"]:
        return None
    current = await repo.get_pay_config(order["chain"])
    if not order["mchid"]:  # placed before orders remembered their merchant: the chain's
        return _merchant(box, current) if current is not None else None
    if current is not None and (current["mchid"], current["appid"]) == (
            order["mchid"], order["appid"]):
        return _merchant(box, current)
    previous = await repo.previous_pay_configs(order["chain"], mchid=order["mchid"])
    same_app = [p for p in previous if p["appid"] == order["appid"]]
    if same_app:
        return _merchant(box, same_app[0])
    if current is not None and current["mchid"] == order["mchid"]:
        return _merchant(box, current)  # the appid changed; the mchid holds the order
    return _merchant(box, previous[0]) if previous else None


async def _notice_merchants(box: SecretBox, chain_id: uuid.UUID,
                            serial: str) -> list[Merchant]:
    """The merchants a notice to ``chain_id`` may come from, in the order to try them: the
    current config, then the superseded ones, each only when its platform key is the one
    the notice's ``Wechatpay-Serial`` names (WeChat Pay's key rotation: the old and new
    ``PUB_KEY_ID`` both sign for a while). With no key of that id, the current config
    alone (it refuses the notice, saying why). Configs whose keys no longer open are
    skipped."""
    current = await repo.get_pay_config(chain_id)
    rows: list[PayConfigRow] = [current] if current is not None else []
    rows += await repo.previous_pay_configs(chain_id, limit=50)
    named = [r for r in rows if r["platform_public_key_id"] == serial]
    merchants: list[Merchant] = []
    for row in (named or rows[:1]):
        try:
            merchants.append(_merchant(box, row))
        except PaymentNotConfigured:
            log.warning("chain %s: a WeChat Pay config (mchid %s) no longer opens",
                        chain_id, row["mchid"])
    return merchants


def notify_url(settings: Settings, chain_id: uuid.UUID) -> str:
    """Where WeChat Pay sends the chain's notices (transactions and refunds)."""
    if not settings.public_url:
        raise PaymentNotConfigured("O2O_PUBLIC_URL is not set: WeChat Pay would have no "
                                   "address to send its notices to")
    return f"{settings.public_url}{API_PREFIX}/pay/wechat/notify/{chain_id}"


# --- orders ---------------------------------------------------------------------------------

def order_out(row: TopUpOrderRow) -> TopUpOrderOut:
    return TopUpOrderOut(
        id=row["id"], card_id=row["card"], member_id=row["member"],
        out_trade_no=row["out_trade_no"], transaction_id=row["transaction_id"],
        amount_cents=row["amount_cents"], bonus_cents=row["bonus_cents"],
        refunded_cents=row["refunded_cents"], refunding_cents=row["refunding_cents"],
        status=row["status"], sandbox=row["sandbox"],
        paid_at=row["paid_at"], closed_at=row["closed_at"], expires_at=row["expires_at"],
        created_at=row["created_at"], anomaly=row["anomaly"])


def new_out_trade_no(now: datetime) -> str:
    """``T`` + the UTC time to the second (14 digits, for people reading a bill) + 17
    random base62 characters: 32 characters, within WeChat Pay's 6-32 of [0-9A-Za-z]."""
    return "T" + now.strftime("%Y%m%d%H%M%S") + "".join(
        secrets.choice(_BASE62) for _ in range(17))


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True, slots=True)
class _Placed:
    order: TopUpOrderRow
    prepay_id: str | None
    merchant: Merchant | None


async def _terms(principal: Principal, card_id: uuid.UUID) -> cards.TopUpTerms:
    terms = await cards.top_up_terms(principal.chain_id, card_id)
    if terms is None or terms.member_id != principal.id:
        raise NotFound("no such card")
    if not terms.options:
        # Options are stored-value templates' only: another kind, or a stored-value card
        # that takes no online top-up.
        raise WrongCardKind("this card takes no online top-up")
    if not terms.usable:
        raise CardInactive("the card is frozen, expired or cancelled")
    return terms


async def place_order(principal: Principal, card_id: uuid.UUID, body: TopUpOrderIn,
                      pay: Pay, call: idempotency.Call) -> Response[Any]:
    """``POST /cards/{id}/top-up-orders``: the order, and in live mode its JSAPI prepay
    (the module's docstring tells the order of steps and what a failure leaves)."""

    async def check() -> _Placed:
        terms = await _terms(principal, card_id)
        bonus = dict(terms.options).get(body.amount_cents)
        if bonus is None:
            raise AmountNotOffered(list(terms.options))
        now = utcnow()
        order: TopUpOrderRow = {
            "id": uuid.uuid4(), "chain": principal.chain_id, "card": card_id,
            "member": principal.id, "out_trade_no": new_out_trade_no(now),
            "amount_cents": body.amount_cents, "bonus_cents": bonus, "status": "pending",
            "sandbox": pay.sandbox, "prepay_id": None, "transaction_id": None,
            "refunded_cents": 0, "refunding_cents": 0, "bonus_refunded_cents": 0,
            "paid_at": None, "closed_at": None, "expires_at": now + ORDER_LIFETIME,
            # Every pending order has its next look (the poller's partial indexes): a
            # sandbox order's is its expiry (only closed, locally, then).
            "next_query_at": now + (ORDER_LIFETIME if pay.sandbox else FIRST_QUERY_AFTER),
            "query_attempts": 0, "created_at": now, "mchid": "", "appid": "",
            "platform_public_key_id": "", "payer_openid": None, "anomaly": None,
        }
        if pay.sandbox:
            return _Placed(order, None, None)  # inserted by write, with the answer
        return await _prepay(pay, order, terms.template_name)

    async def write(placed: _Placed) -> PlacedOrderOut:
        async with write_transaction():
            if placed.prepay_id is None:
                await repo.insert_order(placed.order)
            else:
                await repo.set_prepay_id(placed.order["id"], placed.prepay_id)
        return _placed_out(placed, utcnow())

    return await idempotency.once(call, write, check=check)


async def _prepay(pay: Pay, order: TopUpOrderRow, template_name: str) -> _Placed:
    chain_id = order["chain"]
    merchant = await merchant_for(pay.box, chain_id)
    if merchant is None:
        raise PaymentNotConfigured("the chain has no WeChat Pay config "
                                   "(PUT /wechat-pay-config)")
    url = notify_url(pay.settings, chain_id)
    member = await stores.chain_member(order["member"], chain_id)
    openid = member["openid"] if member else None
    if not openid:
        raise MemberNotLinked("sign in through WeChat to pay online")
    # The order remembers its merchant (its notices, queries, closes and refunds go
    # through it even after the chain's config changes) and who is asked to pay.
    order["mchid"], order["appid"] = merchant.mchid, merchant.appid
    order["platform_public_key_id"] = merchant.platform_key_id
    order["payer_openid"] = openid
    async with write_transaction():  # committed before WeChat Pay hears of it
        await repo.insert_order(order)
    try:
        prepay_id = await pay.client.jsapi_prepay(
            merchant, out_trade_no=order["out_trade_no"],
            description=f"{template_name} top-up ¥{_yuan(order['amount_cents'])}"[:127],
            amount_cents=order["amount_cents"], openid=openid, notify_url=url,
            time_expire=order["expires_at"])
    except WechatPayError as exc:
        async with write_transaction():
            await repo.close_pending(order["id"], utcnow())
        extra = {"order_id": str(order["id"]), "wechat_code": exc.code}
        if exc.retryable:
            raise PaymentUnavailable(f"WeChat Pay did not place the order ({exc.code}: "
                                     f"{exc.message}); try again", **extra) from exc
        raise PaymentRefused(f"WeChat Pay refused the order ({exc.code}: {exc.message})",
                             **extra) from exc
    return _Placed(order, prepay_id, merchant)


def _placed_out(placed: _Placed, now: datetime) -> PlacedOrderOut:
    order = placed.order
    if placed.prepay_id is not None and placed.merchant is not None:
        signed = signed_pay_params(placed.merchant, placed.prepay_id, now=now)
        params = PayParams(app_id=signed["appId"], time_stamp=signed["timeStamp"],
                           nonce_str=signed["nonceStr"], package=signed["package"],
                           sign_type=signed["signType"], pay_sign=signed["paySign"])
    else:
        params = PayParams(app_id=SANDBOX_MCHID, time_stamp=str(int(now.timestamp())),
                           nonce_str=secrets.token_hex(16),
                           package=f"prepay_id=sandbox_{order['id'].hex}",
                           sign_type="SANDBOX", pay_sign="")
    out = order_out(order)
    return PlacedOrderOut(**msgspec.structs.asdict(out), pay_params=params)


async def _visible_order(principal: Principal, order_id: uuid.UUID) -> TopUpOrderRow:
    """The order within the caller's chain; a member sees only their own (else 404)."""
    order = await repo.get_order(order_id, principal.chain_id)
    if order is None or (principal.kind == "member" and order["member"] != principal.id):
        raise NotFound("no such order")
    return order


async def get_order(principal: Principal, order_id: uuid.UUID) -> TopUpOrderOut:
    return order_out(await _visible_order(principal, order_id))


def _cursor(row: TopUpOrderRow | PayAnomalyRow) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, order_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(order_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError("cursor", "not a cursor this endpoint gave") from None


async def list_orders(principal: Principal, *, status: str | None = None,
                      card_id: uuid.UUID | None = None, member_id: uuid.UUID | None = None,
                      limit: int = 50, cursor: str | None = None) -> TopUpOrderPage:
    """``GET /top-up-orders``: the chain's online payments (operators and chain-wide keys:
    online money is the chain's, not a store's, like the liability)."""
    rows = await repo.list_orders(principal.chain_id, member_id=member_id, card_id=card_id,
                                  status=status, before=_after_cursor(cursor),
                                  limit=limit + 1)
    page = rows[:limit]
    return TopUpOrderPage(items=[order_out(r) for r in page],
                          next_cursor=_cursor(page[-1]) if len(rows) > limit else None)


async def my_orders(principal: Principal, *, limit: int = 50) -> list[TopUpOrderOut]:
    """``GET /me/top-up-orders``: the member's own orders, newest first (an array, like
    every /me list)."""
    rows = await repo.list_orders(principal.chain_id, member_id=principal.id, limit=limit)
    return [order_out(r) for r in rows]


async def list_anomalies(principal: Principal, *, limit: int = 50,
                         cursor: str | None = None) -> PayAnomalyPage:
    """``GET /pay-anomalies``: everything WeChat Pay said that was not applied as is, for
    the chain's operators to settle, newest first."""
    rows = await repo.list_anomalies(principal.chain_id, before=_after_cursor(cursor),
                                     limit=limit + 1)
    page = rows[:limit]
    order_ids = await repo.order_ids_by_out_trade_no(
        principal.chain_id, sorted({r["out_trade_no"] for r in page if r["out_trade_no"]}))
    items = []
    for row in page:
        detail = row["detail"]
        if isinstance(detail, str):  # a driver that hands JSON back as text
            detail = msgspec.json.decode(detail)
        items.append(PayAnomalyOut(
            id=row["id"], kind=row["kind"], out_trade_no=row["out_trade_no"],
            transaction_id=row["transaction_id"], amount_cents=row["amount_cents"],
            order_id=order_ids.get(row["out_trade_no"]), detail=dict(detail or {}),
            created_at=row["created_at"]))
    return PayAnomalyPage(items=items,
                          next_cursor=_cursor(page[-1]) if len(rows) > limit else None)


# --- crediting --------------------------------------------------------------------------------

async def notify_balance(order: TopUpOrderRow, *, reason: str, paid_cents: int,
                         bonus_cents: int, balance_cents: int, at: datetime,
                         dedupe_key: str, card_name: str | None = None) -> None:
    """The member's BALANCE_CHANGED notification for a move of ``order``'s card
    (``reason`` online_top_up: positive amounts; refund: the amounts taken back, given
    as positive numbers), in the caller's write transaction."""
    if card_name is None:
        terms = await cards.top_up_terms(order["chain"], order["card"])
        card_name = terms.template_name if terms is not None else None
    sign = -1 if reason == "refund" else 1
    await outbox.emit(notices.BALANCE_CHANGED, chain_id=order["chain"],
                      member_id=order["member"], data={
                          "card_name": card_name, "reason": reason,
                          "delta_cents": sign * (paid_cents + bonus_cents),
                          "paid_cents": paid_cents, "bonus_cents": bonus_cents,
                          "balance_cents": balance_cents, "at": at.isoformat(),
                          "out_trade_no": order["out_trade_no"]},
                      dedupe_key=dedupe_key)


async def emit_order_event(event_type: str, order: TopUpOrderRow) -> None:
    """``top_up_order.paid`` / ``top_up_order.refunded``: the order as answered, in the
    caller's write transaction."""
    await feed.emit(event_type, chain_id=order["chain"], object_id=order["id"],
                    data=msgspec.to_builtins(order_out(order)))


async def record_anomaly(chain_id: uuid.UUID | None, kind: str, *, out_trade_no: str = "",
                         transaction_id: str | None = None, amount_cents: int | None = None,
                         detail: Mapping[str, Any] | None = None) -> bool:
    """Record what WeChat Pay said that was not applied, once per (kind, out_trade_no,
    transaction_id); True when it is new."""
    async with write_transaction():
        return await repo.record_anomaly({
            "chain": chain_id, "kind": kind, "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or "", "amount_cents": amount_cents,
            "detail": dict(detail or {}), "created_at": utcnow()})


def _order_merchant_ids(order: TopUpOrderRow) -> tuple[str, str] | None:
    """The (mchid, appid) a transaction paying ``order`` must carry; None when the order
    does not know (placed before orders remembered their merchant, with no config)."""
    if order["sandbox"]:
        return SANDBOX_MCHID, SANDBOX_MCHID
    return (order["mchid"], order["appid"]) if order["mchid"] else None


async def credit(order: TopUpOrderRow, transaction: Transaction, now: datetime, *,
                 payer_openid: str | None = None) -> bool:
    """The one crediting path: True when this call made ``order`` paid (and credited its
    card), False when it was credited before or ``transaction`` does not pay it:

    - not SUCCESS, or another order's: nothing happens;
    - paid to another merchant (``mchid``/``appid`` not the order's merchant's): refused,
      ``merchant_mismatch`` recorded, the order stays as it is (its own payment may
      still come);
    - another amount: WeChat Pay took money the order cannot take; the order ends
      (``closed``, ``anomaly`` ``amount_mismatch``, never polled again) and the
      ``amount_mismatch`` anomaly is recorded for a person (``GET /pay-anomalies``) to
      refund the payer in the merchant platform.

    A payer (``payer_openid``, when the caller knows it: a notice) other than the one
    asked to pay is credited (the money is paid) and recorded (``payer_mismatch``).

    Opens the write transaction (or joins the caller's). A closed order is credited too:
    the caller must have confirmed with WeChat Pay that it was paid (a notice for a
    closed order is confirmed by an active query first)."""
    if transaction.trade_state != "SUCCESS" or transaction.out_trade_no != order["out_trade_no"]:
        return False
    expected = _order_merchant_ids(order)
    if expected is not None and (transaction.mchid, transaction.appid) != expected:
        await record_anomaly(order["chain"], "merchant_mismatch",
                             out_trade_no=order["out_trade_no"],
                             transaction_id=transaction.transaction_id,
                             amount_cents=transaction.total_cents,
                             detail={"order_id": str(order["id"]),
                                     "order_mchid": expected[0], "order_appid": expected[1],
                                     "mchid": transaction.mchid,
                                     "appid": transaction.appid})
        return False
    if transaction.total_cents != order["amount_cents"]:
        async with write_transaction():
            await record_anomaly(order["chain"], "amount_mismatch",
                                 out_trade_no=order["out_trade_no"],
                                 transaction_id=transaction.transaction_id,
                                 amount_cents=transaction.total_cents,
                                 detail={"order_amount_cents": order["amount_cents"],
                                         "order_id": str(order["id"])})
            await repo.close_with_anomaly(order["id"], "amount_mismatch", now)
        return False
    if (payer_openid and order["payer_openid"]
            and payer_openid != order["payer_openid"]):
        await record_anomaly(order["chain"], "payer_mismatch",
                             out_trade_no=order["out_trade_no"],
                             transaction_id=transaction.transaction_id,
                             amount_cents=transaction.total_cents,
                             detail={"order_id": str(order["id"]),
                                     "order_payer_openid": order["payer_openid"],
                                     "payer_openid": payer_openid})
    transaction_id = transaction.transaction_id or f"SANDBOX{order['id'].hex[:24]}"
    paid_at = transaction.success_time or now
    async with write_transaction():
        paid = await repo.mark_paid(order["id"], transaction_id, paid_at)
        if paid is None:
            return False
        entry = await cards.credit_top_up(
            paid["chain"], paid["card"], paid_cents=paid["amount_cents"],
            bonus_cents=paid["bonus_cents"], order_id=paid["id"], now=now)
        await notify_balance(paid, reason="online_top_up", paid_cents=paid["amount_cents"],
                             bonus_cents=paid["bonus_cents"],
                             balance_cents=entry.balance_after_cents, at=paid_at,
                             dedupe_key=f"top_up_order:{paid['id']}:paid")
        await emit_order_event(feed.types.TOP_UP_ORDER_PAID, paid)
    return True


async def apply_transaction(pay: Pay, merchant: Merchant, chain_id: uuid.UUID,
                            transaction: Transaction, now: datetime, *,
                            payer_openid: str | None = None) -> str:
    """A transaction WeChat Pay told us of (a notice verified with ``merchant``): credit
    its order once. Returns what happened: ``credited``, ``unchanged`` (credited before),
    or the anomaly recorded (``unknown_order``, ``merchant_mismatch``,
    ``amount_mismatch``, ``closed_order``). A closed order is credited only once an active
    query (to the order's own merchant) confirms it was paid."""
    order = await repo.order_by_out_trade_no(chain_id, transaction.out_trade_no)
    if order is None:
        await record_anomaly(chain_id, "unknown_order", out_trade_no=transaction.out_trade_no,
                             transaction_id=transaction.transaction_id,
                             amount_cents=transaction.total_cents,
                             detail={"trade_state": transaction.trade_state})
        return "unknown_order"
    if transaction.mchid != merchant.mchid:
        # Verified with one merchant's keys, claiming another's payment.
        await record_anomaly(chain_id, "merchant_mismatch", out_trade_no=order["out_trade_no"],
                             transaction_id=transaction.transaction_id,
                             amount_cents=transaction.total_cents,
                             detail={"order_id": str(order["id"]), "mchid": transaction.mchid,
                                     "verified_mchid": merchant.mchid})
        return "merchant_mismatch"
    if (transaction.mchid, transaction.appid) != (_order_merchant_ids(order) or (
            transaction.mchid, transaction.appid)):
        await credit(order, transaction, now)  # records the mismatch, credits nothing
        return "merchant_mismatch"
    mismatched = transaction.total_cents != order["amount_cents"]
    if mismatched or order["status"] == "closed":
        # Ending an order for another amount, or crediting one we closed, rests on WeChat
        # Pay's own record (an active query to the order's merchant), never on the notice
        # alone; if it cannot be asked now, 503 FAIL and WeChat Pay sends the notice again.
        own = await merchant_for_order(pay.box, order) or merchant
        try:
            confirmed = await pay.client.query_order(own, order["out_trade_no"])
        except WechatPayError as exc:
            raise NoticeFailed(f"WeChat Pay could not confirm the payment now "
                               f"({exc.code})") from exc
        if confirmed.trade_state != "SUCCESS":
            kind = "closed_order" if order["status"] == "closed" else "amount_mismatch"
            await record_anomaly(chain_id, kind, out_trade_no=order["out_trade_no"],
                                 transaction_id=transaction.transaction_id,
                                 amount_cents=transaction.total_cents,
                                 detail={"order_id": str(order["id"]),
                                         "queried_trade_state": confirmed.trade_state})
            return kind
        if mismatched and confirmed.total_cents == order["amount_cents"]:
            # A signed notice of another amount than WeChat Pay's own record: credited by
            # the record, and the notice kept for a person (something upstream is wrong).
            await record_anomaly(chain_id, "amount_mismatch",
                                 out_trade_no=order["out_trade_no"],
                                 transaction_id=transaction.transaction_id,
                                 amount_cents=transaction.total_cents,
                                 detail={"order_id": str(order["id"]), "source": "notice",
                                         "queried_total_cents": confirmed.total_cents})
        transaction = confirmed
        if transaction.total_cents != order["amount_cents"]:
            await credit(order, transaction, now)  # records the mismatch, ends the order
            return "amount_mismatch"
    credited = await credit(order, transaction, now, payer_openid=payer_openid)
    return "credited" if credited else "unchanged"


# --- notices --------------------------------------------------------------------------------

RefundNoticeHandler = Callable[[uuid.UUID, RefundResult, datetime], Awaitable[None]]


def refund_notice_handler() -> RefundNoticeHandler | None:
    """``payments.refunds.apply_refund_result`` (the followup module: refunds), when that
    module is installed; REFUND.* notices go there."""
    try:
        module = importlib.import_module("payments.refunds")
    except ModuleNotFoundError:
        return None
    handler = getattr(module, "apply_refund_result", None)
    return cast(RefundNoticeHandler | None, handler)


async def dispatch_notice(pay: Pay, merchant: Merchant, chain_id: uuid.UUID, notice: Notice,
                          now: datetime) -> str:
    """Apply a verified notice by its ``event_type``; what happened, for the log."""
    if notice.event_type == "TRANSACTION.SUCCESS" and notice.transaction is not None:
        payer = notice.resource.get("payer")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        return await apply_transaction(pay, merchant, chain_id, notice.transaction, now,
                                       payer_openid=openid if isinstance(openid, str)
                                       else None)
    if notice.event_type.startswith("REFUND.") and notice.refund is not None:
        handler = refund_notice_handler()
        if handler is None:
            raise NoticeFailed("refund notices are not handled yet")
        await handler(chain_id, notice.refund, now)
        return "refund"
    return "ignored"


async def receive_notice(pay: Pay, chain_id: uuid.UUID, headers: Mapping[str, str],
                         body: bytes) -> str:
    """``POST /pay/wechat/notify/{chain_id}``: verify the notice and apply it. Applying
    twice changes nothing.

    It is verified with the chain's merchant whose platform key its ``Wechatpay-Serial``
    names, among the current config and the superseded ones (an order placed before the
    config changed is told of with its own merchant's keys); the first that verifies and
    decrypts it is the merchant it came from. Anything that cannot be verified answers
    401 ``SIGN_ERROR`` alike, whether the chain has a config, has none, or does not
    exist (no oracle of which chains take WeChat Pay); the log says why."""
    now = utcnow()
    serial = next((v for k, v in headers.items() if k.lower() == "wechatpay-serial"), "")
    merchants = await _notice_merchants(pay.box, chain_id, serial)
    if not merchants:
        log.warning("wechat pay notice refused: chain %s has no usable WeChat Pay config "
                    "(or does not exist)", chain_id)
        raise NoticeSignError("the signature does not verify")
    first: NoticeSignatureError | None = None
    for merchant in merchants:
        try:
            notice = parse_notice(merchant, headers, body, now=now)
        except NoticeSignatureError as exc:
            first = first or exc
            continue
        return await dispatch_notice(pay, merchant, chain_id, notice, now)
    reason = str(first) if first is not None else ""
    log.warning("wechat pay notice refused: chain %s: %s", chain_id,
                reason or "the signature does not verify")
    raise NoticeSignError(reason or "the signature does not verify")


# --- sandbox --------------------------------------------------------------------------------

async def sandbox_pay(principal: Principal, order_id: uuid.UUID, pay: Pay) -> TopUpOrderOut:
    """``POST /top-up-orders/{id}/sandbox-pay``: pay a sandbox order as WeChat Pay would,
    through ``credit``. Paying a paid order again answers it as it is."""
    order = await _visible_order(principal, order_id)
    if not pay.sandbox or not order["sandbox"]:
        raise SandboxOnly("live mode: orders are paid through WeChat Pay")
    now = utcnow()
    if order["status"] == "closed" or (order["status"] == "pending"
                                       and order["expires_at"] <= now):
        raise OrderClosed("the order expired; place another")
    if order["status"] == "pending":
        await credit(order, sandbox_transaction(order, now), now)
        paid = await repo.get_order(order_id, principal.chain_id)
        assert paid is not None
        order = paid
    return order_out(order)


def sandbox_transaction(order: TopUpOrderRow, now: datetime) -> Transaction:
    """The transaction sandbox mode pretends WeChat Pay made."""
    return Transaction(out_trade_no=order["out_trade_no"],
                       transaction_id=f"SANDBOX{order['id'].hex[:24]}", trade_state="SUCCESS",
                       total_cents=order["amount_cents"],
                       payer_total_cents=order["amount_cents"], success_time=now,
                       mchid=SANDBOX_MCHID, appid=SANDBOX_MCHID)
