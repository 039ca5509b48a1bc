"""Refunds of online top-ups (``POST /top-up-orders/{id}/refund``), their end (WeChat
Pay's notice, the answer to the request, or an active query) and their money.

**Asking** (:func:`reserve`, one write transaction): the order is locked, then its card
(``cards.public.lock_stored_value``: the order before the card, like ``credit``, so two
writers never wait on each other crosswise). What may go back is the order's paid money
not yet refunded nor being refunded, and no more than the card's paid money (what the
member spent is spent): ``min(A - refunded - refunding, card paid)``. The bonus the
order brought goes back in proportion, by the floor of the cumulative share less what
the order's refunds hold already (:func:`bonus_back`), never more than the card holds.
The money leaves the card at once (a ``refund`` ledger entry, negative), the
``top_up_refund`` row is written ``pending`` and the order's ``refunding_cents`` grows: a
charge made while WeChat Pay works cannot spend money that is on its way back.

**Sending** happens after the commit, never inside the transaction (a WeChat call holds
no lock): :func:`submit` calls ``POST /v3/refund/domestic/refunds`` with the refund's
``out_refund_no``, which WeChat Pay keys its refunds by, so sending again (the poller,
after a timeout or a crash before the call) never refunds twice. A refusal is checked
with a query before anything goes back (an earlier send may have landed). Sandbox orders
never reach WeChat: their refund finishes in the asking transaction.

**Finishing, exactly once** (:func:`apply_refund_result`): a conditional update moves the
refund from ``pending``/``processing``/``abnormal`` to ``success`` or ``failed``; only the
caller whose update changed the row goes on, in the same transaction. ``SUCCESS``: the order's
``refunded_cents`` grows, ``refunding_cents`` shrinks, its status becomes ``refunded``
(all of it back) or ``partially_refunded``, the ``top_up_order.refunded`` event and the
member's ``refund`` notification are written. ``CLOSED`` or a refusal WeChat Pay
confirms (no such refund there): a ``refund_reverted`` entry puts exactly the paid and
bonus money of the ``refund`` entry back on the card. ``ABNORMAL`` is not an end: the
refund stays open (``abnormal``), its money off the card, an anomaly for the operator.
A ``SUCCESS`` for a refund already reverted is never dropped: the money is taken off
again as far as it is there, and the contradiction recorded. Duplicate notices and a
query racing a notice find the row finished and change nothing (decision 048).
"""

from __future__ import annotations

import logging
import secrets
import string
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody
from litestar.response import Response

from app.core import events, idempotency
from app.core.auth import OPERATORS, Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.errors import AppError, Conflict, NotFound
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey
from app.core.settings import Settings
from app.core.wechatpay import Merchant, RefundResult, WechatPayClient, WechatPayError
from cards import public as cards
from payments import repository as repo
from payments import service as orders
from payments.rows import TopUpOrderRow, TopUpRefundRow

log = logging.getLogger("o2o.payments")

# While the request that asked for a refund sends it to WeChat Pay, the poller leaves it
# alone; after this it is the poller's (a crash between the commit and the call).
SEND_LEASE = timedelta(seconds=60)
REFUND_NO_ALPHABET = string.ascii_letters + string.digits
RefundStatus = Literal["pending", "processing", "abnormal", "success", "failed"]
# ABNORMAL is not an end: the merchant re-routes the refund (merchant platform, or
# ``apply-abnormal-refund``) and it becomes SUCCESS; asked about at this slow pace.
ABNORMAL_LOOK = timedelta(hours=1)


# --- errors ---------------------------------------------------------------------------

class RefundExceedsUnspent(Conflict):
    code = "refund_exceeds_unspent"
    title = "More than the order's paid money still unspent on the card"


class OrderNotRefundable(Conflict):
    code = "order_not_refundable"
    title = "Only a paid order can be refunded"


# --- schemas --------------------------------------------------------------------------

class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    # Paid money to give back; absent: all of the order's paid money still unspent.
    amount_cents: Annotated[int, msgspec.Meta(gt=0, le=10**11)] | None = None


class RefundOut(msgspec.Struct):
    id: uuid.UUID
    order_id: uuid.UUID
    out_refund_no: str
    amount_cents: int  # paid money back to the payer
    bonus_cents: int  # bonus money taken off the card with it
    status: RefundStatus
    reason: str
    refund_id: str | None  # WeChat Pay's
    created_at: datetime
    finished_at: datetime | None


def refund_out(row: TopUpRefundRow) -> RefundOut:
    return RefundOut(id=row["id"], order_id=row["order"], out_refund_no=row["out_refund_no"],
                     amount_cents=row["amount_cents"], bonus_cents=row["bonus_cents"],
                     status=row["status"], reason=row["reason"], refund_id=row["refund_id"],
                     created_at=row["created_at"], finished_at=row["finished_at"])


# --- the rules ------------------------------------------------------------------------

def bonus_back(order_amount: int, order_bonus: int, bonus_taken: int, refunded_after: int,
               card_bonus: int) -> int:
    """The bonus taken back when the order's paid money refunded or on its way back
    becomes ``refunded_after``: its share of the order's bonus, ``B*R1//A`` (floor),
    minus what the order's refunds hold already (``bonus_taken``, the order's running
    ``bonus_refunded_cents``), never below 0, never more than the card's bonus money and
    never past ``B`` in all. Taking it from the order's own running figure (not from
    ``B*R0//A``) keeps it right when a refund fails after a later one was asked: the
    order's refunds together never take back more than ``B`` (decision 049)."""
    if order_amount <= 0 or order_bonus <= 0:
        return 0
    share = order_bonus * min(refunded_after, order_amount) // order_amount
    due = min(max(0, share - bonus_taken), max(0, order_bonus - bonus_taken))
    return max(0, min(due, card_bonus))


def refundable(order: TopUpOrderRow, card_paid: int) -> int:
    """The order's paid money that may still go back: not refunded nor on its way back,
    and still on the card."""
    left = order["amount_cents"] - order["refunded_cents"] - order["refunding_cents"]
    return max(0, min(left, card_paid))


def new_out_refund_no() -> str:
    """``R`` and 31 of ``[0-9A-Za-z]`` (WeChat Pay allows up to 64 of ``[0-9A-Za-z_-|*@]``)."""
    return "R" + "".join(secrets.choice(REFUND_NO_ALPHABET) for _ in range(31))


async def reserve(principal: Principal, order_id: uuid.UUID, data: RefundIn,
                  now: datetime | None = None) -> RefundOut:
    """Take the money off the card and write the refund (``pending``); a sandbox order's
    refund also finishes here. Joins the caller's write transaction (the idempotent
    path's) or opens its own."""
    now = now or utcnow()
    async with write_transaction():
        order = await repo.lock_order(order_id, principal.chain_id)
        if order is None:
            raise NotFound("no such top-up order")
        if order["status"] not in ("paid", "partially_refunded"):
            raise OrderNotRefundable(f"the order is {order['status']}")
        value = await cards.lock_stored_value(order["card"])
        most = refundable(order, value.paid_cents)
        amount = data.amount_cents if data.amount_cents is not None else most
        if amount > most or amount <= 0:
            raise RefundExceedsUnspent(
                f"at most {most} fen of this order's paid money can be refunded",
                refundable_cents=most)
        after = order["refunded_cents"] + order["refunding_cents"] + amount
        bonus = bonus_back(order["amount_cents"], order["bonus_cents"],
                           order["bonus_refunded_cents"], after, value.bonus_cents)
        await cards.move_stored_value(order["chain"], order["card"], "refund",
                                      paid_cents=-amount, bonus_cents=-bonus,
                                      order_id=order["id"], now=now)
        row: TopUpRefundRow = {
            "id": uuid.uuid4(), "chain": order["chain"], "order": order["id"],
            "out_refund_no": new_out_refund_no(), "amount_cents": amount,
            "bonus_cents": bonus, "status": "pending", "reason": data.reason,
            "refund_id": None, "created_by": principal.id if principal.kind == "staff"
            else None, "created_at": now, "finished_at": None,
            "next_query_at": now + SEND_LEASE, "query_attempts": 0,
        }
        await repo.insert_refund(dict(row))
        await repo.add_refunding(order["id"], amount, bonus)
        if order["sandbox"]:
            # No WeChat Pay in sandbox mode: the refund is done as soon as it is asked.
            await _finish(row, "success", None, now)
            row = await repo.get_refund(row["id"]) or row
    return refund_out(row)


def _unanswered(exc: WechatPayError) -> bool:
    """Whether a failed send says nothing of what WeChat Pay did: retryable errors, and
    any answer without WeChat Pay's own signed error (``HTTP_ERROR``: a gateway's or a
    proxy's page; no status: no answer at all). Only WeChat Pay's own refusal is one."""
    return exc.retryable or exc.status is None or exc.code == "HTTP_ERROR"


async def submit(client: WechatPayClient, merchant: Merchant, settings: Settings,
                 refund: TopUpRefundRow, order: TopUpOrderRow,
                 now: datetime | None = None) -> None:
    """Send a pending refund to WeChat Pay (again: it is keyed by ``out_refund_no``) and
    apply the answer. A failure that says nothing of what WeChat Pay did leaves it
    pending for the poller; a refusal is checked with a query first (an earlier send
    may have been carried out, its answer lost), and only a refund WeChat Pay does not
    hold (``RESOURCE_NOT_EXISTS``) or holds ``CLOSED`` puts the money back."""
    try:
        notify_url = orders.notify_url(settings, order["chain"])
    except AppError as exc:  # O2O_PUBLIC_URL unset: kept pending until it is set
        log.warning("refund %s not sent: %s", refund["out_refund_no"], exc.detail)
        return
    try:
        result = await client.refund(
            merchant, out_trade_no=order["out_trade_no"],
            out_refund_no=refund["out_refund_no"], refund_cents=refund["amount_cents"],
            total_cents=order["amount_cents"], reason=refund["reason"],
            notify_url=notify_url)
    except WechatPayError as exc:
        now = now or utcnow()
        if _unanswered(exc):
            log.warning("refund %s not sent (%s: %s): the poller sends it again",
                        refund["out_refund_no"], exc.code, exc.message)
            return
        await _settle_refusal(client, merchant, refund, order, exc, now)
        return
    await apply_refund_result(order["chain"], result, now)


async def _settle_refusal(client: WechatPayClient, merchant: Merchant,
                          refund: TopUpRefundRow, order: TopUpOrderRow,
                          refusal: WechatPayError, now: datetime) -> None:
    """WeChat Pay refused the request: ask whether it holds the refund anyway (sent
    before, its answer lost) before putting the money back."""
    try:
        found = await client.query_refund(merchant, refund["out_refund_no"])
    except WechatPayError as exc:
        if exc.code == "RESOURCE_NOT_EXISTS" and exc.status == 404:
            log.warning("refund %s refused by WeChat Pay (%s: %s), which holds no such "
                        "refund: the money goes back", refund["out_refund_no"],
                        refusal.code, refusal.message)
            await finish(refund["id"], "failed", None, now)
        else:
            log.warning("refund %s refused (%s) and WeChat Pay could not be asked about it "
                        "(%s): kept for the poller", refund["out_refund_no"], refusal.code,
                        exc.code)
        return
    log.warning("refund %s refused (%s: %s) but WeChat Pay holds it %s: applied",
                refund["out_refund_no"], refusal.code, refusal.message, found.status)
    await apply_refund_result(order["chain"], found, now)


async def apply_refund_result(chain_id: uuid.UUID, result: RefundResult,
                              now: datetime | None = None) -> None:
    """What WeChat Pay says of a refund (a notice, the answer to the request, a query),
    applied once: ``SUCCESS`` finishes it (even one we had reverted: the money is taken
    off the card again and the contradiction recorded), ``CLOSED`` reverts it,
    ``ABNORMAL`` keeps it open (the money stays off the card, the operator is told by an
    anomaly, the poller keeps asking), ``PROCESSING`` marks it sent. A refund we never
    asked for is recorded as an anomaly."""
    now = now or utcnow()
    refund = await repo.refund_by_out_no(chain_id, result.out_refund_no)
    if refund is None:
        await orders.record_anomaly(
            chain_id, "unknown_refund", out_trade_no=result.out_trade_no,
            transaction_id=result.refund_id or result.out_refund_no,
            amount_cents=result.refund_cents,
            detail={"out_refund_no": result.out_refund_no, "status": result.status})
        return
    if result.status == "SUCCESS":
        await finish(refund["id"], "success", result.refund_id, now)
    elif result.status == "CLOSED":
        await finish(refund["id"], "failed", result.refund_id, now)
    elif result.status == "ABNORMAL":
        await _abnormal(refund, result, now)
    else:  # PROCESSING: WeChat Pay has it; ask again later (the poller)
        async with write_transaction():
            await repo.refund_processing(refund["id"], result.refund_id)


async def _abnormal(refund: TopUpRefundRow, result: RefundResult, now: datetime) -> None:
    """``ABNORMAL`` (退款异常: the payer's bank card closed or frozen) is not an end: the
    merchant re-routes it (merchant platform, or ``apply-abnormal-refund``) and it becomes
    ``SUCCESS`` (or is closed). The refund stays open, its money off the card; the poller
    asks again at a slow pace; the operator sees the anomaly."""
    async with write_transaction():
        changed = await repo.refund_abnormal(refund["id"], result.refund_id,
                                             now + ABNORMAL_LOOK)
        if changed:
            await orders.record_anomaly(
                refund["chain"], "refund_abnormal", out_trade_no=result.out_trade_no,
                transaction_id=result.refund_id or refund["out_refund_no"],
                amount_cents=refund["amount_cents"],
                detail={"out_refund_no": refund["out_refund_no"],
                        "order_id": str(refund["order"]),
                        "action": "re-route it in the WeChat Pay merchant platform "
                                  "(异常退款); the money stays off the card meanwhile"})


async def finish(refund_id: uuid.UUID, outcome: Literal["success", "failed"],
                 wechat_refund_id: str | None, now: datetime) -> bool:
    """Finish the refund once; True when this call did."""
    async with write_transaction():
        row = await repo.get_refund(refund_id)
        if row is None:
            return False
        return await _finish(row, outcome, wechat_refund_id, now)


async def _finish(refund: TopUpRefundRow, outcome: Literal["success", "failed"],
                  wechat_refund_id: str | None, now: datetime) -> bool:
    # The order first, then the refund and the card: the order every writer of an
    # order's money takes first (credit, reserve), so none waits on another crosswise.
    if await repo.lock_order(refund["order"], refund["chain"]) is None:
        return False
    won = await repo.end_refund(refund["id"], outcome, wechat_refund_id, now)
    if won is None:
        if outcome == "success":
            # Ended already. A SUCCESS for a refund we reverted is never dropped.
            current = await repo.get_refund(refund["id"])
            if current is not None and current["status"] == "failed":
                return await _success_after_revert(current, wechat_refund_id, now)
        return False  # a duplicate notice, or a query that lost the race
    if outcome == "success":
        order = await repo.refund_succeeded(won["order"], won["chain"], won["amount_cents"])
        value = await cards.lock_stored_value(order["card"])
        await orders.emit_order_event(events.types.TOP_UP_ORDER_REFUNDED, order)
        await orders.notify_balance(
            order, reason="refund", paid_cents=won["amount_cents"],
            bonus_cents=won["bonus_cents"],
            balance_cents=value.paid_cents + value.bonus_cents, at=now,
            dedupe_key=f"top_up_refund:{won['id']}:success")
    else:
        order = await repo.refund_reverted(won["order"], won["chain"], won["amount_cents"],
                                           won["bonus_cents"])
        await cards.move_stored_value(order["chain"], order["card"], "refund_reverted",
                                      paid_cents=won["amount_cents"],
                                      bonus_cents=won["bonus_cents"], order_id=order["id"],
                                      now=now)
    return True


async def _success_after_revert(refund: TopUpRefundRow, wechat_refund_id: str | None,
                                now: datetime) -> bool:
    """WeChat Pay paid out a refund we had reverted (its money put back on the card):
    the payer has the money. In the caller's transaction, the order locked: the refund
    becomes ``success`` (once: a conditional update), the order counts it refunded, and
    its paid money is taken off the card again as far as the card still holds it (and
    the order's bonus share with it, by the usual rule); an anomaly
    ``refund_after_revert`` tells the operator, with any shortfall (money spent since,
    the chain's loss for a person to settle)."""
    order = await repo.lock_order(refund["order"], refund["chain"])
    if order is None:
        return False
    value = await cards.lock_stored_value(order["card"])
    amount = refund["amount_cents"]
    room = order["amount_cents"] - order["refunded_cents"] - order["refunding_cents"]
    paid = max(0, min(amount, value.paid_cents, room))
    after = order["refunded_cents"] + order["refunding_cents"] + amount
    bonus = bonus_back(order["amount_cents"], order["bonus_cents"],
                       order["bonus_refunded_cents"], after, value.bonus_cents)
    won = await repo.revive_refund(refund["id"], bonus, wechat_refund_id, now)
    if won is None:
        return False
    order = await repo.refund_succeeded_after_revert(order["id"], order["chain"], amount,
                                                     bonus)
    if paid or bonus:
        await cards.move_stored_value(order["chain"], order["card"], "refund",
                                      paid_cents=-paid, bonus_cents=-bonus,
                                      order_id=order["id"], now=now)
    await orders.record_anomaly(
        order["chain"], "refund_after_revert", out_trade_no=order["out_trade_no"],
        transaction_id=wechat_refund_id or refund["refund_id"] or refund["out_refund_no"],
        amount_cents=amount,
        detail={"out_refund_no": refund["out_refund_no"], "order_id": str(order["id"]),
                "paid_taken_cents": paid, "bonus_taken_cents": bonus,
                "shortfall_cents": amount - paid})
    value = await cards.lock_stored_value(order["card"])
    await orders.emit_order_event(events.types.TOP_UP_ORDER_REFUNDED, order)
    await orders.notify_balance(
        order, reason="refund", paid_cents=amount, bonus_cents=bonus,
        balance_cents=value.paid_cents + value.bonus_cents, at=now,
        dedupe_key=f"top_up_refund:{refund['id']}:success")
    return True


# --- the endpoint ---------------------------------------------------------------------

class RefundController(Controller):
    path = "/top-up-orders"
    tags = ["top-up orders"]

    @post("/{order_id:uuid}/refund", guards=[OPERATORS], status_code=202,
          summary="Refund an online top-up's unspent paid money",
          description="At most the order's paid money still unspent on the card (more: "
                      "409 refund_exceeds_unspent with refundable_cents); the bonus it "
                      "brought goes back in proportion. 202: the refund as it stands "
                      "(sandbox: success at once; live: sent to WeChat Pay).",
          responses=problems(404, 409))
    async def refund(self, order_id: FromPath[uuid.UUID], data: JSONBody[RefundIn],
                     principal: Caller, request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[RefundOut]:
        answer = await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda: reserve(principal, order_id, data), status_code=202)
        if answer.headers.get("Idempotent-Replayed"):
            return answer
        refund = msgspec.json.decode(answer.content, type=RefundOut)
        if refund.status != "pending":
            return answer
        await send_now(request.app.state.pay, refund.id)
        row = await repo.get_refund(refund.id)
        # The refund as it stands after the send (the stored answer, replayed to a retry
        # under the same key, is the refund as asked: pending).
        return Response(content=refund_out(row) if row else refund, status_code=202)


async def send_now(pay: orders.Pay, refund_id: uuid.UUID) -> None:
    """Send a refund just asked for (the request's own try; the poller retries)."""
    refund = await repo.get_refund(refund_id)
    if refund is None or refund["status"] != "pending":
        return
    order = await repo.get_order(refund["order"], refund["chain"])
    if order is None:
        return
    merchant = await orders.merchant_for_order(pay.box, order)  # the order's own merchant
    if merchant is None:
        return
    await submit(pay.client, merchant, pay.settings, refund, order)


CONTROLLERS = [RefundController]
