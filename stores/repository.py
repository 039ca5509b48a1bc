"""Every query of the stores domain. No rules here: callers decide what a row means."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.query import Select
from piccolo.querystring import QueryString

from app.core.db import Sql, current_engine, for_update, is_sqlite, select_list
from stores.rows import (
    ChainRow,
    MemberRow,
    ResourceRow,
    ServiceRow,
    StaffListRow,
    StaffLoginRow,
    StaffRow,
    StoreRow,
    WechatConfigRow,
)
from stores.tables import (
    Chain,
    Member,
    Resource,
    ResourceService,
    Service,
    Staff,
    StaffStore,
    Store,
    WechatConfig,
)

# Columns to write: a whole row to insert, some columns to update (a row type fits too).
Values = Mapping[str, Any]


# --- chains -----------------------------------------------------------------------------

async def insert_chain(chain_id: uuid.UUID, name: str) -> None:
    await Chain.insert(Chain(id=chain_id, name=name)).run()


async def get_chain(chain_id: uuid.UUID) -> ChainRow | None:
    return cast("ChainRow | None",
                await Chain.select().where(Chain.id == chain_id).first().run())


async def update_chain(chain_id: uuid.UUID, values: Values) -> None:
    await Chain.update(**values).where(Chain.id == chain_id).run()


async def offline_window_minutes(chain_id: uuid.UUID) -> int | None:
    row = await Chain.select(Chain.offline_window_minutes).where(
        Chain.id == chain_id).first().run()
    return None if row is None else int(row["offline_window_minutes"])


async def find_chain_by_name(name: str) -> ChainRow | None:
    return cast("ChainRow | None",
                await Chain.select().where(Chain.name == name).first().run())


# --- stores -----------------------------------------------------------------------------

async def insert_store(values: Values) -> None:
    await Store.insert(Store(**values)).run()


# Read on nearly every request (the store of a scan, a booking, a top-up): plain SQL.
_STORE = Sql(f"SELECT {select_list(Store, 's')} FROM store s "  # noqa: S608 - no input
             "WHERE s.id = {} AND s.chain = {}")


async def get_store(store_id: uuid.UUID, chain_id: uuid.UUID) -> StoreRow | None:
    row = await _STORE.first(store_id, chain_id)
    if row is not None and isinstance(row["opening_hours"], str):
        row["opening_hours"] = json.loads(row["opening_hours"])
    return cast("StoreRow | None", row)


async def list_stores(chain_id: uuid.UUID,
                      only: Iterable[uuid.UUID] | None = None) -> list[StoreRow]:
    query = Store.select().where(Store.chain == chain_id)
    if only is not None:
        ids = list(only)
        if not ids:
            return []
        query = query.where(Store.id.is_in(ids))
    return cast("list[StoreRow]", await query.order_by(Store.created_at).order_by(
        Store.id).output(load_json=True).run())


async def chain_store_ids(chain_id: uuid.UUID, candidates: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``candidates`` are stores of the chain."""
    if not candidates:
        return set()
    rows = await Store.select(Store.id).where(
        (Store.chain == chain_id) & Store.id.is_in(list(candidates))).run()
    return {row["id"] for row in rows}


async def update_store(store_id: uuid.UUID, values: Values) -> None:
    await Store.update(**values).where(Store.id == store_id).run()


# --- staff ------------------------------------------------------------------------------

async def insert_staff(values: Values, store_ids: Iterable[uuid.UUID]) -> None:
    await Staff.insert(Staff(**values)).run()
    links = [StaffStore(id=uuid.uuid4(), staff=values["id"], store=s) for s in store_ids]
    if links:
        await StaffStore.insert(*links).run()


async def get_staff_by_username(username: str) -> StaffRow | None:
    return cast("StaffRow | None",
                await Staff.select().where(Staff.username == username).first().run())


# The login's read: the staff row and its token version in one statement, so a token
# never carries a version newer than the role and stores read with it.
_STAFF_FOR_LOGIN = Sql(
    f"SELECT {select_list(Staff, 's')}, COALESCE(v.version, 0) AS token_version "  # noqa: S608
    "FROM staff s LEFT JOIN core_token_version v ON v.subject = s.id WHERE s.username = {}")


async def get_staff_for_login(username: str) -> StaffLoginRow | None:
    return cast("StaffLoginRow | None", await _STAFF_FOR_LOGIN.first(username))


async def get_staff(staff_id: uuid.UUID, chain_id: uuid.UUID, *,
                    lock: bool = False) -> StaffRow | None:
    """One staff member of the chain, with the password hash (never render it);
    ``lock``: its row held until the write transaction ends."""
    query = Staff.select().where((Staff.id == staff_id) & (Staff.chain == chain_id))
    return cast("StaffRow | None", await (for_update(query) if lock else query).first().run())


async def update_staff(staff_id: uuid.UUID, values: Values) -> None:
    await Staff.update(**values).where(Staff.id == staff_id).run()


async def replace_staff_stores(staff_id: uuid.UUID, store_ids: Iterable[uuid.UUID]) -> None:
    await StaffStore.delete().where(StaffStore.staff == staff_id).run()
    links = [StaffStore(id=uuid.uuid4(), staff=staff_id, store=s) for s in store_ids]
    if links:
        await StaffStore.insert(*links).run()


async def lock_chain(chain_id: uuid.UUID) -> None:
    """Serialise the chain's staff changes that count its operators (PostgreSQL: the
    chain row FOR UPDATE; SQLite's write transaction already serialises)."""
    await for_update(Chain.select(Chain.id).where(Chain.id == chain_id)).run()


async def count_active_operators(chain_id: uuid.UUID, excluding: uuid.UUID) -> int:
    return int(await Staff.count().where(
        (Staff.chain == chain_id) & (Staff.role == "operator") & (Staff.active == True)  # noqa: E712
        & (Staff.id != excluding)).run())


async def staff_store_ids(staff_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Store ids per staff member, in one query."""
    result: dict[uuid.UUID, list[uuid.UUID]] = {s: [] for s in staff_ids}
    if not staff_ids:
        return result
    rows = await StaffStore.select(StaffStore.staff, StaffStore.store).where(
        StaffStore.staff.is_in(list(staff_ids))).order_by(StaffStore.store).run()
    for row in rows:
        result[row["staff"]].append(row["store"])
    return result


async def list_staff(chain_id: uuid.UUID,
                     at_stores: Iterable[uuid.UUID] | None = None) -> list[StaffListRow]:
    """The chain's staff; with ``at_stores``, only those working at one of these stores."""
    query = Staff.select(*Staff.all_columns(exclude=[Staff.password_hash])).where(
        Staff.chain == chain_id)
    if at_stores is not None:
        stores = list(at_stores)
        if not stores:
            return []
        staff_ids = StaffStore.select(StaffStore.staff).where(StaffStore.store.is_in(stores))
        query = query.where(Staff.id.is_in(staff_ids))
    return cast("list[StaffListRow]",
                await query.order_by(Staff.created_at).order_by(Staff.id).run())


# --- members ----------------------------------------------------------------------------

async def insert_member(values: Values) -> None:
    await Member.insert(Member(**values)).run()


async def get_member(member_id: uuid.UUID, chain_id: uuid.UUID) -> MemberRow | None:
    return cast("MemberRow | None", await Member.select().where(
        (Member.id == member_id) & (Member.chain == chain_id)).first().run())


async def get_member_anywhere(member_id: uuid.UUID) -> MemberRow | None:
    """A member whatever its chain (for callers that hold a member id of their own)."""
    return cast("MemberRow | None", await Member.select().where(
        Member.id == member_id).first().run())


async def get_member_by_openid(chain_id: uuid.UUID, openid: str) -> MemberRow | None:
    return cast("MemberRow | None", await Member.select().where(
        (Member.chain == chain_id) & (Member.openid == openid)).first().run())


async def get_verified_member_by_phone(chain_id: uuid.UUID, phone: str) -> MemberRow | None:
    """The member whose verified phone this is (at most one: a partial unique index)."""
    return cast("MemberRow | None", await Member.select().where(
        (Member.chain == chain_id) & (Member.phone == phone)
        & (Member.phone_verified == True)).first().run())  # noqa: E712 - SQL, not Python


async def members_by_phone(chain_id: uuid.UUID, phone: str, *, limit: int,
                           offset: int) -> list[MemberRow]:
    """Members with this phone: the verified one first, then claims oldest first."""
    return cast("list[MemberRow]", await Member.select().where(
        (Member.chain == chain_id) & (Member.phone == phone)).order_by(
        Member.phone_verified, ascending=False).order_by(Member.created_at).order_by(
        Member.id).limit(limit).offset(offset).run())


async def clear_unverified_phone(chain_id: uuid.UUID, phone: str,
                                 keep: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Take the number off every member who only claimed it (but ``keep``); their ids."""
    condition = ((Member.chain == chain_id) & (Member.phone == phone)
                 & (Member.phone_verified == False))  # noqa: E712 - SQL, not Python
    if keep is not None:
        condition = condition & (Member.id != keep)
    rows = await Member.update({Member.phone: None}).where(condition).returning(
        Member.id).run()
    return [row["id"] for row in rows]


def _in_scope(at_stores: Iterable[uuid.UUID], linked: Sequence[Select[Any]]) -> Any:
    """Members registered at one of ``at_stores`` or in one of the ``linked`` subqueries
    (a manager's scope), as one condition; None when nothing can match."""
    conditions: list[Any] = [Member.id.is_in(sub) for sub in linked]
    stores = list(at_stores)
    if stores:
        conditions.append(Member.registered_store.is_in(stores))
    if not conditions:
        return None
    where = conditions[0]
    for condition in conditions[1:]:
        where = where | condition
    return where


async def list_members(chain_id: uuid.UUID, *, limit: int, offset: int,
                       member_id: uuid.UUID | None = None,
                       at_stores: Iterable[uuid.UUID] | None = None,
                       linked: Sequence[Select[Any]] = ()) -> list[MemberRow]:
    """The chain's members, newest first. ``member_id``: that one only. ``at_stores``:
    only those registered at one of these stores or in one of the ``linked`` subqueries
    (each a select of member ids, from a later domain: card holders, say)."""
    query = Member.select().where(Member.chain == chain_id)
    if member_id is not None:
        query = query.where(Member.id == member_id)
    if at_stores is not None:
        scope = _in_scope(at_stores, linked)
        if scope is None:
            return []
        query = query.where(scope)
    return cast("list[MemberRow]", await query.order_by(
        Member.created_at, ascending=False).order_by(Member.id).limit(limit).offset(offset).run())


async def update_member(member_id: uuid.UUID, values: Values) -> None:
    await Member.update(**values).where(Member.id == member_id).run()


async def external_id_holder(kind: str, chain_id: uuid.UUID,
                             external_id: str) -> uuid.UUID | None:
    """The member, store or service (``kind``) of the chain holding ``external_id``."""
    if kind == "member":
        query = Member.select(Member.id).where(
            (Member.chain == chain_id) & (Member.external_id == external_id))
    elif kind == "store":
        query = Store.select(Store.id).where(
            (Store.chain == chain_id) & (Store.external_id == external_id))
    elif kind == "service":
        query = Service.select(Service.id).where(
            (Service.chain == chain_id) & (Service.external_id == external_id))
    else:
        raise ValueError(f"no external ids on {kind!r}")
    row = await query.first().run()
    return None if row is None else cast("uuid.UUID", row["id"])


# --- services and resources -------------------------------------------------------------

async def insert_service(values: Values) -> None:
    await Service.insert(Service(**values)).run()


async def get_service(service_id: uuid.UUID, store_id: uuid.UUID) -> ServiceRow | None:
    return cast("ServiceRow | None", await Service.select().where(
        (Service.id == service_id) & (Service.store == store_id)).first().run())


async def update_service(service_id: uuid.UUID, values: Values) -> None:
    await Service.update(**values).where(Service.id == service_id).run()


async def list_services(store_id: uuid.UUID) -> list[ServiceRow]:
    return cast("list[ServiceRow]", await Service.select().where(
        Service.store == store_id).order_by(Service.created_at).order_by(Service.id).run())


async def store_service_ids(store_id: uuid.UUID, candidates: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not candidates:
        return set()
    rows = await Service.select(Service.id).where(
        (Service.store == store_id) & Service.id.is_in(list(candidates))).run()
    return {row["id"] for row in rows}


async def insert_resource(values: Values, service_ids: Iterable[uuid.UUID]) -> None:
    await Resource.insert(Resource(**values)).run()
    links = [ResourceService(id=uuid.uuid4(), resource=values["id"], service=s)
             for s in service_ids]
    if links:
        await ResourceService.insert(*links).run()


async def list_resources(store_id: uuid.UUID) -> list[ResourceRow]:
    return cast("list[ResourceRow]", await Resource.select().where(
        Resource.store == store_id).order_by(Resource.created_at).order_by(Resource.id).output(
        load_json=True).run())


async def resource_service_ids(
    resource_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, list[uuid.UUID]]:
    result: dict[uuid.UUID, list[uuid.UUID]] = {r: [] for r in resource_ids}
    if not resource_ids:
        return result
    rows = await ResourceService.select(ResourceService.resource, ResourceService.service).where(
        ResourceService.resource.is_in(list(resource_ids))).order_by(ResourceService.service).run()
    for row in rows:
        result[row["resource"]].append(row["service"])
    return result


# --- WeChat config ----------------------------------------------------------------------

async def get_wechat_config(chain_id: uuid.UUID) -> WechatConfigRow | None:
    return cast("WechatConfigRow | None", await WechatConfig.select().where(
        WechatConfig.chain == chain_id).output(load_json=True).first().run())


async def upsert_wechat_config(values: Values) -> None:
    """Insert or replace the chain's config (called inside a write transaction)."""
    existing = await WechatConfig.select(WechatConfig.id).where(
        WechatConfig.chain == values["chain"]).first().run()
    if existing is None:
        await WechatConfig.insert(WechatConfig(id=uuid.uuid4(), **values)).run()
    else:
        await WechatConfig.update(**values).where(WechatConfig.id == existing["id"]).run()


async def chain_member_ids(chain_id: uuid.UUID,
                           candidates: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``candidates`` are members of the chain."""
    if not candidates:
        return set()
    rows = await Member.select(Member.id).where(
        (Member.chain == chain_id) & Member.id.is_in(list(candidates))).run()
    return {row["id"] for row in rows}


def _contains(column: Column, text: str, *, ignore_case: bool = False) -> WhereRaw:
    """``column`` holds ``text`` as typed: LIKE's wildcards (``%``, ``_``) and its escape
    (``\\``) in the text match themselves (``ESCAPE '\\'``, said on both engines: SQLite has
    no default escape). ``ignore_case``: ASCII case (SQLite's LIKE already ignores it and
    has no ILIKE; PostgreSQL's ILIKE). The text is a parameter, never SQL."""
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
    operator = "ILIKE" if ignore_case and not is_sqlite(current_engine()) else "LIKE"
    name = f'"{column._meta.table._meta.tablename}"."{column._meta.db_column_name}"'
    return WhereRaw(f"{name} {operator} {{}} ESCAPE '\\'", pattern)


async def search_members(chain_id: uuid.UUID, *, limit: int, offset: int,
                         text: str | None = None, digits: str | None = None,
                         external_id: str | None = None,
                         narrowed: Sequence[Select[Any] | QueryString] = (),
                         at_stores: Iterable[uuid.UUID] | None = None,
                         linked: Sequence[Select[Any]] = ()) -> list[MemberRow]:
    """The chain's members, newest first, whose name holds ``text`` or whose phone holds
    ``digits`` (when given), with ``external_id`` (exactly, when given), in every
    ``narrowed`` subquery of member ids (from later domains: card holders, visitors),
    and (``at_stores``) registered at one of these stores or in one of the ``linked``
    subqueries, as :func:`list_members`."""
    query = Member.select().where(Member.chain == chain_id)
    if text is not None or digits is not None:
        found: Any = None
        if text is not None:
            found = _contains(Member.name, text, ignore_case=True)
        if digits:
            by_phone = _contains(Member.phone, digits)
            found = by_phone if found is None else found | by_phone
        query = query.where(found)
    if external_id is not None:
        query = query.where(Member.external_id == external_id)
    for sub in narrowed:
        query = query.where(Member.id.is_in(sub))
    if at_stores is not None:
        scope = _in_scope(at_stores, linked)
        if scope is None:
            return []
        query = query.where(scope)
    return cast("list[MemberRow]", await query.order_by(
        Member.created_at, ascending=False).order_by(Member.id).limit(limit).offset(offset).run())


async def members_by_ids(chain_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> list[MemberRow]:
    """The chain's members among ``member_ids``."""
    if not member_ids:
        return []
    return cast("list[MemberRow]", await Member.select().where(
        (Member.chain == chain_id) & Member.id.is_in(list(member_ids))).run())
