"""The chain's money on cards, per quarter hour: the prepaid liability and online top-ups
(PostgreSQL only; SQLite reads the ledger).

Why: the liability at a date's end is the sum of every ledger entry of the chain's cards
before that instant, a few million rows on a busy chain; online top-ups and refunds have
no store, so ``stats_store_day`` cannot hold them. ``stats_money`` keeps, per chain and
quarter hour of UTC time (every zone's offset is a whole number of quarter hours, so a
local midnight is a bucket's start), the sums of ``delta_paid_cents`` and
``delta_bonus_cents``, the change in the number of cards holding money (an entry moves it
by ``(balance_after > 0) - (balance_before > 0)``, so the sum up to an instant is the
count of cards with money then), and the online top-ups (``top_up`` entries with no
store: count and paid money; ``top_up`` and ``top_up_bonus``: bonus money) and refunds
(``refund`` and ``refund_reverted``: money taken back, positive) of each bucket.
``stats_money_day`` adds the first three up per UTC day, so the liability at an instant
is the chain's whole UTC days before it plus that day's quarter hours before it: a few
hundred rows a year of the chain's age, whatever the size of its ledger (measured on 1 M
entries of 50 k cards over two years, every quarter hour busy: 0.3-0.8 ms, against 21-29 ms
summing the quarter hours alone and 360-410 ms reading the ledger).

The same shape as the store rollups (decision 035): a trigger on ``card_ledger`` queues
each entry that moves money into ``stats_money_pending`` (one insert, in the entry's
transaction) and ``stats_money_fold`` moves a batch into the buckets, set-based, under its
own advisory lock (housekeeping every second, and every report before it reads).

``stats_money_rebuild(chain)`` needs no table lock: under the fold's lock it deletes the
chain's buckets, then in ONE statement deletes the queued rows it can see and recomputes
the buckets from the ledger rows it can see. One statement has one snapshot, and an
entry and its queued row commit together, so every entry is counted exactly once: from
the ledger (and its queued row dropped) or later by a fold. Writers never wait for it,
so it cannot deadlock with a writer holding the queue while ``stats_rebuild`` holds
``stats_pending``.

Requires the ledger's paid/bonus columns (the cards migration of issue 19).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats money buckets: liability, online top-ups, refunds"

_LOCK = "hashtextextended('o2o-stats-money-fold', 0)"
_FIGURES = ("paid_cents", "bonus_cents", "cards", "online_top_ups", "online_paid_cents",
            "online_bonus_cents", "refunded_paid_cents", "refunded_bonus_cents")
_INT = ("cards", "online_top_ups")


def _figures(e: str) -> list[str]:
    """The figures of one ledger entry ``e`` (a row or NEW), in _FIGURES order."""
    online = f"{e}.store_id IS NULL"
    refund = f"{e}.kind IN ('refund', 'refund_reverted')"
    return [
        f"{e}.delta_paid_cents",
        f"{e}.delta_bonus_cents",
        f"({e}.balance_after_cents > 0)::int - ({e}.balance_after_cents - {e}.delta_cents > 0)::int",
        f"({e}.kind = 'top_up' AND {online})::int",
        f"CASE WHEN {e}.kind = 'top_up' AND {online} THEN {e}.delta_paid_cents ELSE 0 END",
        f"CASE WHEN {e}.kind IN ('top_up', 'top_up_bonus') AND {online} "
        f"THEN {e}.delta_bonus_cents ELSE 0 END",
        f"CASE WHEN {refund} THEN -{e}.delta_paid_cents ELSE 0 END",
        f"CASE WHEN {refund} THEN -{e}.delta_bonus_cents ELSE 0 END",
    ]


def _bucket(at: str) -> str:
    return f"to_timestamp(floor(extract(epoch FROM {at}) / 900) * 900)"


_COLUMNS = ", ".join(_FIGURES)
_HELD = ("paid_cents", "bonus_cents", "cards")  # what the day rows keep
_UTC_DAY = "(at AT TIME ZONE 'UTC')::date"
_SUMS = ", ".join(f"sum({f})" for f in _FIGURES)
_MOVES = "(l.delta_cents <> 0 OR l.delta_bonus_cents <> 0)"

_UP = (
    "CREATE TABLE stats_money (chain_id uuid NOT NULL, at timestamptz NOT NULL, "
    + ", ".join(f"{f} {'int' if f in _INT else 'bigint'} NOT NULL DEFAULT 0"
                for f in _FIGURES) + ")",
    # The liability's sum reads this index only.
    "CREATE UNIQUE INDEX stats_money_bucket ON stats_money (chain_id, at) "
    "INCLUDE (paid_cents, bonus_cents, cards)",
    "CREATE TABLE stats_money_day (chain_id uuid NOT NULL, day date NOT NULL, "
    "paid_cents bigint NOT NULL DEFAULT 0, bonus_cents bigint NOT NULL DEFAULT 0, "
    "cards int NOT NULL DEFAULT 0, PRIMARY KEY (chain_id, day))",
    "CREATE TABLE stats_money_pending (id bigserial PRIMARY KEY, card_id uuid NOT NULL, "
    "at timestamptz NOT NULL, "
    + ", ".join(f"{f} {'int' if f in _INT else 'bigint'} NOT NULL" for f in _FIGURES) + ")",
    f"""
CREATE OR REPLACE FUNCTION stats_money_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stats_off() THEN RETURN NULL; END IF;
  INSERT INTO stats_money_pending (card_id, at, {_COLUMNS})
  VALUES (NEW.card, NEW.created_at, {", ".join(_figures("NEW"))});
  RETURN NULL;
END $$""",
    # The ledger is append-only: inserts that move money.
    "CREATE TRIGGER stats_money AFTER INSERT ON card_ledger FOR EACH ROW "
    "WHEN (NEW.delta_cents <> 0 OR NEW.delta_bonus_cents <> 0) "
    "EXECUTE FUNCTION stats_money_trg()",
    f"""
CREATE OR REPLACE FUNCTION stats_money_fold(p_limit int, p_wait boolean) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE v_ids bigint[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM stats_money_pending) THEN RETURN 0; END IF;
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock({_LOCK});
  ELSIF NOT pg_try_advisory_xact_lock({_LOCK}) THEN
    RETURN -1;  -- another fold is running
  END IF;
  -- The exact rows taken, not an id range: a lower id may commit after a higher one.
  SELECT array_agg(id) INTO v_ids
    FROM (SELECT id FROM stats_money_pending ORDER BY id LIMIT p_limit) batch;
  IF v_ids IS NULL THEN RETURN 0; END IF;
  INSERT INTO stats_money AS t (chain_id, at, {_COLUMNS})
  SELECT c.chain, {_bucket("p.at")}, {", ".join(f"sum(p.{f})" for f in _FIGURES)}
    FROM stats_money_pending p JOIN card c ON c.id = p.card_id
   WHERE p.id = ANY(v_ids)
   GROUP BY 1, 2
  ON CONFLICT (chain_id, at) DO UPDATE SET
  {", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in _FIGURES)};
  INSERT INTO stats_money_day AS t (chain_id, day, {", ".join(_HELD)})
  SELECT c.chain, (p.at AT TIME ZONE 'UTC')::date, {", ".join(f"sum(p.{f})" for f in _HELD)}
    FROM stats_money_pending p JOIN card c ON c.id = p.card_id
   WHERE p.id = ANY(v_ids)
   GROUP BY 1, 2
  ON CONFLICT (chain_id, day) DO UPDATE SET
  {", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in _HELD)};
  DELETE FROM stats_money_pending WHERE id = ANY(v_ids);
  RETURN cardinality(v_ids);
END $$""",
    f"""
CREATE OR REPLACE FUNCTION stats_money_rebuild(p_chain uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({_LOCK});
  DELETE FROM stats_money WHERE p_chain IS NULL OR chain_id = p_chain;
  DELETE FROM stats_money_day WHERE p_chain IS NULL OR chain_id = p_chain;
  WITH dropped AS (
    DELETE FROM stats_money_pending p
     WHERE p_chain IS NULL OR p.card_id IN (SELECT id FROM card WHERE chain = p_chain)
  )
  INSERT INTO stats_money (chain_id, at, {_COLUMNS})
  SELECT chain_id, at, {_SUMS}
    FROM (SELECT c.chain AS chain_id, {_bucket("l.created_at")} AS at,
                 {", ".join(f"{x} AS {f}" for x, f in zip(_figures("l"), _FIGURES,
                                                           strict=True))}
            FROM card_ledger l JOIN card c ON c.id = l.card
           WHERE {_MOVES} AND (p_chain IS NULL OR c.chain = p_chain)) e
   GROUP BY chain_id, at;
  INSERT INTO stats_money_day (chain_id, day, {", ".join(_HELD)})
  SELECT chain_id, {_UTC_DAY}, {", ".join(f"sum({f})" for f in _HELD)} FROM stats_money
   WHERE p_chain IS NULL OR chain_id = p_chain
   GROUP BY 1, 2;
END $$""",
    "SELECT stats_money_rebuild(NULL)",
)

_DOWN = (
    "DROP TRIGGER stats_money ON card_ledger",
    "DROP FUNCTION stats_money_trg()",
    "DROP FUNCTION stats_money_fold(int, boolean)",
    "DROP FUNCTION stats_money_rebuild(uuid)",
    "DROP TABLE stats_money_pending",
    "DROP TABLE stats_money_day",
    "DROP TABLE stats_money",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stats", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN, engine_type="postgres"))
    return manager
