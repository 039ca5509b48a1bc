"""What a card in a member's WeChat card bag costs a redemption: nothing on the request
(issue 21: the update leaves through the outbox, the ledger entry and feed event the
charge already writes).

    .venv/bin/python bench/cardbag_bench.py [--seconds 5] [--engine sqlite|postgres]
                                            [--sync server|worker|after|all]

A real server (bench.server, one process, live WeChat mode against the WeChat stand-in
of tests/stand_ins, run in this process's threads) with members who logged in through
it and stored-value cards. Half the members' cards are put in their card bags (a WeChat
member card, approved; the rows the callback's ``user_get_card`` writes), then charges
with fresh dynamic codes run against cards out of the bag and in it, alternated
(``--rounds``, 2), closed loop. Three times: the sync in the server process (the
default deployment); in an `o2o worker` beside it (``O2O_CARDBAG_SYNC=0`` on the
server); and in a worker started only after each run ("after": the requests alone, what
a card in the bag costs the request itself, the sync's work done apart). Printed: req/s,
p50/p99 latency of each run, the updates WeChat received for it and how long after the
run the sync had pushed them all. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load_bench as lb  # noqa: E402
from tests.stand_ins.wechat import CardDef, WechatStandIn  # noqa: E402

WHERE = {"server": "in the server process", "worker": "in an o2o worker beside the server",
         "after": "in an o2o worker started after each run (the requests alone)"}
APP_ID, APP_SECRET = "wxbenchcardbag01", "bench-cardbag-secret"
MEMBERS = 240  # each with one stored-value card; half in the bag
CONCURRENCY = 16


async def seed(base: str, chain_id: str,
               wechat: WechatStandIn) -> tuple[lb.Seed, lb.Seed, str]:
    """(cards out of the bag, cards to put in it, their template): two seeds over one
    chain and store."""
    url = f"{base}{lb.API}"
    async with lb.new_session(8) as session:
        token = (await lb.call(session, "POST", f"{url}/auth/staff/login", None,
                               {"username": lb.OPERATOR, "password": lb.PASSWORD}))["token"]
        await lb.call(session, "PUT", f"{url}/wechat-config", token,
                      {"app_id": APP_ID, "app_secret": APP_SECRET, "templates": {}})
        hours = [{"weekday": d, "open": "00:00", "close": "24:00"} for d in range(7)]
        store = await lb.call(session, "POST", f"{url}/stores", token,
                              {"name": "静安店", "timezone": lb.ZONE, "opening_hours": hours})
        template = await lb.call(session, "POST", f"{url}/card-templates", token,
                                 {"name": "Bench Bag Card", "kind": "stored_value",
                                  "points_per_yuan": 1})

        async def member(i: int) -> lb.Member:
            code = wechat.register_code(f"o-bench-{i}", app_id=APP_ID)
            out = await lb.call(session, "POST", f"{url}/auth/member/wechat", None,
                                {"chain_id": chain_id, "code": code},
                                headers={"X-Forwarded-For": f"10.78.{i // 250}.{i % 250 + 1}"})
            m = lb.Member(out["member"]["id"], out["token"])
            card = await lb.call(session, "POST", f"{url}/cards", token,
                                 {"template_id": template["id"], "member_id": m.id})
            await lb.call(session, "POST", f"{url}/cards/{card['id']}/top-ups", token,
                          {"amount_cents": 5_000_000, "store_id": store["id"]})
            m.card_ids.append(card["id"])
            return m

        members = await lb.gather_limited([lambda i=i: member(i) for i in range(MEMBERS)])
    half = MEMBERS // 2

    def part(ms: list[lb.Member]) -> lb.Seed:
        return lb.Seed(base, token, chain_id, store["id"], ms, "", [], iter(()), [])
    return part(members[:half]), part(members[half:]), template["id"]


async def put_in_bag(database_url: str, chain_id: str, template_id: str,
                     members: list[lb.Member], wechat: WechatStandIn) -> None:
    """The WeChat member card (approved) and the bag rows, as the callback writes them."""
    from app.core.clock import utcnow
    from app.core.commands import bound_engine
    from app.core.db import write_transaction
    from app.core.settings import Settings
    from cardbag import sync_repository
    from cardbag.tables import WechatCard
    from cards import public as cards

    wechat_card_id = "pBench" + uuid.uuid4().hex[:20]
    wechat.cards[wechat_card_id] = CardDef(
        card_id=wechat_card_id, app_id=APP_ID, status="CARD_STATUS_VERIFY_OK",
        card={"card_type": "MEMBER_CARD", "member_card": {"supply_bonus": True,
                                                          "supply_balance": True}})
    settings = Settings(database_url=database_url, secret_key=lb.SECRET)
    async with bound_engine(settings):
        await WechatCard.insert(WechatCard(
            template_id=uuid.UUID(template_id), chain_id=uuid.UUID(chain_id),
            wechat_card_id=wechat_card_id, status="approved",
            logo_url="https://bench.test/logo.png", brand_name="Bench")).run()
        for m in members:
            card = await cards.card_in_chain(uuid.UUID(chain_id), uuid.UUID(m.card_ids[0]))
            assert card is not None
            async with write_transaction():
                await sync_repository.put_in_bag({
                    "card_id": card["id"], "chain_id": card["chain"],
                    "template_id": card["template"], "wechat_card_id": wechat_card_id,
                    "code": card["number"], "openid": f"o-{card['number']}",
                    "added_at": utcnow(), "due_at": utcnow()})


async def synced(database_url: str, limit_s: float = 120.0) -> float:
    """Seconds until every bag card is clean and WeChat has its last ledger entry (the
    sync pushed every charge)."""
    from app.core.commands import bound_engine
    from app.core.settings import Settings
    from cardbag.tables import BagCard
    from cards.tables import Card

    start = time.perf_counter()
    async with bound_engine(Settings(database_url=database_url, secret_key=lb.SECRET)):
        while time.perf_counter() - start < limit_s:
            bag = await BagCard.select(BagCard.card_id, BagCard.synced_seq,
                                       BagCard.dirty).run()
            seqs = {r["id"]: r["ledger_seq"] for r in await Card.select(
                Card.id, Card.ledger_seq).where(Card.id.is_in(
                    [b["card_id"] for b in bag] or [uuid.uuid4()])).run()}
            if all(not b["dirty"] and b["synced_seq"] >= seqs[b["card_id"]] for b in bag):
                break
            await asyncio.sleep(0.05)
    return time.perf_counter() - start


async def run_phase(seed: lb.Seed, seconds: float, server_pid: int) -> lb.Phase:
    async with lb.new_session(CONCURRENCY) as session:
        items = await lb.charge_items(seed, session, min(int(seconds * 400), 1500))
    return await lb.drive(lb.sender("POST", iter(items), 201), seconds=seconds,
                          concurrency=CONCURRENCY, ok_status=201, server_pid=server_pid)


async def main(args: argparse.Namespace) -> None:
    for where in (["server", "worker", "after"] if args.sync == "all" else [args.sync]):
        await bench(args, where)


async def bench(args: argparse.Namespace, where: str) -> None:
    """``where`` the sync runs: in the server process (the default deployment) or in an
    `o2o worker` beside it (O2O_CARDBAG_SYNC=0 on the server)."""
    with WechatStandIn() as wechat:
        wechat.add_app(APP_ID, APP_SECRET)
        wechat.slow("/card/membercard/updateuser", 0.02, times=None)  # WeChat's own time
        async with (lb.sqlite_database() if args.engine == "sqlite" else
                    lb.postgres_database(lb.DEFAULT_PG_URL, f"o2o_bench_bag_{id(args)}")) as url:
            env = lb.server_env(url, ["O2O_WECHAT_MODE=live",
                                      f"O2O_WECHAT_API_BASE={wechat.url}"])
            server_env = {**env, "O2O_CARDBAG_SYNC": "1" if where == "server" else "0"}
            await lb.o2o(env, "migrate")
            created = json.loads(await lb.o2o(env, "create-operator", "--chain", "Bench",
                                              "--username", lb.OPERATOR,
                                              "--password", lb.PASSWORD))
            scratch = str(Path(url.removeprefix("sqlite:///")).parent) \
                if args.engine == "sqlite" else "/tmp"
            async with lb.running_server(server_env, 1, scratch) as server, \
                    sync_worker(env if where == "worker" else None):
                out, bag, template_id = await seed(server.base, created["chain_id"], wechat)
                await put_in_bag(url, created["chain_id"], template_id, bag.members, wechat)
                async with sync_worker(env if where == "after" else None):
                    await synced(url)  # activations done before anything is measured
                await run_phase(out, 1.0, server.pid)  # warm-up, not shown
                rows = []
                orders = ((("not in bag", out), ("in the bag", bag)),
                          (("in the bag", bag), ("not in bag", out)))
                for round_ in range(args.rounds):
                    order = orders[round_ % 2]  # alternated: neither always goes first
                    for name, which in order:
                        before = len(wechat.card_updates)
                        phase = await run_phase(which, args.seconds, server.pid)
                        lb.log(f"{name}: {len(wechat.card_updates) - before} updates to "
                               "WeChat during the run")
                        async with sync_worker(env if where == "after" else None):
                            drain = await synced(url)
                        rows.append((round_ + 1, name, phase, len(wechat.card_updates) - before,
                                     drain))
    print(f"\nRedemptions (charge, fresh card codes), {args.engine}, one server process, "
          f"{CONCURRENCY} in flight, {args.seconds:g} s each; the sync {WHERE[where]}:")
    print(f"{'round':>5}  {'cards':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'updates to WeChat':>18} {'synced after s':>15}")
    for round_, name, phase, updates, drain in rows:
        print(f"{round_:>5}  {name:<11} {phase.rate:>8.0f} {phase.percentile_ms(0.5):>8.1f} "
              f"{phase.percentile_ms(0.99):>8.1f} {sum(phase.errors.values()):>6} "
              f"{updates if name == 'in the bag' else '-':>18} {drain:>15.2f}")
    for name in ("not in bag", "in the bag"):
        rates = [r[2].rate for r in rows if r[1] == name]
        p99 = [r[2].percentile_ms(0.99) for r in rows if r[1] == name]
        print(f"median {name:<11} {statistics.median(rates):>8.0f} req/s, "
              f"p99 {statistics.median(p99):.1f} ms")


@contextlib.asynccontextmanager
async def sync_worker(env: dict[str, str] | None) -> AsyncIterator[None]:
    """An `o2o worker` (notifications, webhooks, the card bag's sync) while the block runs."""
    if env is None:
        yield
        return
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sync", choices=("server", "worker", "after", "all"), default="all",
                        help="where the card bag's sync runs (default: each in turn)")
    asyncio.run(main(parser.parse_args()))
