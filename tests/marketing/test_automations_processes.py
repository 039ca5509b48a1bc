"""Two real server processes share one database and one test clock (O2O_CLOCK_FILE);
their marketing runners sweep the same automations at once while the clock moves over
two years: exactly one voucher per member per occurrence. Starts processes: XDIST group
"processes" (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import httpx

from cards.tables import Campaign, Voucher
from marketing.automations.tables import AutomationRun
from tests.conftest import LiveServer
from tests.marketing.automations_helpers import MovingClock, Shop, test_clock, utc
from tests.world import World

__all__ = ["test_clock"]  # the fixture, used by name

TICK_S = "0.2"


async def _runs(automation_id: str) -> list[tuple[uuid.UUID, str]]:
    rows = await AutomationRun.select(AutomationRun.member, AutomationRun.occurrence).where(
        AutomationRun.automation == uuid.UUID(automation_id)).run()
    return sorted((r["member"], r["occurrence"]) for r in rows)


async def _until(automation_id: str, count: int, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if len(await _runs(automation_id)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} runs expected, {len(await _runs(automation_id))} made")


async def test_two_servers_with_a_moving_clock_issue_once_per_occurrence(
        client: httpx.AsyncClient, world: World, database_url: str, tmp_path: Path,
        test_clock: MovingClock) -> None:
    shop = Shop(client, world)
    shop.campaign_id = await shop.campaign()
    march = [await shop.member(f"March {n}", date(1990, 3, 10)) for n in range(24)]
    leap = [await shop.member(f"Leap {n}", date(1992, 2, 29)) for n in range(6)]
    birthday = await shop.automation("birthday")
    welcome = await shop.automation("welcome")
    env = {"O2O_CLOCK_FILE": str(test_clock.path), "O2O_MARKETING_TICK_SECONDS": TICK_S,
           "O2O_NOTIFY_DISPATCHER": "0", "O2O_WEBHOOK_WORKER": "0", "O2O_PAY_POLLER": "0"}
    servers = [LiveServer(database_url, env=env, log_file=tmp_path / f"server{n}.log")
               for n in range(2)]
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
    try:
        expected: list[tuple[uuid.UUID, str]] = []
        welcomed: list[tuple[uuid.UUID, str]] = []
        for instant, born in (((2027, 2, 28, 1), leap), ((2027, 3, 10, 1), march),
                              ((2028, 2, 29, 1), leap), ((2028, 3, 10, 1), march),
                              ((2029, 3, 10, 1), march)):
            test_clock.set(utc(*instant))
            newcomer = await shop.member(f"New {instant}")
            await shop.card(newcomer)
            welcomed.append((newcomer, "welcome"))
            expected += [(m, str(instant[0])) for m in born]
            await _until(birthday["id"], len(expected))
            await _until(welcome["id"], len(welcomed))
        # Both runners go round a few more times at the last instant: nothing more.
        await asyncio.sleep(5 * float(TICK_S))
    finally:
        for server in servers:
            server.stop()
    assert await _runs(birthday["id"]) == sorted(expected)
    assert await _runs(welcome["id"]) == sorted(welcomed)
    vouchers = await Voucher.select(Voucher.member, Voucher.source_id).where(
        Voucher.campaign == uuid.UUID(shop.campaign_id)).run()
    by_automation = Counter(str(v["source_id"]) for v in vouchers)
    assert by_automation == {birthday["id"]: len(expected), welcome["id"]: len(welcomed)}
    per_member = Counter(v["member"] for v in vouchers if str(v["source_id"]) == birthday["id"])
    assert per_member == Counter({**{m: 3 for m in march}, **{m: 2 for m in leap}})
    issued = await Campaign.select(Campaign.issued_count).where(
        Campaign.id == uuid.UUID(shop.campaign_id)).first().run()
    assert issued is not None and issued["issued_count"] == len(vouchers)
