"""Business rules of chains, stores, staff, members, services and resources.

Scope rule used throughout: an object outside the caller's chain or stores is 404
``not_found`` (never 403, which would confirm it exists); a role that may never do an
action is 403 ``forbidden`` (the route guards say which).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import msgspec
from cryptography.exceptions import InvalidTag
from piccolo.query import Select
from piccolo.querystring import QueryString

from app.core import events, revocation
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.crypto import DUMMY_PASSWORD_HASH, SecretBox, hash_password, verify_password
from app.core.db import is_unique_violation, write_transaction
from app.core.errors import AppError, Forbidden, NotFound, ValidationError
from app.core.hours import validate_hours, validate_timezone
from app.core.notify import events as notify_events
from app.core.notify.adapters import TRANSIENT, WechatTarget
from app.core.notify.tokens import TokenStore
from app.core.revocation import Revocations
from app.core.throttle import Limit, Memory, pair
from app.core.wechat import PhoneInfo, WechatClient, WechatError
from stores import repository as repo
from stores.errors import (
    ExternalIdTaken,
    InvalidCredentials,
    LastOperator,
    PhoneTaken,
    UsernameTaken,
    WechatLoginFailed,
    WechatPhoneFailed,
    WechatUnavailable,
)
from stores.rows import (
    ChainRow,
    MemberFacts,
    MemberRow,
    ResourceRow,
    ServiceRow,
    StaffListRow,
    StaffRow,
    StoreRow,
)
from stores.schemas import (
    DEFAULT_CHAIN_TIMEZONE,
    DEFAULT_LOCALE,
    EXTERNAL_ID_MAX,
    PHONE_PATTERN,
    ChainLocale,
    ChainOut,
    ChainUpdate,
    MemberCreate,
    MemberListOut,
    MemberOut,
    MemberPhoneWechat,
    MemberStaffUpdate,
    MemberUpdate,
    MemberWechatLogin,
    OpeningHours,
    PasswordChange,
    PasswordReset,
    ResourceCreate,
    ResourceOut,
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    StaffBrief,
    StaffCreate,
    StaffLogin,
    StaffOut,
    StaffUpdate,
    StoreCreate,
    StoreOut,
    StoreUpdate,
    WechatConfigIn,
    WechatConfigOut,
)

# Failed logins count against the pair (username, client) first: a guesser locks out
# their own client, not the counter where the real user works. Per client (spraying many
# usernames) as before. Per username across clients, a backstop against guessing from
# many clients (30 in 15 minutes: three clients' worth of pair limits), which a client
# where that user logged in lately (the counter) is spared, so even a distributed
# guesser cannot lock the counter out.
LOGIN_FAILURES_PER_PAIR = Limit("login-pair", max_hits=10, window_s=900)
LOGIN_FAILURES_PER_CLIENT = Limit("login-client", max_hits=20, window_s=900)
LOGIN_FAILURES_PER_USERNAME = Limit("login-user", max_hits=30, window_s=900)
KNOWN_LOGIN_CLIENTS = Memory("login-known", ttl_s=30 * 24 * 3600)
# Each phone code costs a call of WeChat's metered getuserphonenumber: a member proves a
# number now and then, never dozens of times an hour.
PHONE_CODES_PER_MEMBER = Limit("phone-code-member", max_hits=10, window_s=3600)
SANDBOX_PREFIX = "sandbox:"
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PHONE = re.compile(r"^\+?[0-9]{5,24}$")  # a phone after normalize_phone
_TYPED_PHONE = re.compile(PHONE_PATTERN)  # as schemas.Phone takes it
KNOWN_EVENTS = notify_events.ALL


# --- rendering --------------------------------------------------------------------------

def store_out(row: StoreRow) -> StoreOut:
    return StoreOut(
        id=row["id"], chain_id=row["chain"], name=row["name"], address=row["address"],
        timezone=row["timezone"],
        opening_hours=[OpeningHours(**h) for h in row["opening_hours"] or []],
        phone=row["phone"], booking_lead_minutes=row["booking_lead_minutes"],
        booking_horizon_days=row["booking_horizon_days"],
        cancel_cutoff_minutes=row["cancel_cutoff_minutes"],
        reminder_minutes=row["reminder_minutes"],
        no_show_consumes_visit=row["no_show_consumes_visit"], created_at=row["created_at"],
        external_id=row["external_id"],
    )


def member_out(row: MemberRow) -> MemberOut:
    return MemberOut(id=row["id"], chain_id=row["chain"], openid=row["openid"],
                     name=row["name"], phone=row["phone"], birthday=row["birthday"],
                     created_at=row["created_at"],
                     phone_verified=bool(row["phone"] and row["phone_verified"]),
                     external_id=row["external_id"])


async def _member_event(event_type: str, row: MemberRow) -> None:
    """Inside the write transaction, after the member's row was written: the event, with
    the member as the staff API answers it (``data`` = MemberOut)."""
    await events.emit(event_type, chain_id=row["chain"], object_id=row["id"],
                      store_id=row["registered_store"],
                      data=msgspec.to_builtins(member_out(row)))


async def _member_changed(before: MemberRow, member_id: uuid.UUID) -> MemberRow:
    """Inside the write transaction, after a change of the member's row: the row as it is
    now, and ``member.updated`` when what the API shows of it changed."""
    after = await repo.get_member(member_id, before["chain"])
    assert after is not None
    if member_out(after) != member_out(before):
        await _member_event(events.types.MEMBER_UPDATED, after)
    return after


async def _take_phone_from_claimants(chain_id: uuid.UUID, phone: str,
                                     keep: uuid.UUID | None = None) -> None:
    """Inside the write transaction: the verified owner takes the number off every member
    who only claimed it, each of them ``member.updated``."""
    cleared = await repo.clear_unverified_phone(chain_id, phone, keep=keep)
    for row in await repo.members_by_ids(chain_id, cleared):
        await _member_event(events.types.MEMBER_UPDATED, row)


def phone_tail(phone: str | None) -> str | None:
    """The last four digits of a phone: what a clerk reads out for a nameless member (the
    till's day sheet of redemptions and of bookings)."""
    digits = "".join(c for c in phone or "" if c.isdigit())
    return digits[-4:] or None


def staff_out(row: StaffListRow, store_ids: list[uuid.UUID]) -> StaffOut:
    return StaffOut(id=row["id"], chain_id=row["chain"], username=row["username"],
                    role=row["role"], store_ids=store_ids, name=row["name"],
                    active=row["active"], created_at=row["created_at"])


# --- external ids -----------------------------------------------------------------------
# The id a chain's own system (POS, ERP, CRM) knows a member, store or service by: unique
# per chain and kind (unique indexes on (chain, external_id); NULLs never collide). An
# opaque key: stored and compared exactly as given, never trimmed nor case-folded, so
# what is refused instead is anything a person could not see or tell apart (control
# characters, leading or trailing whitespace).

ExternalIdKind = Literal["member", "store", "service"]


def checked_external_id(value: str | None, field: str = "external_id") -> str | None:
    """``value`` if it is a usable external id (None passes: no id); else 400 naming
    ``field``. The import checks its rows with it too."""
    if value is None:
        return None
    if not 1 <= len(value) <= EXTERNAL_ID_MAX:
        raise ValidationError(field, f"must be 1 to {EXTERNAL_ID_MAX} characters")
    if not value.isprintable():
        raise ValidationError(field, "must be printable characters (no control characters)")
    if value != value.strip():
        raise ValidationError(field, "must not begin or end with whitespace")
    return value


def is_external_id_taken(exc: BaseException) -> bool:
    """A unique-index violation of an external id (either engine names the index or its
    columns in the message): two writers raced to one id and this one lost."""
    return is_unique_violation(exc) and "external_id" in str(exc)


async def _claim_external_id(kind: ExternalIdKind, chain_id: uuid.UUID,
                             external_id: str | None, owner: uuid.UUID) -> None:
    """Inside the write transaction: 409 if another object of ``kind`` in the chain has
    ``external_id``. A writer racing past this check meets the unique index instead,
    which the callers map to the same 409 (:func:`is_external_id_taken`)."""
    if external_id is None:
        return
    holder = await repo.external_id_holder(kind, chain_id, external_id)
    if holder is not None and holder != owner:
        raise ExternalIdTaken(kind, external_id)


async def _write_with_external_id(kind: ExternalIdKind, external_id: str | None,
                                  chain_id: uuid.UUID, owner: uuid.UUID,
                                  write: Callable[[], Awaitable[None]]) -> None:
    """Run ``write`` (the object's insert or update) in a write transaction after
    checking its ``external_id`` is free; a writer that raced to the same id answers the
    same 409."""
    try:
        async with write_transaction():
            await _claim_external_id(kind, chain_id, external_id, owner)
            await write()
    except Exception as exc:
        if external_id is not None and is_external_id_taken(exc):
            raise ExternalIdTaken(kind, external_id) from None
        raise


def normalize_phone(phone: str) -> str:
    """Digits only (a leading + kept), so "138 0013 8000" and "13800138000" are one member."""
    return ("+" if phone.startswith("+") else "") + re.sub(r"\D", "", phone)


# --- auth -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StaffSession:
    principal: Principal
    brief: StaffBrief
    version: int = 0  # the staff member's token version, for the token


async def _check_login_limits(username: str, client: str) -> str:
    """Raise 429 when this username may not be tried from this client now; returns the
    pair's throttle subject."""
    subject = pair(username, client)
    await LOGIN_FAILURES_PER_PAIR.check(subject)
    await LOGIN_FAILURES_PER_CLIENT.check(client)
    if not await KNOWN_LOGIN_CLIENTS.recalls(subject):
        await LOGIN_FAILURES_PER_USERNAME.check(username)
    return subject


async def _count_login_failure(username: str, client: str, subject: str) -> None:
    await LOGIN_FAILURES_PER_PAIR.hit(subject)
    await LOGIN_FAILURES_PER_CLIENT.hit(client)
    await LOGIN_FAILURES_PER_USERNAME.hit(username)


async def login_staff(body: StaffLogin, client: str) -> StaffSession:
    username = body.username.strip().lower()
    subject = await _check_login_limits(username, client)
    # The row with its token version, read before the stores below: a change committed
    # after this read raises the version, and so ends the token issued here.
    row = await repo.get_staff_for_login(username)
    stored = row["password_hash"] if row and row["active"] else DUMMY_PASSWORD_HASH
    # scrypt is deliberately slow: keep it off the event loop.
    matches = await asyncio.to_thread(verify_password, body.password, stored)
    if row is None or not row["active"] or not matches:
        await _count_login_failure(username, client, subject)
        raise InvalidCredentials()
    await KNOWN_LOGIN_CLIENTS.remember(subject)
    if row["role"] == "operator":
        stores = [s["id"] for s in await repo.list_stores(row["chain"])]
        scope: frozenset[uuid.UUID] = frozenset()
    else:
        stores = (await repo.staff_store_ids([row["id"]]))[row["id"]]
        scope = frozenset(stores)
    principal = Principal(kind="staff", id=row["id"], chain_id=row["chain"], role=row["role"],
                          store_ids=scope)
    brief = StaffBrief(id=row["id"], role=row["role"], chain_id=row["chain"], store_ids=stores,
                       username=row["username"], name=row["name"])
    return StaffSession(principal=principal, brief=brief, version=int(row["token_version"]))


async def logout(principal: Principal, jti: str, expires_at: int,
                 tokens: Revocations) -> None:
    """End the calling token (staff or member): 401 from the next request, everywhere."""
    async with write_transaction():
        await revocation.end_token(jti, principal.id, expires_at)
    tokens.forget_token(jti)


async def _wechat_app(chain_id: uuid.UUID, box: SecretBox,
                      error: type[AppError]) -> tuple[str, str]:
    """The chain's WeChat app id and its secret, opened; ``error`` when there is none."""
    config = await repo.get_wechat_config(chain_id)
    if config is None:
        raise error("this chain has no WeChat app configured")
    try:
        secret = box.open(config["app_secret_sealed"], str(chain_id)).decode()
    except InvalidTag:
        # O2O_SECRET_KEY changed since the secret was stored: the operator must set it again.
        raise error("the chain's WeChat secret cannot be read; "
                    "the operator must PUT /wechat-config again") from None
    return str(config["app_id"]), secret


async def _openid_from_code(chain_id: uuid.UUID, code: str, *, sandbox: bool,
                            wechat: WechatClient, box: SecretBox) -> tuple[str, str | None]:
    if sandbox:
        openid = code[len(SANDBOX_PREFIX):] if code.startswith(SANDBOX_PREFIX) else ""
        if not _OPENID.fullmatch(openid):
            raise WechatLoginFailed("sandbox mode accepts only codes of the form sandbox:<openid>")
        return openid, None
    app_id, secret = await _wechat_app(chain_id, box, WechatLoginFailed)
    try:
        session = await wechat.code2session(app_id, secret, code)
    except WechatError as exc:
        raise WechatLoginFailed(f"WeChat refused the code ({exc.errcode}: {exc.errmsg})") from exc
    return session.openid, session.unionid


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """A member a first WeChat login has just created, told to the join hooks inside the
    write transaction that creates it (so what a hook writes stands or falls with it)."""

    member: MemberRow
    referral_code: str | None


JoinHook = Callable[[MemberJoined], Awaitable[None]]
"""What a later domain does when a WeChat login creates a member (marketing records an
invite). Stores imports none: the composition root (create_app) puts them in the app's
state (``member_join_hooks``) and the login endpoint hands them to :func:`login_member`.
A hook must not refuse the login: it swallows what it cannot use."""


async def login_member(body: MemberWechatLogin, *, sandbox: bool, wechat: WechatClient,
                       box: SecretBox, on_join: Sequence[JoinHook] = ()
                       ) -> tuple[Principal, MemberOut]:
    if await repo.get_chain(body.chain_id) is None:
        raise NotFound("no such chain")
    openid, unionid = await _openid_from_code(body.chain_id, body.code, sandbox=sandbox,
                                              wechat=wechat, box=box)
    row = await repo.get_member_by_openid(body.chain_id, openid)
    if row is None:
        values: MemberRow = {
            "id": uuid.uuid4(), "chain": body.chain_id, "openid": openid, "unionid": unionid,
            "name": "", "phone": None, "birthday": None, "registered_by": None,
            "registered_store": None, "created_at": utcnow(), "phone_verified": False,
            "external_id": None}
        try:
            async with write_transaction():
                await repo.insert_member(values)
                await _member_event(events.types.MEMBER_CREATED, values)
                joined = MemberJoined(member=values, referral_code=body.referral_code)
                for hook in on_join:
                    await hook(joined)
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            # A simultaneous first login created the member: use that one (its own
            # login ran the hooks).
        row = await repo.get_member_by_openid(body.chain_id, openid)
        assert row is not None
    principal = Principal(kind="member", id=row["id"], chain_id=row["chain"], role="member")
    return principal, member_out(row)


# --- chain ------------------------------------------------------------------------------

async def create_chain_with_operator(chain_name: str, username: str, password: str) -> tuple[
        uuid.UUID, uuid.UUID]:
    chain_id, staff_id = uuid.uuid4(), uuid.uuid4()
    password_hash = await asyncio.to_thread(hash_password, password)
    async with write_transaction():
        if await repo.get_staff_by_username(username.lower()) is not None:
            raise UsernameTaken(f"username {username!r} is taken")
        await repo.insert_chain(chain_id, chain_name)
        await repo.insert_staff({"id": staff_id, "chain": chain_id, "username": username.lower(),
                                 "password_hash": password_hash, "role": "operator",
                                 "name": username}, [])
    return chain_id, staff_id


async def chain_by_name(name: str) -> ChainRow | None:
    """The chain of this name (the demo finds its own chain by it)."""
    return await repo.find_chain_by_name(name)


def _check_message_server(body: WechatConfigIn) -> None:
    """Token and AES key come together (WeChat's safe mode needs both), and the card bag
    needs them: its events reach the chain only through the message server."""
    if (body.server_token is None) != (body.encoding_aes_key is None):
        missing = "server_token" if body.server_token is None else "encoding_aes_key"
        raise ValidationError(missing, "server_token and encoding_aes_key go together")
    if body.card_bag and body.server_token is None:
        raise ValidationError("server_token", "the card bag needs the message server's "
                                              "server_token and encoding_aes_key")


async def put_wechat_config(principal: Principal, body: WechatConfigIn,
                            box: SecretBox) -> WechatConfigOut:
    unknown = sorted(set(body.templates) - KNOWN_EVENTS)
    if unknown:
        raise ValidationError("templates", f"unknown events: {', '.join(unknown)}")
    _check_message_server(body)
    now = utcnow()
    chain = str(principal.chain_id)
    values: dict[str, Any] = {
        "chain": principal.chain_id, "app_id": body.app_id,
        "app_secret_sealed": box.seal(body.app_secret.encode(), chain),
        "templates": body.templates, "updated_at": now, "card_bag": body.card_bag,
        "server_token_sealed": _sealed(box, body.server_token, chain),
        "encoding_aes_key_sealed": _sealed(box, body.encoding_aes_key, chain)}
    async with write_transaction():
        await repo.upsert_wechat_config(values)
    return WechatConfigOut(chain_id=principal.chain_id, app_id=body.app_id,
                           templates=dict(body.templates), app_secret_set=True, updated_at=now,
                           server_token_set=body.server_token is not None,
                           encoding_aes_key_set=body.encoding_aes_key is not None,
                           card_bag=body.card_bag)


def _sealed(box: SecretBox, value: str | None, chain: str) -> str | None:
    return None if value is None else box.seal(value.encode(), chain)


@dataclass(frozen=True, slots=True)
class MessageServer:
    """The chain's WeChat app with its secrets opened: the app (card calls, tickets), the
    official account's message server (``token``/``aes_key``: None until the operator
    sets them) and whether its cards go to WeChat's card bag."""

    app_id: str
    secret: str
    token: str | None
    aes_key: str | None
    card_bag: bool


async def wechat_message_server(chain_id: uuid.UUID, box: SecretBox) -> MessageServer | None:
    """The chain's WeChat app and message server (see :class:`MessageServer`), or None:
    no config, or its secrets no longer open (O2O_SECRET_KEY changed: the operator must
    PUT /wechat-config again, and until then nothing verifies)."""
    row = await repo.get_wechat_config(chain_id)
    if row is None:
        return None
    chain = str(chain_id)
    try:
        secret = box.open(row["app_secret_sealed"], chain).decode()
        token = _opened(box, row["server_token_sealed"], chain)
        aes_key = _opened(box, row["encoding_aes_key_sealed"], chain)
    except InvalidTag:
        return None
    return MessageServer(app_id=row["app_id"], secret=secret, token=token, aes_key=aes_key,
                         card_bag=bool(row["card_bag"]))


def _opened(box: SecretBox, sealed: str | None, chain: str) -> str | None:
    return None if sealed is None else box.open(sealed, chain).decode()


async def wechat_target(chain_id: uuid.UUID, member_id: uuid.UUID) -> WechatTarget | None:
    """The chain's WeChat app and the member's openid, for the WeChat adapter."""
    config = await repo.get_wechat_config(chain_id)
    if config is None:
        return None
    member = await repo.get_member(member_id, chain_id)
    return WechatTarget(app_id=config["app_id"], app_secret_sealed=config["app_secret_sealed"],
                        templates=config["templates"] or {},
                        openid=member["openid"] if member else None)


async def get_wechat_config(principal: Principal) -> WechatConfigOut:
    row = await repo.get_wechat_config(principal.chain_id)
    if row is None:
        raise NotFound("no WeChat config yet")
    return WechatConfigOut(chain_id=principal.chain_id, app_id=row["app_id"],
                           templates=row["templates"] or {}, app_secret_set=True,
                           updated_at=row["updated_at"],
                           server_token_set=row["server_token_sealed"] is not None,
                           encoding_aes_key_set=row["encoding_aes_key_sealed"] is not None,
                           card_bag=bool(row["card_bag"]))


# --- the chain's own settings -----------------------------------------------------------

def chain_out(row: ChainRow) -> ChainOut:
    return ChainOut(id=row["id"], name=row["name"],
                    offline_window_minutes=row["offline_window_minutes"],
                    created_at=row["created_at"], locale=chain_locale_of(row),
                    timezone=row.get("timezone") or DEFAULT_CHAIN_TIMEZONE)


async def get_chain(principal: Principal) -> ChainOut:
    row = await repo.get_chain(principal.chain_id)
    if row is None:
        raise NotFound("no such chain")
    return chain_out(row)


async def update_chain(principal: Principal, body: ChainUpdate) -> ChainOut:
    changes = {f: getattr(body, f) for f in ChainUpdate.__struct_fields__
               if getattr(body, f) is not None}
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    if changes:
        async with write_transaction():
            await repo.update_chain(principal.chain_id, changes)
    return await get_chain(principal)


async def chain_timezone(chain_id: uuid.UUID) -> ZoneInfo:
    """The zone of the chain's members' dates (birthdays, joining, last visits), read on
    each use so a change applies at once on every process."""
    row = await repo.get_chain(chain_id)
    name = (row.get("timezone") if row else None) or DEFAULT_CHAIN_TIMEZONE
    return ZoneInfo(name)


async def offline_window(chain_id: uuid.UUID) -> timedelta:
    """How long after a scan an offline scanner may still upload it: the chain's setting,
    read on each upload (a change applies to the next one, on every process)."""
    minutes = await repo.offline_window_minutes(chain_id)
    if minutes is None:
        raise NotFound("no such chain")
    return timedelta(minutes=minutes)


def chain_locale_of(row: ChainRow) -> ChainLocale:
    locale = row.get("locale")
    return "en" if locale == "en" else DEFAULT_LOCALE


async def chain_locale(chain_id: uuid.UUID) -> ChainLocale:
    """The language of the chain's notifications (zh-CN unless an operator chose en),
    read on each use so a change applies at once on every process."""
    row = await repo.get_chain(chain_id)
    return DEFAULT_LOCALE if row is None else chain_locale_of(row)


# --- stores -----------------------------------------------------------------------------

async def visible_store(principal: Principal, store_id: uuid.UUID) -> StoreRow:
    """The store if the caller may see it: members and operators the whole chain,
    managers and clerks their listed stores. Otherwise 404."""
    row = await repo.get_store(store_id, principal.chain_id)
    if row is None or not _in_scope(principal, store_id):
        raise NotFound("no such store")
    return row


def _in_scope(principal: Principal, store_id: uuid.UUID) -> bool:
    return principal.role not in ("manager", "clerk") or store_id in principal.store_ids


# A till reads its store on every scan. A store is never deleted nor moved to another
# chain, and what a scan takes from it (its name and zone, for the notification) changes
# rarely: each process keeps the rows it read for a few seconds. An edit through this
# process is seen at once; through another one, within TILL_STORE_TTL_S.
TILL_STORE_TTL_S = 5.0
_TILL_STORES_MAX = 10_000
_till_stores: dict[uuid.UUID, tuple[float, StoreRow]] = {}


async def till_store(principal: Principal, store_id: uuid.UUID) -> StoreRow:
    """:func:`visible_store` for the scan's hot path, from this process's recent reads
    (the row is shared: read it, never change it)."""
    if not _in_scope(principal, store_id):
        raise NotFound("no such store")
    now = time.monotonic()
    kept = _till_stores.get(store_id)
    if kept is not None and kept[0] > now:
        if kept[1]["chain"] != principal.chain_id:
            raise NotFound("no such store")
        return kept[1]
    row = await visible_store(principal, store_id)
    if len(_till_stores) >= _TILL_STORES_MAX:
        _till_stores.clear()
    _till_stores[store_id] = (now + TILL_STORE_TTL_S, row)
    return row


async def chain_store(store_id: uuid.UUID, chain_id: uuid.UUID) -> StoreRow | None:
    """A store of the chain, whoever asks: for a later domain that already checked the
    caller's scope on its own object (the booking, the redemption) naming that store."""
    return await repo.get_store(store_id, chain_id)


async def stores_of_chain(chain_id: uuid.UUID,
                          store_ids: Sequence[uuid.UUID] | None) -> list[str] | None:
    """Where a card template or campaign is valid, as it is stored: ``None`` for every
    store of the chain, else the distinct ids (as text, in the JSON column), which must
    all be stores of the chain (422 on ``store_ids`` otherwise)."""
    if store_ids is None:
        return None
    wanted = list(dict.fromkeys(store_ids))
    known = await repo.chain_store_ids(chain_id, wanted)
    if not wanted or any(s not in known for s in wanted):
        raise ValidationError("store_ids", "must be stores of this chain (or null for all)")
    return [str(s) for s in wanted]


async def managed_store(principal: Principal, store_id: uuid.UUID) -> StoreRow:
    """The store if the caller manages it (operator, or manager listed there)."""
    row = await visible_store(principal, store_id)
    if principal.role not in ("operator", "manager"):
        raise Forbidden("requires a manager of this store")
    return row


async def create_store(principal: Principal, body: StoreCreate) -> StoreOut:
    validate_timezone(body.timezone)
    hours = validate_hours(body.opening_hours, "opening_hours")
    values: StoreRow = {
        "id": uuid.uuid4(), "chain": principal.chain_id, "name": body.name.strip(),
        "address": body.address, "timezone": body.timezone, "opening_hours": hours,
        "phone": body.phone, "booking_lead_minutes": body.booking_lead_minutes,
        "booking_horizon_days": body.booking_horizon_days,
        "cancel_cutoff_minutes": body.cancel_cutoff_minutes,
        "reminder_minutes": body.reminder_minutes,
        "no_show_consumes_visit": body.no_show_consumes_visit, "created_at": utcnow(),
        "external_id": checked_external_id(body.external_id),
    }
    await _write_with_external_id("store", values["external_id"], principal.chain_id,
                                  values["id"], lambda: repo.insert_store(values))
    row = await repo.get_store(values["id"], principal.chain_id)
    assert row is not None
    return store_out(row)


async def list_stores(principal: Principal) -> list[StoreOut]:
    only = principal.store_ids if principal.role in ("manager", "clerk") else None
    return [store_out(r) for r in await repo.list_stores(principal.chain_id, only)]


async def get_store(principal: Principal, store_id: uuid.UUID) -> StoreOut:
    return store_out(await visible_store(principal, store_id))


async def update_store(principal: Principal, store_id: uuid.UUID, body: StoreUpdate) -> StoreOut:
    await visible_store(principal, store_id)
    changes: dict[str, Any] = {}
    for field in StoreUpdate.__struct_fields__:
        value = getattr(body, field)
        if field == "external_id":  # null clears it; left out keeps it
            if value is not msgspec.UNSET:
                changes[field] = checked_external_id(value)
        elif value is not None:
            changes[field] = value
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    if "opening_hours" in changes:
        changes["opening_hours"] = validate_hours(changes["opening_hours"], "opening_hours")
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    if changes:
        await _write_with_external_id("store", changes.get("external_id"), principal.chain_id,
                                      store_id, lambda: repo.update_store(store_id, changes))
        _till_stores.pop(store_id, None)
    return await get_store(principal, store_id)


# --- staff ------------------------------------------------------------------------------

async def _checked_scope(principal: Principal, role: str, store_ids: list[uuid.UUID],
                         refusal: str) -> list[uuid.UUID]:
    """The stores a staff member of ``role`` gets, by the rules of creating and changing
    staff: a manager gives the clerk role only (else ``refusal``), and only their own
    stores; an operator covers the chain (no list); the others at least one store."""
    if principal.role == "manager":
        if role != "clerk":
            raise Forbidden(refusal)
        outside = [s for s in store_ids if s not in principal.store_ids]
        if outside:
            raise NotFound(f"no such store: {outside[0]}")
    if role == "operator":
        if store_ids:
            raise ValidationError("store_ids", "an operator covers the whole chain: leave empty")
        return []
    if not store_ids:
        raise ValidationError("store_ids", f"a {role} needs at least one store")
    known = await repo.chain_store_ids(principal.chain_id, store_ids)
    missing = [s for s in store_ids if s not in known]
    if missing:
        raise NotFound(f"no such store: {missing[0]}")
    return store_ids


async def create_staff(principal: Principal, body: StaffCreate) -> StaffOut:
    store_ids = await _checked_scope(principal, body.role, list(dict.fromkeys(body.store_ids)),
                                     "managers may create clerks only")
    username = body.username.lower()
    password_hash = await asyncio.to_thread(hash_password, body.password)
    values: StaffRow = {"id": uuid.uuid4(), "chain": principal.chain_id, "username": username,
                        "password_hash": password_hash, "role": body.role, "name": body.name,
                        "active": True, "created_at": utcnow()}
    try:
        async with write_transaction():
            if await repo.get_staff_by_username(username) is not None:
                raise UsernameTaken(f"username {username!r} is taken")
            await repo.insert_staff(values, store_ids)
    except Exception as exc:
        if is_unique_violation(exc):
            raise UsernameTaken(f"username {username!r} is taken") from None
        raise
    return staff_out(values, store_ids)


async def list_staff(principal: Principal) -> list[StaffOut]:
    at = principal.store_ids if principal.role == "manager" else None
    rows = await repo.list_staff(principal.chain_id, at)
    stores = await repo.staff_store_ids([r["id"] for r in rows])
    return [staff_out(r, stores[r["id"]]) for r in rows]


# --- staff off-boarding ---------------------------------------------------------------
# Who may act on whom: operators on any staff of their chain; managers on clerks whose
# every store they manage (a clerk who also works at another manager's store is the
# operator's to change). Another chain's staff, or staff a manager shares no store with:
# 404. A change of role or stores, a deactivation and a password reset end the staff
# member's tokens (app.core.revocation): the next request answers 401, on every process.

async def _actionable_staff(principal: Principal,
                            staff_id: uuid.UUID) -> tuple[StaffRow, list[uuid.UUID]]:
    """Inside the write transaction: the staff row locked, so the role and stores the
    caller's rights are judged on cannot change before the write (a manager's reset
    landing on a clerk an operator just promoted, or a lost update of store_ids)."""
    row = await repo.get_staff(staff_id, principal.chain_id, lock=True)
    if row is None:
        raise NotFound("no such staff")
    stores = (await repo.staff_store_ids([staff_id]))[staff_id]
    if principal.role == "manager":
        if not principal.store_ids.intersection(stores):
            raise NotFound("no such staff")
        if row["role"] != "clerk":
            raise Forbidden("managers may change clerks only")
        if not principal.store_ids.issuperset(stores):
            raise Forbidden("this clerk also works at stores you do not manage: "
                            "ask an operator")
    return row, stores


async def _keep_an_operator(chain_id: uuid.UUID, staff_id: uuid.UUID) -> None:
    """Inside the write transaction: refuse to take the chain's last active operator away
    (the chain row is locked first, so two operators demoting each other at once cannot
    both succeed)."""
    await repo.lock_chain(chain_id)
    if await repo.count_active_operators(chain_id, excluding=staff_id) == 0:
        raise LastOperator("the chain needs at least one active operator: "
                           "promote or activate another one first")


async def _new_scope(principal: Principal, row: StaffRow, stores: list[uuid.UUID],
                     body: StaffUpdate) -> tuple[str, list[uuid.UUID]]:
    role = body.role or row["role"]
    if body.store_ids is not None:
        store_ids = list(dict.fromkeys(body.store_ids))
    else:  # unchanged, but an operator (a clerk promoted, say) keeps no list
        store_ids = [] if role == "operator" else stores
    return role, await _checked_scope(principal, role, store_ids, "managers may not promote")


async def update_staff(principal: Principal, staff_id: uuid.UUID, body: StaffUpdate,
                       tokens: Revocations) -> StaffOut:
    async with write_transaction():
        row, stores = await _actionable_staff(principal, staff_id)
        role, store_ids = await _new_scope(principal, row, stores, body)
        changes: dict[str, Any] = {}
        if body.name is not None:
            changes["name"] = body.name.strip()
        if role != row["role"]:
            changes["role"] = role
        scope_changed = "role" in changes or set(store_ids) != set(stores)
        if "role" in changes and row["role"] == "operator" and row["active"]:
            await _keep_an_operator(principal.chain_id, staff_id)
        if changes:
            await repo.update_staff(staff_id, changes)
        if set(store_ids) != set(stores):
            await repo.replace_staff_stores(staff_id, store_ids)
        if scope_changed:
            await revocation.end_tokens_of(staff_id)
    if scope_changed:
        tokens.forget_subject(staff_id)
    return staff_out(cast("StaffRow", {**row, **changes}),
                     sorted(store_ids) if scope_changed else stores)


async def set_staff_active(principal: Principal, staff_id: uuid.UUID, active: bool,
                           tokens: Revocations) -> StaffOut:
    """Deactivate (every token ends, no login) or activate again (old tokens stay
    ended: the staff member logs in anew)."""
    async with write_transaction():
        row, stores = await _actionable_staff(principal, staff_id)
        if not active and row["role"] == "operator" and row["active"]:
            await _keep_an_operator(principal.chain_id, staff_id)
        await repo.update_staff(staff_id, {"active": active})
        if not active:
            await revocation.end_tokens_of(staff_id)
    if not active:
        tokens.forget_subject(staff_id)
    return staff_out(cast("StaffRow", {**row, "active": active}), stores)


async def reset_staff_password(principal: Principal, staff_id: uuid.UUID,
                               body: PasswordReset, tokens: Revocations) -> None:
    """An operator (or the clerk's manager) sets a new password: every token ends."""
    # Hashed before the write transaction (scrypt must not hold SQLite's writer lock).
    password_hash = await asyncio.to_thread(hash_password, body.password)
    async with write_transaction():
        await _actionable_staff(principal, staff_id)
        await repo.update_staff(staff_id, {"password_hash": password_hash})
        await revocation.end_tokens_of(staff_id)
    tokens.forget_subject(staff_id)


async def change_own_password(principal: Principal, jti: str, body: PasswordChange,
                              client: str, tokens: Revocations) -> None:
    """Staff change their own password with the old one: every OTHER token of theirs
    ends; the calling token keeps working. A wrong old password counts as a failed login
    of that username from this client (a stolen token must not guess freely)."""
    row = await repo.get_staff(principal.id, principal.chain_id)
    if row is None:
        raise NotFound("no such staff")
    username = row["username"]
    subject = await _check_login_limits(username, client)
    if not await asyncio.to_thread(verify_password, body.old_password, row["password_hash"]):
        await _count_login_failure(username, client, subject)
        raise ValidationError("old_password", "is not the current password")
    password_hash = await asyncio.to_thread(hash_password, body.new_password)
    async with write_transaction():
        await repo.update_staff(principal.id, {"password_hash": password_hash})
        await revocation.end_tokens_of(principal.id, keep_jti=jti)
    tokens.forget_subject(principal.id)


# --- members ----------------------------------------------------------------------------

# A phone is *verified* when a clerk typed it at the counter or WeChat vouched for it
# (POST /me/phone/wechat), *unverified* when the member typed it (PATCH /me). Only
# verified phones are unique in a chain; the verified owner of a number always wins:
# registering it at the counter or proving it through WeChat takes it off every member
# who merely claimed it, in the same transaction.

MemberIdSelect = Select[Any]
"""A select of one column, member ids, that stores' repository runs as a subquery
(``Member.id.is_in``): built by the later domain that keeps the tie (cards: the holders of
cards usable at some stores); stores never reads its table."""

CardNumberLookup = Callable[[uuid.UUID, str], Awaitable[uuid.UUID | None]]
"""(chain_id, card number) -> the id of the member holding that card, or None."""

StoreMemberLinks = Callable[[uuid.UUID, frozenset[uuid.UUID]],
                            Awaitable[MemberIdSelect | None]]
"""(chain_id, store ids) -> a select of the ids of members tied to those stores by what a
later domain keeps (cards usable there), or None when there are none."""


@dataclass(frozen=True, slots=True)
class MemberSearch:
    """What an operator's or manager's member search asks of later domains (GET /members):
    a card at this tier or of this template, a last visit at or after ``visited_since``
    and before ``not_visited_since`` (instants: stores turns the days into them)."""

    tier: str | None = None
    template_id: uuid.UUID | None = None
    visited_since: datetime | None = None
    not_visited_since: datetime | None = None

    @property
    def narrows(self) -> bool:
        return any(v is not None for v in (self.tier, self.template_id, self.visited_since,
                                           self.not_visited_since))


MemberIdQuery = Select[Any] | QueryString
"""A subquery of one column, member ids: a Piccolo select or a raw one (an aggregate)."""

MemberNarrowing = Callable[[uuid.UUID, MemberSearch], Awaitable[list[MemberIdQuery]]]
"""(chain_id, search) -> subqueries of member ids a found member must be in, every one
(a later domain's part of the search; [] when the search asks nothing of it)."""

MemberFactsLookup = Callable[[uuid.UUID, Sequence[uuid.UUID]],
                             Awaitable[dict[uuid.UUID, MemberFacts]]]
"""(chain_id, member ids) -> what a later domain knows of each (last visit, cards)."""


@dataclass(frozen=True, slots=True)
class MemberFinders:
    """How stores finds members through what later domains keep, which it may not import:
    each such domain exposes its own (``cards.service.MEMBER_FINDERS``), the composition
    root (create_app) joins them once and the members' endpoint hands them to
    :func:`find_members`."""

    by_card_number: tuple[CardNumberLookup, ...] = ()
    at_stores: tuple[StoreMemberLinks, ...] = ()
    narrowing: tuple[MemberNarrowing, ...] = ()
    facts: tuple[MemberFactsLookup, ...] = ()

    @classmethod
    def joined(cls, *parts: MemberFinders) -> MemberFinders:
        return cls(tuple(f for part in parts for f in part.by_card_number),
                   tuple(f for part in parts for f in part.at_stores),
                   tuple(f for part in parts for f in part.narrowing),
                   tuple(f for part in parts for f in part.facts))


async def register_member(principal: Principal, body: MemberCreate) -> MemberOut:
    """Registration at the counter (runs inside the caller's write transaction). The clerk
    typed the phone with its owner in front of them: it is verified."""
    if body.store_id is not None:
        await visible_store(principal, body.store_id)
    phone = normalize_phone(body.phone)
    external_id = checked_external_id(body.external_id)
    values: MemberRow = {
        "id": uuid.uuid4(), "chain": principal.chain_id, "openid": None, "unionid": None,
        "name": body.name.strip(), "phone": phone, "phone_verified": True,
        "birthday": body.birthday, "registered_by": principal.staff_id,
        "registered_store": body.store_id, "created_at": utcnow(),
        "external_id": external_id}
    try:
        async with write_transaction():
            if await repo.get_verified_member_by_phone(principal.chain_id, phone) is not None:
                raise PhoneTaken(f"phone {phone} is registered already")
            await _claim_external_id("member", principal.chain_id, external_id, values["id"])
            await _take_phone_from_claimants(principal.chain_id, phone)
            await repo.insert_member(values)
            await _member_event(events.types.MEMBER_CREATED, values)
    except Exception as exc:
        # A simultaneous registration of the same phone or external id.
        if external_id is not None and is_external_id_taken(exc):
            raise ExternalIdTaken("member", external_id) from None
        if is_unique_violation(exc):
            raise PhoneTaken(f"phone {phone} is registered already") from None
        raise
    return member_out(values)


async def update_member(principal: Principal, member_id: uuid.UUID,
                        body: MemberStaffUpdate) -> MemberOut:
    """``PATCH /members/{id}`` (staff; any staff of the chain, who see every member of
    it, as ``GET /members/{id}``). A field left out stays; ``null`` clears the name (to
    ""), the birthday or the external id. A phone set here is verified, as at the
    counter: 409 ``phone_taken`` when another member holds it verified, and members who
    only claimed it lose it. ``member.updated`` when what the API shows changed."""
    given = {f: getattr(body, f) for f in MemberStaffUpdate.__struct_fields__
             if getattr(body, f) is not msgspec.UNSET}
    if not given:
        raise ValidationError("body", "give at least one of name, phone, birthday, "
                                      "external_id")
    changes: dict[str, Any] = {}
    if "name" in given:
        name = "" if given["name"] is None else str(given["name"]).strip()
        if given["name"] is not None and not name:
            raise ValidationError("name", "must not be blank (null clears it)")
        changes["name"] = name
    if "birthday" in given:
        changes["birthday"] = given["birthday"]
    external_id = checked_external_id(given.get("external_id"))
    if "external_id" in given:
        changes["external_id"] = external_id
    phone = normalize_phone(given["phone"]) if "phone" in given else None
    try:
        async with write_transaction():
            before = await repo.get_member(member_id, principal.chain_id)
            if before is None or not principal.may_see_member_data(member_id):
                raise NotFound("no such member")
            await _claim_external_id("member", principal.chain_id, external_id, member_id)
            if phone is not None and (phone != before["phone"] or not before["phone_verified"]):
                holder = await repo.get_verified_member_by_phone(principal.chain_id, phone)
                if holder is not None and holder["id"] != member_id:
                    raise PhoneTaken(f"phone {phone} is registered already")
                await _take_phone_from_claimants(principal.chain_id, phone, keep=member_id)
                changes.update(phone=phone, phone_verified=True)
            if changes:
                await repo.update_member(member_id, changes)
            after = await _member_changed(before, member_id)
    except Exception as exc:
        if external_id is not None and is_external_id_taken(exc):
            raise ExternalIdTaken("member", external_id) from None
        if is_unique_violation(exc):  # a simultaneous registration of the same phone
            raise PhoneTaken(f"phone {phone} is registered already") from None
        raise
    return member_out(after)


async def find_members(principal: Principal, phone: str | None, limit: int, offset: int,
                       card_number: str | None = None, *,
                       finders: MemberFinders) -> list[MemberOut]:
    """Staff find a member by exact phone or card number, in the whole chain. Listing
    without either is for managers (their stores' members) and operators (all).

    By phone: the member whose phone is verified, alone, when there is one; otherwise the
    members who typed that number themselves, oldest first, each ``phone_verified:
    false`` so the clerk knows to ask (several can claim one number)."""
    if phone is not None and card_number is not None:
        raise ValidationError("card_number", "give phone or card_number, not both")
    if phone is not None:
        rows = await _members_by_phone(principal.chain_id, normalize_phone(phone), limit,
                                       offset)
    elif card_number is not None:
        rows = await _members_by_card_number(finders, principal.chain_id, card_number, limit,
                                             offset)
    elif principal.role == "operator":
        rows = await repo.list_members(principal.chain_id, limit=limit, offset=offset)
    elif principal.role == "manager":
        rows = await _store_members(finders, principal, limit, offset)
    else:
        raise Forbidden("clerks find members by phone or card_number")
    return [member_out(r) for r in rows]


SEARCH_PARAMETERS = ("q", "tier", "template_id", "last_visit_after", "last_visit_before",
                     "external_id")
_PHONE_TEXT = re.compile(r"^[\d\s+()-]+$")


async def search_members(principal: Principal, *, finders: MemberFinders,
                         limit: int, offset: int, phone: str | None = None,
                         card_number: str | None = None, q: str | None = None,
                         tier: str | None = None, template_id: uuid.UUID | None = None,
                         last_visit_after: date | None = None,
                         last_visit_before: date | None = None,
                         external_id: str | None = None) -> list[MemberListOut]:
    """GET /members (issue 17): a clerk's exact lookup by phone or card number
    (:func:`find_members`), or an operator's (a manager's, among their stores' members)
    search: ``q`` in the name or the phone, a card's tier or template, the last visit's
    day (the chain's days: its first store's zone), the chain's own ``external_id``
    (exact; issue 18). Each member with their last visit and cards count, from the later
    domains (``finders.facts``)."""
    given = {"q": q, "tier": tier, "template_id": template_id,
             "last_visit_after": last_visit_after, "last_visit_before": last_visit_before,
             "external_id": external_id}
    searched = [name for name in SEARCH_PARAMETERS if given[name] is not None]
    if (phone is not None or card_number is not None) and searched:
        raise ValidationError(searched[0], "give phone or card_number alone, or search")
    if not searched:
        rows = await find_members(principal, phone, limit, offset, card_number,
                                  finders=finders)
        return await _with_facts(finders, principal.chain_id, rows)
    if principal.role not in ("operator", "manager"):
        raise Forbidden("clerks find members by phone or card_number")
    for name in ("last_visit_after", "last_visit_before"):
        day = given[name]
        if isinstance(day, date) and not 2000 <= day.year <= 2100:
            raise ValidationError(name, "must be a date between 2000 and 2100")
    text = q.strip() if q is not None else None
    if text is not None and not text:
        raise ValidationError("q", "must not be blank")
    digits = re.sub(r"\D", "", text) if text and _PHONE_TEXT.match(text) else None
    zone = await _chain_zone(principal.chain_id)
    search = MemberSearch(
        tier=tier, template_id=template_id,
        visited_since=None if last_visit_after is None else _day_start(last_visit_after, zone),
        not_visited_since=(None if last_visit_before is None
                           else _day_start(last_visit_before, zone)))
    narrowed: list[MemberIdQuery] = []
    if search.narrows:
        for narrowing in finders.narrowing:
            narrowed.extend(await narrowing(principal.chain_id, search))
    at_stores, linked = None, []
    if principal.role == "manager":
        at_stores = principal.store_ids
        linked = [sub for links in finders.at_stores
                  if (sub := await links(principal.chain_id, principal.store_ids)) is not None]
    found = await repo.search_members(principal.chain_id, limit=limit, offset=offset,
                                      text=text, digits=digits or None,
                                      external_id=external_id, narrowed=narrowed,
                                      at_stores=at_stores, linked=linked)
    return await _with_facts(finders, principal.chain_id, [member_out(r) for r in found])


async def _chain_zone(chain_id: uuid.UUID) -> ZoneInfo:
    """The chain's home zone: its first store's (UTC before it has one)."""
    first = await repo.list_stores(chain_id)
    return ZoneInfo(first[0]["timezone"] if first else "UTC")


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock_time.min, zone)


async def _with_facts(finders: MemberFinders, chain_id: uuid.UUID,
                      members: Sequence[MemberOut]) -> list[MemberListOut]:
    facts: dict[uuid.UUID, MemberFacts] = {}
    ids = [m.id for m in members]
    for lookup in finders.facts if ids else ():
        facts.update(await lookup(chain_id, ids))
    out = []
    for member in members:
        known = facts.get(member.id)
        out.append(MemberListOut(
            **msgspec.structs.asdict(member),
            last_visit_at=None if known is None else known["last_visit_at"],
            cards_count=0 if known is None else known["cards_count"]))
    return out


async def _members_by_phone(chain_id: uuid.UUID, phone: str, limit: int,
                            offset: int) -> list[MemberRow]:
    verified = await repo.get_verified_member_by_phone(chain_id, phone)
    if verified is not None:
        return [verified] if offset == 0 else []
    return await repo.members_by_phone(chain_id, phone, limit=limit, offset=offset)


async def _members_by_card_number(finders: MemberFinders, chain_id: uuid.UUID, number: str,
                                  limit: int, offset: int) -> list[MemberRow]:
    number = re.sub(r"[\s-]", "", number)  # read out in groups: "8012 3456 7890"
    for lookup in finders.by_card_number:
        member_id = await lookup(chain_id, number)
        if member_id is not None:
            return await repo.list_members(chain_id, member_id=member_id, limit=limit,
                                           offset=offset)
    return []


async def _store_members(finders: MemberFinders, principal: Principal, limit: int,
                         offset: int) -> list[MemberRow]:
    """A manager's stores' members: registered at one of them, or tied to one by a later
    domain (a card whose template is usable there)."""
    linked = [sub for links in finders.at_stores
              if (sub := await links(principal.chain_id, principal.store_ids)) is not None]
    return await repo.list_members(principal.chain_id, at_stores=principal.store_ids,
                                   linked=linked, limit=limit, offset=offset)


async def chain_member(member_id: uuid.UUID, chain_id: uuid.UUID) -> MemberRow | None:
    """A member of the chain, whoever asks (a later domain checks its caller itself)."""
    return await repo.get_member(member_id, chain_id)


async def chain_members(chain_id: uuid.UUID,
                        member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, MemberRow]:
    """The chain's members among ``member_ids``, by id (a day sheet names them)."""
    return {r["id"]: r for r in await repo.members_by_ids(chain_id, list(set(member_ids)))}


async def chain_member_ids(chain_id: uuid.UUID,
                           candidates: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``candidates`` are members of the chain (a bulk issue skips the others)."""
    return await repo.chain_member_ids(chain_id, candidates)


async def set_openid(member_id: uuid.UUID, openid: str) -> None:
    """Tie a member to a WeChat openid without a login (the demo's sandbox member); joins
    the caller's write transaction."""
    async with write_transaction():
        current = await repo.get_member_anywhere(member_id)
        if current is None:
            raise NotFound("no such member")
        await repo.update_member(member_id, {"openid": openid})
        await _member_changed(current, member_id)


async def get_member(principal: Principal, member_id: uuid.UUID) -> MemberOut:
    row = await repo.get_member(member_id, principal.chain_id)
    if row is None or not principal.may_see_member_data(member_id):
        raise NotFound("no such member")
    return member_out(row)


async def update_me(principal: Principal, body: MemberUpdate) -> MemberOut:
    """The member's own profile. A phone typed here is unverified: it is never refused as
    taken (that would tell anyone whether a number belongs to a member) and never keeps
    the number's owner from registering at the counter. The same number again keeps its
    verification."""
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name.strip()
    if body.birthday is not None:
        changes["birthday"] = body.birthday
    if changes or body.phone is not None:
        async with write_transaction():
            current = await repo.get_member(principal.id, principal.chain_id)
            if current is None:
                raise NotFound("no such member")
            if body.phone is not None:
                phone = normalize_phone(body.phone)
                if current["phone"] != phone:
                    changes.update(phone=phone, phone_verified=False)
            if changes:
                await repo.update_member(principal.id, changes)
                await _member_changed(current, principal.id)
    return await get_member(principal, principal.id)


async def verify_phone_with_wechat(principal: Principal, body: MemberPhoneWechat, *,
                                   sandbox: bool, wechat: WechatClient, tokens: TokenStore,
                                   box: SecretBox) -> MemberOut:
    """``POST /me/phone/wechat``: the phone WeChat vouches for becomes the member's,
    verified; members who only claimed that number lose it. Another member holding it
    verified (registered at the counter, or proved through WeChat) is a 409."""
    await PHONE_CODES_PER_MEMBER.check(str(principal.id))
    await PHONE_CODES_PER_MEMBER.hit(str(principal.id))
    phone = await _phone_from_code(principal.chain_id, body.code, sandbox=sandbox,
                                   wechat=wechat, tokens=tokens, box=box)
    taken = PhoneTaken("another member of this chain holds this phone number verified")
    try:
        async with write_transaction():
            holder = await repo.get_verified_member_by_phone(principal.chain_id, phone)
            if holder is not None and holder["id"] != principal.id:
                raise taken
            current = await repo.get_member(principal.id, principal.chain_id)
            if current is None:
                raise NotFound("no such member")
            await _take_phone_from_claimants(principal.chain_id, phone, keep=principal.id)
            await repo.update_member(principal.id, {"phone": phone, "phone_verified": True})
            await _member_changed(current, principal.id)
    except Exception as exc:
        if is_unique_violation(exc):  # another member proved the same number just now
            raise taken from None
        raise
    return await get_member(principal, principal.id)


async def _phone_from_code(chain_id: uuid.UUID, code: str, *, sandbox: bool,
                           wechat: WechatClient, tokens: TokenStore, box: SecretBox) -> str:
    if sandbox:
        raw = code[len(SANDBOX_PREFIX):] if code.startswith(SANDBOX_PREFIX) else ""
        phone = normalize_phone(raw)
        if not _TYPED_PHONE.fullmatch(raw) or not _PHONE.fullmatch(phone):
            raise WechatPhoneFailed("sandbox mode accepts only codes of the form "
                                    "sandbox:<phone>")
        return phone
    app_id, secret = await _wechat_app(chain_id, box, WechatPhoneFailed)
    try:
        info = await _exchange_phone_code(app_id, secret, code, wechat, tokens)
    except WechatError as exc:
        if exc.errcode is None or exc.errcode in TRANSIENT:
            raise WechatUnavailable(f"WeChat did not answer ({exc.errcode}: {exc.errmsg})") \
                from exc
        raise WechatPhoneFailed(f"WeChat refused the code ({exc.errcode}: {exc.errmsg})") \
            from exc
    # WeChat stamps the app the code was issued to: a code from another mini program
    # (another chain's, say) proves nothing to this chain.
    if info.watermark_app_id != app_id:
        raise WechatPhoneFailed("the code was issued to another WeChat app")
    return _phone_of(info)


async def _exchange_phone_code(app_id: str, secret: str, code: str, wechat: WechatClient,
                               tokens: TokenStore) -> PhoneInfo:
    # A refused token leaves the code unused: call_with_token fetches another once and
    # tries again.
    return await tokens.call_with_token(app_id, secret,
                                        lambda token: wechat.phone_number(token, code))


def _phone_of(info: PhoneInfo) -> str:
    """The number as a clerk types it: a Chinese number without its country code (the
    counter's "13800138000"), any other with "+" and its country code."""
    country = info.country_code.lstrip("+")
    raw = info.pure_phone_number if country in ("", "86") else f"+{country}{info.pure_phone_number}"
    phone = normalize_phone(raw)
    if not _PHONE.fullmatch(phone):
        raise WechatPhoneFailed("WeChat answered a phone number o2o cannot use")
    return phone


# --- services and resources -------------------------------------------------------------

def service_out(row: ServiceRow) -> ServiceOut:
    return ServiceOut(id=row["id"], store_id=row["store"], name=row["name"],
                      duration_minutes=row["duration_minutes"], price_cents=row["price_cents"],
                      buffer_minutes=row["buffer_minutes"], active=row["active"],
                      created_at=row["created_at"], external_id=row["external_id"])


def resource_out(row: ResourceRow, service_ids: list[uuid.UUID]) -> ResourceOut:
    hours = row["hours"]
    return ResourceOut(id=row["id"], store_id=row["store"], name=row["name"], kind=row["kind"],
                       capacity=row["capacity"], service_ids=service_ids,
                       hours=None if hours is None else [OpeningHours(**h) for h in hours],
                       active=row["active"], created_at=row["created_at"])


async def create_service(principal: Principal, store_id: uuid.UUID,
                         body: ServiceCreate) -> ServiceOut:
    await managed_store(principal, store_id)
    values: ServiceRow = {"id": uuid.uuid4(), "store": store_id, "chain": principal.chain_id,
              "name": body.name.strip(),
              "duration_minutes": body.duration_minutes, "price_cents": body.price_cents,
              "buffer_minutes": body.buffer_minutes, "active": True, "created_at": utcnow(),
              "external_id": checked_external_id(body.external_id)}
    await _write_with_external_id("service", values["external_id"], principal.chain_id,
                                  values["id"], lambda: repo.insert_service(values))
    return service_out(values)


async def update_service(principal: Principal, store_id: uuid.UUID, service_id: uuid.UUID,
                         body: ServiceUpdate) -> ServiceOut:
    """``PATCH /stores/{store_id}/services/{id}`` (the store's managers): the name and the
    external id (null clears it)."""
    await managed_store(principal, store_id)
    if await repo.get_service(service_id, store_id) is None:
        raise NotFound("no such service")
    changes: dict[str, Any] = {}
    if body.name is not msgspec.UNSET:
        changes["name"] = body.name.strip()
        if not changes["name"]:
            raise ValidationError("name", "must not be blank")
    if body.external_id is not msgspec.UNSET:
        changes["external_id"] = checked_external_id(body.external_id)
    if not changes:
        raise ValidationError("body", "give name or external_id")
    await _write_with_external_id("service", changes.get("external_id"), principal.chain_id,
                                  service_id, lambda: repo.update_service(service_id, changes))
    row = await repo.get_service(service_id, store_id)
    assert row is not None
    return service_out(row)


async def list_services(principal: Principal, store_id: uuid.UUID) -> list[ServiceOut]:
    await visible_store(principal, store_id)
    return [service_out(r) for r in await repo.list_services(store_id)]


async def create_resource(principal: Principal, store_id: uuid.UUID,
                          body: ResourceCreate) -> ResourceOut:
    await managed_store(principal, store_id)
    service_ids: Sequence[uuid.UUID] = list(dict.fromkeys(body.service_ids))
    known = await repo.store_service_ids(store_id, service_ids)
    missing = [s for s in service_ids if s not in known]
    if missing:
        raise ValidationError("service_ids", f"not a service of this store: {missing[0]}")
    hours = None if body.hours is None else validate_hours(body.hours, "hours")
    values: ResourceRow = {"id": uuid.uuid4(), "store": store_id, "name": body.name.strip(),
              "kind": body.kind, "capacity": body.capacity, "hours": hours, "active": True,
              "created_at": utcnow()}
    async with write_transaction():
        await repo.insert_resource(values, service_ids)
    return resource_out(values, list(service_ids))


async def list_resources(principal: Principal, store_id: uuid.UUID) -> list[ResourceOut]:
    await visible_store(principal, store_id)
    rows = await repo.list_resources(store_id)
    links = await repo.resource_service_ids([r["id"] for r in rows])
    return [resource_out(r, links[r["id"]]) for r in rows]
