"""The stats triggers queue their figures; a fold moves them into the rollups in batches
(PostgreSQL only, where the triggers are).

Why: a redemption's trigger did a member's activity in the request's own transaction: an
advisory lock of the member, an update of their store day and chain day (a dozen
statements on their first visit of a day), a store lookup for the local day and the
counter upsert: half of PostgreSQL's work per redemption, on the path the clerk waits
for. Now every trigger that moved ``stats_store_day`` or a member's activity inserts one
row into ``stats_pending`` (what changed, where, when, by whom) and nothing else.
``stats_fold`` takes a batch of those rows and applies them set-based: one upsert of the
store days it touches, and one ``stats_activity_add`` per member, store and local day
with the batch's net change. The vouchers' issue days (``stats_voucher_day``, one row per
zone of the chain) are kept as they were, at once: they are not on a hot path.

Who folds: every server process every second (``Housekeeping``), and every stats report
before it reads (``app.stats.service``), so a report counts every event committed before
it was asked, as before. One fold at a time (a transaction-scoped advisory lock); a
housekeeping fold that finds another running skips its turn.

A batch may split an event's two rows (an update queues the old row's figures negated
and the new row's): the rollups pass through the state in between and end where one fold
would have; the fold's per-member ``stats_activity_add`` keeps the links and cohorts
exact for any delta. ``stats_rebuild`` now takes the fold's lock and then the queue in
EXCLUSIVE mode before the rollups (that order for every taker: no deadlock), drops the
queued rows of what it rebuilds, and recomputes from the events as before.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl
from app.stats.piccolo_migrations.stats_2026_11_22t03_25_00_000000 import (
    _FIGURES,
    _REBUILD,
)
from app.stats.piccolo_migrations.stats_2026_11_22t03_25_00_000000 import (
    _FUNCTIONS as _OLD_FUNCTIONS,
)

ID = "2026-12-01T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats pending queue and fold"

_QUEUED = tuple(f for f in _FIGURES if f != "active_members")
_MONEY = ("redemption_value_cents", "top_up_cents")
_FOLD_LOCK = "hashtextextended('o2o-stats-fold', 0)"

_TABLE = (
    "CREATE TABLE stats_pending (id bigserial PRIMARY KEY, store_id uuid NOT NULL, "
    # member_id: whose activity the row moves (active = +1/-1), NULL for none.
    "member_id uuid, at timestamptz NOT NULL, active int NOT NULL DEFAULT 0, "
    + ", ".join(f"{f} {'bigint' if f in _MONEY else 'int'} NOT NULL DEFAULT 0"
                for f in _QUEUED)
    + ")"
)

_REDEMPTION_QUEUE = """
CREATE OR REPLACE FUNCTION stats_redemption_queue(r redemption, p_sign int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF r.reversed_at IS NOT NULL THEN RETURN; END IF;
  INSERT INTO stats_pending (store_id, member_id, at, active, redemptions,
                             redemption_value_cents, card_redemptions, voucher_redemptions,
                             booking_redemptions)
  VALUES (r.store, r.member_id, r.created_at, p_sign, p_sign,
          p_sign * (r.charged_cents + r.discount_cents),
          CASE WHEN r.kind = 'card' THEN p_sign ELSE 0 END,
          CASE WHEN r.kind = 'voucher' THEN p_sign ELSE 0 END,
          CASE WHEN r.kind = 'booking' THEN p_sign ELSE 0 END);
END $$"""

_BOOKING_QUEUE = """
CREATE OR REPLACE FUNCTION stats_booking_queue(b booking, p_sign int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_pending (store_id, member_id, at, active, bookings, bookings_checked_in,
                             bookings_completed, bookings_cancelled, bookings_no_show)
  VALUES (b.store, b.member, b.start_at, p_sign, p_sign,
          CASE WHEN b.status = 'checked_in' THEN p_sign ELSE 0 END,
          CASE WHEN b.status = 'completed' THEN p_sign ELSE 0 END,
          CASE WHEN b.status = 'cancelled' THEN p_sign ELSE 0 END,
          CASE WHEN b.status = 'no_show' THEN p_sign ELSE 0 END);
END $$"""


def _row_trigger(name: str, queue: str) -> str:
    """A trigger function queuing the old row negated and the new row (an update: both;
    the fold nets them)."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stats_off() THEN RETURN NULL; END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM {queue}(OLD, -1); END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM {queue}(NEW, 1); END IF;
  RETURN NULL;
END $$"""


def _counted_trigger(name: str, store: str, figure: str) -> str:
    """A trigger function queuing one count of ``figure`` at the row's ``store``."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stats_off() THEN RETURN NULL; END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.{store} IS NOT NULL THEN
    INSERT INTO stats_pending (store_id, at, {figure}) VALUES (OLD.{store}, OLD.created_at, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.{store} IS NOT NULL THEN
    INSERT INTO stats_pending (store_id, at, {figure}) VALUES (NEW.{store}, NEW.created_at, 1);
  END IF;
  RETURN NULL;
END $$"""


# The ledger is append-only: only inserts count (the trigger's WHEN picks top-ups).
_TOP_UP = """
CREATE OR REPLACE FUNCTION stats_top_up_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stats_off() THEN RETURN NULL; END IF;
  INSERT INTO stats_pending (store_id, at, top_ups, top_up_cents)
  VALUES (NEW.store_id, NEW.created_at, 1, NEW.delta_cents);
  RETURN NULL;
END $$"""

_LOCAL_DAY = "(p.at AT TIME ZONE s.timezone)::date"
_FOLD = f"""
CREATE OR REPLACE FUNCTION stats_fold(p_limit int, p_wait boolean) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE v_ids bigint[]; g record; v_active int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM stats_pending) THEN RETURN 0; END IF;
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock({_FOLD_LOCK});
  ELSIF NOT pg_try_advisory_xact_lock({_FOLD_LOCK}) THEN
    RETURN -1;  -- another fold is running
  END IF;
  -- The exact rows taken, not an id range: a lower id may commit after a higher one.
  SELECT array_agg(id) INTO v_ids
    FROM (SELECT id FROM stats_pending ORDER BY id LIMIT p_limit) batch;
  IF v_ids IS NULL THEN RETURN 0; END IF;
  FOR g IN
    SELECT s.chain AS chain_id, p.store_id, p.member_id, {_LOCAL_DAY} AS day,
           sum(p.active)::int AS delta
      FROM stats_pending p JOIN store s ON s.id = p.store_id
     WHERE p.id = ANY(v_ids) AND p.member_id IS NOT NULL
     GROUP BY 1, 2, 3, 4 HAVING sum(p.active) <> 0
     ORDER BY 3, 2, 4
  LOOP
    v_active := stats_activity_add(g.chain_id, g.store_id, g.member_id, g.day, g.delta);
    IF v_active <> 0 THEN
      PERFORM stats_bump(g.store_id, g.day, d_active_members => v_active);
    END IF;
  END LOOP;
  INSERT INTO stats_store_day AS t (id, store_id, day, shard, {", ".join(_QUEUED)})
  SELECT gen_random_uuid(), p.store_id, {_LOCAL_DAY}, 0,
         {", ".join(f"sum(p.{f})" for f in _QUEUED)}
    FROM stats_pending p JOIN store s ON s.id = p.store_id
   WHERE p.id = ANY(v_ids)
   GROUP BY p.store_id, {_LOCAL_DAY}
  ON CONFLICT (store_id, day, shard) DO UPDATE SET
  {", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in _QUEUED)};
  DELETE FROM stats_pending WHERE id = ANY(v_ids);
  RETURN cardinality(v_ids);
END $$"""

# The rebuild recomputes from the events what the queue would have added: it drops the
# queued rows it covers, with writers held off the queue until it commits.
_REBUILD_HEAD = "BEGIN\n  IF p_chain IS NULL THEN"
assert _REBUILD.count(_REBUILD_HEAD) == 1
_NEW_REBUILD = _REBUILD.replace(_REBUILD_HEAD, f"""BEGIN
  PERFORM pg_advisory_xact_lock({_FOLD_LOCK});
  LOCK TABLE stats_pending IN EXCLUSIVE MODE;
  DELETE FROM stats_pending p
   WHERE p_chain IS NULL OR p.store_id IN (SELECT id FROM store WHERE chain = p_chain);
  IF p_chain IS NULL THEN""")

_UP = (
    _TABLE,
    _REDEMPTION_QUEUE,
    _BOOKING_QUEUE,
    _row_trigger("stats_redemption_trg", "stats_redemption_queue"),
    _row_trigger("stats_booking_trg", "stats_booking_queue"),
    _counted_trigger("stats_member_trg", "registered_store", "members_new"),
    _counted_trigger("stats_card_trg", "issued_store", "cards_issued"),
    _TOP_UP,
    _FOLD,
    _NEW_REBUILD,
    "DROP FUNCTION stats_redemption_apply(redemption, int)",
    "DROP FUNCTION stats_booking_apply(booking, int)",
)


def _old(name: str) -> str:
    return next(f for f in _OLD_FUNCTIONS if f"FUNCTION {name}(" in f)


_DOWN = (
    *(_old(name) for name in (
        "stats_redemption_apply", "stats_booking_apply", "stats_redemption_trg",
        "stats_booking_trg", "stats_member_trg", "stats_card_trg", "stats_top_up_trg")),
    _REBUILD,
    "DROP FUNCTION stats_fold(int, boolean)",
    "DROP FUNCTION stats_redemption_queue(redemption, int)",
    "DROP FUNCTION stats_booking_queue(booking, int)",
    "DROP TABLE stats_pending",
    "SELECT stats_rebuild(NULL)",  # what the queue held, from the events
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stats", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN, engine_type="postgres"))
    return manager
