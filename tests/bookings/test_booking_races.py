"""No overbooking under real concurrency: racers over HTTP against running servers (one
on SQLite; two processes on PostgreSQL), and random sequences checked by an independent
query after every step."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.auth import Principal
from bookings.tables import Booking
from tests.bookings.conftest import API, Salon
from tests.conftest import LiveServer

pytestmark = pytest.mark.postgres


async def overbooked_instants(resource_id: str, capacity: int) -> list[str]:
    """Instants at which a resource holds more seats than it has, computed straight from
    the table: at each holding booking's start, sum the seats of every holding booking
    that covers that instant (the peak of a step function is reached at some start)."""
    rows = await Booking.raw(
        "SELECT start_at, block_end_at, party_size FROM booking WHERE resource = {} "
        "AND status IN ('confirmed', 'checked_in', 'completed')", uuid.UUID(resource_id)).run()
    spans = [(_utc(r["start_at"]), _utc(r["block_end_at"]), r["party_size"]) for r in rows]
    return [at.isoformat() for at, _, _ in spans
            if sum(n for s, e, n in spans if s <= at < e) > capacity]


def _utc(value: Any) -> datetime:
    # SQLite's raw rows come back as text; PostgreSQL's as aware datetimes.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def _members(salon: Salon, count: int) -> list[dict[str, str]]:
    headers = []
    for n in range(count):
        made = await salon.post("/members", {"name": f"racer {n}",
                                             "phone": f"1390000{n:04d}"})
        assert made.status_code == 201, made.text
        principal = Principal(kind="member", id=uuid.UUID(made.json()["id"]),
                              chain_id=salon.world.a.id, role="member")
        headers.append(salon.world.headers(principal))
    return headers


def _race(servers: list[LiveServer], bodies: list[dict[str, Any]],
          headers: list[dict[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    ready = threading.Barrier(len(bodies))

    def post(n: int) -> tuple[int, dict[str, Any]]:
        with httpx.Client(base_url=servers[n % len(servers)].base_url, timeout=60) as http:
            http.get(f"{API}/health")  # connected before the race starts
            ready.wait(timeout=60)
            response = http.post(f"{API}/bookings", json=bodies[n], headers=headers[n])
            return response.status_code, dict(response.json())

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, range(len(bodies))))


async def _race_on_servers(database_url: str, engine_name: str, bodies: list[dict[str, Any]],
                           headers: list[dict[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    """Start one server (SQLite) or two processes (PostgreSQL), race, stop them."""
    servers = [LiveServer(database_url) for _ in range(1 if engine_name == "sqlite" else 2)]
    try:
        started = await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers),
                                       return_exceptions=True)
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        return await asyncio.to_thread(_race, servers, bodies, headers)
    finally:
        for server in servers:
            server.stop()


async def test_racers_for_one_stylist_slot_get_one_booking(salon: Salon, database_url: str,
                                                            engine_name: str) -> None:
    racers = await _members(salon, 16)
    start = salon.at("10:00", 2)
    bodies = [{"store_id": salon.store_id, "service_id": salon.haircut, "start": start,
               "resource_id": salon.tony}] * len(racers)
    results = await _race_on_servers(database_url, engine_name, bodies, racers)
    outcomes = sorted((status, body.get("code")) for status, body in results)
    won = [body for status, body in results if status == 201]
    assert len(won) == 1, outcomes
    assert outcomes.count((409, "slot_unavailable")) == len(racers) - 1, outcomes
    assert await overbooked_instants(salon.tony, 1) == []
    assert await Booking.count().where(Booking.resource == uuid.UUID(salon.tony)).run() == 1


async def test_parties_racing_for_a_table_never_exceed_its_seats(
        salon: Salon, database_url: str, engine_name: str) -> None:
    racers = await _members(salon, 14)
    # Parties of 1-3 at 19:00 and at 19:30 (overlapping by half an hour), and one party
    # of 5 that can never fit a table of 4.
    sizes = [1, 2, 3, 2, 1, 3, 2, 1, 3, 2, 1, 2, 3, 5]
    bodies = [{"store_id": salon.store_id, "service_id": salon.dinner,
               "start": salon.at("19:00" if n % 2 else "19:30", 2), "party_size": size}
              for n, size in enumerate(sizes)]
    results = await _race_on_servers(database_url, engine_name, bodies, racers)
    assert {(s, None if s == 201 else b["code"]) for s, b in results} <= {
        (201, None), (409, "slot_unavailable")}
    assert results[-1][0] == 409  # the party of 5
    assert await overbooked_instants(salon.table, 4) == []
    seated = sum(b["party_size"] for s, b in results if s == 201)
    assert 4 <= seated <= 8  # each half hour filled as far as the racers allowed


# --- property: random book / cancel / reschedule sequences ------------------------------

STARTS = ["10:00", "10:30", "11:00", "11:30", "12:00", "12:30"]
Step = tuple[str, int, int]
steps = st.lists(st.tuples(st.sampled_from(["book", "book", "cancel", "move"]),
                           st.integers(0, len(STARTS) - 1), st.integers(1, 4)),
                 min_size=1, max_size=10)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
async def test_random_sequences_never_overbook(salon: Salon, sequence: list[Step]) -> None:
    """Each example on fresh resources: a table of 4 and a stylist, services of 60 min
    (the table) and 45 + 15 min (the stylist)."""
    table = await salon.make_resource(salon.store_id, [salon.dinner], capacity=4,
                                      kind="table", name=f"T{uuid.uuid4().hex[:4]}")
    stylist = await salon.make_resource(salon.store_id, [salon.haircut],
                                        name=f"S{uuid.uuid4().hex[:4]}")
    held: list[str] = []
    for action, slot, size in sequence:
        if action == "book":
            use_table = size > 1 or slot % 2 == 0
            response = await salon.book(
                salon.at(STARTS[slot], 4), member=slot % 2,
                service=salon.dinner if use_table else salon.haircut,
                resource_id=table if use_table else stylist,
                party_size=size if use_table else 1)
            assert response.status_code in (201, 409), response.text
            if response.status_code == 201:
                held.append(response.json()["id"])
        elif held:
            booking = held[slot % len(held)]
            if action == "cancel":
                response = await salon.post(f"/bookings/{booking}/cancel", {})
                assert response.status_code in (200, 409), response.text
            else:
                response = await salon.post(f"/bookings/{booking}/reschedule",
                                            {"start": salon.at(STARTS[size % len(STARTS)], 4)})
                assert response.status_code in (200, 409), response.text
                if response.status_code == 409:
                    assert response.json()["code"] in ("slot_unavailable", "invalid_state")
        assert await overbooked_instants(table, 4) == []
        assert await overbooked_instants(stylist, 1) == []


async def test_postgres_refuses_overlapping_rows_even_past_the_code(salon: Salon,
                                                                    engine_name: str) -> None:
    """The exclusion constraint is the backstop: a second holding row for a capacity-1
    resource over the same time cannot be written, whatever code tried."""
    if engine_name != "postgres":
        pytest.skip("the exclusion constraint is PostgreSQL's")
    import asyncpg

    first = await salon.booked(salon.at("10:00", 2))
    clone = "INSERT INTO booking (id, chain, store, service, resource, member, start_at, " \
            "end_at, block_end_at, party_size, status, exclusive, any_resource, note, " \
            "created_at, updated_at) SELECT {}, chain, store, service, resource, member, " \
            "start_at + interval '30 minutes', end_at, block_end_at + interval '30 minutes', " \
            "1, 'confirmed', true, false, '', now(), now() FROM booking WHERE id = {}"
    with pytest.raises(asyncpg.ExclusionViolationError):
        await Booking.raw(clone, uuid.uuid4(), uuid.UUID(first["id"])).run()
    # Cancelled rows do not hold: the same insert passes once the first is cancelled.
    await salon.post(f"/bookings/{first['id']}/cancel", {})
    await Booking.raw(clone, uuid.uuid4(), uuid.UUID(first["id"])).run()
