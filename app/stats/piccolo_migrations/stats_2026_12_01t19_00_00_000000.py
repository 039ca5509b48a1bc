"""The stats triggers queue their figures; a fold moves them into the rollups in batches
(PostgreSQL only, where the triggers are).

Why: a redemption's trigger did a member's activity in the request's own transaction: an
advisory lock of the member, an update of their store day and chain day (a dozen
statements on their first visit of a day), a store lookup for the local day and the
counter upsert: half of PostgreSQL's work per redemption, on the path the clerk waits
for. Now every trigger that moved ``stats_store_day`` or a member's activity inserts one
row into ``stats_pending`` (what changed, where, when, by whom) and nothing else.
``stats_fold`` takes a batch of those rows and applies it: per member, store and local
day one ``stats_link`` with the batch's net change (the member's own activity rows and
their links), then every counter row it touches written once, set-based (store days,
chain days, cohorts). The vouchers' issue days (``stats_voucher_day``, one row per zone of
the chain) are kept as they were, at once: they are not on a hot path.

Who folds: every server process every second (``Housekeeping``), and every stats report
before it reads (``app.stats.service``), so a report counts every event committed before
it was asked, as before. One fold at a time (a transaction-scoped advisory lock); a
housekeeping fold that finds another running skips its turn.

A batch may split an event's two rows (an update queues the old row's figures negated
and the new row's): the rollups pass through the state in between and end where one fold
would have; ``stats_link`` keeps the links and cohorts exact for any delta. Only the
fold changes a member's activity now, so its one lock replaces the per-member advisory
locks (a batch of 5,000 new member-days took as many, near the default lock table's
size). ``stats_rebuild`` now takes the fold's lock and then the queue in
EXCLUSIVE mode before the rollups (that order for every taker: no deadlock), drops the
queued rows of what it rebuilds, and recomputes from the events as before.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl
ID = "2026-12-01T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats pending queue and fold"

_QUEUED = (
    "members_new",
    "cards_issued",
    "redemptions",
    "redemption_value_cents",
    "card_redemptions",
    "voucher_redemptions",
    "booking_redemptions",
    "top_ups",
    "top_up_cents",
    "bookings",
    "bookings_checked_in",
    "bookings_completed",
    "bookings_cancelled",
    "bookings_no_show",
)
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

# A member's day in one scope: +delta events, keeping the prev/next links. Returns 0 (no
# change), 1 / -1 (the day became / stopped being active), 2 / -2 (and it was the first /
# last active day of its month: the cohorts move). It changes only the member's own
# activity rows; the fold writes every counter row once per batch from what these return
# (a counter row bumped once per member in one transaction gathers a dead version per
# bump that every later bump walks: quadratic). The fold's lock serialises all callers.
_LINK = """
CREATE OR REPLACE FUNCTION stats_link(p_scope uuid, p_member uuid, p_day date, p_delta int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE v_events int; v_prev date; v_next date; v_month date := date_trunc('month', p_day);
BEGIN
  UPDATE stats_activity SET events = events + p_delta
   WHERE scope_id = p_scope AND member_id = p_member AND day = p_day
  RETURNING events, prev_day, next_day INTO v_events, v_prev, v_next;
  IF FOUND THEN
    IF v_events > 0 THEN RETURN 0; END IF;
    DELETE FROM stats_activity
     WHERE scope_id = p_scope AND member_id = p_member AND day = p_day;
    UPDATE stats_activity SET next_day = v_next
     WHERE scope_id = p_scope AND member_id = p_member AND day = v_prev;
    UPDATE stats_activity SET prev_day = v_prev
     WHERE scope_id = p_scope AND member_id = p_member AND day = v_next;
    IF date_trunc('month', v_prev) <> v_month AND date_trunc('month', v_next) <> v_month THEN
      RETURN -2;
    END IF;
    RETURN -1;
  END IF;
  IF p_delta <= 0 THEN RETURN 0; END IF;
  SELECT coalesce(max(day), DATE '0001-01-01') INTO v_prev FROM stats_activity
   WHERE scope_id = p_scope AND member_id = p_member AND day < p_day;
  SELECT coalesce(min(day), DATE '9999-12-31') INTO v_next FROM stats_activity
   WHERE scope_id = p_scope AND member_id = p_member AND day > p_day;
  INSERT INTO stats_activity (id, scope_id, member_id, day, events, prev_day, next_day)
  VALUES (gen_random_uuid(), p_scope, p_member, p_day, p_delta, v_prev, v_next);
  UPDATE stats_activity SET next_day = p_day
   WHERE scope_id = p_scope AND member_id = p_member AND day = v_prev;
  UPDATE stats_activity SET prev_day = p_day
   WHERE scope_id = p_scope AND member_id = p_member AND day = v_next;
  IF date_trunc('month', v_prev) <> v_month AND date_trunc('month', v_next) <> v_month THEN
    RETURN 2;
  END IF;
  RETURN 1;
END $$"""

_LOCAL_DAY = "(p.at AT TIME ZONE s.timezone)::date"
_ZERO_QUEUED = ", ".join("0" for _ in _QUEUED)
# A member's cohort: their joining month, local to the store they joined at, else to the
# chain's first store (as the rebuild counts it).
_COHORT = """date_trunc('month', m.created_at AT TIME ZONE coalesce(s.timezone,
             (SELECT h.timezone FROM store h WHERE h.chain = m.chain
               ORDER BY h.created_at, h.id LIMIT 1), 'UTC'))::date"""
_FOLD = f"""
CREATE OR REPLACE FUNCTION stats_fold(p_limit int, p_wait boolean) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_ids bigint[]; g record; v_store int; v_chain int;
  -- what the members' days changed: active members per store-day and chain-day, and
  -- cohort months per scope and member
  a_store uuid[] := '{{}}'; a_store_day date[] := '{{}}'; a_store_delta int[] := '{{}}';
  a_chain uuid[] := '{{}}'; a_chain_day date[] := '{{}}'; a_chain_delta int[] := '{{}}';
  h_scope uuid[] := '{{}}'; h_member uuid[] := '{{}}'; h_month date[] := '{{}}';
  h_delta int[] := '{{}}';
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
    v_store := stats_link(g.store_id, g.member_id, g.day, g.delta);
    v_chain := stats_link(g.chain_id, g.member_id, g.day, g.delta);
    IF v_store <> 0 THEN
      a_store := a_store || g.store_id; a_store_day := a_store_day || g.day;
      a_store_delta := a_store_delta || sign(v_store)::int;
    END IF;
    IF v_chain <> 0 THEN
      a_chain := a_chain || g.chain_id; a_chain_day := a_chain_day || g.day;
      a_chain_delta := a_chain_delta || sign(v_chain)::int;
    END IF;
    IF abs(v_store) = 2 THEN
      h_scope := h_scope || g.store_id; h_member := h_member || g.member_id;
      h_month := h_month || date_trunc('month', g.day)::date;
      h_delta := h_delta || sign(v_store)::int;
    END IF;
    IF abs(v_chain) = 2 THEN
      h_scope := h_scope || g.chain_id; h_member := h_member || g.member_id;
      h_month := h_month || date_trunc('month', g.day)::date;
      h_delta := h_delta || sign(v_chain)::int;
    END IF;
  END LOOP;
  -- Each counter row once per batch.
  INSERT INTO stats_store_day AS t (id, store_id, day, shard, {", ".join(_QUEUED)},
                                    active_members)
  SELECT gen_random_uuid(), f.store_id, f.day, 0,
         {", ".join(f"sum(f.{q})" for q in _QUEUED)}, sum(f.active_members)
    FROM (SELECT p.store_id, {_LOCAL_DAY} AS day, {", ".join(f"p.{q}" for q in _QUEUED)},
                 0 AS active_members
            FROM stats_pending p JOIN store s ON s.id = p.store_id
           WHERE p.id = ANY(v_ids)
          UNION ALL
          SELECT a.store_id, a.day, {_ZERO_QUEUED}, a.delta
            FROM unnest(a_store, a_store_day, a_store_delta) a (store_id, day, delta)) f
   GROUP BY f.store_id, f.day
  ON CONFLICT (store_id, day, shard) DO UPDATE SET
  {", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in _QUEUED)},
  active_members = t.active_members + EXCLUDED.active_members;
  INSERT INTO stats_chain_day AS t (id, chain_id, day, shard, active_members)
  SELECT gen_random_uuid(), a.chain_id, a.day, 0, sum(a.delta)
    FROM unnest(a_chain, a_chain_day, a_chain_delta) a (chain_id, day, delta)
   GROUP BY a.chain_id, a.day
  ON CONFLICT (chain_id, day, shard)
  DO UPDATE SET active_members = t.active_members + EXCLUDED.active_members;
  -- The chain's cohorts count every member, a store's those who joined there.
  INSERT INTO stats_cohort AS t (id, scope_id, cohort, month, shard, active)
  SELECT gen_random_uuid(), h.scope_id, {_COHORT}, h.month, 0, sum(h.delta)
    FROM unnest(h_scope, h_member, h_month, h_delta) h (scope_id, member_id, month, delta)
    JOIN member m ON m.id = h.member_id
                 AND (m.chain = h.scope_id OR m.registered_store = h.scope_id)
    LEFT JOIN store s ON s.id = m.registered_store
   GROUP BY 2, 3, 4
  ON CONFLICT (scope_id, cohort, month, shard) DO UPDATE SET active = t.active + EXCLUDED.active;
  DELETE FROM stats_pending WHERE id = ANY(v_ids);
  RETURN cardinality(v_ids);
END $$"""

# The rebuild recomputes from the events what the queue would have added: it drops the
# queued rows it covers, with writers held off the queue until it commits. Written out
# whole (issue 16): stats_2026_11_22t03_25_00_000000's body with the lines after its
# BEGIN that take the fold's lock and the queue; a migration never imports another.
_NEW_REBUILD = """
CREATE OR REPLACE FUNCTION stats_rebuild(p_chain uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('o2o-stats-fold', 0));
  LOCK TABLE stats_pending IN EXCLUSIVE MODE;
  DELETE FROM stats_pending p
   WHERE p_chain IS NULL OR p.store_id IN (SELECT id FROM store WHERE chain = p_chain);
  IF p_chain IS NULL THEN
    LOCK TABLE stats_store_day, stats_activity, stats_chain_day, stats_voucher_day,
      stats_cohort IN ACCESS EXCLUSIVE MODE;
    TRUNCATE stats_store_day, stats_activity, stats_chain_day, stats_voucher_day, stats_cohort;
  ELSE
    LOCK TABLE stats_store_day, stats_activity, stats_chain_day, stats_voucher_day,
      stats_cohort IN EXCLUSIVE MODE;
    DELETE FROM stats_store_day WHERE store_id IN (SELECT id FROM store WHERE chain = p_chain);
    DELETE FROM stats_activity
     WHERE scope_id = p_chain OR scope_id IN (SELECT id FROM store WHERE chain = p_chain);
    DELETE FROM stats_chain_day WHERE chain_id = p_chain;
    DELETE FROM stats_cohort
     WHERE scope_id = p_chain OR scope_id IN (SELECT id FROM store WHERE chain = p_chain);
  END IF;
  PERFORM stats_rebuild_vouchers(p_chain);

  INSERT INTO stats_activity (id, scope_id, member_id, day, events, prev_day, next_day)
  WITH events AS (
    SELECT s.chain AS chain_id, r.store AS store_id, r.member_id,
           (r.created_at AT TIME ZONE s.timezone)::date AS day
      FROM redemption r JOIN store s ON s.id = r.store
     WHERE r.reversed_at IS NULL AND r.member_id IS NOT NULL
       AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT s.chain, b.store, b.member, (b.start_at AT TIME ZONE s.timezone)::date
      FROM booking b JOIN store s ON s.id = b.store
     WHERE p_chain IS NULL OR s.chain = p_chain
  ), per_store AS (
    SELECT chain_id, store_id, member_id, day, count(*)::int AS events
      FROM events GROUP BY chain_id, store_id, member_id, day
  ), scoped AS (
    SELECT store_id AS scope_id, member_id, day, events FROM per_store
    UNION ALL
    SELECT chain_id, member_id, day, sum(events)::int FROM per_store
     GROUP BY chain_id, member_id, day
  )
  SELECT gen_random_uuid(), scope_id, member_id, day, events,
         coalesce(lag(day) OVER w, DATE '0001-01-01'),
         coalesce(lead(day) OVER w, DATE '9999-12-31')
    FROM scoped WINDOW w AS (PARTITION BY scope_id, member_id ORDER BY day);

  INSERT INTO stats_store_day (id, store_id, day, shard, members_new, cards_issued, redemptions, redemption_value_cents, card_redemptions, voucher_redemptions, booking_redemptions, top_ups, top_up_cents, bookings, bookings_checked_in, bookings_completed, bookings_cancelled, bookings_no_show, active_members)
  WITH figures AS (
    SELECT m.registered_store AS store_id, (m.created_at AT TIME ZONE s.timezone)::date AS day,
           1::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0 AS active_members
      FROM member m JOIN store s ON s.id = m.registered_store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT c.issued_store, (c.created_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 1::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0
      FROM card c JOIN store s ON s.id = c.issued_store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT l.store_id, (l.created_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 1::int AS top_ups, l.delta_cents::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0
      FROM card_ledger l JOIN store s ON s.id = l.store_id
     WHERE l.kind = 'top_up' AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT r.store, (r.created_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 0::int AS cards_issued, 1::int AS redemptions, r.charged_cents + r.discount_cents::bigint AS redemption_value_cents, (r.kind = 'card')::int::int AS card_redemptions, (r.kind = 'voucher')::int::int AS voucher_redemptions, (r.kind = 'booking')::int::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0
      FROM redemption r JOIN store s ON s.id = r.store
     WHERE r.reversed_at IS NULL AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT b.store, (b.start_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 1::int AS bookings, (b.status = 'checked_in')::int::int AS bookings_checked_in, (b.status = 'completed')::int::int AS bookings_completed, (b.status = 'cancelled')::int::int AS bookings_cancelled, (b.status = 'no_show')::int::int AS bookings_no_show, 0
      FROM booking b JOIN store s ON s.id = b.store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT a.scope_id, a.day, 0::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 1
      FROM stats_activity a JOIN store s ON s.id = a.scope_id
     WHERE p_chain IS NULL OR s.chain = p_chain
  )
  SELECT gen_random_uuid(), store_id, day, 0, sum(members_new), sum(cards_issued), sum(redemptions), sum(redemption_value_cents), sum(card_redemptions), sum(voucher_redemptions), sum(booking_redemptions), sum(top_ups), sum(top_up_cents), sum(bookings), sum(bookings_checked_in), sum(bookings_completed), sum(bookings_cancelled), sum(bookings_no_show), sum(active_members)
    FROM figures GROUP BY store_id, day;

  INSERT INTO stats_chain_day (id, chain_id, day, shard, active_members)
  SELECT gen_random_uuid(), a.scope_id, a.day, 0, count(*)::int
    FROM stats_activity a JOIN chain c ON c.id = a.scope_id
   WHERE p_chain IS NULL OR c.id = p_chain
   GROUP BY a.scope_id, a.day;

  INSERT INTO stats_cohort (id, scope_id, cohort, month, shard, active)
  WITH members AS (
    SELECT m.id, m.chain, m.registered_store,
           date_trunc('month', m.created_at AT TIME ZONE coalesce(s.timezone,
             (SELECT h.timezone FROM store h WHERE h.chain = m.chain
               ORDER BY h.created_at, h.id LIMIT 1), 'UTC'))::date AS cohort
      FROM member m LEFT JOIN store s ON s.id = m.registered_store
     WHERE p_chain IS NULL OR m.chain = p_chain
  )
  SELECT gen_random_uuid(), a.scope_id, m.cohort, date_trunc('month', a.day)::date, 0,
         count(*)::int
    FROM stats_activity a JOIN members m ON m.id = a.member_id
   WHERE a.prev_day < date_trunc('month', a.day)
     AND (a.scope_id = m.chain OR a.scope_id = m.registered_store)
   GROUP BY 2, 3, 4;
END $$"""

_UP = (
    _TABLE,
    _REDEMPTION_QUEUE,
    _BOOKING_QUEUE,
    _row_trigger("stats_redemption_trg", "stats_redemption_queue"),
    _row_trigger("stats_booking_trg", "stats_booking_queue"),
    _counted_trigger("stats_member_trg", "registered_store", "members_new"),
    _counted_trigger("stats_card_trg", "issued_store", "cards_issued"),
    _TOP_UP,
    # A member's day is found by (scope_id, member_id, day). While the planner's figures
    # for stats_activity are stale (a new database; a batch of new member-days that
    # ANALYZE has not seen yet) it cannot tell the key from an index on (scope_id, day)
    # that holds member_id only as a payload, took that one, and read every member of
    # the scope's day per statement: 1 ms each with 2,800 members on a day, 92 folded
    # rows/s (bench/stats_triggers_bench.py --members 20000). With member_id in that
    # index's key, either index finds the row at once; the range counts read it as before.
    # And a plan made once for any member (a generic plan) could not tell either of them
    # from a third one, on scope_id and prev_day, that reads the whole scope: stats_link's
    # statements are planned for each call, with the table's size as it is then.
    "DROP INDEX stats_activity_by_day",
    "CREATE INDEX stats_activity_by_day ON stats_activity (scope_id, day, member_id) "
    "INCLUDE (prev_day, next_day)",
    _LINK,
    "ALTER FUNCTION stats_link(uuid, uuid, date, int) SET plan_cache_mode = force_custom_plan",
    _FOLD,
    _NEW_REBUILD,
    # What kept the rollups one event at a time, unused now.
    "DROP FUNCTION stats_redemption_apply(redemption, int)",
    "DROP FUNCTION stats_booking_apply(booking, int)",
    "DROP FUNCTION stats_activity_add(uuid, uuid, uuid, date, int)",
    "DROP FUNCTION stats_touch(uuid, uuid, date, int)",
    "DROP FUNCTION stats_cohort_bump(uuid, uuid, date, int)",
)


# What stats_2026_11_22t03_25_00_000000 defined and this migration replaces or drops,
# as it was there: the functions that kept the rollups one event at a time, and the
# rebuild without the queue.
_OLD_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION stats_cohort_bump(p_scope uuid, p_member uuid, p_day date,
                                                    p_delta int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE v_cohort date;
    BEGIN
      SELECT date_trunc('month', m.created_at AT TIME ZONE coalesce(s.timezone,
               (SELECT h.timezone FROM store h WHERE h.chain = m.chain
                 ORDER BY h.created_at, h.id LIMIT 1), 'UTC'))::date
        INTO v_cohort
        FROM member m LEFT JOIN store s ON s.id = m.registered_store
       WHERE m.id = p_member AND (m.chain = p_scope OR m.registered_store = p_scope);
      IF v_cohort IS NULL THEN RETURN; END IF;
      INSERT INTO stats_cohort AS t (id, scope_id, cohort, month, shard, active)
      VALUES (gen_random_uuid(), p_scope, v_cohort, date_trunc('month', p_day)::date,
              (txid_current() % 8)::int, p_delta)
      ON CONFLICT (scope_id, cohort, month, shard)
      DO UPDATE SET active = t.active + EXCLUDED.active;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_touch(p_scope uuid, p_member uuid, p_day date,
                                              p_delta int)
    RETURNS int LANGUAGE plpgsql AS $$
    DECLARE v_events int; v_prev date; v_next date;
    BEGIN
      UPDATE stats_activity SET events = events + p_delta
       WHERE scope_id = p_scope AND member_id = p_member AND day = p_day
      RETURNING events, prev_day, next_day INTO v_events, v_prev, v_next;
      IF FOUND THEN
        IF v_events > 0 THEN RETURN 0; END IF;
        DELETE FROM stats_activity
         WHERE scope_id = p_scope AND member_id = p_member AND day = p_day;
        UPDATE stats_activity SET next_day = v_next
         WHERE scope_id = p_scope AND member_id = p_member AND day = v_prev;
        UPDATE stats_activity SET prev_day = v_prev
         WHERE scope_id = p_scope AND member_id = p_member AND day = v_next;
        IF date_trunc('month', v_prev) <> date_trunc('month', p_day)
           AND date_trunc('month', v_next) <> date_trunc('month', p_day) THEN
          PERFORM stats_cohort_bump(p_scope, p_member, p_day, -1);  -- the month's last day
        END IF;
        RETURN -1;
      END IF;
      IF p_delta <= 0 THEN RETURN 0; END IF;
      SELECT max(day) INTO v_prev FROM stats_activity
       WHERE scope_id = p_scope AND member_id = p_member AND day < p_day;
      SELECT min(day) INTO v_next FROM stats_activity
       WHERE scope_id = p_scope AND member_id = p_member AND day > p_day;
      INSERT INTO stats_activity (id, scope_id, member_id, day, events, prev_day, next_day)
      VALUES (gen_random_uuid(), p_scope, p_member, p_day, p_delta,
              coalesce(v_prev, DATE '0001-01-01'), coalesce(v_next, DATE '9999-12-31'));
      UPDATE stats_activity SET next_day = p_day
       WHERE scope_id = p_scope AND member_id = p_member AND day = v_prev;
      UPDATE stats_activity SET prev_day = p_day
       WHERE scope_id = p_scope AND member_id = p_member AND day = v_next;
      IF date_trunc('month', coalesce(v_prev, DATE '0001-01-01')) <> date_trunc('month', p_day)
         AND date_trunc('month', coalesce(v_next, DATE '9999-12-31'))
             <> date_trunc('month', p_day) THEN
        PERFORM stats_cohort_bump(p_scope, p_member, p_day, 1);  -- the month's first day
      END IF;
      RETURN 1;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_activity_add(p_chain uuid, p_store uuid,
                                                     p_member uuid, p_day date, p_delta int)
    RETURNS int LANGUAGE plpgsql AS $$
    DECLARE v_changed int; v_chain int;
    BEGIN
      IF p_member IS NULL OR p_day IS NULL THEN RETURN 0; END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended('o2o-stats:' || p_member::text, 0));
      v_changed := stats_touch(p_store, p_member, p_day, p_delta);
      v_chain := stats_touch(p_chain, p_member, p_day, p_delta);
      IF v_chain <> 0 THEN
        INSERT INTO stats_chain_day AS t (id, chain_id, day, shard, active_members)
        VALUES (gen_random_uuid(), p_chain, p_day, (txid_current() % 8)::int, v_chain)
        ON CONFLICT (chain_id, day, shard)
        DO UPDATE SET active_members = t.active_members + EXCLUDED.active_members;
      END IF;
      RETURN v_changed;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_redemption_apply(r redemption, p_sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE v_day date; v_active int;
    BEGIN
      IF r.reversed_at IS NOT NULL THEN RETURN; END IF;
      v_day := stats_local_day(r.store, r.created_at);
      v_active := stats_activity_add(r.chain, r.store, r.member_id, v_day, p_sign);
      PERFORM stats_bump(r.store, v_day, d_redemptions => p_sign,
        d_redemption_value_cents => p_sign * (r.charged_cents + r.discount_cents),
        d_card_redemptions => CASE WHEN r.kind = 'card' THEN p_sign ELSE 0 END,
        d_voucher_redemptions => CASE WHEN r.kind = 'voucher' THEN p_sign ELSE 0 END,
        d_booking_redemptions => CASE WHEN r.kind = 'booking' THEN p_sign ELSE 0 END,
        d_active_members => v_active);
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_booking_apply(b booking, p_sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE v_day date := stats_local_day(b.store, b.start_at); v_active int;
    BEGIN
      v_active := stats_activity_add(b.chain, b.store, b.member, v_day, p_sign);
      PERFORM stats_bump(b.store, v_day, d_bookings => p_sign,
        d_bookings_checked_in => CASE WHEN b.status = 'checked_in' THEN p_sign ELSE 0 END,
        d_bookings_completed => CASE WHEN b.status = 'completed' THEN p_sign ELSE 0 END,
        d_bookings_cancelled => CASE WHEN b.status = 'cancelled' THEN p_sign ELSE 0 END,
        d_bookings_no_show => CASE WHEN b.status = 'no_show' THEN p_sign ELSE 0 END,
        d_active_members => v_active);
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_redemption_trg() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM stats_redemption_apply(OLD, -1); END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM stats_redemption_apply(NEW, 1); END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_booking_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE v_old date; v_new date;
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP = 'INSERT' THEN PERFORM stats_booking_apply(NEW, 1); RETURN NULL; END IF;
      IF TG_OP = 'DELETE' THEN PERFORM stats_booking_apply(OLD, -1); RETURN NULL; END IF;
      v_old := stats_local_day(OLD.store, OLD.start_at);
      v_new := stats_local_day(NEW.store, NEW.start_at);
      IF OLD.store = NEW.store AND OLD.member = NEW.member AND v_old = v_new THEN
        -- Only the status moved: the member's activity that day stands.
        PERFORM pg_advisory_xact_lock(hashtextextended('o2o-stats:' || NEW.member::text, 0));
        PERFORM stats_bump(NEW.store, v_new,
          d_bookings_checked_in => (NEW.status = 'checked_in')::int
                                   - (OLD.status = 'checked_in')::int,
          d_bookings_completed => (NEW.status = 'completed')::int
                                  - (OLD.status = 'completed')::int,
          d_bookings_cancelled => (NEW.status = 'cancelled')::int
                                  - (OLD.status = 'cancelled')::int,
          d_bookings_no_show => (NEW.status = 'no_show')::int - (OLD.status = 'no_show')::int);
      ELSIF (OLD.store::text, v_old) < (NEW.store::text, v_new) THEN
        -- Counter rows in one order for every writer: no deadlock between reschedules.
        PERFORM stats_booking_apply(OLD, -1);
        PERFORM stats_booking_apply(NEW, 1);
      ELSE
        PERFORM stats_booking_apply(NEW, 1);
        PERFORM stats_booking_apply(OLD, -1);
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_member_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.registered_store IS NOT NULL THEN
        PERFORM stats_bump(OLD.registered_store,
          stats_local_day(OLD.registered_store, OLD.created_at), d_members_new => -1);
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.registered_store IS NOT NULL THEN
        PERFORM stats_bump(NEW.registered_store,
          stats_local_day(NEW.registered_store, NEW.created_at), d_members_new => 1);
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_card_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.issued_store IS NOT NULL THEN
        PERFORM stats_bump(OLD.issued_store,
          stats_local_day(OLD.issued_store, OLD.created_at), d_cards_issued => -1);
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.issued_store IS NOT NULL THEN
        PERFORM stats_bump(NEW.issued_store,
          stats_local_day(NEW.issued_store, NEW.created_at), d_cards_issued => 1);
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_top_up_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      PERFORM stats_bump(NEW.store_id, stats_local_day(NEW.store_id, NEW.created_at),
                         d_top_ups => 1, d_top_up_cents => NEW.delta_cents);
      RETURN NULL;
    END $$""",
)

_OLD_REBUILD = """
CREATE OR REPLACE FUNCTION stats_rebuild(p_chain uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_chain IS NULL THEN
    LOCK TABLE stats_store_day, stats_activity, stats_chain_day, stats_voucher_day,
      stats_cohort IN ACCESS EXCLUSIVE MODE;
    TRUNCATE stats_store_day, stats_activity, stats_chain_day, stats_voucher_day, stats_cohort;
  ELSE
    LOCK TABLE stats_store_day, stats_activity, stats_chain_day, stats_voucher_day,
      stats_cohort IN EXCLUSIVE MODE;
    DELETE FROM stats_store_day WHERE store_id IN (SELECT id FROM store WHERE chain = p_chain);
    DELETE FROM stats_activity
     WHERE scope_id = p_chain OR scope_id IN (SELECT id FROM store WHERE chain = p_chain);
    DELETE FROM stats_chain_day WHERE chain_id = p_chain;
    DELETE FROM stats_cohort
     WHERE scope_id = p_chain OR scope_id IN (SELECT id FROM store WHERE chain = p_chain);
  END IF;
  PERFORM stats_rebuild_vouchers(p_chain);

  INSERT INTO stats_activity (id, scope_id, member_id, day, events, prev_day, next_day)
  WITH events AS (
    SELECT s.chain AS chain_id, r.store AS store_id, r.member_id,
           (r.created_at AT TIME ZONE s.timezone)::date AS day
      FROM redemption r JOIN store s ON s.id = r.store
     WHERE r.reversed_at IS NULL AND r.member_id IS NOT NULL
       AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT s.chain, b.store, b.member, (b.start_at AT TIME ZONE s.timezone)::date
      FROM booking b JOIN store s ON s.id = b.store
     WHERE p_chain IS NULL OR s.chain = p_chain
  ), per_store AS (
    SELECT chain_id, store_id, member_id, day, count(*)::int AS events
      FROM events GROUP BY chain_id, store_id, member_id, day
  ), scoped AS (
    SELECT store_id AS scope_id, member_id, day, events FROM per_store
    UNION ALL
    SELECT chain_id, member_id, day, sum(events)::int FROM per_store
     GROUP BY chain_id, member_id, day
  )
  SELECT gen_random_uuid(), scope_id, member_id, day, events,
         coalesce(lag(day) OVER w, DATE '0001-01-01'),
         coalesce(lead(day) OVER w, DATE '9999-12-31')
    FROM scoped WINDOW w AS (PARTITION BY scope_id, member_id ORDER BY day);

  INSERT INTO stats_store_day (id, store_id, day, shard, members_new, cards_issued, redemptions, redemption_value_cents, card_redemptions, voucher_redemptions, booking_redemptions, top_ups, top_up_cents, bookings, bookings_checked_in, bookings_completed, bookings_cancelled, bookings_no_show, active_members)
  WITH figures AS (
    SELECT m.registered_store AS store_id, (m.created_at AT TIME ZONE s.timezone)::date AS day,
           1::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0 AS active_members
      FROM member m JOIN store s ON s.id = m.registered_store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT c.issued_store, (c.created_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 1::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0
      FROM card c JOIN store s ON s.id = c.issued_store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT l.store_id, (l.created_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 1::int AS top_ups, l.delta_cents::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0
      FROM card_ledger l JOIN store s ON s.id = l.store_id
     WHERE l.kind = 'top_up' AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT r.store, (r.created_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 0::int AS cards_issued, 1::int AS redemptions, r.charged_cents + r.discount_cents::bigint AS redemption_value_cents, (r.kind = 'card')::int::int AS card_redemptions, (r.kind = 'voucher')::int::int AS voucher_redemptions, (r.kind = 'booking')::int::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 0
      FROM redemption r JOIN store s ON s.id = r.store
     WHERE r.reversed_at IS NULL AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT b.store, (b.start_at AT TIME ZONE s.timezone)::date,
           0::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 1::int AS bookings, (b.status = 'checked_in')::int::int AS bookings_checked_in, (b.status = 'completed')::int::int AS bookings_completed, (b.status = 'cancelled')::int::int AS bookings_cancelled, (b.status = 'no_show')::int::int AS bookings_no_show, 0
      FROM booking b JOIN store s ON s.id = b.store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT a.scope_id, a.day, 0::int AS members_new, 0::int AS cards_issued, 0::int AS redemptions, 0::bigint AS redemption_value_cents, 0::int AS card_redemptions, 0::int AS voucher_redemptions, 0::int AS booking_redemptions, 0::int AS top_ups, 0::bigint AS top_up_cents, 0::int AS bookings, 0::int AS bookings_checked_in, 0::int AS bookings_completed, 0::int AS bookings_cancelled, 0::int AS bookings_no_show, 1
      FROM stats_activity a JOIN store s ON s.id = a.scope_id
     WHERE p_chain IS NULL OR s.chain = p_chain
  )
  SELECT gen_random_uuid(), store_id, day, 0, sum(members_new), sum(cards_issued), sum(redemptions), sum(redemption_value_cents), sum(card_redemptions), sum(voucher_redemptions), sum(booking_redemptions), sum(top_ups), sum(top_up_cents), sum(bookings), sum(bookings_checked_in), sum(bookings_completed), sum(bookings_cancelled), sum(bookings_no_show), sum(active_members)
    FROM figures GROUP BY store_id, day;

  INSERT INTO stats_chain_day (id, chain_id, day, shard, active_members)
  SELECT gen_random_uuid(), a.scope_id, a.day, 0, count(*)::int
    FROM stats_activity a JOIN chain c ON c.id = a.scope_id
   WHERE p_chain IS NULL OR c.id = p_chain
   GROUP BY a.scope_id, a.day;

  INSERT INTO stats_cohort (id, scope_id, cohort, month, shard, active)
  WITH members AS (
    SELECT m.id, m.chain, m.registered_store,
           date_trunc('month', m.created_at AT TIME ZONE coalesce(s.timezone,
             (SELECT h.timezone FROM store h WHERE h.chain = m.chain
               ORDER BY h.created_at, h.id LIMIT 1), 'UTC'))::date AS cohort
      FROM member m LEFT JOIN store s ON s.id = m.registered_store
     WHERE p_chain IS NULL OR m.chain = p_chain
  )
  SELECT gen_random_uuid(), a.scope_id, m.cohort, date_trunc('month', a.day)::date, 0,
         count(*)::int
    FROM stats_activity a JOIN members m ON m.id = a.member_id
   WHERE a.prev_day < date_trunc('month', a.day)
     AND (a.scope_id = m.chain OR a.scope_id = m.registered_store)
   GROUP BY 2, 3, 4;
END $$"""

_DOWN = (
    *_OLD_FUNCTIONS,
    _OLD_REBUILD,
    "DROP INDEX stats_activity_by_day",
    "CREATE INDEX stats_activity_by_day ON stats_activity (scope_id, day) "
    "INCLUDE (prev_day, next_day, member_id)",
    "DROP FUNCTION stats_fold(int, boolean)",
    "DROP FUNCTION stats_link(uuid, uuid, date, int)",
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
