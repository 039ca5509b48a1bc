"""The event feed (issue 18) on both engines: events emitted in a change's transaction are
numbered per chain after commit, 1, 2, 3, ... with no gap, in insert order; a change that
rolls back emits nothing; another chain's events are never seen; the feed validates its
query and keeps what is younger than 30 days.

The world's own set-up may emit events (members registered...): every test reads the
feed's head first and counts from there.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.core import events
from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import Sql, write_transaction
from app.core.errors import Forbidden, ValidationError
from app.core.events import repository as events_repo
from app.core.events import retention, sequencer, service
from tests.world import World

T = events.types


async def _page(client: httpx.AsyncClient, headers: dict[str, str],
                **query: Any) -> dict[str, Any]:
    answer = await client.get("/api/v1/events", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _drain(client: httpx.AsyncClient, headers: dict[str, str], after: int = 0,
                 **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = await _page(client, headers, after=after, limit=1000, **query)
        items += page["items"]
        if not page["items"]:
            assert page["next_after"] == after
            return items
        assert page["next_after"] == page["items"][-1]["sequence"]
        after = page["next_after"]


async def _head(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    items = await _drain(client, headers)
    return int(items[-1]["sequence"]) if items else 0


async def _emit(chain_id: uuid.UUID, kind: str = T.CARD_ISSUED, *, n: int = 0,
                store_id: uuid.UUID | None = None,
                object_id: uuid.UUID | None = None) -> uuid.UUID:
    row = await events.emit(kind, chain_id=chain_id, object_id=object_id or uuid.uuid4(),
                            store_id=store_id, data={"n": n, "id": uuid.uuid4()})
    return row["id"]


async def test_numbered_in_insert_order_without_gaps(world: World,
                                                     client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    written = []
    for n in range(25):
        async with write_transaction():  # each its own change
            written.append(await _emit(world.a.id, n=n, store_id=world.a.stores[n % 2]))
    items = await _drain(client, headers, after=head)
    assert [i["id"] for i in items] == [str(w) for w in written]
    assert [i["sequence"] for i in items] == list(range(head + 1, head + 26))
    assert [i["data"]["n"] for i in items] == list(range(25))
    first = items[0]
    assert set(first) == {"id", "sequence", "type", "created_at", "store_id", "data"}
    assert first["type"] == "card.issued" and first["store_id"] == str(world.a.stores[0])
    at = datetime.fromisoformat(first["created_at"])  # RFC 3339 with its offset
    assert at.utcoffset() == timedelta(0)
    assert abs((utcnow() - at).total_seconds()) < 60


async def test_one_transaction_many_events_keeps_their_order(
        world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    async with write_transaction():
        written = [await _emit(world.a.id, T.REDEMPTION_CREATED, n=n) for n in range(5)]
    items = await _drain(client, headers, after=head)
    assert [i["id"] for i in items] == [str(w) for w in written]


async def test_limit_paging_and_next_after(world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    for n in range(7):
        await _emit(world.a.id, n=n)
    page = await _page(client, headers, after=head, limit=3)
    assert [i["sequence"] for i in page["items"]] == [head + 1, head + 2, head + 3]
    assert page["next_after"] == head + 3
    page = await _page(client, headers, after=page["next_after"], limit=3)
    assert [i["sequence"] for i in page["items"]] == [head + 4, head + 5, head + 6]
    page = await _page(client, headers, after=page["next_after"])  # default limit 100
    assert [i["sequence"] for i in page["items"]] == [head + 7]
    empty = await _page(client, headers, after=head + 7)
    assert empty == {"items": [], "next_after": head + 7}
    far = await _page(client, headers, after=10**12)
    assert far == {"items": [], "next_after": 10**12}


async def test_types_filter(world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    kinds = [T.CARD_ISSUED, T.BOOKING_CREATED, T.CARD_TOPPED_UP, T.VOUCHER_ISSUED,
             T.BOOKING_CREATED, T.CARD_TOPPED_UP]
    for n, kind in enumerate(kinds):
        await _emit(world.a.id, kind, n=n)
    picked = await _drain(client, headers, after=head,
                          types="booking.created,card.topped_up")
    assert [(i["type"], i["data"]["n"]) for i in picked] == [
        ("booking.created", 1), ("card.topped_up", 2), ("booking.created", 4),
        ("card.topped_up", 5)]
    # Sequences stay the chain's: a filtered page skips numbers of other types.
    assert [i["sequence"] for i in picked] == [head + 2, head + 3, head + 5, head + 6]
    one = await _page(client, headers, after=head, types="voucher.issued")
    assert [i["sequence"] for i in one["items"]] == [head + 4]
    assert one["next_after"] == head + 4


@pytest.mark.parametrize("query", [
    {"after": "-1"}, {"after": "abc"}, {"after": "1.5"}, {"limit": "0"}, {"limit": "1001"},
    {"limit": "x"}, {"types": "card.issued,card.exploded"}, {"types": "nope"},
    {"types": ","}, {"after": str(10**30)},
])
async def test_bad_queries_are_400(world: World, client: httpx.AsyncClient,
                                   query: dict[str, str]) -> None:
    answer = await client.get("/api/v1/events", params=query,
                              headers=world.headers(world.a.operator))
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "validation_error"
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_limit_bounds_are_allowed(world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    for limit in (1, 1000):
        assert (await client.get("/api/v1/events", params={"limit": limit},
                                 headers=headers)).status_code == 200


async def test_another_chain_is_never_seen(world: World, client: httpx.AsyncClient) -> None:
    a_headers, b_headers = world.headers(world.a.operator), world.headers(world.b.operator)
    a_head, b_head = await _head(client, a_headers), await _head(client, b_headers)
    for n in range(6):
        await _emit(world.a.id if n % 2 else world.b.id, n=n)
    a_items = await _drain(client, a_headers, after=a_head)
    b_items = await _drain(client, b_headers, after=b_head)
    assert [i["data"]["n"] for i in a_items] == [1, 3, 5]
    assert [i["data"]["n"] for i in b_items] == [0, 2, 4]
    # Each chain counts on its own.
    assert [i["sequence"] for i in a_items] == [a_head + 1, a_head + 2, a_head + 3]
    assert [i["sequence"] for i in b_items] == [b_head + 1, b_head + 2, b_head + 3]
    everything = {i["id"] for i in await _drain(client, a_headers)}
    assert not everything & {i["id"] for i in b_items}


async def test_a_rolled_back_change_emits_nothing(world: World,
                                                  client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    await _emit(world.a.id, n=1)

    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        async with write_transaction():
            await _emit(world.a.id, n=2)
            raise Refused
    await _emit(world.a.id, n=3)
    items = await _drain(client, headers, after=head)
    assert [(i["sequence"], i["data"]["n"]) for i in items] == [(head + 1, 1), (head + 2, 3)]
    # Chain a's rows are all numbered (the world's other chain may have its own pending).
    left = await Sql("SELECT count(*) AS n FROM core_event "
                     "WHERE sequence IS NULL AND chain_id = {}").first(world.a.id)
    assert left is not None and left["n"] == 0


async def test_who_reads_the_feed(world: World, client: httpx.AsyncClient) -> None:
    for who in (world.a.staff["alpha-manager"], world.a.staff["alpha-clerk1"],
                world.a.members[0]):
        answer = await client.get("/api/v1/events", headers=world.headers(who))
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert (await client.get("/api/v1/events")).status_code == 401


@dataclass(frozen=True)
class _Key:
    """What an API key's principal carries (the keys helper's Principal, issue 18)."""

    chain_id: uuid.UUID
    role: str
    store_ids: frozenset[uuid.UUID]
    scopes: frozenset[str]
    kind: str = "key"
    id: uuid.UUID = field(default_factory=uuid.uuid4)


async def test_a_store_limited_key_sees_its_stores_only(
        world: World, client: httpx.AsyncClient) -> None:
    mine, other = world.a.stores
    head = await _head(client, world.headers(world.a.operator))
    await _emit(world.a.id, n=1, store_id=mine)
    await _emit(world.a.id, n=2, store_id=other)
    await _emit(world.a.id, T.MEMBER_CREATED, n=3)  # joined through WeChat: no store
    key: Any = _Key(chain_id=world.a.id, role="manager", store_ids=frozenset({mine}),
                    scopes=frozenset({"events:read"}))
    page = await service.read_feed(key, after=head)
    # Not the other store's, nor the store-less one (the chain's: a member of whichever
    # store, a card an operator froze).
    assert [i.data["n"] for i in page.items] == [1]
    assert page.next_after == head + 1
    nowhere: Any = _Key(chain_id=world.a.id, role="manager", store_ids=frozenset(),
                        scopes=frozenset({"events:read"}))
    assert (await service.read_feed(nowhere, after=head)).items == []
    wide: Any = _Key(chain_id=world.a.id, role="operator", store_ids=frozenset(),
                     scopes=frozenset({"events:read"}))
    assert [i.data["n"] for i in (await service.read_feed(wide, after=head)).items] == [
        1, 2, 3]
    person_manager: Principal = world.a.staff["alpha-manager"]
    with pytest.raises(Forbidden):
        await service.read_feed(person_manager)


async def test_service_validates_too(world: World) -> None:
    with pytest.raises(ValidationError):
        await service.read_feed(world.a.operator, after=-1)
    with pytest.raises(ValidationError):
        await service.read_feed(world.a.operator, limit=1001)
    assert service.parse_types(" card.issued , card.issued,booking.created") == [
        "booking.created", "card.issued"]
    assert service.parse_types(None) is None


async def test_unknown_type_cannot_be_emitted(world: World) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        await events.emit("card.exploded", chain_id=world.a.id, object_id=uuid.uuid4(),
                          data={})
    assert len(T.ALL) == len(T.KNOWN) == 20  # the contract's 17 and gifting's 3 (issue 20)
    assert T.family(T.TOP_UP_ORDER_PAID) == "top_up_order"


async def test_the_background_sequencer_numbers_without_a_reader(
        world: World, client: httpx.AsyncClient) -> None:
    """The server's own task numbers what this process emitted at once (a hint), and
    tells in-process listeners (the webhook fan-out) what it numbered."""
    heard: list[tuple[uuid.UUID, int]] = []

    def listener(chain_id: uuid.UUID, last: int) -> None:
        heard.append((chain_id, last))

    sequencer.on_numbered(listener)
    try:
        waiting = asyncio.create_task(sequencer.wait_numbered(5.0))
        await asyncio.sleep(0)
        async with write_transaction():
            event_id = await _emit(world.a.id, n=1)
        assert await waiting
        for _ in range(100):
            row = await Sql("SELECT sequence FROM core_event WHERE id = {}").first(event_id)
            if row is not None and row["sequence"] is not None:
                break
            await asyncio.sleep(0.05)
        assert row is not None and row["sequence"] is not None
        assert (world.a.id, int(row["sequence"])) in heard
        numbered = await events_repo.numbered(world.a.id, int(row["sequence"]) - 1, 10)
        assert [r["id"] for r in numbered] == [event_id]
        assert (await events_repo.heads())[world.a.id] == int(row["sequence"])
    finally:
        sequencer.off_numbered(listener)


async def test_concurrent_writers_and_numbering_stay_gap_free(
        world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)

    async def writer(w: int) -> list[uuid.UUID]:
        mine = []
        for n in range(10):
            async with write_transaction():
                mine.append(await _emit(world.a.id, n=w * 100 + n))
            await asyncio.sleep(0)
        return mine

    async def numberer() -> None:
        for _ in range(20):
            await sequencer.number_chain(world.a.id, wait=False)
            await asyncio.sleep(0)

    results = await asyncio.gather(*(writer(w) for w in range(8)), numberer(), numberer())
    written = [e for r in results[:8] if r for e in r]
    items = await _drain(client, headers, after=head)
    assert [i["sequence"] for i in items] == list(range(head + 1, head + 1 + len(written)))
    assert sorted(i["id"] for i in items) == sorted(str(e) for e in written)
    # One writer's events (one object's, in real life) keep their order.
    for w in range(8):
        theirs = [i["data"]["n"] for i in items if i["data"]["n"] // 100 == w]
        assert theirs == sorted(theirs)


async def test_retention_keeps_thirty_days(world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    old = [await _emit(world.a.id, n=n) for n in range(3)]
    await _head(client, headers)  # numbered
    young = await _emit(world.a.id, n=3)
    await _head(client, headers)
    async with write_transaction():
        await Sql("UPDATE core_event SET created_at = {} WHERE id IN ({}, {}, {})").rows(
            utcnow() - timedelta(days=31), *old)
        await Sql("UPDATE core_event SET created_at = {} WHERE id = {}").rows(
            utcnow() - timedelta(days=29, hours=23), young)
        # An old row not numbered yet (here: not even committed; the purge joins this
        # transaction, so it sees it) is never purged.
        pending_old = await _emit(world.a.id, n=4)
        await Sql("UPDATE core_event SET created_at = {} WHERE id = {}").rows(
            utcnow() - timedelta(days=40), pending_old)
        assert await retention.purge_expired(utcnow()) == 3
        still = await Sql("SELECT sequence FROM core_event WHERE id = {}").first(pending_old)
        assert still is not None and still["sequence"] is None
    items = await _drain(client, headers, after=head)
    assert [i["id"] for i in items] == [str(young), str(pending_old)]
    assert items[0]["sequence"] == head + 4  # numbers go on; nothing renumbered
    await _emit(world.a.id, n=5)
    after = await _drain(client, headers, after=head + 5)
    assert [i["sequence"] for i in after] == [head + 6]


async def test_a_late_commit_gets_a_later_number(world: World, client: httpx.AsyncClient,
                                                 engine_name: str,
                                                 database_url: str) -> None:
    """PostgreSQL: a change that inserted its event first but commits last is numbered
    after the events that committed before it: a reader that saw those never meets a
    smaller number later, and nothing is skipped."""
    if engine_name != "postgres":
        pytest.skip("one writer at a time on SQLite: commits follow inserts")
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    slow = await asyncpg.connect(database_url)
    try:
        transaction = slow.transaction()
        await transaction.start()
        late = uuid.uuid4()
        await slow.execute(
            "INSERT INTO core_event (id, chain_id, type, object_id, data, created_at) "
            "VALUES ($1, $2, 'card.issued', $3, '{\"n\": 0}', now())",
            late, world.a.id, uuid.uuid4())
        early = await _emit(world.a.id, n=1)  # inserted after, committed before
        seen = await _drain(client, headers, after=head)
        assert [i["id"] for i in seen] == [str(early)]
        assert seen[0]["sequence"] == head + 1
        await transaction.commit()
    finally:
        await slow.close()
    later = await _drain(client, headers, after=head + 1)
    assert [(i["id"], i["sequence"]) for i in later] == [(str(late), head + 2)]


async def test_many_at_once_keep_their_order(world: World, client: httpx.AsyncClient) -> None:
    headers = world.headers(world.a.operator)
    head = await _head(client, headers)
    rows = [events.event(T.VOUCHER_ISSUED, chain_id=world.a.id, object_id=uuid.uuid4(),
                         data={"n": n}) for n in range(1203)]
    async with write_transaction():
        await events.emit_many(rows)
    items = await _drain(client, headers, after=head)
    assert [i["id"] for i in items] == [str(r["id"]) for r in rows]
    assert [i["sequence"] for i in items] == list(range(head + 1, head + 1204))
