"""Offline sync: redemptions a scanner made without a network, uploaded later, each
judged on its own at the time its scanner claims, inside the chain's offline window.
Vouchers only (a card's code lives 60 s: it cannot wait for an upload)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.format import CodeKind
from app.core.codes.keys import CodeSigner
from app.core.db import is_unique_violation, write_transaction
from app.core.errors import AppError, ValidationError
from cards import repository as repo
from cards.errors import AlreadyRedeemed, NotSupportedOffline, OfflineWindowExceeded
from cards.redemption import Scan
from cards.schemas import RedeemIn, RedemptionOut, SyncIn, SyncItem, SyncOut, SyncResult
from cards.voucher_scans import VOUCHERS
from stores import service as stores
from stores.rows import StoreRow

# How far ahead of the server a scanner's clock may run. A phone or tablet kept by NTP is
# off by seconds; two minutes covers a sloppy one. It must stay small: a redeemed_at in
# the future would be judged at a time that has not come (a campaign not started yet).
SYNC_CLOCK_SKEW = timedelta(minutes=2)


async def sync(principal: Principal, body: SyncIn, signer: CodeSigner) -> SyncOut:
    """Redemptions a scanner made offline, each judged on its own and at its own time,
    inside the chain's offline window. The store (and its zone, for campaigns with day or
    hour rules) is loaded once for the batch."""
    store = await stores.visible_store(principal, body.store_id)
    window = await stores.offline_window(principal.chain_id)
    results: list[SyncResult] = []
    for item in body.items:
        results.append(await _sync_one(principal, store, item, signer, window))
    return SyncOut(results=results)


async def _sync_one(principal: Principal, store: StoreRow, item: SyncItem,
                    signer: CodeSigner, window: timedelta) -> SyncResult:
    ref, store_id = item.client_ref, store["id"]
    receipt = await repo.sync_receipt(principal.chain_id, ref)
    if receipt is not None:
        return SyncResult(client_ref=ref, status="duplicate",
                          redemption_id=receipt["redemption_id"], code=receipt["code"])
    try:
        redemption = await _sync_redeem(principal, store, item, signer, window)
    except AlreadyRedeemed as err:
        twin = await repo.sync_receipt(principal.chain_id, ref)
        if twin is not None:  # the same item, uploaded by a concurrent retry, won
            return SyncResult(client_ref=ref, status="duplicate",
                              redemption_id=twin["redemption_id"], code=twin["code"])
        outcome = SyncResult(client_ref=ref, status="conflict", code=err.code,
                             detail=err.detail,
                             redeemed_at=_parse_time(err.extra.get("redeemed_at")),
                             store_id=_parse_uuid(err.extra.get("store_id")),
                             store_name=err.extra.get("store_name"))
    except AppError as err:
        outcome = SyncResult(client_ref=ref, status="rejected", code=err.code, detail=err.detail)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        return await _sync_one(principal, store, item, signer, window)  # a racing replay won
    else:
        return SyncResult(client_ref=ref, status="accepted", redemption_id=redemption.id)
    try:
        async with write_transaction():
            await repo.insert_sync_receipt({"chain": principal.chain_id, "client_ref": ref,
                                            "store": store_id, "status": outcome.status,
                                            "code": outcome.code, "created_at": utcnow()})
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        twin = await repo.sync_receipt(principal.chain_id, ref)
        assert twin is not None
        return SyncResult(client_ref=ref, status="duplicate",
                          redemption_id=twin["redemption_id"], code=twin["code"])
    return outcome


def _inside_window(at: datetime, now: datetime, window: timedelta) -> None:
    """The scanner's word is trusted only inside the window: not older than it, not ahead
    of the server by more than a clock's skew."""
    if at > now + SYNC_CLOCK_SKEW:
        raise OfflineWindowExceeded(
            f"redeemed_at {_when(at)} is ahead of the server's time ({_when(now)}): "
            "check the scanner's clock")
    if at < now - window:
        raise OfflineWindowExceeded(
            f"redeemed_at {_when(at)} is older than the chain's offline window "
            f"({_minutes(window)}): it could be uploaded until {_when(at + window)}")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _minutes(window: timedelta) -> str:
    minutes = int(window.total_seconds()) // 60
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


async def _sync_redeem(principal: Principal, store: StoreRow, item: SyncItem,
                       signer: CodeSigner, window: timedelta) -> RedemptionOut:
    """Judge one offline item at its own time; accepted means redeemed and receipted.

    The rule: ``redeemed_at`` inside the chain's window (``_inside_window``); the code
    valid at ``redeemed_at`` (its signed not_after, then the voucher's own record: status,
    valid_until, the campaign's start, the store); and the upload within the window after
    the code's end. The last one follows from the first two (redeemed_at >= now - window
    and redeemed_at <= the end) and is checked anyway, so that it holds whatever else
    changes. The redemption is recorded now: the day sheet, the stats and the reversal
    window count from the upload, never from the scanner's clock."""
    now, at, store_id = utcnow(), item.redeemed_at, store["id"]
    if at.tzinfo is None:
        raise ValidationError("redeemed_at", "needs an offset")
    _inside_window(at, now, window)
    verified = await signer.verify(item.code.strip(), now=at, chain_id=principal.chain_id)
    if now - verified.payload.expires_at > window:
        raise OfflineWindowExceeded(
            f"the code ended at {_when(verified.payload.expires_at)}, longer ago "
            f"than the chain's offline window ({_minutes(window)})")
    if verified.kind != CodeKind.VOUCHER:
        raise NotSupportedOffline()
    body = RedeemIn(store_id=store_id, code=item.code, action=item.action,
                    amount_cents=item.amount_cents)
    scan = Scan(principal, store, item.code, verified, body, now)
    async with write_transaction():
        redemption = await VOUCHERS.redeem(scan, at=at, client_ref=item.client_ref)
        await repo.insert_sync_receipt({"chain": principal.chain_id,
                                        "client_ref": item.client_ref, "store": store_id,
                                        "status": "accepted", "redemption_id": redemption.id,
                                        "created_at": now})
    return redemption


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _parse_uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if isinstance(value, str) else None
