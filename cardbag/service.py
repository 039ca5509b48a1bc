"""The WeChat card bag's rules on the API side: a template made a WeChat member card
(``/card/create``), the ``cardExt`` a member's page hands to ``wx.addCard``, the page's
``wx.config``, and the operator's view of a WeChat card with its sync health.

WeChat is called outside any database transaction: the template's row is claimed first
(its primary key lets one caller in), then WeChat is asked, then its answer is written.
In sandbox mode nothing leaves the process: a card is "created" with a local id and
approved at once, and tickets are a fixed sandbox string, so the pages can be built and
tried without WeChat.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import atomic_statement, write_transaction
from app.core.errors import NotFound, ValidationError
from app.core.notify.adapters import TRANSIENT
from app.core.notify.tokens import TOKEN_REFUSED
from app.core.runtime import Runtime
from app.core.wechat import WechatError
from app.core.wechat_crypto import card_sign, jsapi_sign
from cardbag import repository as repo
from cardbag.errors import (
    MemberNotLinked,
    WechatCardExists,
    WechatCardUnavailable,
    WechatNotConfigured,
    WechatRefused,
    WechatUnavailable,
)
from cardbag.rows import SyncLogRow, WechatCardRow
from cardbag.schemas import (
    JsConfigOut,
    SyncFailureOut,
    SyncHealthOut,
    WechatAddOut,
    WechatCardIn,
    WechatCardOut,
)
from cards import public as cards
from cards.errors import CardInactive
from cards.rows import TemplateRow
from stores import service as stores
from stores.service import MessageServer

log = logging.getLogger("o2o.cardbag")

# A row left ``creating`` this long was abandoned (its process died before WeChat
# answered; a call times out long before): a new POST may take it over.
STALE_CREATING = timedelta(minutes=2)
SANDBOX_TICKET = "sandbox-ticket"
CARD_TICKET, JSAPI_TICKET = "wx_card", "jsapi"
DEFAULT_COLOR = "Color010"
# ?retry=true refetches the wx_card ticket only if it is older than this. Any member may
# send it as often as they like, and WeChat's getticket has a small daily quota shared
# with everything else on the account: at most 288 fetches a day this way.
RETRY_TICKET_AFTER_S = 300

# The card face's words, in the chain's language (stores.chain_locale).
WORDS = {
    "zh-CN": {"tier": "等级", "status": "状态", "qr": "会员码", "qr_tips": "出示动态码",
              "notice": "请出示会员码", "prerogative": "会员权益以门店说明为准",
              "description": "到店出示会员码; 积分与余额实时同步"},
    "en": {"tier": "Tier", "status": "Status", "qr": "Member code", "qr_tips": "Live code",
           "notice": "Show your member code", "prerogative": "Member benefits as offered in "
                                                             "store",
           "description": "Show your member code in store; points and balance stay in "
                          "step"},
}


# --- the template's WeChat card ------------------------------------------------------------

async def create_wechat_card(principal: Principal, template_id: uuid.UUID, body: WechatCardIn,
                             runtime: Runtime, base_url: str) -> WechatCardOut:
    """``POST /card-templates/{id}/wechat-card``: one WeChat card per template, however
    many operators press the button at once (409 ``conflict`` for the others)."""
    template = await cards.template_in_chain(principal.chain_id, template_id)
    if template is None:
        raise NotFound("no such card template")
    server = await stores.wechat_message_server(principal.chain_id, runtime.secrets)
    if server is None:
        raise WechatNotConfigured("PUT /wechat-config first: the card is made in the "
                                  "chain's WeChat account")
    card = card_body(template, body, await stores.chain_locale(principal.chain_id),
                     member_url(_origin(runtime, base_url), principal.chain_id, template_id))
    # Claimed last: only WeChat's call stands between the claim and its outcome's write.
    claimed_at = await _claim(principal.chain_id, template_id, body)
    try:
        wechat_card_id = await _card_create(runtime, server, card)
    except WechatError as exc:
        await _finish(template_id, claimed_at,
                      {"status": "failed", "reject_reason": f"{exc}"[:500]})
        raise _wechat_failure(exc) from exc
    status = "approved" if runtime.sandbox else "pending"  # sandbox: no review to wait for
    if not await _finish(template_id, claimed_at, {
            "status": status, "wechat_card_id": wechat_card_id, "reject_reason": None,
            "reviewed_at": utcnow() if runtime.sandbox else None}):
        log.warning("wechat card %s of template %s came after its row was taken over: "
                    "left unused", wechat_card_id, template_id)
        raise WechatCardExists("this create took so long that another one took over")
    return await get_wechat_card(principal, template_id)


async def _claim(chain_id: uuid.UUID, template_id: uuid.UUID, body: WechatCardIn) -> datetime:
    """Insert-first: the template's row in ``creating``. A row already there is taken
    again only when its create failed (or was abandoned), by a conditional update. The
    claim's time (the row's ``updated_at``) says whose the row is when WeChat answers."""
    now = utcnow()
    looks = {"logo_url": body.logo_url, "brand_name": body.brand_name, "color": body.color,
             "notice": body.notice, "description": body.description}
    row: WechatCardRow = {
        "template_id": template_id, "chain_id": chain_id, "wechat_card_id": None,
        "status": "creating", "reject_reason": None, "created_at": now, "updated_at": now,
        "reviewed_at": None, "logo_url": body.logo_url, "brand_name": body.brand_name,
        "color": body.color, "notice": body.notice, "description": body.description}
    async with atomic_statement():
        if await repo.claim_wechat_card(row):
            return now
    async with atomic_statement():
        retaken = await repo.retake_wechat_card(
            chain_id, template_id, {**looks, "status": "creating", "reject_reason": None,
                                    "wechat_card_id": None, "updated_at": now,
                                    "reviewed_at": None},
            stale_before=now - STALE_CREATING)
    if not retaken:
        raise WechatCardExists("this template already has a WeChat card (or one is being "
                               "created)")
    return now


async def _finish(template_id: uuid.UUID, claimed_at: datetime,
                  values: dict[str, Any]) -> bool:
    """WeChat's answer on the row, if the row is still this claim's (a create so slow
    that another POST took the row over writes nothing)."""
    async with atomic_statement():
        return await repo.finish_wechat_card(template_id, claimed_at,
                                             {**values, "updated_at": utcnow()})


def _origin(runtime: Runtime, base_url: str) -> str:
    """This service's public origin: O2O_PUBLIC_URL, else the request's own base."""
    return (runtime.settings.public_url or base_url).rstrip("/")


def member_url(origin: str, chain_id: uuid.UUID, template_id: uuid.UUID) -> str:
    """The member page for the card's cell: it opens the member's card of this template
    at the live QR. No fragment: WeChat appends its own query parameters to the URL."""
    return f"{origin}/m/?chain={chain_id}&wx_template={template_id}"


def card_body(template: TemplateRow, body: WechatCardIn, locale: str, url: str
              ) -> dict[str, Any]:
    """``/card/create``'s ``card``: a member card whose code is the card's own number
    (``use_custom_code``, bound to the member's openid), with no WeChat barcode (a static
    code would be replayable: the cell opens our signed, single-use QR instead), points
    and balance supplied by o2o, tier and status as custom fields."""
    words = WORDS.get(locale, WORDS["zh-CN"])
    base_info = {
        "logo_url": body.logo_url, "brand_name": body.brand_name,
        "code_type": "CODE_TYPE_NONE", "title": template["name"][:9],
        "color": body.color or DEFAULT_COLOR, "notice": body.notice or words["notice"],
        "description": body.description or words["description"],
        "sku": {"quantity": 100_000_000}, "date_info": {"type": "DATE_TYPE_PERMANENT"},
        "use_custom_code": True, "bind_openid": True, "get_limit": 1,
        "can_share": False, "can_give_friend": False,
        "center_title": words["qr"], "center_sub_title": words["qr_tips"], "center_url": url,
    }
    return {"card_type": "MEMBER_CARD", "member_card": {
        "base_info": base_info, "prerogative": body.description or words["prerogative"],
        "auto_activate": False, "wx_activate": False,
        "supply_bonus": True, "supply_balance": template["kind"] == "stored_value",
        "custom_field1": {"name": words["tier"]}, "custom_field2": {"name": words["status"]},
        "custom_cell1": {"name": words["qr"], "tips": words["qr_tips"], "url": url},
    }}


async def _card_create(runtime: Runtime, server: MessageServer, card: dict[str, Any]) -> str:
    if runtime.sandbox:
        return f"sandbox-{secrets.token_hex(12)}"
    return await runtime.tokens.call_with_token(
        server.app_id, server.secret, lambda token: runtime.wechat.card_create(token, card))


def _wechat_failure(exc: WechatError) -> WechatRefused | WechatUnavailable:
    if exc.errcode is None or exc.errcode in TRANSIENT or exc.errcode in TOKEN_REFUSED:
        return WechatUnavailable(f"WeChat did not answer ({exc.errcode}: {exc.errmsg})")
    return WechatRefused(f"WeChat refused ({exc.errcode}: {exc.errmsg})",
                         errcode=exc.errcode)


async def get_wechat_card(principal: Principal, template_id: uuid.UUID) -> WechatCardOut:
    """``GET /card-templates/{id}/wechat-card``: the card, its review and its sync."""
    row = await repo.get_wechat_card(principal.chain_id, template_id)
    if row is None:
        raise NotFound("this template has no WeChat card")
    return wechat_card_out(row, await sync_health(template_id))


async def sync_health(template_id: uuid.UUID) -> SyncHealthOut:
    counts = await repo.sync_counts(template_id)
    failures = await repo.recent_failures(template_id)
    return SyncHealthOut(in_bag=counts["in_bag"], removed=counts["removed"],
                         pending=counts["pending"], failing=counts["failing"],
                         last_synced_at=await repo.last_synced_at(template_id),
                         recent_failures=[failure_out(f) for f in failures])


def failure_out(row: SyncLogRow) -> SyncFailureOut:
    return SyncFailureOut(card_id=row["card_id"], action=row["action"], seq=row["seq"],
                          errcode=row["errcode"], note=row["note"], at=row["at"],
                          outcome=row["outcome"])


def wechat_card_out(row: WechatCardRow, sync: SyncHealthOut) -> WechatCardOut:
    return WechatCardOut(
        template_id=row["template_id"], wechat_card_id=row["wechat_card_id"],
        status=row["status"], reject_reason=row["reject_reason"],
        brand_name=row["brand_name"], logo_url=row["logo_url"], color=row["color"],
        notice=row["notice"], description=row["description"], created_at=row["created_at"],
        reviewed_at=row["reviewed_at"], sync=sync)


# --- adding a card to the card bag ---------------------------------------------------------

async def wechat_add(principal: Principal, card_id: uuid.UUID, runtime: Runtime, *,
                     retry: bool = False) -> WechatAddOut:
    """``GET /cards/{id}/wechat-add``: the card's WeChat card id and its ``cardExt``,
    signed with the ``wx_card`` api_ticket. Only the card's own member: for anyone else
    the card does not exist (404). ``retry``: the page's ``wx.addCard`` said the
    signature was bad: the ticket is fetched anew (unless it is under five minutes old)."""
    card = await cards.card_in_chain(principal.chain_id, card_id)
    if card is None or card["member"] != principal.id:
        raise NotFound("no such card")
    if card["status"] in ("cancelled", "expired"):
        raise CardInactive(f"the card is {card['status']}")
    server = await stores.wechat_message_server(principal.chain_id, runtime.secrets)
    if server is None or not server.card_bag:
        raise WechatCardUnavailable("the chain does not offer the WeChat card bag")
    wechat_card = await repo.get_wechat_card(principal.chain_id, card["template"])
    if wechat_card is None or wechat_card["status"] != "approved" \
            or not wechat_card["wechat_card_id"]:
        raise WechatCardUnavailable("this card's WeChat card is not approved by WeChat (yet)")
    member = await stores.chain_member(principal.id, principal.chain_id)
    openid = member["openid"] if member else None
    if not openid:
        raise MemberNotLinked("log in through WeChat first: the card is bound to your "
                              "WeChat openid")
    ticket = await _ticket(runtime, server, CARD_TICKET, retry=retry)
    return WechatAddOut(card_id=wechat_card["wechat_card_id"],
                        card_ext=card_ext(ticket, card["number"], openid,
                                          wechat_card["wechat_card_id"]))


def card_ext(ticket: str, code: str, openid: str, wechat_card_id: str, *,
             timestamp: int | None = None, nonce_str: str | None = None) -> str:
    """WeChat's ``cardExt``: the code and openid it binds, signed (card_sign: SHA-1 over
    the sorted values) together with the api_ticket and the card id."""
    stamp = str(timestamp if timestamp is not None else int(utcnow().timestamp()))
    nonce = nonce_str or secrets.token_hex(16)
    signature = card_sign(ticket, code, openid, stamp, nonce, wechat_card_id)
    return json.dumps({"code": code, "openid": openid, "timestamp": stamp,
                       "nonce_str": nonce, "signature": signature}, separators=(",", ":"))


async def _ticket(runtime: Runtime, server: MessageServer, kind: str, *,
                  retry: bool = False) -> str:
    if runtime.sandbox:
        return SANDBOX_TICKET
    try:
        ticket = await runtime.tickets.get(server.app_id, server.secret, kind)
        if retry:
            ticket = await runtime.tickets.refresh(server.app_id, server.secret, kind,
                                                   refused=ticket,
                                                   min_age_s=RETRY_TICKET_AFTER_S)
    except WechatError as exc:
        raise _wechat_failure(exc) from exc
    return ticket


# --- the page's wx.config ------------------------------------------------------------------

async def js_config(principal: Principal, url: str, runtime: Runtime,
                    base_url: str) -> JsConfigOut:
    """``GET /wechat/js-config?url=``: ``wx.config``'s signature for a page of ours (the
    jsapi ticket signs only our own origin: a page elsewhere gets no ticket's help)."""
    page = _own_page(url, _origin(runtime, base_url))
    server = await stores.wechat_message_server(principal.chain_id, runtime.secrets)
    if server is None:
        raise WechatNotConfigured("the chain has no WeChat app")
    ticket = await _ticket(runtime, server, JSAPI_TICKET)
    timestamp, nonce = int(utcnow().timestamp()), secrets.token_hex(16)
    return JsConfigOut(app_id=server.app_id, timestamp=timestamp, nonce_str=nonce,
                       signature=jsapi_sign(ticket, nonce, str(timestamp), page))


def _own_page(url: str, origin: str) -> str:
    """The page's URL without its fragment (the JS-SDK signs it so), if it is ours."""
    page = url.split("#", 1)[0]
    try:
        ours, theirs = _origin_of(origin), _origin_of(page)
    except ValueError:
        raise ValidationError("url", "not a URL") from None
    if theirs != ours or not theirs[1]:
        raise ValidationError("url", f"must be a page of {origin}")
    return page


def _origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


# --- housekeeping -----------------------------------------------------------------------------

# A push is refused by its timestamp after WeChat's 5 minutes: a day of them is plenty.
PUSHES_KEPT = timedelta(days=1)
# The delivery log is for an operator looking at this month's health.
SYNC_LOG_KEPT = timedelta(days=30)


async def purge_old_rows() -> None:
    """Housekeeping: forget taken pushes and delivery log entries past their use."""
    now = utcnow()
    async with write_transaction():
        await repo.purge_pushes(now - PUSHES_KEPT)
        await repo.purge_sync_log(now - SYNC_LOG_KEPT)
