"""20 concurrent writers on one real `o2o serve`, each through a different endpoint.

The point is SQLite (one writer at a time): its writers must queue, never answer
"database is locked" (or any 5xx) to a client, nor log it. PostgreSQL runs the same
storm for deadlocks and lock errors.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.asgi import create_app
from tests.conftest import LiveServer, make_settings, serving
from tests.hardening.seed import Bundle, Seeded, seed, tomorrow_at
from tests.world import PASSWORD, World, build_world

API = "/api/v1"
REQUESTS_PER_WRITER = 12
Request = tuple[str, str, dict[str, str], Any]  # method, path, headers, body
Writer = Callable[[int], Request]


def _writers(seeded: Seeded, fresh_template: str) -> dict[str, Writer]:
    world: World = seeded.world
    own: Bundle = seeded.bundles["own"]
    other: Bundle = seeded.bundles["other_member"]
    op = world.headers(world.a.operator)
    manager = world.headers(world.a.staff["alpha-manager"])
    clerk = world.headers(world.a.staff["alpha-clerk1"])
    member = world.headers(world.a.members[0])
    serial = itertools.count()

    def unique(prefix: str) -> str:
        return f"{prefix}-{next(serial)}-{uuid.uuid4().hex[:6]}"

    hours = [{"weekday": d, "open": "09:00", "close": "21:00"} for d in range(7)]
    return {
        "register member": lambda n: ("POST", "/members", clerk, {
            "name": "Walk-in", "phone": f"1360{uuid.uuid4().int % 10**7:07d}"}),
        "top up": lambda n: ("POST", f"/cards/{own.card_id}/top-ups", clerk, {
            "amount_cents": 100, "store_id": own.store_id}),
        "top up other": lambda n: ("POST", f"/cards/{other.card_id}/top-ups", op, {
            "amount_cents": 100, "store_id": own.store_id}),
        "redeem": lambda n: ("POST", "/redemptions", clerk, {
            "code": [own.voucher_code, other.voucher_code][n % 2],
            "store_id": own.store_id, "amount_cents": 5000}),
        "book": lambda n: ("POST", "/bookings", op, {
            "store_id": own.store_id, "service_id": own.service_id,
            "start": tomorrow_at(f"{13 + n % 6}:{15 * (n % 4):02d}"),
            "member_id": own.member_id}),
        "claim voucher": lambda n: ("POST", f"/campaigns/{own.campaign_id}/claim", member,
                                    None),
        "issue vouchers": lambda n: ("POST", f"/campaigns/{own.campaign_id}/issue", op, {
            "member_ids": [own.member_id, other.member_id]}),
        "claim card": lambda n: ("POST", f"/card-templates/{fresh_template}/claim", member,
                                 None),
        "create template": lambda n: ("POST", "/card-templates", op, {
            "name": unique("template"), "kind": "membership"}),
        "create campaign": lambda n: ("POST", "/campaigns", op, {
            "name": unique("campaign"), "kind": "gift", "item_name": "Mask",
            "total_quantity": 5, "valid_from": "2026-01-01T00:00:00+08:00",
            "valid_until": "2099-01-01T00:00:00+08:00"}),
        "create store": lambda n: ("POST", "/stores", op, {
            "name": unique("store"), "timezone": "Asia/Shanghai", "opening_hours": hours}),
        "patch store": lambda n: ("PATCH", f"/stores/{own.store_id}", op, {
            "address": unique("road")}),
        "create service": lambda n: ("POST", f"/stores/{own.store_id}/services", manager, {
            "name": unique("service"), "duration_minutes": 30, "price_cents": 100}),
        "create resource": lambda n: ("POST", f"/stores/{own.store_id}/resources", manager, {
            "name": unique("chair"), "kind": "staff", "capacity": 1,
            "service_ids": [own.service_id]}),
        "create staff": lambda n: ("POST", "/staff", op, {
            "username": unique("clerk"), "password": PASSWORD, "role": "clerk",
            "store_ids": [own.store_id]}),
        "wechat config": lambda n: ("PUT", "/wechat-config", op, {
            "app_id": f"wx{n:010d}", "app_secret": "s3cret-s3cret", "templates": {}}),
        "patch me": lambda n: ("PATCH", "/me", member, {"name": unique("name")}),
        "member login": lambda n: ("POST", "/auth/member/wechat", {}, {
            "chain_id": own.chain_id, "code": f"sandbox:{unique('openid')}"}),
        "freeze or unfreeze": lambda n: (
            "POST", f"/cards/{other.card_id}/{['freeze', 'unfreeze'][n % 2]}", op, None),
        "pause or resume": lambda n: (
            "POST", f"/campaigns/{seeded.bundles['own'].campaign_id}/"
                    f"{['pause', 'resume'][n % 2]}", op, None),
    }


def _run(base_url: str, writers: dict[str, Writer]) -> dict[str, Counter[int]]:
    answers: dict[str, Counter[int]] = {name: Counter() for name in writers}
    bad: list[str] = []
    start = threading.Barrier(len(writers))

    def write(name: str, make: Writer) -> None:
        with httpx.Client(base_url=base_url + API, timeout=60) as http:
            start.wait()
            for n in range(REQUESTS_PER_WRITER):
                method, path, headers, body = make(n)
                response = http.request(method, path, headers=headers, json=body)
                answers[name][response.status_code] += 1
                if response.status_code >= 500 or "locked" in response.text.lower():
                    bad.append(f"{name}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=write, args=item) for item in writers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert bad == [], bad
    return answers


async def test_twenty_concurrent_writers_never_see_a_locked_database(
        database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, notify_dispatcher=False))
    async with serving(app) as http:
        seeded = await seed(http, await build_world(app))
        template = await http.post(f"{API}/card-templates", json={
            "name": "Points", "kind": "membership"},
            headers=seeded.world.headers(seeded.world.a.operator))
    writers = _writers(seeded, template.json()["id"])
    assert len(writers) == 20
    log = tmp_path / "server.log"
    server = LiveServer(database_url, log_file=log, log_level="info").start()
    try:
        answers = await asyncio.to_thread(_run, server.base_url, writers)
    finally:
        server.stop()
    # Every writer got through: its first request at least succeeded.
    assert {name for name, seen in answers.items() if not any(s < 300 for s in seen)} == set()
    assert all(set(seen) <= {200, 201, 409} for seen in answers.values()), answers
    text = log.read_text(errors="replace")
    assert "database is locked" not in text
    assert "Traceback" not in text, text[-3000:]
