"""Webhooks against a real receiver (tests/core/webhook_receiver.py), on both engines:
the endpoints' CRUD and URL rules, every event delivered and signed (verified with the
``standardwebhooks`` package, not our code), both secrets after a rotation, per-object
order under retries, a slow endpoint not delaying a healthy one, retries then failed,
auto-disable after five days of failures, no redirect, the 64 KB cap, and no delivery
to a private address (at registration, and at delivery after a DNS change)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from standardwebhooks import Webhook

from app.asgi import create_app
from app.core import events
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.events import sequencer
from app.core.tables import WebhookDelivery, WebhookEndpoint
from app.core.webhooks import urls
from tests.conftest import make_settings, serving
from tests.core.webhook_receiver import Receiver, receiver
from tests.world import World, build_world

API = "/api/v1"
FAST = {"webhook_poll_s": 0.05, "webhook_retry_scale": 1e-5}


@dataclass
class Hooked:
    app: Litestar
    http: httpx.AsyncClient
    world: World
    receiver: Receiver

    @property
    def op(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    async def endpoint(self, path: str, events_: list[str] | None = None) -> dict[str, Any]:
        created = await self.http.post(f"{API}/webhook-endpoints", headers=self.op, json={
            "url": self.receiver.url(path), "events": events_ or ["*"]})
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body

    async def deliveries(self, endpoint_id: str, **query: Any) -> list[dict[str, Any]]:
        answer = await self.http.get(f"{API}/webhook-endpoints/{endpoint_id}/deliveries",
                                     headers=self.op, params={"limit": 500, **query})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found


@asynccontextmanager
async def hooked(database_url: str, **overrides: Any) -> AsyncIterator[Hooked]:
    app = create_app(make_settings(database_url, **{**FAST, **overrides}))
    async with receiver() as rx, serving(app) as http:
        yield Hooked(app, http, await build_world(app), rx)


async def emit(chain_id: uuid.UUID, event_type: str, object_id: uuid.UUID,
               **data: Any) -> uuid.UUID:
    async with write_transaction():
        row = await events.emit(event_type, chain_id=chain_id, object_id=object_id,
                                data={"id": str(object_id), **data})
    await sequencer.number_chain(chain_id)
    return row["id"]


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def verify(secret: str, received: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


# --- endpoints --------------------------------------------------------------------------

async def test_endpoint_crud(database_url: str) -> None:
    async with hooked(database_url) as h:
        created = await h.endpoint("ok", ["card.topped_up", "redemption.created"])
        assert created["status"] == "enabled" and created["disabled_reason"] is None
        assert created["secret"].startswith("whsec_")
        assert len(__import__("base64").b64decode(created["secret"][6:])) == 32
        path = f"{API}/webhook-endpoints/{created['id']}"
        listed = (await h.http.get(f"{API}/webhook-endpoints", headers=h.op)).json()
        assert [e["id"] for e in listed] == [created["id"]]
        assert "secret" not in listed[0]
        one = (await h.http.get(path, headers=h.op)).json()
        assert "secret" not in one and one["events"] == ["card.topped_up", "redemption.created"]

        changed = await h.http.patch(path, headers=h.op, json={"events": ["*"],
                                                                "status": "disabled"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["status"] == "disabled"
        assert changed.json()["disabled_reason"] == "disabled by an operator"
        enabled = (await h.http.patch(path, headers=h.op, json={"status": "enabled"})).json()
        assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None

        for bad in (["*", "card.issued"], ["card.exploded"], ["card.issued", "card.issued"],
                    []):
            refused = await h.http.post(f"{API}/webhook-endpoints", headers=h.op,
                                        json={"url": h.receiver.url("ok"), "events": bad})
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["code"] == "validation_error"

        # The secret rests sealed: the plain text is nowhere in the row.
        row = await WebhookEndpoint.select().where(
            WebhookEndpoint.id == uuid.UUID(created["id"])).first().run()
        assert row is not None and created["secret"] not in str(row)
        rotated = await h.http.post(f"{path}/rotate-secret", headers=h.op)
        assert rotated.status_code == 200
        assert rotated.json()["secret"].startswith("whsec_")
        assert rotated.json()["secret"] != created["secret"]

        # Only the chain's operator: another role, another chain.
        manager = h.world.a.staff["alpha-manager"]
        assert (await h.http.get(path, headers=h.world.headers(manager))).status_code == 403
        other = h.world.headers(h.world.b.operator)
        assert (await h.http.get(path, headers=other)).status_code == 404
        assert (await h.http.delete(path, headers=other)).status_code == 404

        assert (await h.http.delete(path, headers=h.op)).status_code == 204
        assert (await h.http.get(path, headers=h.op)).status_code == 404


async def test_url_rules(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_lookup(host: str, port: int) -> list[tuple[int, str]]:
        table = {"hooks.example.com": ["93.184.216.34"],
                 "sneaky.example.com": ["93.184.216.34", "10.1.2.3"]}
        if host in table:
            return [(2, a) for a in table[host]]
        return await urls.system_lookup(host, port)

    monkeypatch.setattr(urls, "lookup", fake_lookup)
    async with hooked(database_url, webhook_allow_http=False,
                      webhook_allow_private=False) as h:
        async def answer(url: str) -> httpx.Response:
            return await h.http.post(f"{API}/webhook-endpoints", headers=h.op,
                                     json={"url": url, "events": ["*"]})

        for url in ("http://hooks.example.com/in", "https://localhost/in",
                    "https://127.0.0.1/in", "https://10.0.0.7/in", "https://[::1]/in",
                    "https://[::ffff:127.0.0.1]/in", "https://169.254.169.254/latest",
                    "https://100.64.0.1/in", "https://0.0.0.0/in", "https://224.0.0.1/in",
                    "https://sneaky.example.com/in", "https://user:pw@hooks.example.com/in",
                    "ftp://hooks.example.com/in", "https:///in", "not a url"):
            refused = await answer(url)
            assert refused.status_code == 400, (url, refused.text)
            problem = refused.json()
            assert problem["code"] == "validation_error"
            assert problem["errors"][0]["field"] == "url", url
        assert (await answer("https://hooks.example.com/in")).status_code == 201
        assert (await answer("https://93.184.216.34:8443/in")).status_code == 201
        endpoint = (await answer("https://hooks.example.com/x")).json()
        moved = await h.http.patch(f"{API}/webhook-endpoints/{endpoint['id']}",
                                   headers=h.op, json={"url": "https://localhost/in"})
        assert moved.status_code == 400 and moved.json()["errors"][0]["field"] == "url"


def test_is_public() -> None:
    import ipaddress
    for text in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.1.1",
                 "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
                 "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1",
                 "2002:7f00:1::1", "192.0.2.1", "198.18.0.1"):
        assert not urls.is_public(ipaddress.ip_address(text)), text
    for text in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert urls.is_public(ipaddress.ip_address(text)), text


# --- delivery ---------------------------------------------------------------------------

async def test_every_event_delivered_signed_in_order(database_url: str) -> None:
    async with hooked(database_url) as h:
        chain = h.world.a.id
        everything = await h.endpoint("all")
        topped = await h.endpoint("topped", ["card.topped_up"])
        objects = [uuid.uuid4() for _ in range(3)]
        sent: list[uuid.UUID] = []
        for n in range(12):
            kind = "card.topped_up" if n % 2 else "card.updated"
            sent.append(await emit(chain, kind, objects[n % 3], n=n))
        await emit(h.world.b.id, "card.issued", uuid.uuid4())  # another chain's: not ours
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("all")) >= 12
                                  and len(h.receiver.delivered("topped")) >= 6)
        await asyncio.sleep(0.3)
        got = [verify(everything["secret"], r) for r in h.receiver.at("all")]
        assert sorted(p["id"] for p in got) == sorted(str(e) for e in sent)
        for received in h.receiver.at("all"):
            payload = received.json
            assert set(payload) == {"id", "sequence", "type", "timestamp", "data"}
            assert received.headers["webhook-id"] == payload["id"]
            assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
            assert received.headers["webhook-signature"].startswith("v1,")
        # Per object, in sequence order.
        for obj in objects:
            sequences = [p["sequence"] for p in got if p["data"]["id"] == str(obj)]
            assert sequences == sorted(sequences)
        only = [verify(topped["secret"], r)["type"] for r in h.receiver.at("topped")]
        assert only == ["card.topped_up"] * 6

        async def recorded() -> bool:
            return [d["status"] for d in await h.deliveries(everything["id"])] == \
                ["delivered"] * 12

        await wait_until(recorded)
        log = await h.deliveries(everything["id"])
        assert all(d["attempts"] == 1 and d["last_status_code"] == 204
                   and d["next_attempt_at"] is None and d["delivered_at"] for d in log)
        # A wrong secret does not verify (the check is real).
        with pytest.raises(Exception):  # noqa: B017
            verify(topped["secret"], h.receiver.at("all")[0])


async def test_both_secrets_sign_after_rotation(database_url: str) -> None:
    async with hooked(database_url) as h:
        endpoint = await h.endpoint("ok")
        new = (await h.http.post(f"{API}/webhook-endpoints/{endpoint['id']}/rotate-secret",
                                 headers=h.op)).json()["secret"]
        await emit(h.world.a.id, "card.issued", uuid.uuid4())
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("ok")) == 1)
        received = h.receiver.at("ok")[0]
        assert len(received.headers["webhook-signature"].split(" ")) == 2
        assert verify(endpoint["secret"], received) == verify(new, received)
        # 24 h later only the new one signs.
        await WebhookEndpoint.update({
            WebhookEndpoint.old_secret_until: utcnow() - timedelta(seconds=1)}).where(
            WebhookEndpoint.id == uuid.UUID(endpoint["id"])).run()
        await emit(h.world.a.id, "card.issued", uuid.uuid4())
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("ok")) == 2)
        later = h.receiver.at("ok")[1]
        assert len(later.headers["webhook-signature"].split(" ")) == 1
        verify(new, later)
        with pytest.raises(Exception):  # noqa: B017
            verify(endpoint["secret"], later)


async def test_per_object_order_kept_under_retries(database_url: str) -> None:
    async with hooked(database_url) as h:
        h.receiver.modes["/flaky"] = "flaky:2"  # every message fails twice, then passes
        endpoint = await h.endpoint("flaky")
        objects = [uuid.uuid4() for _ in range(2)]
        sent = [await emit(h.world.a.id, "booking.rescheduled", objects[n % 2], n=n)
                for n in range(8)]
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("flaky")) >= 8)
        attempts = h.receiver.at("flaky")
        assert {r.headers["webhook-id"] for r in h.receiver.delivered("flaky")} == \
            {str(e) for e in sent}
        for obj in objects:
            # Every request about this object, in arrival order: an event is never sent
            # while an earlier one of the object is not yet delivered.
            mine = [verify(endpoint["secret"], r)["sequence"] for r in attempts
                    if r.json["data"]["id"] == str(obj)]
            assert mine == sorted(mine), mine
            assert len(mine) == 12  # 4 events x 3 attempts

        async def recorded() -> bool:  # the last outcome may still be on its way in
            return len(await h.deliveries(endpoint["id"], status="delivered")) == 8

        await wait_until(recorded)
        log = await h.deliveries(endpoint["id"], status="delivered")
        assert all(d["attempts"] == 3 for d in log)


async def test_slow_endpoint_does_not_delay_a_healthy_one(database_url: str) -> None:
    async with hooked(database_url, webhook_per_endpoint=2) as h:
        h.receiver.modes["/hang"] = "hang"
        await h.endpoint("hang")
        await h.endpoint("ok")
        started = time.monotonic()
        for n in range(10):
            await emit(h.world.a.id, "member.updated", uuid.uuid4(), n=n)
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("ok")) == 10, timeout=5)
        assert time.monotonic() - started < 5
        # The hanging endpoint holds its own two slots, no more.
        assert len(h.receiver.at("hang")) == 2


async def test_retries_then_failed_and_manual_retry(database_url: str) -> None:
    async with hooked(database_url) as h:
        h.receiver.modes["/fail"] = "fail"
        endpoint = await h.endpoint("fail")
        await emit(h.world.a.id, "voucher.issued", uuid.uuid4())

        async def failed() -> bool:
            return [d["status"] for d in await h.deliveries(endpoint["id"])] == ["failed"]

        await wait_until(failed, timeout=30)
        (delivery,) = await h.deliveries(endpoint["id"])
        assert delivery["attempts"] == 12 and len(h.receiver.at("fail")) == 12
        assert delivery["last_status_code"] == 500
        assert "receiver says no" in delivery["last_error"]
        # The schedule stretched each wait (5 s, 1 min, ... x 1e-5) and ids stayed put.
        assert len({r.headers["webhook-id"] for r in h.receiver.at("fail")}) == 1

        h.receiver.modes["/fail"] = "ok"
        retried = await h.http.post(f"{API}/webhook-endpoints/{endpoint['id']}/deliveries/"
                                    f"{delivery['id']}/retry", headers=h.op)
        assert retried.status_code == 202, retried.text
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("fail")) == 1)

        async def delivered() -> bool:
            return [d["status"] for d in await h.deliveries(endpoint["id"])] == ["delivered"]

        await wait_until(delivered)
        # A delivered one may be sent again: same webhook-id.
        again = await h.http.post(f"{API}/webhook-endpoints/{endpoint['id']}/deliveries/"
                                  f"{delivery['id']}/retry", headers=h.op)
        assert again.status_code == 202
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("fail")) == 2)
        ids = {r.headers["webhook-id"] for r in h.receiver.delivered("fail")}
        assert ids == {delivery["event_id"]}
        missing = await h.http.post(f"{API}/webhook-endpoints/{endpoint['id']}/deliveries/"
                                    f"{uuid.uuid4()}/retry", headers=h.op)
        assert missing.status_code == 404


async def test_disabled_after_five_days_of_failures(database_url: str) -> None:
    async with hooked(database_url) as h:
        h.receiver.modes["/down"] = "fail"
        endpoint = await h.endpoint("down")
        endpoint_id = uuid.UUID(endpoint["id"])
        await emit(h.world.a.id, "card.updated", uuid.uuid4())
        await h.receiver.wait_for(lambda: len(h.receiver.at("down")) >= 1)
        await asyncio.sleep(0.2)
        row = await WebhookEndpoint.select().where(WebhookEndpoint.id == endpoint_id).first().run()
        assert row is not None and row["status"] == "enabled" and row["failing_since"]
        # The run of failures began five days ago (the clock moved on).
        await WebhookEndpoint.update({
            WebhookEndpoint.failing_since: utcnow() - timedelta(days=5, minutes=1)}).where(
            WebhookEndpoint.id == endpoint_id).run()

        async def disabled() -> bool:
            one = (await h.http.get(f"{API}/webhook-endpoints/{endpoint_id}",
                                    headers=h.op)).json()
            return bool(one["status"] == "disabled")

        await wait_until(disabled)
        one = (await h.http.get(f"{API}/webhook-endpoints/{endpoint_id}", headers=h.op)).json()
        assert "5 days" in one["disabled_reason"] and "HTTP 500" in one["disabled_reason"]
        seen = len(h.receiver.at("down"))
        await asyncio.sleep(0.5)
        assert len(h.receiver.at("down")) == seen  # nothing more while disabled
        # Re-enabled: the streak is forgotten and what waited goes at once.
        h.receiver.modes["/down"] = "ok"
        enabled = await h.http.patch(f"{API}/webhook-endpoints/{endpoint_id}", headers=h.op,
                                     json={"status": "enabled"})
        assert enabled.json()["disabled_reason"] is None
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("down")) == 1)
        row = await WebhookEndpoint.select().where(WebhookEndpoint.id == endpoint_id).first().run()
        assert row is not None and row["failing_since"] is None


async def test_no_redirect_followed(database_url: str) -> None:
    async with hooked(database_url) as h:
        h.receiver.modes["/moved"] = "redirect"
        endpoint = await h.endpoint("moved")
        await emit(h.world.a.id, "card.updated", uuid.uuid4())
        await h.receiver.wait_for(lambda: len(h.receiver.at("moved")) >= 2)
        assert h.receiver.at("ok") == []
        (delivery,) = await h.deliveries(endpoint["id"])
        assert delivery["status"] == "pending" and delivery["last_status_code"] == 302
        assert "redirect not followed" in delivery["last_error"]


async def test_answer_read_at_most_64_kb(database_url: str) -> None:
    async with hooked(database_url) as h:
        h.receiver.modes["/endless"] = "endless"
        endpoint = await h.endpoint("endless")
        started = time.monotonic()
        await emit(h.world.a.id, "card.updated", uuid.uuid4())

        async def delivered() -> bool:
            return [d["status"] for d in await h.deliveries(endpoint["id"])] == ["delivered"]

        await wait_until(delivered, timeout=10)
        assert time.monotonic() - started < 10  # not the 15 s timeout: it stopped reading


async def test_nothing_delivered_to_a_private_address(database_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"hooks.example.com": "93.184.216.34"}

    async def fake_lookup(host: str, port: int) -> list[tuple[int, str]]:
        if host in answers:
            return [(2, answers[host])]
        return await urls.system_lookup(host, port)

    monkeypatch.setattr(urls, "lookup", fake_lookup)
    async with hooked(database_url, webhook_allow_private=False) as h:
        port = h.receiver.base_url.rsplit(":", 1)[1]
        refused = await h.http.post(f"{API}/webhook-endpoints", headers=h.op, json={
            "url": f"http://localhost:{port}/ok", "events": ["*"]})
        assert refused.status_code == 400  # localhost resolves to 127.0.0.1
        created = await h.http.post(f"{API}/webhook-endpoints", headers=h.op, json={
            "url": f"http://hooks.example.com:{port}/ok", "events": ["*"]})
        assert created.status_code == 201  # public when registered...
        endpoint = created.json()
        answers["hooks.example.com"] = "127.0.0.1"  # ...then DNS points it at us
        await emit(h.world.a.id, "card.updated", uuid.uuid4())

        async def tried() -> bool:
            log = await h.deliveries(endpoint["id"])
            return bool(log) and log[0]["attempts"] >= 2

        await wait_until(tried)
        (delivery,) = await h.deliveries(endpoint["id"])
        assert "not a public address" in delivery["last_error"]
        assert h.receiver.received == []  # nothing reached the private address


async def test_deliveries_of_a_deleted_endpoint_stop(database_url: str) -> None:
    async with hooked(database_url) as h:
        h.receiver.modes["/fail"] = "fail"
        endpoint = await h.endpoint("fail")
        await emit(h.world.a.id, "card.updated", uuid.uuid4())
        await h.receiver.wait_for(lambda: len(h.receiver.at("fail")) >= 1)
        assert (await h.http.delete(f"{API}/webhook-endpoints/{endpoint['id']}",
                                    headers=h.op)).status_code == 204
        await asyncio.sleep(0.3)
        seen = len(h.receiver.at("fail"))
        await asyncio.sleep(0.5)
        assert len(h.receiver.at("fail")) == seen
        assert await WebhookDelivery.count().where(
            WebhookDelivery.endpoint_id == uuid.UUID(endpoint["id"])).run() == 0


def test_settings_defaults_and_flags() -> None:
    from app.core.settings import Settings, SettingsError

    secret = "x" * 40
    production = Settings.from_env({"O2O_ENV": "production", "O2O_SECRET_KEY": secret,
                                    "O2O_DATABASE_URL": "postgresql://u@h/d"})
    assert not production.webhook_allow_http and not production.webhook_allow_private
    development = Settings.from_env({"O2O_SECRET_KEY": secret,
                                     "O2O_DATABASE_URL": "sqlite:///x.sqlite3"})
    assert development.webhook_allow_http and development.webhook_allow_private
    lifted = Settings.from_env({"O2O_ENV": "production", "O2O_SECRET_KEY": secret,
                                "O2O_DATABASE_URL": "postgresql://u@h/d",
                                "O2O_WEBHOOK_ALLOW_HTTP": "1",
                                "O2O_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert lifted.webhook_allow_http and lifted.webhook_allow_private
    with pytest.raises(SettingsError):
        Settings.from_env({"O2O_SECRET_KEY": secret, "O2O_DATABASE_URL": "sqlite:///x",
                           "O2O_WEBHOOK_ALLOW_PRIVATE": "yes"})


async def test_new_endpoint_starts_at_the_feed_end(database_url: str) -> None:
    async with hooked(database_url) as h:
        before = await emit(h.world.a.id, "card.issued", uuid.uuid4())
        endpoint = await h.endpoint("ok")
        after = await emit(h.world.a.id, "card.issued", uuid.uuid4())
        await h.receiver.wait_for(lambda: len(h.receiver.delivered("ok")) == 1)
        await asyncio.sleep(0.3)
        assert [r.headers["webhook-id"] for r in h.receiver.at("ok")] == [str(after)]
        assert before != after
        log = await h.deliveries(endpoint["id"])
        assert [d["event_id"] for d in log] == [str(after)]


async def test_fan_out_is_not_on_the_write_path(database_url: str) -> None:
    """An event committed with no worker running makes no delivery row: the fan-out is
    the worker's, after commit (the write path only inserts the event)."""
    async with hooked(database_url, webhook_worker=False) as h:
        await h.endpoint("ok")
        await emit(h.world.a.id, "card.issued", uuid.uuid4())
        await asyncio.sleep(0.3)
        assert await WebhookDelivery.count().run() == 0
        worker = h.app.state.webhooks
        assert await worker.fan_out() == 1
        assert await WebhookDelivery.count().run() == 1


# --- one chain's share ------------------------------------------------------------------

async def test_a_chain_has_at_most_16_endpoints(database_url: str) -> None:
    async with hooked(database_url, webhook_worker=False) as h:
        first = await h.endpoint("ok")
        await h.http.patch(f"{API}/webhook-endpoints/{first['id']}", headers=h.op,
                           json={"status": "disabled"})  # a disabled one counts too
        for _ in range(15):
            await h.endpoint("ok")
        refused = await h.http.post(f"{API}/webhook-endpoints", headers=h.op,
                                    json={"url": h.receiver.url("ok"), "events": ["*"]})
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "validation_error"
        assert "at most 16 webhook endpoints" in refused.text and "url" in refused.text
        # Another chain's count is its own.
        other = await h.http.post(f"{API}/webhook-endpoints",
                                  headers=h.world.headers(h.world.b.operator),
                                  json={"url": h.receiver.url("ok"), "events": ["*"]})
        assert other.status_code == 201, other.text
        # A delete frees a place.
        assert (await h.http.delete(f"{API}/webhook-endpoints/{first['id']}",
                                    headers=h.op)).status_code == 204
        await h.endpoint("ok")


async def test_a_chain_of_hanging_endpoints_does_not_delay_another_chain(
        database_url: str) -> None:
    # 20 attempts in this process, 8 per chain at most: without the per-chain cap, chain
    # a's 16 hanging endpoints (4 slots each) would fill all 20 and chain b would wait
    # for the sender's 15 s timeout.
    async with hooked(database_url, webhook_in_flight=20) as h:
        for n in range(16):
            h.receiver.modes[f"/hang{n}"] = "hang"
            await h.endpoint(f"hang{n}")
        created = await h.http.post(f"{API}/webhook-endpoints",
                                    headers=h.world.headers(h.world.b.operator),
                                    json={"url": h.receiver.url("b"), "events": ["*"]})
        assert created.status_code == 201, created.text
        for n in range(4):
            await emit(h.world.a.id, "member.updated", uuid.uuid4(), n=n)

        def hanging() -> int:
            return sum(len(h.receiver.at(f"hang{n}")) for n in range(16))

        await h.receiver.wait_for(lambda: hanging() >= 8, timeout=5)
        started = time.monotonic()
        member = uuid.uuid4()
        await emit(h.world.b.id, "member.updated", member)
        await h.receiver.wait_for(lambda: any(
            str(member).encode() in r.body for r in h.receiver.delivered("b")), timeout=5)
        assert time.monotonic() - started < 2
        assert hanging() == 8  # chain a holds its own share, no more


async def test_change_or_rotate_of_a_deleted_endpoint_is_404(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.webhooks import repository

    async with hooked(database_url, webhook_worker=False) as h:
        endpoint = await h.endpoint("ok")
        path = f"{API}/webhook-endpoints/{endpoint['id']}"
        stale = await repository.endpoint(h.world.a.id, uuid.UUID(endpoint["id"]))
        assert (await h.http.delete(path, headers=h.op)).status_code == 204
        assert (await h.http.patch(path, headers=h.op,
                                   json={"description": "x"})).status_code == 404
        assert (await h.http.post(f"{path}/rotate-secret", headers=h.op)).status_code == 404

        # The race: the row was read before a delete committed, then updated nothing.
        async def read_before_delete(*_: Any) -> Any:
            return stale
        monkeypatch.setattr(repository, "lock_endpoint", read_before_delete)
        changed = await h.http.patch(path, headers=h.op, json={"description": "x"})
        assert changed.status_code == 404, changed.text
        rotated = await h.http.post(f"{path}/rotate-secret", headers=h.op)
        assert rotated.status_code == 404, rotated.text


async def test_deliveries_of_a_disabled_endpoint_are_not_due(database_url: str) -> None:
    from app.core.webhooks import repository

    async with hooked(database_url, webhook_worker=False) as h:
        endpoint = await h.endpoint("ok")
        endpoint_id = uuid.UUID(endpoint["id"])
        path = f"{API}/webhook-endpoints/{endpoint['id']}"
        await h.http.patch(path, headers=h.op, json={"status": "disabled"})
        now = utcnow()
        async with write_transaction():
            await repository.add_deliveries([{
                "id": uuid.uuid4(), "endpoint_id": endpoint_id, "chain_id": h.world.a.id,
                "event_id": uuid.uuid4(), "sequence": 1, "type": "member.updated",
                "object_key": "member:x", "body": "{}", "status": "pending", "attempts": 0,
                "next_attempt_at": now, "created_at": now}])
        assert not await repository.any_due(utcnow())
        await h.http.patch(path, headers=h.op, json={"status": "enabled"})
        assert await repository.any_due(utcnow())
        assert (await h.http.delete(path, headers=h.op)).status_code == 204
        assert not await repository.any_due(utcnow())
