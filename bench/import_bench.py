"""Member import of 100,000 rows on PostgreSQL (issue 18: under 2 minutes).

    .venv/bin/python bench/import_bench.py [--rows 100000] [--keep]

On the server `O2O_BENCH_POSTGRES_URL` names (else `O2O_TEST_POSTGRES_URL`, else
postgresql://postgres@127.0.0.1:5432/test; only its host, port and user are used) it makes
a fresh database, migrates it, creates a chain with three card templates, and writes a
CSV of `--rows` members: a third with a stored-value card (balance and points), a third
with a times card (visits), a sixth with a membership card and a sixth without a card;
all with a phone and a birthday. Then, each through `o2o import members` (the command an
operator runs, the same service as POST /imports/members), it times:

- the dry run (read and check only),
- the import (one write transaction: members, cards, opening_balance entries, events),
- the same file again (must change nothing),

and runs `o2o verify-ledger` over every card. The figures go to stdout, progress to
stderr; the database is dropped afterwards (`--keep` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
LIMIT_S = 120.0


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env.update(O2O_DATABASE_URL=url, O2O_SECRET_KEY=SECRET, O2O_ENV="development")
    return env


def o2o(env: dict[str, str], *args: str) -> tuple[str, float]:
    """Run an `o2o` command; its stdout and its wall time. Its stderr (the progress bar)
    passes through."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, text=True, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"o2o {' '.join(args)} failed ({done.returncode})")
    return done.stdout, took


async def templates(url: str, chain_id: uuid.UUID) -> dict[str, uuid.UUID]:
    from app.core.auth import Principal
    from app.core.commands import bound_engine
    from app.core.settings import Settings
    from cards import service
    from cards.schemas import TemplateCreate, Tier

    os.environ.update(env_for(url))
    os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
    operator = Principal(kind="staff", id=uuid.UUID(int=0), chain_id=chain_id,
                         role="operator")
    async with bound_engine(Settings.from_env()):
        prepaid = await service.create_template(operator, TemplateCreate(
            name="Prepaid", kind="stored_value", points_per_yuan=1,
            tiers=[Tier(name="Silver", min_points=1000), Tier(name="Gold", min_points=5000)]))
        times = await service.create_template(operator, TemplateCreate(
            name="Ten visits", kind="times", initial_visits=10))
        plain = await service.create_template(operator, TemplateCreate(
            name="Member", kind="membership", points_per_yuan=2))
    return {"prepaid": prepaid.id, "times": times.id, "plain": plain.id}


def write_file(path: Path, rows: int, t: dict[str, uuid.UUID]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("external_id,name,phone,birthday,card_template_id,"
                  "opening_balance_cents,opening_points,opening_visits\r\n")
        for n in range(rows):
            birthday = f"{1950 + n % 55}-{1 + n % 12:02d}-{1 + n % 28:02d}"
            head = f"ERP-{n:07d},Member {n},+86139{n:08d},{birthday}"
            match n % 6:
                case 0 | 1:
                    card = f"{t['prepaid']},{(n * 37) % 500_000},{(n * 7) % 8000},"
                case 2 | 3:
                    card = f"{t['times']},,,{n % 11}"
                case 4:
                    card = f"{t['plain']},,{n % 300},"
                case _:
                    card = ",,,"
            out.write(f"{head},{card}\r\n")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    admin = (os.environ.get("O2O_BENCH_POSTGRES_URL")
             or os.environ.get("O2O_TEST_POSTGRES_URL") or DEFAULT_PG_URL)
    database = f"o2o_import_bench_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{database}"))
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{database}"')
    await conn.close()
    try:
        env = env_for(url)
        o2o(env, "migrate")
        made, _ = o2o(env, "create-operator", "--chain", "Import bench", "--username",
                      "bench-operator", "--password", "bench-password-2026")
        chain_id = uuid.UUID(json.loads(made)["chain_id"])
        t = await templates(url, chain_id)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "members.csv"
            write_file(path, args.rows, t)
            size = path.stat().st_size
            log(f"{args.rows:,} rows, {size / 1e6:.1f} MB: {path}")
            command = ("import", "members", str(path), "--chain", str(chain_id))
            out, dry_s = o2o(env, *command, "--dry-run")
            dry = json.loads(out)
            out, import_s = o2o(env, *command)
            first = json.loads(out)
            out, again_s = o2o(env, *command)
            again = json.loads(out)
        checked, verify_s = o2o(env, "verify-ledger")
        expected_cards = args.rows - args.rows // 6
        assert dry["members_created"] == first["members_created"] == args.rows, (dry, first)
        assert first["cards_created"] == dry["cards_created"] >= expected_cards - 1, first
        assert (again["members_created"], again["members_updated"],
                again["cards_created"]) == (0, 0, 0), again
        verified = json.loads(checked)
        assert verified["mismatches"] == 0, verified
        counts = await _counts(url)
        print(f"member import on PostgreSQL, {args.rows:,} rows ({size / 1e6:.1f} MB), "
              f"{first['cards_created']:,} cards")
        print(f"  dry run          {dry_s:7.1f} s  {args.rows / dry_s:9,.0f} rows/s")
        print(f"  import           {import_s:7.1f} s  {args.rows / import_s:9,.0f} rows/s"
              f"  ({'under' if import_s < LIMIT_S else 'OVER'} the {LIMIT_S:.0f} s bar)")
        print(f"  same file again  {again_s:7.1f} s  {args.rows / again_s:9,.0f} rows/s"
              "  (changed nothing)")
        print(f"  verify-ledger    {verify_s:7.1f} s  {verified['cards_checked']:,} cards, "
              "0 mismatches")
        print(f"  written: {', '.join(f'{n:,} {k}' for k, n in counts.items())}")
    finally:
        if not args.keep:
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await conn.close()
        else:
            log(f"kept {url}")


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
                for table in ("member", "card", "card_ledger", "core_event")}
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
