"""Which scope an API key needs on each route: ONE table, at the composition root.

Keys are ``"METHOD path"`` as Litestar registers the route (typed path parameters, e.g.
``/api/v1/cards/{card_id:uuid}``); values are a scope, or a tuple of scopes all required
(``()``: any key of the chain). A route absent from the table is refused to every key
(403 ``forbidden``): people's tools (staff, stores, campaigns, chain settings, the
notification log), members' own routes (``/me/...``), and the management of keys and
webhook endpoints are never a machine's. :func:`apply` copies each entry onto its route
handler's ``opt`` at app creation, where app.core.auth.allow reads it.

On top of its scopes a key acts in a role (chain-wide: operator; store-limited: manager
of its stores), so the route's own role guard and store checks still hold: an
operator-only route (the import, the export) is chain-wide keys only. The event feed
lets a store-limited key read its stores' events (decision 042, its own guard).

Choices the contract leaves open (docs/decisions/041-api-keys.md):
- ``redeem`` covers the till's whole loop: preview (GET and POST), redeem, offline sync,
  the offline bundle a scanner needs for sync, and the day's redemption list (the till's
  reconciliation). Reversal is not a key's: the contract's ``redeem`` is preview, redeem
  and sync, a reversal is a manager's judgement (people sign it), and a leaked till key
  must not be able to undo the day's sales.
- ``cards:write`` is issue and top up (the contract's words); freeze, unfreeze and cancel
  stay an operator's acts.
- A member's cards and vouchers as staff see them (no codes) are ``cards:read``; a
  voucher by id and its QR (``code``: it spends the voucher) are refused to keys.
- Online top-up orders are read with ``cards:read`` (the list and one order); placing
  and paying one is the member's own act, and the WeChat Pay config a person's. The list
  and the pay anomalies (``GET /pay-anomalies``, also ``cards:read``: the chain's online
  money) are operators' routes, so chain-wide keys only.
- The WeChat card bag (issue 21) is no key's: a template's WeChat card and its sync
  health are the operator's page, ``cardExt`` and ``wx.config`` a member's own; WeChat's
  callback takes no credential at all (the chain's message-server key proves it).
- The chain's stores, their services and resources are readable by any key (``()``):
  every scope needs their ids (a store for redeem, a service for bookings), and they
  hold nothing personal (availability is public).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute

from app.core.apikeys.schemas import SCOPES
from app.core.auth import KEY_SCOPES_OPT

Need = str | tuple[str, ...]

KEY_SCOPES: dict[str, Need] = {
    # the chain's structure: any key
    "GET /api/v1/stores": (),
    "GET /api/v1/stores/{store_id:uuid}": (),
    "GET /api/v1/stores/{store_id:uuid}/services": (),
    "GET /api/v1/stores/{store_id:uuid}/resources": (),
    # members
    "GET /api/v1/members": "members:read",
    "GET /api/v1/members/{member_id:uuid}": "members:read",
    "GET /api/v1/members/export.csv": "members:read",
    "POST /api/v1/members": "members:write",
    "PATCH /api/v1/members/{member_id:uuid}": "members:write",
    "POST /api/v1/imports/members": ("members:write", "cards:write"),
    # cards
    "GET /api/v1/card-templates": "cards:read",
    "GET /api/v1/card-templates/{template_id:uuid}": "cards:read",
    "GET /api/v1/cards/{card_id:uuid}": "cards:read",
    "GET /api/v1/cards/{card_id:uuid}/ledger": "cards:read",
    "GET /api/v1/members/{member_id:uuid}/cards": "cards:read",
    "GET /api/v1/members/{member_id:uuid}/vouchers": "cards:read",
    "POST /api/v1/cards": "cards:write",
    "POST /api/v1/cards/{card_id:uuid}/top-ups": "cards:write",
    # online top-up orders (the operator page's list and one order): reading cards' money
    "GET /api/v1/top-up-orders": "cards:read",
    "GET /api/v1/top-up-orders/{order_id:uuid}": "cards:read",
    "GET /api/v1/pay-anomalies": "cards:read",
    # the till
    "GET /api/v1/redemptions/preview": "redeem",
    "POST /api/v1/redemptions/preview": "redeem",
    "POST /api/v1/redemptions": "redeem",
    "POST /api/v1/redemptions/sync": "redeem",
    "GET /api/v1/campaigns/offline-bundle": "redeem",
    "GET /api/v1/redemptions": "redeem",
    # bookings
    "GET /api/v1/bookings/{booking_id:uuid}": "bookings:read",
    "GET /api/v1/stores/{store_id:uuid}/bookings": "bookings:read",
    "GET /api/v1/members/{member_id:uuid}/bookings": "bookings:read",
    "POST /api/v1/bookings": "bookings:write",
    "POST /api/v1/bookings/{booking_id:uuid}/reschedule": "bookings:write",
    "POST /api/v1/bookings/{booking_id:uuid}/cancel": "bookings:write",
    "POST /api/v1/bookings/{booking_id:uuid}/check-in": "bookings:write",
    "POST /api/v1/bookings/{booking_id:uuid}/complete": "bookings:write",
    "POST /api/v1/bookings/{booking_id:uuid}/no-show": "bookings:write",
    # stats
    "GET /api/v1/stats/overview": "stats:read",
    "GET /api/v1/stats/timeseries": "stats:read",
    "GET /api/v1/stats/export.csv": "stats:read",
    "GET /api/v1/stats/services": "stats:read",
    "GET /api/v1/stats/cohorts": "stats:read",
    "GET /api/v1/stats/stores": "stats:read",
    "GET /api/v1/stats/liability": "stats:read",
    # campaign results (issue 20: chain-wide keys, the routes are operators')
    "GET /api/v1/stats/campaigns": "stats:read",
    "GET /api/v1/stats/campaigns.csv": "stats:read",
    "GET /api/v1/stats/campaigns/{campaign_id:uuid}/daily": "stats:read",
    "GET /api/v1/stats/automations": "stats:read",
    "GET /api/v1/stats/jobs": "stats:read",
    "GET /api/v1/stats/referrals": "stats:read",
    # the event feed
    "GET /api/v1/events": "events:read",
}


def needed(entry: Need) -> frozenset[str]:
    return frozenset((entry,) if isinstance(entry, str) else entry)


def apply(app: Litestar, table: dict[str, Need] = KEY_SCOPES) -> None:
    """Put each route's scopes on its handler's ``opt`` (read by app.core.auth.allow).
    A table entry whose route is not served (yet) is left alone; a scope outside the
    contract's list is a programming error."""
    for need in table.values():
        unknown = needed(need) - set(SCOPES)
        assert not unknown, f"app/key_scopes.py names unknown scopes {sorted(unknown)}"
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            methods = sorted(handler.http_methods - {"HEAD", "OPTIONS"})
            wants = {table.get(f"{m} {route.path}") for m in methods}
            if not methods or wants == {None}:
                continue
            assert len(wants) == 1, f"{route.path}: one handler, one entry for all methods"
            entry = wants.pop()
            assert entry is not None
            handler.opt[KEY_SCOPES_OPT] = needed(entry)
