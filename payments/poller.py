"""The payment poller: a task in each server process (or in ``o2o worker``) that follows
top-up orders and refunds WeChat Pay has not told us the end of.

**Orders without a notice.** A live pending order is asked about
(``GET /v3/pay/transactions/out-trade-no/{no}``) 15 s after it was placed, then after
each of :data:`BACKOFF_S` (30 s, 1 min, 2, 5, 10, 15 min, then every 15 min): ``SUCCESS``
credits it through ``payments.service.credit`` (the one crediting path: a notice that
arrives meanwhile finds it credited and changes nothing), ``CLOSED``/``REVOKED``/
``PAYERROR`` close it; anything else waits for the next look.

**Stale orders.** A pending order past ``expires_at`` (placed + 2 h, the ``time_expire``
WeChat Pay was given, so it can no longer be paid) is closed at WeChat Pay
(``POST .../close``) and marked ``closed``; ``ORDERPAID`` means the member paid at the
last moment: it is asked about and credited instead. A sandbox order never reaches
WeChat Pay: it is only closed, locally, after its 2 h.

**Refunds** still ``pending`` (the request's own send failed or never ran) are sent again
(WeChat Pay keys refunds by ``out_refund_no``); ``processing`` ones are asked about
(``GET /v3/refund/domestic/refunds/{no}``) on the same backoff, ``abnormal`` ones (waiting
for the merchant to re-route them) at least every hour.

**Leases.** Each look claims its rows in a short write transaction that moves their
``next_query_at`` a lease ahead (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two
processes claiming at once take different rows; SQLite: the write transaction serialises
the claims), then calls WeChat Pay outside any transaction and records the outcome (the
next look's time, or the end). A process that dies holding a lease leaves its rows to be
claimed again when the lease runs out; every outcome is applied by a conditional update,
so two looks at one order (a lease run out, a notice) still credit it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.errors import AppError
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from app.core.wechatpay import Merchant, Transaction, WechatPayClient, WechatPayError
from payments import refunds
from payments import repository as repo
from payments import service as orders
from payments.rows import TopUpOrderRow, TopUpRefundRow

log = logging.getLogger("o2o.payments")

FIRST_QUERY_S = 15
# Seconds until the next look after the n-th (1-based); the last repeats.
BACKOFF_S: tuple[int, ...] = (30, 60, 120, 300, 600, 900)
LEASE = timedelta(seconds=60)  # a claimed row is anyone's again after this
BATCH = 20  # rows claimed at once, of each kind
CONCURRENCY = 8  # WeChat Pay calls in flight at once in this process
# REFUND (转入退款): paid, then refunded outside our refunds (the merchant platform, a
# complaint's ruling). Never credited here: see :meth:`PayPoller._refunded_elsewhere`.
REFUNDED_STATE = "REFUND"
ENDED_STATES = ("CLOSED", "REVOKED", "PAYERROR")


def next_look(attempts: int, now: datetime, scale: float = 1.0) -> datetime:
    """When to look again after the ``attempts``-th look (1-based)."""
    return now + timedelta(
        seconds=BACKOFF_S[min(max(attempts, 1), len(BACKOFF_S)) - 1] * scale)


class PayPoller:
    def __init__(self, settings: Settings, box: SecretBox, client: WechatPayClient | None, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.box = box
        self.client = client
        self.clock = clock
        self.poll_s = settings.pay_poll_s
        # Tests and the race storms shrink every wait at once (O2O_PAY_QUERY_SCALE).
        self.scale = settings.pay_query_scale
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._merchants: dict[tuple[uuid.UUID, str, str], Merchant | None] = {}

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="o2o-pay-poller")

    async def stop(self, grace_s: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            # Seen at the next wait; a look in flight finishes (bounded by the client's
            # timeout) rather than being cut inside a transaction.
            await stop_tasks([task], grace_s)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("payment poller round failed")
                done = Counter()
            if self._stopping.is_set():
                return
            if sum(done.values()) >= BATCH:
                continue  # more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    # --- one round ------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> Counter[str]:
        """One look at everything due at ``now``: returns what happened, by outcome
        (``credited``, ``closed``, ``waiting``, ``refund_sent``, ...)."""
        now = now or self.clock()
        self._merchants = {}
        lease_until = now + LEASE * self.scale
        first_look = now - timedelta(seconds=FIRST_QUERY_S * self.scale)
        outcomes: Counter[str] = Counter()
        if not await repo.anything_due(now, first_look):
            return outcomes
        async with write_transaction():
            stale = await repo.claim_stale_orders(now, lease_until, BATCH)
        async with write_transaction():
            due = await repo.claim_due_orders(now, first_look, lease_until, BATCH)
        async with write_transaction():
            refunds_due = await repo.claim_due_refunds(now, lease_until, BATCH)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def each(step: Any, row: Any) -> None:
            async with limit:
                try:
                    outcomes[await step(row, now)] += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("payment poller: %s failed for %s", step.__name__,
                                  row.get("out_trade_no") or row.get("out_refund_no"))
                    outcomes["error"] += 1

        await asyncio.gather(*[each(self.close_stale, r) for r in stale],
                             *[each(self.query_order, r) for r in due],
                             *[each(self.follow_refund, r) for r in refunds_due])
        return outcomes

    async def _merchant(self, order: TopUpOrderRow) -> Merchant | None:
        """The merchant the order was placed with (``merchant_for_order``: after a new
        config, an order placed under the previous one is still asked about, closed and
        refunded there); cached for the round."""
        key = (order["chain"], order["mchid"], order["appid"])
        if key not in self._merchants:
            try:
                self._merchants[key] = await orders.merchant_for_order(self.box, order)
            except AppError as exc:  # its sealed keys no longer open: wait for a new config
                log.warning("chain %s: WeChat Pay config unusable: %s", order["chain"],
                            exc.detail)
                self._merchants[key] = None
        return self._merchants[key]

    async def _later(self, order: TopUpOrderRow, now: datetime) -> str:
        async with write_transaction():
            await repo.order_next_look(order["id"],
                                       next_look(order["query_attempts"], now, self.scale))
        return "waiting"

    async def query_order(self, order: TopUpOrderRow, now: datetime) -> str:
        """Ask WeChat Pay about a pending order; credit it if paid."""
        merchant = await self._merchant(order)
        if merchant is None or self.client is None:
            return await self._later(order, now)
        try:
            transaction = await self.client.query_order(merchant, order["out_trade_no"])
        except WechatPayError as exc:
            if exc.code != "ORDER_NOT_EXIST":  # never placed: closed at its 2 h
                log.warning("query of order %s failed: %s %s", order["out_trade_no"],
                            exc.code, exc.message)
            return await self._later(order, now)
        return await self._apply(order, transaction, now)

    async def _apply(self, order: TopUpOrderRow, transaction: Transaction,
                     now: datetime) -> str:
        if transaction.trade_state == "SUCCESS":
            if await orders.credit(order, transaction, now):
                return "credited"
            current = await repo.get_order(order["id"], order["chain"])
            if current is not None and current["status"] == "pending":
                # Not credited and still pending (refused by credit, which recorded why):
                # looked at again at the slowest pace until a person acts.
                async with write_transaction():
                    await repo.order_next_look(
                        order["id"], now + timedelta(seconds=BACKOFF_S[-1] * self.scale))
                return "refused"
            return "credited_elsewhere"
        if transaction.trade_state == REFUNDED_STATE:
            return await self._refunded_elsewhere(order, transaction, now)
        if transaction.trade_state in ENDED_STATES:
            async with write_transaction():
                await repo.close_pending(order["id"], now)
            return "closed"
        return await self._later(order, now)

    async def _refunded_elsewhere(self, order: TopUpOrderRow, transaction: Transaction,
                                  now: datetime) -> str:
        """WeChat Pay says the order was paid and then (at least in part) refunded
        outside our refunds, before we ever credited it. How much went back is not in
        the answer (API v3 lists no refunds by order), so crediting the whole amount
        would put on the card money the payer may have back already. Decision 048: not
        credited; the order is closed here (no more polling) with a
        ``refunded_elsewhere`` anomaly for a person, who credits what was really kept
        (a counter top-up) after looking in the merchant platform. A later notice finds
        the order closed, queries, and does not credit a ``REFUND`` state either."""
        async with write_transaction():
            closed = await repo.close_with_anomaly(order["id"], "refunded_elsewhere", now)
            if closed:
                await orders.record_anomaly(
                    order["chain"], "refunded_elsewhere", out_trade_no=order["out_trade_no"],
                    transaction_id=transaction.transaction_id,
                    amount_cents=transaction.total_cents,
                    detail={"order_id": str(order["id"]), "trade_state": "REFUND",
                            "action": "paid, then refunded outside the app; not credited: "
                                      "check the refunds in the merchant platform"})
        return "refunded_elsewhere" if closed else "credited_elsewhere"

    async def close_stale(self, order: TopUpOrderRow, now: datetime) -> str:
        """Close a pending order past its 2 h at WeChat Pay, then here; a last-moment
        payment (``ORDERPAID``) is credited instead."""
        if not order["sandbox"]:
            merchant = await self._merchant(order)
            if merchant is None or self.client is None:
                return await self._later(order, now)
            try:
                await self.client.close_order(merchant, order["out_trade_no"])
            except WechatPayError as exc:
                if exc.code == "ORDERPAID":
                    try:
                        transaction = await self.client.query_order(merchant,
                                                                    order["out_trade_no"])
                    except WechatPayError:
                        return await self._later(order, now)
                    return await self._apply(order, transaction, now)
                if exc.code != "ORDER_NOT_EXIST":  # never placed there: close it here
                    log.warning("closing order %s failed: %s %s", order["out_trade_no"],
                                exc.code, exc.message)
                    return await self._later(order, now)
        async with write_transaction():
            closed = await repo.close_pending(order["id"], now)
        return "closed" if closed else "credited_elsewhere"

    async def follow_refund(self, refund: TopUpRefundRow, now: datetime) -> str:
        """Send a pending refund again, or ask about a processing one."""
        order = await repo.get_order(refund["order"], refund["chain"])
        merchant = await self._merchant(order) if order is not None else None
        if order is None or merchant is None or self.client is None:
            return await self._refund_later(refund, now)
        if refund["status"] == "pending":
            await refunds.submit(self.client, merchant, self.settings, refund, order, now)
        else:
            try:
                result = await self.client.query_refund(merchant, refund["out_refund_no"])
            except WechatPayError as exc:
                log.warning("query of refund %s failed: %s %s", refund["out_refund_no"],
                            exc.code, exc.message)
                return await self._refund_later(refund, now)
            await refunds.apply_refund_result(refund["chain"], result, now)
        current = await repo.get_refund(refund["id"])
        if current is not None and current["status"] == "abnormal":
            # Waits for the merchant to re-route it: asked about at a slow pace.
            async with write_transaction():
                await repo.refund_next_look(refund["id"], max(
                    next_look(refund["query_attempts"], now, self.scale),
                    now + refunds.ABNORMAL_LOOK * self.scale))
            return "refund_abnormal"
        if current is not None and current["status"] in repo.UNFINISHED:
            await self._refund_later(refund, now)
            return "refund_waiting"
        return f"refund_{current['status']}" if current else "refund_gone"

    async def _refund_later(self, refund: TopUpRefundRow, now: datetime) -> str:
        async with write_transaction():
            await repo.refund_next_look(refund["id"],
                                        next_look(refund["query_attempts"], now, self.scale))
        return "refund_waiting"


def build_pay_poller(settings: Settings, box: SecretBox,
                     client: WechatPayClient | None) -> PayPoller:
    return PayPoller(settings, box, client)
