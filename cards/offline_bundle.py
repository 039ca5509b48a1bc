"""The signed offline bundle (issue 17): what an offline scanner caches so a voucher it
scans without a network shows its value and terms. The chain's active code-signing key
signs it (the Ed25519 keys GET /keys publishes), so the page trusts the terms exactly as
much as it trusts the voucher's code. Its campaigns are the active ones not over yet and
usable at the store; its vouchers those still ``issued``, newest first, at most
``MAX_VOUCHERS`` (``truncated`` says when more exist).

Gifting (issue 20) adds two lists an offline scanner checks before the terms: ``gifting``,
the keys of vouchers being given right now (refused offline as online: voucher_gifting),
and ``code_ends``, for a voucher that changed hands, the ``not_after`` of its code now
(the friend's code ends a second before the giver's: cards.gifting), so a scanner refuses
the giver's dead code (invalid_code) instead of queueing it. Both are additions: an older
scanner ignores them. Only what a bundle knew when fetched, as everything in it.

The vouchers are keyed by :func:`voucher_key`, a hash of the id, never the id: the bundle
goes to every clerk of the store, and a voucher's id is what GET /vouchers/{id} answers
its code by (for its member); the scanner hashes the id of the code it scanned the same
way (app/web/static/clerk/bundle.js). The signature is over ``BUNDLE_DOMAIN + payload``
(domain separation from the codes the same key signs; decision 037)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.keys import CodeSigner
from cards import repository as repo
from cards.campaign_rules import hours_of
from cards.rows import BundleVoucher, CampaignRow
from cards.schemas import OfflineBundle
from stores import service as stores

MAX_VOUCHERS = 20_000
BUNDLE_VERSION = 2
BUNDLE_DOMAIN = b"o2o/offline-bundle/v1\n"  # what the signature covers before the payload
VOUCHER_KEY_DOMAIN = b"o2o/offline-bundle/voucher\n"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def voucher_key(voucher_id: uuid.UUID) -> str:
    """A voucher's key in the bundle: base64url (no padding) of
    SHA-256(b"o2o/offline-bundle/voucher\\n" + the id's 16 bytes, big-endian as in the
    code), its first 16 characters (96 bits)."""
    return b64url(hashlib.sha256(VOUCHER_KEY_DOMAIN + voucher_id.bytes).digest())[:16]


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes signed: UTF-8 JSON, keys sorted, no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _campaign(row: CampaignRow) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "kind": row["kind"],
            "value_cents": row["value_cents"], "percent_off": row["percent_off"],
            "max_discount_cents": row["max_discount_cents"], "item_name": row["item_name"],
            "min_spend_cents": row["min_spend_cents"], "store_ids": row["store_ids"],
            "weekdays": row["weekdays"], "hours": hours_of(row), "time_from": row["time_from"],
            "time_until": row["time_until"], "valid_from": row["valid_from"].isoformat(),
            "valid_until": row["valid_until"].isoformat()}


def _second(moment: datetime) -> int:
    """A code's ``not_after`` for an end at ``moment``: its whole second."""
    return int(moment.timestamp())


def _code_ends(vouchers: list[BundleVoucher], campaigns: list[CampaignRow],
               index: dict[uuid.UUID, int]) -> dict[str, int]:
    """The issued vouchers whose code is no longer the one issued (given to a friend: it
    ends before its campaign), each with its code's ``not_after`` now."""
    ends = {}
    for voucher in vouchers:
        own = _second(voucher["valid_until"])
        if voucher["status"] == "issued" and \
                own != _second(campaigns[index[voucher["campaign"]]]["valid_until"]):
            ends[voucher_key(voucher["id"])] = own
    return ends


async def offline_bundle(principal: Principal, store_id: uuid.UUID,
                         signer: CodeSigner) -> OfflineBundle:
    store = await stores.visible_store(principal, store_id)
    now = utcnow()
    campaigns = [row for row in await repo.live_campaigns(principal.chain_id, now)
                 if row["store_ids"] is None or str(store_id) in row["store_ids"]]
    index = {row["id"]: n for n, row in enumerate(campaigns)}
    found = await repo.issued_vouchers(list(index), now, MAX_VOUCHERS + 1)
    vouchers = found[:MAX_VOUCHERS]
    document = {
        "version": BUNDLE_VERSION, "chain_id": str(principal.chain_id),
        "store_id": str(store_id), "store_timezone": store["timezone"],
        "generated_at": now.isoformat(), "campaigns": [_campaign(r) for r in campaigns],
        "vouchers": {voucher_key(v["id"]): index[v["campaign"]]
                     for v in vouchers if v["status"] == "issued"},
        "gifting": sorted(voucher_key(v["id"]) for v in vouchers if v["status"] == "gifting"),
        "code_ends": _code_ends(vouchers, campaigns, index),
        "truncated": len(found) > MAX_VOUCHERS,
    }
    payload = canonical(document)
    kid, signature = await signer.sign_document(principal.chain_id, BUNDLE_DOMAIN, payload)
    return OfflineBundle(payload=b64url(payload), kid=kid, signature=b64url(signature))
