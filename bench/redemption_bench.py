"""Voucher redemption throughput and latency against a real server, beside its hello world.

    .venv/bin/python bench/redemption_bench.py [--seconds 10] [--engines sqlite,postgres]

For each configuration (SQLite with one server process; PostgreSQL with one and with two)
the script creates a fresh database, migrates it (`o2o migrate`), creates an operator
(`o2o create-operator`), starts `o2o serve` in its own process with the bench routes on,
and seeds over the HTTP API: a store, members, and a cash-voucher campaign whose vouchers
are bulk-issued so that every redemption uses a fresh voucher. This process is the load
generator (aiohttp, loopback, N requests in flight):

1. GET /api/v1/bench/hello: warm-up, then a timed measurement (the server's ceiling).
2. POST /api/v1/redemptions: warm-up, which also tells how many vouchers the timed run
   needs; more are issued if the pool is short; then the timed measurement, bounded by
   time and by the number of vouchers (each request redeems a different voucher).

RSS is the server's VmRSS (supervisor and workers summed) read when the load stops. One
table goes to stdout, progress and notes on CPU use to stderr. Nothing is asserted. The
databases, temp files and servers are removed even on Ctrl-C.

`O2O_BENCH_POSTGRES_URL` names a PostgreSQL server whose user may create databases
(default postgresql://postgres@127.0.0.1:5432/test; only its host, port and user are
used, the benchmark's own database is `o2o_bench_<pid>_<n>`, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
OPERATOR, PASSWORD = "bench-operator", "bench-password-2026"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MEMBERS = 200              # each bulk-issue call gives every member one more voucher
ISSUE_BATCH = 1000         # API limit on member ids per /issue call
INITIAL_VOUCHERS = 1000    # the warm-up pool; the timed run gets what the warm-up says
HEADROOM = 2.0             # vouchers issued = warm-up rate * seconds * HEADROOM + slack
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

def server_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env.update(O2O_DATABASE_URL=database_url, O2O_SECRET_KEY=SECRET, O2O_BENCH_ROUTES="1",
               O2O_ENV="development", PYTHONUNBUFFERED="1")
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
async def running_server(env: dict[str, str], workers: int,
                         log_dir: str) -> AsyncIterator[Server]:
    port = free_port()
    log_path = Path(log_dir) / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        # Its own session: a Ctrl-C reaches only us, and we stop the whole group.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        await wait_healthy(server, workers)
        yield server
    finally:
        await stop_server(server)
        lines = log_path.read_text(errors="replace").splitlines()
        if lines:  # --log-level warning: anything here is worth seeing
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
               body: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as resp:
        text = await resp.text()
        if resp.status not in expect:
            raise ApiError(f"{method} {url} -> {resp.status}: {text[:500]}")
        return json.loads(text) if text else None


@dataclass
class Seed:
    token: str
    store_id: str
    member_ids: list[str]
    campaigns: int = 0


async def seed_base(session: aiohttp.ClientSession, base: str, members: int) -> Seed:
    login = await call(session, "POST", f"{base}{API}/auth/staff/login", None,
                       {"username": OPERATOR, "password": PASSWORD})
    token = login["token"]
    hours = [{"weekday": d, "open": "00:00", "close": "23:59"} for d in range(7)]
    store = await call(session, "POST", f"{base}{API}/stores", token,
                       {"name": "Bench Store", "timezone": "Asia/Shanghai",
                        "opening_hours": hours})
    numbers = iter(range(members))
    member_ids: list[str] = []

    async def register() -> None:
        for i in numbers:
            member = await call(session, "POST", f"{base}{API}/members", token,
                                {"name": f"Bench Member {i}", "phone": f"+86139{i:08d}"})
            member_ids.append(member["id"])

    await asyncio.gather(*(register() for _ in range(8)))
    return Seed(token, store["id"], member_ids)


async def issue_vouchers(session: aiohttp.ClientSession, base: str, seed: Seed,
                         count: int) -> list[str]:
    """A new cash campaign of exactly ``count`` vouchers, all bulk-issued; their codes."""
    now = datetime.now(UTC)
    seed.campaigns += 1
    campaign = await call(session, "POST", f"{base}{API}/campaigns", seed.token, {
        "name": f"Bench vouchers {seed.campaigns}", "kind": "cash", "value_cents": 500,
        "total_quantity": count, "per_member_limit": 1000,
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=1)).isoformat(),
    })
    url = f"{base}{API}/campaigns/{campaign['id']}/issue"
    batch = min(ISSUE_BATCH, len(seed.member_ids))
    calls = [seed.member_ids[:min(batch, count - start)] for start in range(0, count, batch)]
    if len(calls) > 1000:
        raise ApiError(f"{count} vouchers need more than 1000 per member; add members")
    pending = iter(calls)
    codes: list[str] = []

    async def issuer() -> None:
        for member_ids in pending:
            out = await call(session, "POST", url, seed.token, {"member_ids": member_ids})
            if out["skipped"]:
                raise ApiError(f"issue skipped members: {out['skipped'][:3]}")
            codes.extend(v["code"] for v in out["issued"])

    await asyncio.gather(*(issuer() for _ in range(2)))
    return codes


# --- load -------------------------------------------------------------------------------

@dataclass
class Phase:
    ok: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    rss_mb: float = 0.0
    stopped_by_count: bool = False
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy: float = 0.0   # fraction of all cores busy

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

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


async def drive(send: Send, *, seconds: float, concurrency: int, ok_status: int,
                server_pid: int) -> Phase:
    """``concurrency`` requests in flight for ``seconds`` or until ``send`` runs dry."""
    async with new_session(concurrency) as session:
        return await _drive(session, send, seconds=seconds, concurrency=concurrency,
                            ok_status=ok_status, server_pid=server_pid)


async def _drive(session: aiohttp.ClientSession, send: Send, *, seconds: float,
                 concurrency: int, ok_status: int, server_pid: int) -> Phase:
    phase = Phase()
    rss: list[float] = []
    cpu0, self0, (busy0, total0) = tree_cpu_s(server_pid), self_cpu_s(), machine_cpu_s()
    start = time.perf_counter()
    deadline = start + seconds

    def stop(by_count: bool) -> None:
        if not rss:  # the first worker to stop reads the server's memory under load
            rss.append(tree_rss_mb(server_pid))
            phase.stopped_by_count = by_count

    async def worker() -> None:
        while time.perf_counter() < deadline:
            request = send(session)
            if request is None:
                stop(by_count=True)
                return
            t0 = time.perf_counter()
            try:
                status, code = await request
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, code = 0, type(exc).__name__
            phase.latencies.append(time.perf_counter() - t0)
            if status == ok_status:
                phase.ok += 1
            else:
                phase.errors[f"{status} {code}"] += 1
        stop(by_count=False)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.elapsed = time.perf_counter() - start
    busy1, total1 = machine_cpu_s()
    phase.server_cpu_s = tree_cpu_s(server_pid) - cpu0
    phase.client_cpu_s = self_cpu_s() - self0
    phase.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    phase.rss_mb = rss[0] if rss else tree_rss_mb(server_pid)
    return phase


async def _answer(resp: aiohttp.ClientResponse, ok_status: int) -> tuple[int, str | None]:
    body = await resp.read()
    if resp.status == ok_status:
        return resp.status, None
    try:
        return resp.status, str(json.loads(body).get("code"))
    except (ValueError, AttributeError):
        return resp.status, None


def hello_sender(base: str, budget: int) -> Send:
    url = f"{base}{API}/bench/hello"
    left = [budget]

    async def one(session: aiohttp.ClientSession) -> tuple[int, str | None]:
        async with session.get(url) as resp:
            return await _answer(resp, 200)

    def send(session: aiohttp.ClientSession) -> Awaitable[tuple[int, str | None]] | None:
        if left[0] <= 0:
            return None
        left[0] -= 1
        return one(session)

    return send


def redemption_sender(base: str, seed: Seed, codes: Iterator[str],
                      idempotency: bool) -> Send:
    url = f"{base}{API}/redemptions"
    headers = {"Authorization": f"Bearer {seed.token}", "Content-Type": "application/json"}

    async def one(session: aiohttp.ClientSession, code: str) -> tuple[int, str | None]:
        body = json.dumps({"code": code, "store_id": seed.store_id, "amount_cents": 10_000})
        extra = {"Idempotency-Key": uuid.uuid4().hex} if idempotency else {}
        async with session.post(url, data=body.encode(), headers=headers | extra) as resp:
            return await _answer(resp, 201)

    def send(session: aiohttp.ClientSession) -> Awaitable[tuple[int, str | None]] | None:
        code = next(codes, None)
        return None if code is None else one(session, code)

    return send


# --- one configuration ------------------------------------------------------------------

@dataclass
class Row:
    engine: str
    workers: int
    hello: Phase
    redeem: Phase


async def bench_one(engine: str, workers: int, database_url: str, args: argparse.Namespace,
                    scratch: str) -> Row:
    env = server_env(database_url)
    t0 = time.perf_counter()
    await o2o(env, "migrate")
    await o2o(env, "create-operator", "--chain", "Bench Chain", "--username", OPERATOR,
              "--password", PASSWORD)
    async with running_server(env, workers, scratch) as server:
        async with new_session(args.concurrency) as session:
            seed = await seed_base(session, server.base, MEMBERS)
            codes = await issue_vouchers(session, server.base, seed, INITIAL_VOUCHERS)
            seed_s = time.perf_counter() - t0
            log(f"{engine}/{workers}w: migrated and seeded {len(seed.member_ids)} members, "
                f"{len(codes)} vouchers in {seed_s:.1f} s")

        run = {"concurrency": args.concurrency, "server_pid": server.pid}
        await drive(hello_sender(server.base, 10**9), seconds=args.warmup, ok_status=200,
                    **run)
        hello = await drive(hello_sender(server.base, args.max_requests),
                            seconds=args.seconds, ok_status=200, **run)
        log(f"{engine}/{workers}w: hello {hello.rate:,.0f} req/s")

        pool = iter(codes)
        warm = await drive(redemption_sender(server.base, seed, pool, args.idempotency),
                           seconds=args.warmup, ok_status=201, **run)
        if warm.errors:
            log(f"{engine}/{workers}w: warm-up redemption errors: {dict(warm.errors)}")
        left = list(pool)
        needed = min(args.max_vouchers,
                     math.ceil(warm.rate * args.seconds * HEADROOM) + 4 * args.concurrency)
        if needed > len(left):
            t1, more = time.perf_counter(), needed - len(left)
            async with new_session(args.concurrency) as session:
                left += await issue_vouchers(session, server.base, seed, more)
            log(f"{engine}/{workers}w: warm-up redeemed {warm.rate:,.0f}/s; issued "
                f"{more} more vouchers in {time.perf_counter() - t1:.1f} s")
        redeem = await drive(redemption_sender(server.base, seed, iter(left), args.idempotency),
                             seconds=args.seconds, ok_status=201, **run)
        log(f"{engine}/{workers}w: redemption {redeem.rate:,.0f} req/s "
            f"({len(redeem.latencies)} of {len(left)} vouchers used)")
    return Row(engine, workers, hello, redeem)


# --- output -----------------------------------------------------------------------------

HEADER = ("engine", "workers", "hello req/s", "redemption req/s", "p50 ms", "p99 ms",
          "errors", "ratio", "RSS MB")


def table_line(row: Row) -> tuple[str, ...]:
    r = row.redeem
    ratio = r.rate / row.hello.rate if row.hello.rate else math.nan
    return (row.engine, str(row.workers), f"{row.hello.rate:,.0f}", f"{r.rate:,.0f}",
            f"{r.percentile_ms(0.50):.1f}", f"{r.percentile_ms(0.99):.1f}",
            str(sum(r.errors.values())), f"{ratio:.3f}", f"{r.rss_mb:.0f}")


def print_table(rows: list[Row]) -> None:
    lines = [HEADER, *(table_line(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    for n, line in enumerate(lines):
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(line, widths, strict=True))]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def print_notes(rows: list[Row], args: argparse.Namespace, load_before: str) -> None:
    log(f"{args.concurrency} in flight, {args.warmup:g} s warm-up, {args.seconds:g} s "
        f"measured; load average before {load_before}, after {load_average()} "
        f"({os.cpu_count()} CPUs)")
    for row in rows:
        for name, phase in (("hello", row.hello), ("redemption", row.redeem)):
            done = len(phase.latencies) or 1
            log(f"{row.engine}/{row.workers}w {name}: {len(phase.latencies)} requests in "
                f"{phase.elapsed:.1f} s{' (pool ran dry)' if phase.stopped_by_count else ''};"
                f" server CPU {1000 * phase.server_cpu_s / done:.2f} ms/req, bench client "
                f"{1000 * phase.client_cpu_s / done:.2f} ms/req, machine "
                f"{100 * phase.machine_busy:.0f}% busy; p50 {phase.percentile_ms(0.5):.1f} ms, "
                f"p99 {phase.percentile_ms(0.99):.1f} ms")
        if row.redeem.errors:
            log(f"{row.engine}/{row.workers}w redemption errors: "
                + ", ".join(f"{k}: {v}" for k, v in row.redeem.errors.most_common()))


# --- main -------------------------------------------------------------------------------

async def main(args: argparse.Namespace) -> int:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    configs = [(e, w) for e in engines for w in ((1,) if e == "sqlite" else args.pg_workers)]
    admin_url = os.environ.get("O2O_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    rows: list[Row] = []
    failed = 0
    load_before = load_average()
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM stops us as cleanly as Ctrl-C does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    scratch = tempfile.mkdtemp(prefix="o2o-bench-logs-")
    try:
        for n, (engine, workers) in enumerate(configs):
            database = (sqlite_database() if engine == "sqlite" else
                        postgres_database(admin_url, f"o2o_bench_{os.getpid()}_{n}"))
            try:
                async with database as url:
                    rows.append(await bench_one(engine, workers, url, args, scratch))
            except (RuntimeError, OSError, aiohttp.ClientError, asyncpg.PostgresError) as exc:
                failed += 1
                log(f"{engine}/{workers}w failed: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if rows:
            print_table(rows)
            print_notes(rows, args, load_before)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measured time per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="warm-up time per phase (default 2)")
    parser.add_argument("--engines", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--pg-workers", default="1,2",
                        type=lambda s: tuple(int(w) for w in s.split(",")),
                        help="server process counts to run on PostgreSQL (default 1,2)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="requests in flight (default 64)")
    parser.add_argument("--max-requests", type=int, default=1_000_000,
                        help="count bound of the hello phase")
    parser.add_argument("--max-vouchers", type=int, default=30_000,
                        help="count bound of the redemption phase (vouchers issued)")
    parser.add_argument("--idempotency", action="store_true",
                        help="send a fresh Idempotency-Key with every redemption")
    args = parser.parse_args(argv)
    unknown = {e.strip() for e in args.engines.split(",")} - {"sqlite", "postgres", ""}
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    try:
        status = asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; servers stopped, databases dropped, temp files removed")
        status = 0
    raise SystemExit(status)
