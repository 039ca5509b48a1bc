"""Load benchmark of a real server: two ceilings, then the hot endpoints beside them.

    .venv/bin/python bench/load_bench.py [--seconds 6] [--engines sqlite,postgres]

For each configuration (SQLite with one server process; PostgreSQL with one and with two)
the script creates a fresh database, migrates it (`o2o migrate`), creates an operator
(`o2o create-operator`), starts the server (bench.server: `o2o serve` with the bench
routes mounted) in its own process group and seeds over the HTTP API: a store open around the
clock, members who log in (WeChat sandbox), a cash-voucher campaign, stored-value cards
with a large balance, a 15-minute service on 20 stylists. This process is the load
generator (aiohttp, loopback only, N requests in flight, a closed loop), bounded in time.

Each scenario gets a warm-up, then a timed run; the outbox is drained before each, so a
run pays for the notifications its own requests write (the dispatcher of each server
process delivers them meanwhile, as in production):

- hello       GET  /bench/hello: no database (the HTTP stack's ceiling)
- update      POST /bench/update: one write transaction, one conditional
              UPDATE ... RETURNING (the database write's ceiling)
- redeem      POST /redemptions with a fresh voucher code each time
- charge      POST /redemptions with a fresh dynamic card code, action charge
- book        POST /bookings (a member; a free 15-minute slot of one stylist, over many
              stylists and days, so nearly all succeed)
- availability GET /stores/{id}/availability for a day with bookings
- stats       GET  /stats/overview of the chain's last 30 days (the operator)

`--webhooks N` (or a list, `--webhooks 0,2`) registers N webhook endpoints subscribed to
every event type before the scenarios, all served by an aiohttp receiver in this process
that answers 200 at once; every run then also waits for the deliveries its preparation
caused. `--rounds K` runs the list of configurations K times in turn, and the output
compares each scenario's median req/s with and without endpoints (`make bench-webhooks`).

Every row gives req/s, p50 and p99 latency, errors, and the ratio to both ceilings of the
same configuration; RSS is the largest server process (and the sum of the tree) read
as each timed run ends. One table goes to stdout; progress, load average and CPU notes to
stderr. Nothing is asserted. Databases, temp files and servers are removed even on
Ctrl-C. `--profile DIR` records each timed run with py-spy (raw collapsed stacks, one
file per configuration and scenario; see bench/profile_summary.py).

`O2O_BENCH_POSTGRES_URL` names a PostgreSQL server whose user may create databases
(default postgresql://postgres@127.0.0.1:5432/test; only its host, port and user are
used, the benchmark's own database is `o2o_bench_<pid>_<n>`, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
OPERATOR, PASSWORD = "bench-operator", "bench-password-2026"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MEMBERS = 200              # log in over WeChat sandbox; each has a stored-value card
ISSUE_BATCH = 1000         # API limit on member ids per /issue call
UPDATE_ROWS = 10_000       # rows of the one-UPDATE ceiling (random one per request)
CARD_TEMPLATES = 4         # stored-value cards per member (card codes: see seed())
RESOURCES = 20             # stylists doing the bench service
BOOKING_DAYS = 60          # bookings spread over this many local days from tomorrow
HEADROOM = 1.4             # pool = warm-up rate * seconds * HEADROOM + slack
ZONE = "Asia/Shanghai"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- /proc: memory and CPU of the server's process tree ---------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from "state" on


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (uvicorn's supervisor, its workers, helpers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_rss_mb(root: int) -> float:
    total_kb = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of the tree's live processes."""
    total = 0
    for pid in process_tree(root):
        if (fields := _stat_fields(pid)) is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def postgres_cpu_s() -> float:
    """CPU seconds of the processes named postgres on this machine (a local server:
    where the database's own share of a request goes; others' databases count too): the
    live ones', plus what their exited children used (the postmaster reaps its backends
    and autovacuum workers, so a process ending mid-run does not make the sum go back)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{entry}/stat").read_text()
            if text[text.index("(") + 1:text.rindex(")")] == "postgres":
                fields = text[text.rindex(")") + 2:].split()
                # utime, stime, cutime, cstime
                total += sum(int(fields[n]) for n in (11, 12, 13, 14))
    return total / CLK_TCK


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def self_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- databases --------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def sqlite_database() -> AsyncIterator[str]:
    scratch = tempfile.mkdtemp(prefix="o2o-bench-")
    try:
        yield f"sqlite:///{os.path.join(scratch, 'bench.sqlite3')}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str, name: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        # The server is stopped by now; FORCE ends any connection it left behind.
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


# --- the server -------------------------------------------------------------------------

def server_env(database_url: str, extra: list[str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env.update(O2O_DATABASE_URL=database_url, O2O_SECRET_KEY=SECRET,
               O2O_ENV="development", O2O_TRUSTED_PROXIES="127.0.0.1", PYTHONUNBUFFERED="1")
    env.update(item.split("=", 1) for item in extra or [])
    return env


async def o2o(env: dict[str, str], *args: str) -> str:
    """Run one `o2o` command to completion; its stdout, or an error with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"o2o {args[0]} exited {proc.returncode}: {err.decode().strip()}")
    return out.decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: asyncio.subprocess.Process
    base: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.asynccontextmanager
async def running_server(env: dict[str, str], workers: int, log_dir: str,
                         log_level: str = "warning") -> AsyncIterator[Server]:
    port = free_port()
    log_path = Path(log_dir) / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        # Its own session: a Ctrl-C reaches only us, and we stop the whole group.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.server", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", log_level,
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        await wait_healthy(server, workers)
        yield server
    finally:
        await stop_server(server)
        lines = log_path.read_text(errors="replace").splitlines()
        if lines:  # at warning (the default), anything here is worth seeing
            log(f"server log ({len(lines)} lines), last {min(len(lines), 20)}:\n"
                + "\n".join(lines[-20:]))


async def wait_healthy(server: Server, workers: int, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    healthy = 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.proc.returncode is not None:
                break
            try:
                async with session.get(f"{server.base}{API}/health") as resp:
                    healthy = healthy + 1 if resp.status == 200 else 0
            except aiohttp.ClientError:
                healthy = 0
            # With several workers, give the others time to come up too.
            if healthy >= 3 * workers:
                return
            await asyncio.sleep(0.1 if healthy else 0.2)
    tail = server.log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the server did not become healthy:\n{tail}")


async def stop_server(server: Server) -> None:
    if server.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(server.proc.wait()), 15)
        except TimeoutError:
            log("server ignored SIGTERM for 15 s; killing it")
    # Workers or helpers left in the group (ours: the session we started) are killed.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    await server.proc.wait()


# --- seeding over the API ---------------------------------------------------------------

class ApiError(RuntimeError):
    pass


async def call(session: aiohttp.ClientSession, method: str, url: str, token: str | None,
               body: Any = None, expect: tuple[int, ...] = (200, 201),
               headers: dict[str, str] | None = None) -> Any:
    headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with session.request(method, url, json=body, headers=headers) as resp:
        text = await resp.text()
        if resp.status not in expect:
            raise ApiError(f"{method} {url} -> {resp.status}: {text[:500]}")
        return json.loads(text) if text else None


async def gather_limited(jobs: list[Callable[[], Awaitable[Any]]], width: int = 8) -> list[Any]:
    """Run ``jobs`` ``width`` at a time; results in the jobs' order."""
    results: list[Any] = [None] * len(jobs)
    pending = iter(enumerate(jobs))

    async def runner() -> None:
        for i, job in pending:
            results[i] = await job()

    await asyncio.gather(*(runner() for _ in range(width)))
    return results


@dataclass
class Member:
    id: str
    token: str
    card_ids: list[str] = field(default_factory=list)


@dataclass
class Seed:
    base: str
    token: str                     # the operator's
    chain_id: str
    store_id: str
    members: list[Member]
    service_id: str
    resource_ids: list[str]
    slots: Iterator[tuple[str, str]]   # (resource_id, start), each never booked yet
    booked_days: list[str]
    campaigns: int = 0

    def url(self, path: str) -> str:
        return f"{self.base}{API}{path}"


async def seed(session: aiohttp.ClientSession, base: str, chain_id: str) -> Seed:
    url = f"{base}{API}"
    login = await call(session, "POST", f"{url}/auth/staff/login", None,
                       {"username": OPERATOR, "password": PASSWORD})
    token = login["token"]
    hours = [{"weekday": d, "open": "00:00", "close": "24:00"} for d in range(7)]
    store = await call(session, "POST", f"{url}/stores", token,
                       {"name": "Bench Store", "timezone": ZONE, "opening_hours": hours,
                        "booking_horizon_days": BOOKING_DAYS + 5})
    store_id = store["id"]

    async def member(i: int) -> Member:
        # Each member's phone behind the (trusted) proxy: the per-client login rate limit
        # (60 a minute) applies to each, as it would in production.
        out = await call(session, "POST", f"{url}/auth/member/wechat", None,
                         {"chain_id": chain_id, "code": f"sandbox:bench-member-{i}"},
                         headers={"X-Forwarded-For": f"10.77.{i // 250}.{i % 250 + 1}"})
        return Member(out["member"]["id"], out["token"])

    members = await gather_limited([lambda i=i: member(i) for i in range(MEMBERS)])
    # A dynamic code is the same text for one card within one second (deterministic
    # signature over card and expiry): CARD_TEMPLATES cards each give enough distinct codes.
    templates = [await call(session, "POST", f"{url}/card-templates", token,
                            {"name": f"Bench Card {n}", "kind": "stored_value",
                             "points_per_yuan": 1}) for n in range(CARD_TEMPLATES)]

    async def card(m: Member, template_id: str) -> None:
        out = await call(session, "POST", f"{url}/cards", token,
                         {"template_id": template_id, "member_id": m.id})
        m.card_ids.append(out["id"])
        await call(session, "POST", f"{url}/cards/{out['id']}/top-ups", token,
                   {"amount_cents": 5_000_000, "store_id": store_id})

    await gather_limited([lambda m=m, t=t: card(m, t["id"])
                          for t in templates for m in members])
    service = await call(session, "POST", f"{url}/stores/{store_id}/services", token,
                         {"name": "Bench Cut", "duration_minutes": 15, "price_cents": 5000})
    resources = await gather_limited([
        lambda i=i: call(session, "POST", f"{url}/stores/{store_id}/resources", token,
                         {"name": f"Stylist {i}", "kind": "staff", "capacity": 1,
                          "service_ids": [service["id"]]})
        for i in range(RESOURCES)])
    resource_ids = [r["id"] for r in resources]
    slots, days = free_slots(resource_ids)
    return Seed(base, token, chain_id, store_id, members, service["id"], resource_ids,
                slots, days)


def free_slots(resource_ids: list[str]) -> tuple[Iterator[tuple[str, str]], list[str]]:
    """Every (stylist, start) of the next BOOKING_DAYS local days, shuffled with a fixed
    seed, so that concurrent bookings land on different stylists and days; the days."""
    zone = ZoneInfo(ZONE)
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    days = [tomorrow + timedelta(days=d) for d in range(BOOKING_DAYS)]
    slots = [(r, datetime.combine(day, dtime(0, 0), zone) + timedelta(minutes=15 * q))
             for day in days for r in resource_ids for q in range(96)]
    random.Random(2026).shuffle(slots)
    return iter((r, start.isoformat()) for r, start in slots), [d.isoformat() for d in days]


async def issue_vouchers(session: aiohttp.ClientSession, seed: Seed, count: int) -> list[str]:
    """A new cash campaign of exactly ``count`` vouchers, all bulk-issued; their codes."""
    now = datetime.now(UTC)
    seed.campaigns += 1
    campaign = await call(session, "POST", seed.url("/campaigns"), seed.token, {
        "name": f"Bench vouchers {seed.campaigns}", "kind": "cash", "value_cents": 500,
        "total_quantity": count, "per_member_limit": 1000,
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=1)).isoformat(),
    })
    url = seed.url(f"/campaigns/{campaign['id']}/issue")
    ids = [m.id for m in seed.members]
    batch = min(ISSUE_BATCH, len(ids))
    calls = [ids[:min(batch, count - start)] for start in range(0, count, batch)]
    if len(calls) > 1000:
        raise ApiError(f"{count} vouchers need more than 1000 per member; add members")
    codes: list[str] = []

    async def issue(member_ids: list[str]) -> None:
        out = await call(session, "POST", url, seed.token, {"member_ids": member_ids})
        if out["skipped"]:
            raise ApiError(f"issue skipped members: {out['skipped'][:3]}")
        codes.extend(v["code"] for v in out["issued"])

    await gather_limited([lambda c=c: issue(c) for c in calls], width=2)
    return codes


async def card_codes(session: aiohttp.ClientSession, seed: Seed, count: int) -> list[str]:
    """``count`` distinct fresh dynamic card codes (each good for 60 s), round robin over
    every card; a card asked twice within a second repeats its code, which is skipped."""
    cards = [(m, card_id) for m in seed.members for card_id in m.card_ids]
    codes: dict[str, None] = {}
    asked = 0
    while len(codes) < count and asked < 4 * count:
        async def code(i: int) -> str:
            m, card_id = cards[i % len(cards)]
            out = await call(session, "GET", seed.url(f"/cards/{card_id}/code"), m.token)
            return str(out["code"])

        batch = min(count - len(codes), len(cards))
        codes.update(dict.fromkeys(await gather_limited(
            [lambda i=i: code(i) for i in range(asked, asked + batch)], width=16)))
        asked += batch
    return list(codes)


_EARLIEST_PENDING = ("SELECT due_at FROM core_notification WHERE status = 'pending' "
                     "ORDER BY due_at LIMIT 1")


async def earliest_pending(database_url: str) -> datetime | None:
    """When the first pending notification is due (booking reminders are due later)."""
    if database_url.startswith("sqlite:///"):
        def read() -> Any:
            with contextlib.closing(sqlite3.connect(database_url[len("sqlite:///"):])) as db:
                return db.execute(_EARLIEST_PENDING).fetchone()
        row = await asyncio.to_thread(read)
        return datetime.fromisoformat(row[0]) if row else None
    conn = await asyncpg.connect(database_url)
    try:
        due = await conn.fetchval(_EARLIEST_PENDING)
    finally:
        await conn.close()
    return due if isinstance(due, datetime) else None


async def outbox_drained(database_url: str, limit_s: float = 120.0) -> None:
    """Wait until the dispatchers delivered every notification due by now."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        due = await earliest_pending(database_url)
        if due is None or due > datetime.now(UTC):
            return
        await asyncio.sleep(0.25)
    log(f"notifications were still due after {limit_s:g} s; measuring anyway")


# --- webhooks: a receiver in this process -----------------------------------------------

@dataclass
class Hooks:
    """``--webhooks N``: N endpoints subscribed to every event type, all pointing at one
    aiohttp receiver in this process that answers 200 at once. It counts the deliveries
    and keeps, per endpoint, the event sequences it received, so that a run can wait
    until the deliveries the preparation caused (a bulk issue: an event per voucher, N
    deliveries each) are done, as it waits for the notification outbox."""

    url: str = ""
    endpoints: list[str] = field(default_factory=list)  # receiver paths, one per endpoint
    seen: dict[str, set[int]] = field(default_factory=dict)
    deliveries: int = 0
    base: int = 0  # the feed's last sequence when the endpoints were registered

    async def register(self, session: aiohttp.ClientSession, seed: Seed, count: int) -> None:
        self.base = await feed_end(session, seed, 0)
        for i in range(count):
            name = f"endpoint-{i}"
            await call(session, "POST", seed.url("/webhook-endpoints"), seed.token,
                       {"url": f"{self.url}/hooks/{name}", "events": ["*"],
                        "description": f"load_bench receiver {i}"})
            self.endpoints.append(name)
            self.seen[name] = set()

    async def drained(self, seed: Seed, limit_s: float = 120.0) -> None:
        """Wait until every endpoint received every event the feed holds so far (the feed
        is gap-free: sequences base+1 .. end, each delivered once per endpoint)."""
        deadline = time.monotonic() + limit_s
        async with new_session(4) as session:
            end = await feed_end(session, seed, self.base)
            while time.monotonic() < deadline:
                if all(sum(1 for s in self.seen[n] if self.base < s <= end) >= end - self.base
                       for n in self.endpoints):
                    return
                await asyncio.sleep(0.25)
        missing = {n: end - self.base - sum(1 for s in self.seen[n] if self.base < s <= end)
                   for n in self.endpoints}
        log(f"webhook deliveries still missing after {limit_s:g} s: {missing}; measuring anyway")


async def feed_end(session: aiohttp.ClientSession, seed: Seed, after: int) -> int:
    """The last sequence of the chain's event feed (read on from ``after``)."""
    while True:
        page = await call(session, "GET", seed.url(f"/events?after={after}&limit=100"),
                          seed.token, expect=(200,))
        if not page["items"]:
            return after
        after = int(page["next_after"])


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Hooks]:
    from aiohttp import web

    hooks = Hooks()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        hooks.deliveries += 1
        with contextlib.suppress(ValueError, KeyError, TypeError):
            hooks.seen[request.match_info["name"]].add(int(json.loads(body)["sequence"]))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hooks/{name}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hooks.url = f"http://127.0.0.1:{port}"
    try:
        yield hooks
    finally:
        await runner.cleanup()


async def settled(database_url: str, seed: Seed | None, hooks: Hooks | None) -> None:
    """The notification outbox drained, and the webhook deliveries done (when any)."""
    await outbox_drained(database_url)
    if hooks is not None and hooks.endpoints and seed is not None:
        await hooks.drained(seed)


# --- load -------------------------------------------------------------------------------

@dataclass
class Phase:
    ok: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    rss_mb: float = 0.0        # the tree's sum
    rss_max_mb: float = 0.0    # the largest process
    stopped_by_count: bool = False
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0  # every local postgres process (the whole server)
    machine_busy: float = 0.0  # fraction of all cores busy
    rate_asked: float = 0.0    # open loop: the arrival rate (0: a closed loop)
    late: int = 0              # open loop: requests sent more than LATE_S after schedule
    load: str = ""             # open loop: the load average as the run ended
    stalls: str = ""           # open loop: what the servers and the database did meanwhile
    deliveries: int = 0        # --webhooks: deliveries the bench's receiver got meanwhile
    deliveries_after: int = 0  # --webhooks: ... and after the run, until all had come
    drain_s: float = 0.0       # --webhooks: how long after the run the last one came
    drain_cpu_s: float = 0.0   # --webhooks: the server's CPU meanwhile (delivering)
    # open loop: (scheduled send, epoch seconds; latency from it, s; status) per request
    trace: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    async def record(self, request: Awaitable[tuple[int, str | None]], ok_status: int) -> int:
        """Await one request and count its outcome; its status (0: no answer)."""
        try:
            status, code = await request
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, code = 0, type(exc).__name__
        if status == ok_status:
            self.ok += 1
        else:
            self.errors[f"{status} {code}"] += 1
        return status

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# A request: (session) -> (status, contract code or None); None when the pool is empty.
Send = Callable[[aiohttp.ClientSession], Awaitable[tuple[int, str | None]] | None]


@contextlib.asynccontextmanager
async def new_session(concurrency: int) -> AsyncIterator[aiohttp.ClientSession]:
    """A client with its own connections: none left idle past the server's keep-alive
    timeout (uvicorn: 5 s) from an earlier phase, which would fail as disconnects."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=connector) as session:
        yield session


def tree_rss(root: int) -> tuple[float, float]:
    """(sum, largest) VmRSS in MB of the server's processes."""
    sizes = []
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return sum(sizes), max(sizes, default=0.0)


async def drive(send: Send, *, seconds: float, concurrency: int, ok_status: int,
                server_pid: int) -> Phase:
    """``concurrency`` requests in flight for ``seconds`` or until ``send`` runs dry."""
    phase = Phase()
    rss: list[tuple[float, float]] = []
    async with new_session(concurrency) as session, measured(phase, server_pid):
        start = time.perf_counter()
        deadline = start + seconds

        def stop(by_count: bool) -> None:
            if not rss:  # the first worker to stop reads the server's memory under load
                rss.append(tree_rss(server_pid))
                phase.stopped_by_count = by_count

        async def worker() -> None:
            while time.perf_counter() < deadline:
                request = send(session)
                if request is None:
                    stop(by_count=True)
                    return
                t0 = time.perf_counter()
                await phase.record(request, ok_status)
                phase.latencies.append(time.perf_counter() - t0)
            stop(by_count=False)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.elapsed = time.perf_counter() - start
    phase.rss_mb, phase.rss_max_mb = rss[0] if rss else tree_rss(server_pid)
    return phase


@contextlib.asynccontextmanager
async def measured(phase: Phase, server_pid: int) -> AsyncIterator[None]:
    """Charge the CPU the block used (the server's tree, this client, the local
    PostgreSQL, the machine's share busy) to ``phase``."""
    cpu0, self0, (busy0, total0) = tree_cpu_s(server_pid), self_cpu_s(), machine_cpu_s()
    pg0 = postgres_cpu_s()
    yield
    busy1, total1 = machine_cpu_s()
    phase.server_cpu_s = tree_cpu_s(server_pid) - cpu0
    phase.client_cpu_s = self_cpu_s() - self0
    phase.postgres_cpu_s = postgres_cpu_s() - pg0
    phase.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


LATE_S = 0.002  # an open-loop send this far behind its schedule counts as late


async def drive_open(send: Send, *, rate: float, seconds: float, ok_status: int,
                     server_pid: int) -> Phase:
    """An open loop: request i is due at t0 + i / rate whatever the answers so far, and
    its latency runs from that scheduled time (a stalled server shows as the queue it
    builds, not as a slower sender); up to ``rate * seconds`` requests."""
    phase = Phase(rate_asked=rate)
    async with new_session(1024) as session, measured(phase, server_pid):
        start, epoch = time.perf_counter() + 0.05, time.time() + 0.05

        async def one(due: float, request: Awaitable[tuple[int, str | None]]) -> None:
            status = await phase.record(request, ok_status)
            latency = time.perf_counter() - due
            phase.latencies.append(latency)
            phase.trace.append((epoch + due - start, latency, status))

        tasks = []
        for i in range(math.ceil(rate * seconds)):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            elif -wait > LATE_S:
                phase.late += 1
            request = send(session)
            if request is None:
                phase.stopped_by_count = True
                break
            tasks.append(asyncio.create_task(one(due, request)))
        phase.rss_mb, phase.rss_max_mb = tree_rss(server_pid)
        await asyncio.gather(*tasks)
        phase.elapsed = time.perf_counter() - start
    phase.load = load_average()
    return phase


async def _answer(resp: aiohttp.ClientResponse, ok_status: int) -> tuple[int, str | None]:
    body = await resp.read()
    if resp.status == ok_status:
        return resp.status, None
    try:
        return resp.status, str(json.loads(body).get("code"))
    except (ValueError, AttributeError):
        return resp.status, None


def sender(method: str, items: Iterator[tuple[str, dict[str, str], bytes | None]],
           ok_status: int) -> Send:
    """Requests (url, headers, body) taken from ``items`` until it runs dry."""
    async def one(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                  body: bytes | None) -> tuple[int, str | None]:
        async with session.request(method, url, data=body, headers=headers) as resp:
            return await _answer(resp, ok_status)

    def send(session: aiohttp.ClientSession) -> Awaitable[tuple[int, str | None]] | None:
        item = next(items, None)
        return None if item is None else one(session, *item)

    return send


def endless(make: Callable[[int], tuple[str, dict[str, str], bytes | None]]) -> Iterator[
        tuple[str, dict[str, str], bytes | None]]:
    n = 0
    while True:
        yield make(n)
        n += 1


JSON_HEADERS = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON_HEADERS}


# --- scenarios --------------------------------------------------------------------------

@dataclass
class Scenario:
    """``items(seed, session, count)`` gives the requests of a run: endless for the
    repeatable ones (count is None), else at least ``count`` single-use ones."""

    name: str
    method: str
    ok_status: int
    items: Callable[[Seed, aiohttp.ClientSession, int | None],
                    Awaitable[Iterator[tuple[str, dict[str, str], bytes | None]]]]
    single_use: bool = False
    warm_pool: int = 0   # single-use items for the warm-up


async def hello_items(seed: Seed, _: aiohttp.ClientSession, __: int | None) -> Iterator[Any]:
    url = seed.url("/bench/hello")
    return endless(lambda n: (url, {}, None))


async def update_items(seed: Seed, _: aiohttp.ClientSession, __: int | None) -> Iterator[Any]:
    url = seed.url("/bench/update")
    return endless(lambda n: (url, {}, None))


async def redeem_items(seed: Seed, session: aiohttp.ClientSession,
                       count: int | None) -> Iterator[Any]:
    codes = await issue_vouchers(session, seed, count or 0)
    url, headers = seed.url("/redemptions"), bearer(seed.token)
    return ((url, headers, json.dumps({"code": c, "store_id": seed.store_id,
                                       "amount_cents": 10_000}).encode()) for c in codes)


async def charge_items(seed: Seed, session: aiohttp.ClientSession,
                       count: int | None) -> Iterator[Any]:
    codes = await card_codes(session, seed, count or 0)
    url, headers = seed.url("/redemptions"), bearer(seed.token)
    return ((url, headers, json.dumps({"code": c, "store_id": seed.store_id,
                                       "action": "charge", "amount_cents": 1_000}).encode())
            for c in codes)


async def book_items(seed: Seed, _: aiohttp.ClientSession, count: int | None) -> Iterator[Any]:
    url = seed.url("/bookings")
    members = seed.members

    def items() -> Iterator[tuple[str, dict[str, str], bytes | None]]:
        for n, (resource_id, start) in enumerate(itertools.islice(seed.slots, count)):
            member = members[n % len(members)]
            yield url, bearer(member.token), json.dumps({
                "store_id": seed.store_id, "service_id": seed.service_id,
                "resource_id": resource_id, "start": start}).encode()

    return items()


async def availability_items(seed: Seed, _: aiohttp.ClientSession,
                             __: int | None) -> Iterator[Any]:
    base = seed.url(f"/stores/{seed.store_id}/availability?service_id={seed.service_id}")
    days = seed.booked_days[:14]
    return endless(lambda n: (f"{base}&date={days[n % len(days)]}", {}, None))


async def stats_items(seed: Seed, _: aiohttp.ClientSession, __: int | None) -> Iterator[Any]:
    today = datetime.now(ZoneInfo(ZONE)).date()
    url = seed.url(f"/stats/overview?from={today - timedelta(days=29)}&to={today}")
    headers = bearer(seed.token)
    return endless(lambda n: (url, headers, None))


SCENARIOS = [
    Scenario("hello", "GET", 200, hello_items),
    Scenario("update", "POST", 200, update_items),
    Scenario("redeem", "POST", 201, redeem_items, single_use=True, warm_pool=1000),
    Scenario("charge", "POST", 201, charge_items, single_use=True, warm_pool=1000),
    Scenario("book", "POST", 201, book_items, single_use=True, warm_pool=1000),
    Scenario("availability", "GET", 200, availability_items),
    Scenario("stats", "GET", 200, stats_items),
]


# --- one configuration ------------------------------------------------------------------

@dataclass
class Row:
    engine: str
    workers: int
    phases: dict[str, Phase]
    open_phases: list[tuple[str, Phase]] = field(default_factory=list)  # open loop, in order
    webhooks: int = 0  # endpoints subscribed to every event (--webhooks)


@contextlib.asynccontextmanager
async def profiling(server_pid: int, path: Path | None,
                    seconds: float) -> AsyncIterator[None]:
    """py-spy on the server's processes for the length of a timed run (when asked)."""
    if path is None:
        yield
        return
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server_pid),
        "--subprocesses", "--nonblocking", "--rate", "250", "--format", "raw",
        "--duration", str(max(1, math.ceil(seconds))), "--output", str(path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            await asyncio.wait_for(proc.wait(), seconds + 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def bench_one(engine: str, workers: int, database_url: str, args: argparse.Namespace,
                    scratch: str, webhooks: int = 0) -> Row:
    env = {**server_env(database_url, args.server_env), "O2O_BENCH_GC_LOG": scratch}
    if webhooks:  # the receiver is this process, on loopback over http
        env.update(O2O_WEBHOOK_ALLOW_HTTP="1", O2O_WEBHOOK_ALLOW_PRIVATE="1")
    t0 = time.perf_counter()
    await o2o(env, "migrate")
    if args.stats_off and engine == "postgres":  # a diagnostic: what the triggers cost
        conn = await asyncpg.connect(database_url)
        try:
            name = urlsplit(database_url).path.lstrip("/")
            await conn.execute(f'ALTER DATABASE "{name}" SET o2o.stats_off = \'on\'')
        finally:
            await conn.close()
    created = json.loads(await o2o(env, "create-operator", "--chain", "Bench Chain",
                                   "--username", OPERATOR, "--password", PASSWORD))
    tag = f"{engine}/{workers}w" + (f"/{webhooks}hooks" if webhooks else "")
    phases: dict[str, Phase] = {}
    # The receiver outlives the server: deliveries still running as it stops find it.
    async with webhook_receiver() as receiver, \
            running_server(env, workers, scratch, args.server_log_level) as server:
        hooks = receiver if webhooks else None
        async with new_session(args.concurrency) as session:
            seeded = await seed(session, server.base, created["chain_id"])
            await call(session, "POST", seeded.url("/bench/rows"), None, {"rows": UPDATE_ROWS})
            if hooks is not None:  # before the hot scenarios, after the seeding's events
                await hooks.register(session, seeded, webhooks)
            await outbox_drained(database_url)
        log(f"{tag}: migrated and seeded in {time.perf_counter() - t0:.1f} s"
            + (f"; {webhooks} webhook endpoints on {receiver.url}" if hooks else ""))
        run = {"concurrency": args.concurrency, "server_pid": server.pid}
        for scenario in SCENARIOS:
            if scenario.name not in args.scenarios or args.open_only:
                continue
            async with new_session(16) as session:
                warm_items = await scenario.items(seeded, session, scenario.warm_pool)
                await settled(database_url, seeded, hooks)
            warm = await drive(sender(scenario.method, warm_items, scenario.ok_status),
                               seconds=args.warmup, ok_status=scenario.ok_status, **run)
            if warm.errors:
                log(f"{tag}: {scenario.name} warm-up errors: {dict(warm.errors)}")
            count = None
            if scenario.single_use:
                count = min(args.max_pool, math.ceil(
                    max(warm.rate, 50) * args.seconds * HEADROOM) + 2 * args.concurrency)
            t1 = time.perf_counter()
            async with new_session(16) as session:
                items = await scenario.items(seeded, session, count)
                await settled(database_url, seeded, hooks)
            if count:
                log(f"{tag}: {scenario.name}: warm-up {warm.rate:,.0f}/s; prepared {count} "
                    f"in {time.perf_counter() - t1:.1f} s")
            profile = (Path(args.profile) / f"{engine}-{workers}w-{scenario.name}.txt"
                       if args.profile else None)
            delivered = receiver.deliveries
            async with profiling(server.pid, profile, args.seconds):
                phase = await drive(sender(scenario.method, items, scenario.ok_status),
                                    seconds=args.seconds, ok_status=scenario.ok_status, **run)
            phase.deliveries = receiver.deliveries - delivered
            if hooks is not None:  # how far behind the deliveries are as the run ends
                t1, cpu1 = time.perf_counter(), tree_cpu_s(server.pid)
                await hooks.drained(seeded, limit_s=600)
                phase.drain_s = time.perf_counter() - t1
                phase.drain_cpu_s = tree_cpu_s(server.pid) - cpu1
                phase.deliveries_after = receiver.deliveries - delivered - phase.deliveries
            phases[scenario.name] = phase
            log(f"{tag}: {scenario.name} {phase.rate:,.0f} req/s, p50 "
                f"{phase.percentile_ms(0.5):.1f} ms, p99 {phase.percentile_ms(0.99):.1f} ms"
                + (f", errors {dict(phase.errors)}" if phase.errors else "")
                + (f"; webhook deliveries received: {phase.deliveries} during the run, "
                   f"{phase.deliveries_after} in the {phase.drain_s:.1f} s after it"
                   if hooks else ""))
        open_phases = await open_loop_runs(seeded, database_url, server.pid, args, tag,
                                           Path(scratch), hooks)
    log(f"{tag}: done in {time.perf_counter() - t0:.0f} s")
    return Row(engine, workers, phases, open_phases, webhooks)


async def open_loop_runs(seeded: Seed, database_url: str, server_pid: int,
                         args: argparse.Namespace, tag: str, gc_log: Path,
                         hooks: Hooks | None = None) -> list[tuple[str, Phase]]:
    """Each single-use scenario at each ``--open-loop`` rate, ``--repeat`` times: a
    warm-up at the rate, then the timed run, on items prepared for both."""
    runs: list[tuple[str, Phase]] = []
    for rate, n, scenario in itertools.product(args.open_loop, range(args.repeat), SCENARIOS):
        if not scenario.single_use or scenario.name not in args.scenarios:
            continue
        count = math.ceil(rate * (args.warmup + args.seconds)) + 10
        async with new_session(16) as session:
            items = await scenario.items(seeded, session, count)
            if not args.no_settle:
                await settled(database_url, seeded, hooks)
        send = sender(scenario.method, items, scenario.ok_status)
        run = {"rate": rate, "ok_status": scenario.ok_status, "server_pid": server_pid}
        if not args.no_settle:  # else: what the preparation left behind runs meanwhile
            await drive_open(send, seconds=args.warmup, **run)
            await settled(database_url, seeded, hooks)
        checkpoints = await checkpoint_count(database_url)
        phase = await drive_open(send, seconds=args.seconds, **run)
        phase.stalls = meanwhile(phase, gc_log, await checkpoint_count(database_url)
                                 - checkpoints)
        runs.append((scenario.name, phase))
        log(f"{tag}: open {scenario.name} {rate:g}/s #{n + 1}: p50 "
            f"{phase.percentile_ms(0.5):.1f} ms, p99 {phase.percentile_ms(0.99):.1f} ms, max "
            f"{phase.percentile_ms(1.0):.1f} ms, late {phase.late}, load {phase.load}"
            + (f", errors {dict(phase.errors)}" if phase.errors else "") + f"; {phase.stalls}")
        if args.trace:
            write_trace(Path(args.trace) / f"{tag.replace('/', '-')}-{scenario.name}-"
                        f"{rate:g}-{n + 1}.csv", phase)
    return runs


async def checkpoint_count(database_url: str) -> int:
    """PostgreSQL's checkpoints so far, timed and requested (0 on SQLite): a checkpoint's
    writes and syncs slow every commit's WAL flush on a small machine."""
    if database_url.startswith("sqlite:///"):
        return 0
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"))
    finally:
        await conn.close()


def meanwhile(phase: Phase, gc_log: Path, checkpoints: int) -> str:
    """The run's worst 100 ms of scheduled sends, beside the servers' collections of 5 ms
    or more (bench.server logs them) and the database's checkpoints during the run."""
    if not phase.trace:
        return ""
    first, last = min(t for t, _, _ in phase.trace), max(t for t, _, _ in phase.trace)
    worst = max(phase.trace, key=lambda item: item[1])
    pauses = []
    for path in gc_log.glob("gc-*.log"):
        for line in path.read_text().splitlines():
            at, generation, wall, cpu = line.split()
            if first <= float(at) <= last + 1:
                pauses.append((float(wall), float(cpu), generation, float(at) - first))
    longest = max(pauses, default=None)
    return (f"slowest request sent at {worst[0] - first:.2f} s ({1000 * worst[1]:.0f} ms); "
            f"server collections >= 5 ms: {len(pauses)}"
            + (f" (longest gen{longest[2]} {longest[0]:.0f} ms, CPU {longest[1]:.0f} ms, at "
               f"{longest[3]:.2f} s)" if longest else "")
            + f"; database checkpoints: {checkpoints}")


def write_trace(path: Path, phase: Phase) -> None:
    """One line per request: its scheduled send (epoch s), latency (ms), status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write("scheduled_epoch_s,latency_ms,status\n")
        for due, latency, status in sorted(phase.trace):
            out.write(f"{due:.4f},{1000 * latency:.2f},{status}\n")


# --- output -----------------------------------------------------------------------------

HEADER = ("engine", "procs", "scenario", "req/s", "p50 ms", "p99 ms", "errors",
          "/hello", "/update", "RSS MB")
OPEN_HEADER = ("engine", "procs", "scenario", "rate/s", "p50 ms", "p90 ms", "p99 ms",
               "max ms", "errors", "late", "load")


def table_lines(row: Row, with_hooks: bool = False) -> list[tuple[str, ...]]:
    hello, update = row.phases.get("hello"), row.phases.get("update")
    lines: list[tuple[str, ...]] = []
    for name, p in row.phases.items():
        to_hello = p.rate / hello.rate if hello and hello.rate else math.nan
        to_update = p.rate / update.rate if update and update.rate else math.nan
        rss = (f"{p.rss_max_mb:.0f}" if row.workers == 1
               else f"{p.rss_max_mb:.0f} ({p.rss_mb:.0f})")
        hooks = ((f"{row.webhooks}: {p.deliveries} + {p.deliveries_after} in "
                  f"{p.drain_s:.0f} s" if row.webhooks else "0"),) if with_hooks else ()
        lines.append((row.engine, str(row.workers), name, *hooks, f"{p.rate:,.0f}",
                      f"{p.percentile_ms(0.50):.1f}", f"{p.percentile_ms(0.99):.1f}",
                      str(sum(p.errors.values())), f"{100 * to_hello:.0f}%",
                      f"{100 * to_update:.0f}%", rss))
    return lines


def print_table(rows: list[Row]) -> None:
    with_hooks = any(row.webhooks for row in rows)
    header = (*HEADER[:3], "webhooks", *HEADER[3:]) if with_hooks else HEADER
    print_lines(header, [line for row in rows for line in table_lines(row, with_hooks)])
    print("RSS: the largest server process (the sum over the supervisor and workers).")
    if with_hooks:
        print("webhooks: endpoints subscribed to every event, all on one receiver in the "
              "bench process that answers 200 at once: deliveries it received during the "
              "timed run + after it, until the last came (s after the run); each run starts "
              "with the deliveries of its preparation done.")
        print_hooks_comparison(rows)
    open_lines = [(row.engine, str(row.workers), name, f"{p.rate_asked:g}",
                   *(f"{p.percentile_ms(q):.1f}" for q in (0.5, 0.9, 0.99, 1.0)),
                   str(sum(p.errors.values())), str(p.late), p.load)
                  for row in rows for name, p in row.open_phases]
    if open_lines:
        print()
        print_lines(OPEN_HEADER, open_lines)
        print(f"Open loop: latency from each request's scheduled send; late: sent more than "
              f"{1000 * LATE_S:g} ms behind schedule; load: the load average after the run.")
        runs = [(f"{row.engine}/{row.workers} {name} {p.rate_asked:g}/s", p.stalls)
                for row in rows for name, p in row.open_phases]
        for n, (what, stalls) in enumerate(runs):
            print(f"  {n + 1}. {what}: {stalls}")
    sys.stdout.flush()


def print_hooks_comparison(rows: list[Row]) -> None:
    """Per configuration and scenario: the median req/s of each endpoint count across the
    rounds, and its ratio to the runs without endpoints (the issue's bar: within 10 %)."""
    rates: dict[tuple[str, int, str], dict[int, list[float]]] = {}
    for row in rows:
        for name, p in row.phases.items():
            rates.setdefault((row.engine, row.workers, name), {}).setdefault(
                row.webhooks, []).append(p.rate)
    print()
    for (engine, workers, name), by_hooks in rates.items():
        if 0 not in by_hooks or len(by_hooks) < 2:
            continue
        none = statistics.median(by_hooks[0])
        parts = []
        for hooks, runs in sorted(by_hooks.items()):
            median = statistics.median(runs)
            ratio = f", {100 * median / none:.0f}% of none" if hooks and none else ""
            parts.append(f"{hooks} endpoints: median {median:,.0f} req/s "
                         f"(runs {', '.join(f'{r:,.0f}' for r in runs)}){ratio}")
        print(f"{engine}/{workers} {name}: " + "; ".join(parts))


def print_lines(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> None:
    every = [header, *lines]
    widths = [max(len(line[i]) for line in every) for i in range(len(header))]
    for n, line in enumerate(every):
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(line, widths, strict=True))]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def print_notes(rows: list[Row], args: argparse.Namespace, load_before: str) -> None:
    log(f"{args.concurrency} in flight, {args.warmup:g} s warm-up, {args.seconds:g} s "
        f"measured; load average before {load_before}, after {load_average()} "
        f"({os.cpu_count()} CPUs)")
    for row in rows:
        for name, phase in row.phases.items():
            done = len(phase.latencies) or 1
            log(f"{row.engine}/{row.workers}w"
                + (f"/{row.webhooks}hooks" if row.webhooks else "")
                + f" {name}: {len(phase.latencies)} requests in "
                f"{phase.elapsed:.1f} s{' (pool ran dry)' if phase.stopped_by_count else ''};"
                f" server CPU {1000 * phase.server_cpu_s / done:.2f} ms/req, bench client "
                f"{1000 * phase.client_cpu_s / done:.2f} ms/req, postgres processes "
                f"{1000 * phase.postgres_cpu_s / done:.2f} ms/req, machine "
                f"{100 * phase.machine_busy:.0f}% busy")
            if phase.deliveries_after:
                log(f"  webhooks: {phase.deliveries_after} deliveries after the run in "
                    f"{phase.drain_s:.1f} s ({phase.deliveries_after / phase.drain_s:,.0f}/s), "
                    f"server CPU {1000 * phase.drain_cpu_s / phase.deliveries_after:.2f} ms "
                    f"per delivery")
            if phase.errors:
                log("  errors: " + ", ".join(f"{k}: {v}" for k, v in
                                              phase.errors.most_common()))


# --- main -------------------------------------------------------------------------------

async def main(args: argparse.Namespace) -> int:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    # --rounds alternates the whole list (e.g. 0, 2, 0, 2 endpoints): a noisy machine's
    # drift then falls on both sides of a comparison.
    configs = [(e, w, h) for _ in range(args.rounds) for e in engines
               for w in ((1,) if e == "sqlite" else args.pg_workers) for h in args.webhooks]
    admin_url = os.environ.get("O2O_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    rows: list[Row] = []
    failed = 0
    load_before = load_average()
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM stops us as cleanly as Ctrl-C does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="o2o-bench-logs-")
    try:
        for n, (engine, workers, hooks) in enumerate(configs):
            database = (sqlite_database() if engine == "sqlite" else
                        postgres_database(admin_url, f"o2o_bench_{os.getpid()}_{n}"))
            try:
                async with database as url:
                    rows.append(await bench_one(engine, workers, url, args, scratch, hooks))
            except (RuntimeError, OSError, aiohttp.ClientError, asyncpg.PostgresError) as exc:
                failed += 1
                log(f"{engine}/{workers}w/{hooks}hooks failed: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if rows:
            print_table(rows)
            print_notes(rows, args, load_before)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="measured time per scenario (default 6)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="warm-up time per scenario (default 2)")
    parser.add_argument("--engines", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--pg-workers", default="1,2",
                        type=lambda s: tuple(int(w) for w in s.split(",")),
                        help="server process counts to run on PostgreSQL (default 1,2)")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS),
                        type=lambda s: {x.strip() for x in s.split(",") if x.strip()},
                        help="comma-separated subset of the scenarios (default all)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="requests in flight (default 64)")
    parser.add_argument("--max-pool", type=int, default=20_000,
                        help="most single-use items (vouchers, codes, slots) per timed run")
    parser.add_argument("--server-env", action="append", metavar="NAME=VALUE",
                        help="diagnostic: a setting for the server (repeatable), e.g. "
                             "O2O_NOTIFY_DISPATCHER=0")
    parser.add_argument("--server-log-level", default="warning",
                        help="the server's --log-level (default warning); info writes the "
                             "access log, a line per request (format: --server-env "
                             "O2O_LOG_FORMAT=json)")
    parser.add_argument("--stats-off", action="store_true",
                        help="diagnostic: PostgreSQL without the stats triggers' work "
                             "(o2o.stats_off), to see what they cost")
    parser.add_argument("--open-loop", metavar="RATES", default=(),
                        type=lambda s: tuple(float(r) for r in s.split(",") if r.strip()),
                        help="comma-separated arrival rates (req/s): after the closed loop, "
                             "run each single-use scenario (redeem, charge, book) open-loop "
                             "at each rate, latency from the scheduled send")
    parser.add_argument("--open-only", action="store_true",
                        help="skip the closed loop (only the --open-loop runs)")
    parser.add_argument("--no-settle", action="store_true",
                        help="open loop: no warm-up and no wait for the outbox between "
                             "preparing the items (a bulk issue) and the timed run, as a "
                             "client that issues and then redeems at once sees it")
    parser.add_argument("--repeat", type=int, default=1,
                        help="open loop: timed runs per scenario and rate (default 1)")
    parser.add_argument("--trace", metavar="DIR",
                        help="open loop: write each run's requests (scheduled send, latency, "
                             "status) as CSV into DIR, to line slow ones up with the servers'")
    parser.add_argument("--webhooks", metavar="N[,N...]", default=(0,),
                        type=lambda s: tuple(int(n) for n in s.split(",") if n.strip()),
                        help="webhook endpoints subscribed to every event, registered before "
                             "the scenarios and served by a receiver in this process that "
                             "answers 200 at once (default 0); a list (0,2) runs each "
                             "configuration once per count and compares them")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the whole list of configurations this many times, in turn "
                             "(default 1), to alternate before/after on a noisy machine")
    parser.add_argument("--profile", metavar="DIR",
                        help="record each timed run with py-spy into DIR (slows the server)")
    args = parser.parse_args(argv)
    unknown = {e.strip() for e in args.engines.split(",")} - {"sqlite", "postgres", ""}
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    unknown = args.scenarios - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    try:
        status = asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; servers stopped, databases dropped, temp files removed")
        status = 0
    raise SystemExit(status)
