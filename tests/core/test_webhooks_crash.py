"""Nothing is lost when a server process is SIGKILLed mid-delivery (PostgreSQL, two real
`o2o serve` processes): its leases run out, the other process claims those deliveries
again, and every event reaches the receiver (at least once, with the same webhook-id)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest

from app.asgi import create_app
from app.core import events
from app.core.db import write_transaction
from app.core.events import sequencer
from app.core.tables import WebhookDelivery
from tests.conftest import LiveServer, make_settings, serving
from tests.core.webhook_receiver import receiver
from tests.world import build_world

API = "/api/v1"
SERVER_ENV = {"O2O_WEBHOOK_LEASE_SECONDS": "3", "O2O_WEBHOOK_POLL_SECONDS": "0.1",
              "O2O_WEBHOOK_PER_ENDPOINT": "2"}
EVENTS = 24


def _pid(user_agent: str) -> int:
    return int(user_agent.rsplit("pid ", 1)[1].rstrip(")"))


@pytest.mark.parametrize("engine_name", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_sigkill_mid_delivery_loses_nothing(database_url: str, tmp_path: Path) -> None:
    # This process writes events and reads the outcome; only the servers deliver.
    app = create_app(make_settings(database_url, webhook_worker=False))
    async with receiver() as rx, serving(app) as http:
        rx.modes["/hook"] = "slow:1.0"  # every attempt takes a second: kills land mid-way
        world = await build_world(app)
        chain = world.a.id
        created = await http.post(f"{API}/webhook-endpoints",
                                  headers=world.headers(world.a.operator),
                                  json={"url": rx.url("hook"), "events": ["*"]})
        assert created.status_code == 201, created.text
        servers = [LiveServer(database_url, env=SERVER_ENV, log_file=tmp_path / f"s{n}.log")
                   for n in range(2)]
        for server in servers:
            await asyncio.to_thread(server.start)
        victim, survivor = servers
        try:
            objects = [uuid.uuid4() for _ in range(6)]
            sent = []
            for n in range(EVENTS):
                async with write_transaction():
                    row = await events.emit("card.updated", chain_id=chain,
                                            object_id=objects[n % 6], data={"n": n})
                sent.append(str(row["id"]))
            await sequencer.number_chain(chain)
            victim_pid = victim._process.pid if victim._process else -1
            await rx.wait_for(lambda: any(_pid(r.headers["user-agent"]) == victim_pid
                                          for r in rx.at("hook")), timeout=30)
            await asyncio.to_thread(victim.kill)  # mid-delivery: its request is in flight
            in_flight = {r.headers["webhook-id"] for r in rx.at("hook")
                         if _pid(r.headers["user-agent"]) == victim_pid}

            async def all_delivered() -> bool:
                statuses = Counter(r["status"] for r in await WebhookDelivery.select(
                    WebhookDelivery.status).run())
                return statuses == Counter({"delivered": EVENTS})

            for _ in range(600):
                if await all_delivered():
                    break
                await asyncio.sleep(0.1)
            assert await all_delivered()
            received = {r.headers["webhook-id"] for r in rx.at("hook")}
            assert received == set(sent)  # every event reached the receiver
            # What the dead process had in flight was sent again by the survivor.
            survivor_pid = survivor._process.pid if survivor._process else -1
            again = {r.headers["webhook-id"] for r in rx.at("hook")
                     if _pid(r.headers["user-agent"]) == survivor_pid}
            assert in_flight and in_flight <= again
        finally:
            for server in servers:
                await asyncio.to_thread(server.stop)
