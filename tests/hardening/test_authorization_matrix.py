"""The authorization matrix, generated from the app's route table: every endpoint under
/api/v1 x every role (operator, manager, clerk, member, anonymous) x objects of the
caller's own store, another store of the same chain, another member and another chain.

The expected outcome comes from POLICY, written from API.md's roles table:

- operator (one chain): everything inside the chain;
- manager (listed stores): staff (clerks) of those stores, services, resources,
  bookings, redemptions, stats of those stores;
- clerk (listed stores): scan/redeem, top up, issue cards, register members, check
  bookings in, at those stores;
- member (own data in one chain): own profile, cards, vouchers, bookings; claim; book;
  cancel own bookings;

plus the contract's rules: no token is 401; a role that may never act is 403; an object
outside the caller's scope answers 404, like a missing one. A call the policy allows must
answer the route's success status, or 409 when an earlier call of the run already changed
the object (a cancelled card cannot be frozen); anything else is a hole, and so is a call
answered differently from the policy. An endpoint without a POLICY entry fails the test:
add one when you add a route.

The callers are alpha's operator, store-1 manager, store-1 clerk and member 1; the
targets are the bundles of tests/hardening/seed.py.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar

from app.core.auth import Principal
from tests.conftest import ONE_ENGINE
from tests.hardening.routes import Route, api_routes
from tests.hardening.seed import TARGETS, Bundle, Seeded, seed, tomorrow_at
from tests.world import PASSWORD, World


# The matrix judges what the app decides for each route, role and target, not an engine's
# SQL (the routes' own tests run on both engines): it runs on one engine, PostgreSQL when
# the run has it (CI), else SQLite.
@pytest.fixture(params=ONE_ENGINE)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)

ROLES = ("operator", "manager", "clerk", "member", "anonymous")
EVERYONE = frozenset({"operator", "manager", "clerk", "member"})
STAFF = frozenset({"operator", "manager", "clerk"})
MANAGERS = frozenset({"operator", "manager"})
OPERATOR = frozenset({"operator"})
MEMBER = frozenset({"member"})

# Scopes: how the target object limits a role the policy lets act.
NONE = "none"  # no object, or only the caller's own (lists, /me, creating a store)
CHAIN = "chain"  # any object of the caller's chain
STORE = "store"  # staff: the stores they cover (operators: all); members: their chain
OWNER = "owner"  # members: their own data; staff: their chain
BOOKING = "booking"  # members: their own; staff: the stores they cover
PUBLIC = "public"  # no token needed; every target answers
CODE = "code"  # a voucher's code: members their own, operators their chain; others 404

Maker = Callable[[Bundle, str], Any]
_serial = itertools.count()


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scope: str
    body: Maker | None = None
    query: Maker | None = None
    variant: str = ""
    late: bool = False  # changes the object for good: run after the others
    # Answers that also mean "let through" (e.g. 400 for a deliberately wrong password).
    passes: frozenset[int] = frozenset()


def _expected(rule: Rule, role: str, target: str) -> int | None:
    """The denial the policy demands, or None when the call is allowed."""
    if rule.scope == PUBLIC:
        return None
    if role == "anonymous":
        return 401
    if role not in rule.roles:
        return 403
    if rule.scope == NONE:
        return None
    if target == "foreign":
        return 404
    if rule.scope == CODE and role in ("manager", "clerk"):
        return 404  # a code spends the voucher: outside every clerk's and manager's scope
    staff_scope = {STORE: STORE, BOOKING: STORE, OWNER: CHAIN, CHAIN: CHAIN,
                   CODE: CHAIN}[rule.scope]
    member_scope = {STORE: CHAIN, BOOKING: OWNER, OWNER: OWNER, CHAIN: CHAIN,
                    CODE: OWNER}[rule.scope]
    scope = member_scope if role == "member" else staff_scope
    if scope == STORE and role in ("manager", "clerk") and target == "sibling":
        return 404
    if scope == OWNER and target == "other_member":
        return 404
    return None


# --- bodies and queries ------------------------------------------------------------------

def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}-{uuid.uuid4().hex[:6]}"


def _phone() -> str:
    return f"139{next(_serial):04d}{uuid.uuid4().int % 10000:04d}"


HOURS = [{"weekday": d, "open": "09:00", "close": "21:00"} for d in range(7)]


def _booking(b: Bundle, role: str) -> Any:
    body = {"store_id": b.store_id, "service_id": b.service_id, "start": tomorrow_at("15:00")}
    return body if role == "member" else {**body, "member_id": b.member_id}


def _redeem(b: Bundle, _: str) -> Any:
    return {"code": b.voucher_code, "store_id": b.store_id, "amount_cents": 10_000}


def _sync(b: Bundle, _: str) -> Any:
    return {"store_id": b.store_id, "items": [{
        "code": b.voucher_code, "client_ref": _unique("ref"),
        "redeemed_at": "2026-01-01T00:00:00+08:00"}]}


def _staff(role: str) -> Maker:
    return lambda b, _: {"username": _unique(f"matrix-{role}"), "password": PASSWORD,
                         "role": role, "store_ids": [b.store_id]}


def _day(b: Bundle, _: str) -> Any:
    return {"store_id": b.store_id}


@functools.cache
def pay_config() -> dict[str, str]:
    """A WeChat Pay config that passes PUT /wechat-pay-config's checks (fresh RSA keys)."""
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "mchid": "1900000109", "appid": "wx8888888888888888",
        "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "merchant_private_key_pem": merchant.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode(),
        "apiv3_key": "0123456789abcdef0123456789abcdef",
        "platform_public_key_id": "PUB_KEY_ID_0119000001092025010100000001",
        "platform_public_key_pem": platform.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    }


POLICY: dict[str, list[Rule]] = {
    # auth and public
    "POST /api/v1/auth/staff/login": [Rule(EVERYONE, PUBLIC, body=lambda b, _: {
        "username": "alpha-clerk1", "password": PASSWORD})],
    "POST /api/v1/auth/member/wechat": [Rule(EVERYONE, PUBLIC, body=lambda b, _: {
        "chain_id": b.chain_id, "code": "sandbox:matrix-openid"})],
    "GET /api/v1/health": [Rule(EVERYONE, PUBLIC)],
    "GET /api/v1/keys": [Rule(EVERYONE, PUBLIC, query=lambda b, _: {"chain_id": b.chain_id})],
    "GET /api/v1/stores/{store_id}/availability": [Rule(EVERYONE, PUBLIC, query=lambda b, _: {
        "service_id": b.service_id, "date": tomorrow_at("09:00")[:10]})],
    # the member's own
    "GET /api/v1/me": [Rule(MEMBER, NONE)],
    "PATCH /api/v1/me": [Rule(MEMBER, NONE, body=lambda b, _: {"name": "Renamed"})],
    "POST /api/v1/me/phone/wechat": [Rule(MEMBER, NONE, body=lambda b, _: {
        "code": f"sandbox:{_phone()}"})],
    "GET /api/v1/me/cards": [Rule(MEMBER, NONE)],
    "GET /api/v1/me/vouchers": [Rule(MEMBER, NONE)],
    "GET /api/v1/me/bookings": [Rule(MEMBER, NONE)],
    "GET /api/v1/me/inbox": [Rule(MEMBER, NONE)],
    # live updates (app/live.py): a ticket for members; the stream takes only a ticket
    # (EventSource sends no header), so without a valid one every caller gets 401.
    "POST /api/v1/me/events/ticket": [Rule(MEMBER, NONE)],
    "GET /api/v1/me/events": [Rule(EVERYONE, PUBLIC, query=lambda b, _: {
        "ticket": "not-a-ticket"}, passes=frozenset({401}))],
    # chain, stores, staff, members
    "GET /api/v1/chain": [Rule(OPERATOR, NONE)],
    "PATCH /api/v1/chain": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "offline_window_minutes": 1440, "locale": "zh-CN"})],
    "GET /api/v1/wechat-config": [Rule(OPERATOR, NONE)],
    "PUT /api/v1/wechat-config": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "app_id": "wx1234567890", "app_secret": "s3cret-s3cret", "templates": {}})],
    "GET /api/v1/stores": [Rule(EVERYONE, NONE)],
    "POST /api/v1/stores": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "name": "New store", "timezone": "Asia/Tokyo", "opening_hours": HOURS})],
    "GET /api/v1/stores/{store_id}": [Rule(EVERYONE, STORE)],
    "PATCH /api/v1/stores/{store_id}": [Rule(OPERATOR, STORE, body=lambda b, _: {
        "address": "1 New Road"})],
    "GET /api/v1/stores/{store_id}/services": [Rule(EVERYONE, STORE)],
    "POST /api/v1/stores/{store_id}/services": [Rule(MANAGERS, STORE, body=lambda b, _: {
        "name": "Beard trim", "duration_minutes": 20, "price_cents": 3000})],
    # A service is its store's managers' to change, like creating one.
    "PATCH /api/v1/stores/{store_id}/services/{service_id}": [Rule(MANAGERS, STORE,
                                                                   body=lambda b, _: {
        "name": "Haircut"})],
    "GET /api/v1/stores/{store_id}/resources": [Rule(EVERYONE, STORE)],
    "POST /api/v1/stores/{store_id}/resources": [Rule(MANAGERS, STORE, body=lambda b, _: {
        "name": "Chair 9", "kind": "staff", "capacity": 1, "service_ids": [b.service_id]})],
    "GET /api/v1/staff": [Rule(MANAGERS, NONE)],
    "PATCH /api/v1/staff/{staff_id}": [Rule(MANAGERS, STORE, body=lambda b, _: {
        "name": "Renamed"})],
    "POST /api/v1/staff/{staff_id}/password": [Rule(MANAGERS, STORE, body=lambda b, _: {
        "password": "another-password-42"})],
    "POST /api/v1/staff/{staff_id}/deactivate": [Rule(MANAGERS, STORE, late=True)],
    "POST /api/v1/staff/{staff_id}/activate": [Rule(MANAGERS, STORE, late=True)],
    # A right old password would end every other token of the caller (the matrix's own):
    # a wrong one proves the guard and answers 400.
    "POST /api/v1/me/password": [Rule(STAFF, NONE, body=lambda b, _: {
        "old_password": "not-the-password", "new_password": "another-password-42"},
        passes=frozenset({400}))],
    "POST /api/v1/auth/logout": [Rule(EVERYONE, NONE)],
    "POST /api/v1/staff": [Rule(MANAGERS, STORE, body=_staff("clerk"), variant="clerk"),
                           Rule(OPERATOR, STORE, body=_staff("manager"), variant="manager")],
    "GET /api/v1/members": [Rule(MANAGERS, NONE),
                            Rule(STAFF, NONE, query=lambda b, _: {"phone": _phone()},
                                 variant="by phone"),
                            Rule(MANAGERS, NONE, query=lambda b, _: {
                                "q": "member", "tier": "Gold", "template_id": b.template_id,
                                "last_visit_after": "2026-01-01"}, variant="search"),
                            # The chain's own id is a search like the others (issue 18).
                            Rule(MANAGERS, NONE, query=lambda b, _: {
                                "external_id": "crm-1"}, variant="by external id")],
    "POST /api/v1/members": [Rule(STAFF, NONE, body=lambda b, _: {
        "name": "Walk-in", "phone": _phone()})],
    "GET /api/v1/members/{member_id}": [Rule(EVERYONE, OWNER)],
    # Staff see every member of their chain (GET above), so any of them may correct one.
    "PATCH /api/v1/members/{member_id}": [Rule(STAFF, CHAIN, body=lambda b, _: {
        "name": "Renamed"})],
    # Member import and export (issue 18): operators only. The matrix sends JSON or no
    # body, never text/csv, so the operator's call is let through the guard and then
    # refused 415 by the route (the import itself: tests/cards/test_import.py).
    "POST /api/v1/imports/members": [Rule(OPERATOR, NONE, passes=frozenset({415}))],
    "GET /api/v1/members/export.csv": [Rule(OPERATOR, NONE)],
    "GET /api/v1/members/{member_id}/cards": [Rule(STAFF, CHAIN)],
    "GET /api/v1/members/{member_id}/vouchers": [Rule(STAFF, CHAIN)],
    # cards
    "GET /api/v1/card-templates": [Rule(EVERYONE, NONE)],
    "POST /api/v1/card-templates": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "name": "Membership", "kind": "membership"})],
    "GET /api/v1/card-templates/{template_id}": [Rule(EVERYONE, CHAIN)],
    # a membership template: 409 wrong_card_kind once let through (tests/cards/test_money.py)
    "PATCH /api/v1/card-templates/{template_id}": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "bonus_policy": "paid_first"})],
    "POST /api/v1/card-templates/{template_id}/claim": [Rule(MEMBER, CHAIN)],
    "POST /api/v1/cards": [Rule(STAFF, STORE, body=lambda b, _: {
        "template_id": b.template_id, "member_id": b.member_id, "store_id": b.store_id})],
    "GET /api/v1/cards/{card_id}": [Rule(EVERYONE, OWNER)],
    "GET /api/v1/cards/{card_id}/ledger": [Rule(EVERYONE, OWNER)],
    "GET /api/v1/cards/{card_id}/code": [Rule(MEMBER, OWNER)],
    "GET /api/v1/cards/{card_id}/qr.png": [Rule(MEMBER, OWNER)],
    "GET /api/v1/cards/{card_id}/qr.svg": [Rule(MEMBER, OWNER)],
    "POST /api/v1/cards/{card_id}/top-ups": [Rule(STAFF, STORE, body=lambda b, _: {
        "amount_cents": 100, "store_id": b.store_id})],
    "POST /api/v1/cards/{card_id}/freeze": [Rule(OPERATOR, CHAIN, late=True)],
    "POST /api/v1/cards/{card_id}/unfreeze": [Rule(OPERATOR, CHAIN, late=True)],
    "POST /api/v1/cards/{card_id}/cancel": [Rule(OPERATOR, CHAIN, late=True)],
    # vouchers and redemption
    "GET /api/v1/campaigns": [Rule(EVERYONE, NONE)],
    "POST /api/v1/campaigns": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "name": "Gift", "kind": "gift", "item_name": "Hair mask", "total_quantity": 10,
        "valid_from": "2026-01-01T00:00:00+08:00", "valid_until": "2099-01-01T00:00:00+08:00"})],
    "GET /api/v1/campaigns/{campaign_id}": [Rule(EVERYONE, CHAIN)],
    "POST /api/v1/campaigns/{campaign_id}/claim": [Rule(MEMBER, CHAIN)],
    "POST /api/v1/campaigns/{campaign_id}/issue": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "member_ids": [b.member_id]})],
    "GET /api/v1/campaigns/{campaign_id}/results": [Rule(OPERATOR, CHAIN)],
    "GET /api/v1/campaigns/offline-bundle": [Rule(STAFF, STORE, query=_day)],
    "POST /api/v1/campaigns/{campaign_id}/pause": [Rule(OPERATOR, CHAIN, late=True)],
    "POST /api/v1/campaigns/{campaign_id}/resume": [Rule(OPERATOR, CHAIN, late=True)],
    "GET /api/v1/vouchers/{voucher_id}": [Rule(EVERYONE, CODE)],
    "GET /api/v1/vouchers/{voucher_id}/qr.png": [Rule(EVERYONE, CODE)],
    "GET /api/v1/vouchers/{voucher_id}/qr.svg": [Rule(EVERYONE, CODE)],
    "POST /api/v1/vouchers/{voucher_id}/revoke": [Rule(OPERATOR, CHAIN, late=True)],
    # gifting (issue 20): the seeded campaign is not giftable (409 not_giftable for the
    # voucher's own member); no gift is seeded (see Bundle.gift).
    "POST /api/v1/vouchers/{voucher_id}/gift": [Rule(MEMBER, OWNER)],
    "GET /api/v1/gifts/{gift}": [Rule(MEMBER, CHAIN, passes=frozenset({404}))],
    "POST /api/v1/gifts/{gift}/accept": [Rule(MEMBER, CHAIN, passes=frozenset({404}))],
    "POST /api/v1/gifts/{gift}/cancel": [Rule(MEMBER, CHAIN, passes=frozenset({404}))],
    "GET /api/v1/me/gifts": [Rule(MEMBER, NONE)],
    # issue jobs (issue 20): no job is seeded (see Bundle.job_id)
    "GET /api/v1/jobs": [Rule(OPERATOR, NONE)],
    "GET /api/v1/jobs/{job_id}": [Rule(OPERATOR, CHAIN, passes=frozenset({404}))],
    "GET /api/v1/redemptions": [Rule(STAFF, STORE, query=_day)],
    "GET /api/v1/redemptions/preview": [Rule(STAFF, STORE, query=lambda b, _: {
        "code": b.voucher_code, "store_id": b.store_id})],
    "POST /api/v1/redemptions/preview": [Rule(STAFF, STORE, body=lambda b, _: {
        "code": b.voucher_code, "store_id": b.store_id})],
    "POST /api/v1/redemptions": [Rule(STAFF, STORE, body=_redeem)],
    "POST /api/v1/redemptions/sync": [Rule(STAFF, STORE, body=_sync)],
    "POST /api/v1/redemptions/{redemption_id}/reverse": [Rule(MANAGERS, STORE, late=True)],
    # bookings
    "POST /api/v1/bookings": [Rule(EVERYONE, STORE, body=_booking)],
    "GET /api/v1/bookings/{booking_id}": [Rule(EVERYONE, BOOKING)],
    "POST /api/v1/bookings/{booking_id}/reschedule": [Rule(EVERYONE, BOOKING, body=lambda b, _: {
        "start": tomorrow_at("17:00")})],
    "POST /api/v1/bookings/{booking_id}/cancel": [Rule(EVERYONE, BOOKING, late=True)],
    "POST /api/v1/bookings/{booking_id}/check-in": [Rule(STAFF, STORE, late=True)],
    "POST /api/v1/bookings/{booking_id}/complete": [Rule(STAFF, STORE, late=True)],
    "POST /api/v1/bookings/{booking_id}/no-show": [Rule(STAFF, STORE, late=True)],
    "GET /api/v1/stores/{store_id}/bookings": [Rule(STAFF, STORE)],
    "GET /api/v1/members/{member_id}/bookings": [Rule(STAFF, OWNER)],
    # notifications
    "GET /api/v1/notifications": [Rule(OPERATOR, NONE)],
    # The chain's event feed: operators (and keys with events:read, tests/hardening/
    # test_key_matrix.py); the route lets managers through for store-limited keys and
    # the service refuses people other than operators.
    "GET /api/v1/events": [Rule(OPERATOR, NONE)],
    # API keys (operators; keys never: tests/hardening/test_key_matrix.py)
    "POST /api/v1/api-keys": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "name": "Matrix POS", "scopes": ["redeem"], "store_ids": None})],
    "GET /api/v1/api-keys": [Rule(OPERATOR, NONE)],
    "POST /api/v1/api-keys/{key_id}/revoke": [Rule(OPERATOR, CHAIN, late=True)],
}

def _stats(**extra: str) -> Maker:
    return lambda b, _: {"from": tomorrow_at("00:00")[:10], "to": tomorrow_at("00:00")[:10],
                         "store_id": b.store_id, **extra}


# Stats (operators: the chain; managers: their stores).
POLICY.update({
    "GET /api/v1/stats/overview": [Rule(MANAGERS, STORE, query=_stats())],
    "GET /api/v1/stats/timeseries": [Rule(MANAGERS, STORE, query=_stats(metric="bookings"))],
    "GET /api/v1/stats/export.csv": [Rule(MANAGERS, STORE, query=_stats())],
    "GET /api/v1/stats/services": [Rule(MANAGERS, STORE, query=_stats())],
    "GET /api/v1/stats/cohorts": [Rule(MANAGERS, STORE, query=lambda b, _: {
        "store_id": b.store_id})],
    "GET /api/v1/stats/stores": [Rule(MANAGERS, NONE, query=lambda b, _: {
        "from": tomorrow_at("00:00")[:10], "to": tomorrow_at("00:00")[:10]})],
    # the chain's money: operators only
    "GET /api/v1/stats/liability": [Rule(OPERATOR, NONE, query=lambda b, _: {
        "date": tomorrow_at("00:00")[:10]})],
})


def _range(b: Bundle, _: str) -> dict[str, str]:
    return {"from": tomorrow_at("00:00")[:10], "to": tomorrow_at("00:00")[:10]}


# Campaign results (issue 20): a campaign is the chain's, operators only.
POLICY.update({
    "GET /api/v1/stats/campaigns": [Rule(OPERATOR, NONE, query=_range)],
    "GET /api/v1/stats/campaigns.csv": [Rule(OPERATOR, NONE, query=_range)],
    "GET /api/v1/stats/campaigns/{campaign_id}/daily": [Rule(OPERATOR, CHAIN, query=_range)],
    "GET /api/v1/stats/automations": [Rule(OPERATOR, NONE, query=_range)],
    "GET /api/v1/stats/jobs": [Rule(OPERATOR, NONE, query=_range)],
    "GET /api/v1/stats/referrals": [Rule(OPERATOR, NONE, query=_range)],
})

# Webhooks: operators (people) of the chain only; API keys never (not in key_scopes).
_HOOK = "/api/v1/webhook-endpoints"
POLICY.update({
    f"POST {_HOOK}": [Rule(OPERATOR, NONE, body=lambda b, _: {
        "url": "http://127.0.0.1:9/matrix", "events": ["*"]})],
    f"GET {_HOOK}": [Rule(OPERATOR, NONE)],
    f"GET {_HOOK}/{{endpoint_id}}": [Rule(OPERATOR, CHAIN)],
    f"PATCH {_HOOK}/{{endpoint_id}}": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "description": "matrix"})],
    f"DELETE {_HOOK}/{{endpoint_id}}": [Rule(OPERATOR, CHAIN, late=True)],
    f"POST {_HOOK}/{{endpoint_id}}/rotate-secret": [Rule(OPERATOR, CHAIN)],
    f"GET {_HOOK}/{{endpoint_id}}/deliveries": [Rule(OPERATOR, CHAIN)],
    f"POST {_HOOK}/{{endpoint_id}}/deliveries/{{delivery_id}}/retry": [Rule(OPERATOR, CHAIN)],
})

# Online top-up (issue 19): the WeChat Pay config is the operator's; a member places and
# (in sandbox mode, where the matrix runs) pays orders of their own cards; staff of the
# chain read every order. WeChat Pay's notify route takes no token: the seeded chains have
# no WeChat Pay config, so it answers 404 to everyone (401 SIGN_ERROR with one and no
# signature).
POLICY.update({
    "GET /api/v1/wechat-pay-config": [Rule(OPERATOR, NONE)],
    "PUT /api/v1/wechat-pay-config": [Rule(OPERATOR, NONE, body=lambda b, _: pay_config())],
    "POST /api/v1/cards/{card_id}/top-up-orders": [Rule(MEMBER, OWNER, body=lambda b, _: {
        "amount_cents": 10_000})],
    "GET /api/v1/me/top-up-orders": [Rule(MEMBER, NONE)],
    # online payments are the chain's, not a store's (like the liability): operators
    "GET /api/v1/top-up-orders": [Rule(OPERATOR, NONE)],
    "GET /api/v1/pay-anomalies": [Rule(OPERATOR, NONE)],
    "GET /api/v1/top-up-orders/{order_id}": [Rule(EVERYONE, OWNER)],
    "POST /api/v1/top-up-orders/{order_id}/sandbox-pay": [Rule(MEMBER, OWNER, late=True)],
    "POST /api/v1/pay/wechat/notify/{chain_id}": [Rule(EVERYONE, PUBLIC,
                                                       passes=frozenset({401, 404}))],
})
# Refunds (followup): an operator's act on an order of the chain. The seeded order is a
# pending sandbox order (409 order_not_refundable) until sandbox-pay pays it (then 202).
POLICY.update({
    "POST /api/v1/top-up-orders/{order_id}/refund": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "reason": "matrix"}, late=True)],
})
# Automations (issue 20): the chain's operators only.
POLICY.update({
    # the campaign named in the body is the target: another chain's answers 404
    "POST /api/v1/automations": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "name": "Matrix", "trigger": "welcome", "campaign_id": b.campaign_id})],
    "GET /api/v1/automations": [Rule(OPERATOR, NONE)],
    "GET /api/v1/automations/{automation_id}": [Rule(OPERATOR, CHAIN)],
    "PATCH /api/v1/automations/{automation_id}": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "name": "Matrix"})],
    "GET /api/v1/automations/{automation_id}/runs": [Rule(OPERATOR, CHAIN)],
})
# Segments (issue 20): operators, and managers within their stores' members.
POLICY.update({
    "POST /api/v1/segments/preview": [Rule(MANAGERS, NONE, body=lambda b, _: {
        "filters": {"visits_min": 0}})],
    "POST /api/v1/segments": [Rule(MANAGERS, NONE, body=lambda b, _: {
        "name": _unique("Matrix"), "filters": {}})],
    "GET /api/v1/segments": [Rule(MANAGERS, NONE)],
    "GET /api/v1/segments/{segment_id}": [Rule(MANAGERS, CHAIN, passes=frozenset({404}))],
    "PATCH /api/v1/segments/{segment_id}": [Rule(MANAGERS, CHAIN, body=lambda b, _: {
        "name": "Matrix"}, passes=frozenset({404}))],
    "DELETE /api/v1/segments/{segment_id}": [Rule(MANAGERS, CHAIN, passes=frozenset({404}))],
    "GET /api/v1/segments/{segment_id}/members": [Rule(MANAGERS, CHAIN,
                                                       passes=frozenset({404}))],
    "GET /api/v1/segments/{segment_id}/export.csv": [Rule(MANAGERS, CHAIN,
                                                          passes=frozenset({404}))],
})
# Referral (issue 20): the program is the operators'; a code is its member's.
POLICY.update({
    "PUT /api/v1/referral-program": [Rule(OPERATOR, CHAIN, body=lambda b, _: {
        "referrer_campaign_id": b.campaign_id, "invitee_campaign_id": b.campaign_id})],
    "GET /api/v1/referral-program": [Rule(OPERATOR, NONE, passes=frozenset({404}))],
    "GET /api/v1/referrals": [Rule(OPERATOR, NONE)],
    "GET /api/v1/me/referral": [Rule(MEMBER, NONE)],
    "GET /api/v1/me/referral/qr.png": [Rule(MEMBER, NONE)],
    "GET /api/v1/me/referral/qr.svg": [Rule(MEMBER, NONE)],
})

# The WeChat card bag (issue 21): a template's WeChat card is the operator's (the seeded
# chains have a WeChat app and run in sandbox mode: the first POST makes the card, later
# ones are 409; GET is 404 until then); cardExt and wx.config are the member's own (409
# while the chain has not turned the card bag on). WeChat's message server takes no token:
# the seeded chains have none (404 to everyone; 401 with one and no signature).
POLICY.update({
    "POST /api/v1/card-templates/{template_id}/wechat-card": [Rule(
        OPERATOR, CHAIN, body=lambda b, _: {"logo_url": "https://mmbiz.qpic.cn/matrix.png",
                                            "brand_name": "Matrix"})],
    "GET /api/v1/card-templates/{template_id}/wechat-card": [Rule(OPERATOR, CHAIN,
                                                                  passes=frozenset({404}))],
    "GET /api/v1/cards/{card_id}/wechat-add": [Rule(MEMBER, OWNER)],
    "GET /api/v1/wechat/js-config": [Rule(MEMBER, NONE, query=lambda b, _: {
        "url": "http://testserver.local/m/"})],
    "GET /api/v1/wechat/callback/{chain_id}": [Rule(EVERYONE, PUBLIC,
                                                    passes=frozenset({401, 404}))],
    "POST /api/v1/wechat/callback/{chain_id}": [Rule(EVERYONE, PUBLIC,
                                                     passes=frozenset({401, 404}))],
})

DENIAL_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


def _principal(world: World, role: str) -> Principal | None:
    return {"operator": world.a.operator, "manager": world.a.staff["alpha-manager"],
            "clerk": world.a.staff["alpha-clerk1"], "member": world.a.members[0],
            "anonymous": None}[role]


def _targets(route: Route, rule: Rule) -> tuple[str, ...]:
    uses_objects = bool(route.path_params) or rule.body is not None or rule.query is not None
    return TARGETS if uses_objects else ("own",)


async def _call(client: httpx.AsyncClient, world: World, route: Route, rule: Rule,
                role: str, bundle: Bundle) -> httpx.Response:
    path = route.path
    for name in route.path_params:
        path = path.replace("{" + name + "}", bundle.ids()[name])
    principal = _principal(world, role)
    kwargs: dict[str, Any] = {"headers": world.headers(principal) if principal else {}}
    if rule.body is not None:
        kwargs["json"] = rule.body(bundle, role)
    if rule.query is not None:
        kwargs["params"] = rule.query(bundle, role)
    return await client.request(route.method, path, **kwargs)


def _judge(response: httpx.Response, want: int | None, success: int,
           passes: frozenset[int] = frozenset()) -> str | None:
    """What is wrong with the answer, or None."""
    if want is None:
        if response.status_code in (success, 409, *passes):
            return None
        return f"allowed, but answered {response.status_code} (want {success})"
    if response.status_code != want:
        return f"answered {response.status_code}, the policy says {want}"
    problem = response.json()
    if problem.get("code") != DENIAL_CODES[want]:
        return f"answered {want} with code {problem.get('code')!r}"
    return None


async def test_every_endpoint_has_a_policy(app: Litestar) -> None:
    routes = {r.key for r in api_routes(app)}
    missing = sorted(routes - set(POLICY))
    stale = sorted(set(POLICY) - routes)
    assert not missing, f"endpoints without an authorization policy: {missing}"
    assert not stale, f"policies of endpoints that no longer exist: {stale}"


async def test_authorization_matrix(client: httpx.AsyncClient, world: World,
                                    app: Litestar) -> None:
    seeded: Seeded = await seed(client, world)
    routes = api_routes(app)
    assert {r.key for r in routes} <= set(POLICY), "see test_every_endpoint_has_a_policy"
    plan = [(route, rule) for route in routes for rule in POLICY[route.key]]
    plan.sort(key=lambda item: item[1].late)  # the object-changing ones last
    holes: list[str] = []
    calls = 0
    for route, rule in plan:
        for role, target in itertools.product(ROLES, _targets(route, rule)):
            response = await _call(client, world, route, rule, role, seeded.bundles[target])
            calls += 1
            wrong = _judge(response, _expected(rule, role, target), route.success,
                           rule.passes)
            if wrong:
                label = f"{route.key}{' (' + rule.variant + ')' if rule.variant else ''}"
                holes.append(f"{label}: {role} on {target}: {wrong}: {response.text[:160]}")
    assert holes == [], f"{len(holes)} holes in {calls} calls:\n" + "\n".join(holes)

