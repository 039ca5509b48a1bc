"""The stats rollups' keys, and on PostgreSQL the triggers that keep them and the rebuild.

Why triggers: every write path (the API, the command line, a future one) moves the
rollups in its own transaction, so the stats never drift from the events and nobody has
to remember to call anything. SQLite gets the tables but no triggers: there the stats
read the event tables directly (small deployments; see app/stats/service.py).

What the triggers keep (per store and local day of the store's own timezone):
- members who joined at the store, cards the store issued, top-ups at the store;
- redemptions that are not reversed (count, value = charged + discount, per kind);
- bookings by the local day of their start (all, and per status);
- ``stats_activity``: a member's active days (a non-reversed redemption or any booking),
  per store and per chain, each linked to the member's previous and next active day in
  that scope, and the count of active members per store-day and per chain-day
  (``stats_chain_day``);
- ``stats_voucher_day``: vouchers issued per campaign and local day, in every time zone
  the chain's stores use (a voucher belongs to no store; each view reads its own zone);
- ``stats_cohort``: per chain and per store, members of each joining month (local: the
  joining store's zone, else the chain's first store's) active in each month: a member
  counts once a month, when their first active day of that month appears (the links say
  when).

Locking: a transaction adds to one of 8 shard rows of a store-day (chosen by its
transaction id, so one transaction always hits the same row and concurrent ones mostly
different rows). A member's activity rows are changed under a transaction-scoped advisory
lock of the member, taken before any counter row, so the links are never raced.

``SET o2o.stats_off = 'on'`` makes a session's triggers do nothing (bulk loads, which then
call ``stats_rebuild``). ``stats_rebuild(chain)`` (NULL: every chain) recomputes the
rollups from the events under an EXCLUSIVE lock of the rollup tables: writers wait, none
is lost. A store's timezone change, and a chain's first store (its home zone), rebuild the
chain; a store in a zone new to its chain rebuilds the chain's voucher days.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-11-22T03:25:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stats rollup keys and triggers"

_FIGURES = (
    "members_new", "cards_issued", "redemptions", "redemption_value_cents",
    "card_redemptions", "voucher_redemptions", "booking_redemptions", "top_ups",
    "top_up_cents", "bookings", "bookings_checked_in", "bookings_completed",
    "bookings_cancelled", "bookings_no_show", "active_members",
)
_MONEY = ("redemption_value_cents", "top_up_cents")

_UP = (
    "CREATE UNIQUE INDEX stats_store_day_key ON stats_store_day (store_id, day, shard)",
    "CREATE UNIQUE INDEX stats_activity_key ON stats_activity (scope_id, member_id, day)",
    "CREATE UNIQUE INDEX stats_chain_day_key ON stats_chain_day (chain_id, day, shard)",
    "CREATE UNIQUE INDEX stats_voucher_day_key ON stats_voucher_day "
    "(campaign_id, zone, day, shard)",
    "CREATE INDEX stats_voucher_day_chain ON stats_voucher_day (chain_id, zone, day)",
    "CREATE UNIQUE INDEX stats_cohort_key ON stats_cohort (scope_id, cohort, month, shard)",
)
_DOWN = ("DROP INDEX stats_store_day_key", "DROP INDEX stats_activity_key",
         "DROP INDEX stats_chain_day_key", "DROP INDEX stats_voucher_day_key",
         "DROP INDEX stats_voucher_day_chain", "DROP INDEX stats_cohort_key")

_PARAMS = ", ".join(
    f"d_{f} {'bigint' if f in _MONEY else 'int'} DEFAULT 0" for f in _FIGURES)
_BUMP = f"""
CREATE OR REPLACE FUNCTION stats_bump(p_store uuid, p_day date, {_PARAMS})
RETURNS void LANGUAGE sql AS $$
  INSERT INTO stats_store_day AS t (id, store_id, day, shard, {", ".join(_FIGURES)})
  VALUES (gen_random_uuid(), p_store, p_day, (txid_current() % 8)::int,
          {", ".join("d_" + f for f in _FIGURES)})
  ON CONFLICT (store_id, day, shard) DO UPDATE SET
  {", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in _FIGURES)}
$$"""

_ZEROS = {f: "0" for f in _FIGURES}


def _figures(**values: str) -> str:
    """A SELECT list of every figure, zero except ``values``."""
    return ", ".join(f"{values.get(f, _ZEROS[f])}::{'bigint' if f in _MONEY else 'int'} "
                     f"AS {f}" for f in _FIGURES if f != "active_members")


# The time zones of a chain's stores; UTC while it has none (the service's home zone).
_ZONES = """
CREATE OR REPLACE FUNCTION stats_chain_zones(p_chain uuid) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT timezone FROM store WHERE chain = p_chain
  UNION ALL
  SELECT 'UTC' WHERE NOT EXISTS (SELECT 1 FROM store WHERE chain = p_chain)
$$"""

_REBUILD_VOUCHERS = """
CREATE OR REPLACE FUNCTION stats_rebuild_vouchers(p_chain uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE stats_voucher_day IN EXCLUSIVE MODE;
  DELETE FROM stats_voucher_day WHERE p_chain IS NULL OR chain_id = p_chain;
  INSERT INTO stats_voucher_day (id, campaign_id, chain_id, zone, day, shard, issued)
  WITH zones AS (
    SELECT DISTINCT chain AS chain_id, timezone AS zone FROM store
     WHERE p_chain IS NULL OR chain = p_chain
    UNION ALL
    SELECT c.id, 'UTC' FROM chain c
     WHERE (p_chain IS NULL OR c.id = p_chain)
       AND NOT EXISTS (SELECT 1 FROM store s WHERE s.chain = c.id)
  )
  SELECT gen_random_uuid(), v.campaign, v.chain, z.zone,
         (v.created_at AT TIME ZONE z.zone)::date AS day, 0, count(*)::int
    FROM voucher v JOIN zones z ON z.chain_id = v.chain
   GROUP BY v.campaign, v.chain, z.zone, day;
END $$"""

_REBUILD = f"""
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

  INSERT INTO stats_store_day (id, store_id, day, shard, {", ".join(_FIGURES)})
  WITH figures AS (
    SELECT m.registered_store AS store_id, (m.created_at AT TIME ZONE s.timezone)::date AS day,
           {_figures(members_new="1")}, 0 AS active_members
      FROM member m JOIN store s ON s.id = m.registered_store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT c.issued_store, (c.created_at AT TIME ZONE s.timezone)::date,
           {_figures(cards_issued="1")}, 0
      FROM card c JOIN store s ON s.id = c.issued_store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT l.store_id, (l.created_at AT TIME ZONE s.timezone)::date,
           {_figures(top_ups="1", top_up_cents="l.delta_cents")}, 0
      FROM card_ledger l JOIN store s ON s.id = l.store_id
     WHERE l.kind = 'top_up' AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT r.store, (r.created_at AT TIME ZONE s.timezone)::date,
           {_figures(redemptions="1",
                     redemption_value_cents="r.charged_cents + r.discount_cents",
                     card_redemptions="(r.kind = 'card')::int",
                     voucher_redemptions="(r.kind = 'voucher')::int",
                     booking_redemptions="(r.kind = 'booking')::int")}, 0
      FROM redemption r JOIN store s ON s.id = r.store
     WHERE r.reversed_at IS NULL AND (p_chain IS NULL OR s.chain = p_chain)
    UNION ALL
    SELECT b.store, (b.start_at AT TIME ZONE s.timezone)::date,
           {_figures(bookings="1",
                     bookings_checked_in="(b.status = 'checked_in')::int",
                     bookings_completed="(b.status = 'completed')::int",
                     bookings_cancelled="(b.status = 'cancelled')::int",
                     bookings_no_show="(b.status = 'no_show')::int")}, 0
      FROM booking b JOIN store s ON s.id = b.store
     WHERE p_chain IS NULL OR s.chain = p_chain
    UNION ALL
    SELECT a.scope_id, a.day, {_figures()}, 1
      FROM stats_activity a JOIN store s ON s.id = a.scope_id
     WHERE p_chain IS NULL OR s.chain = p_chain
  )
  SELECT gen_random_uuid(), store_id, day, 0, {", ".join(f"sum({f})" for f in _FIGURES)}
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

_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION stats_off() RETURNS boolean LANGUAGE sql STABLE AS $$
       SELECT coalesce(current_setting('o2o.stats_off', true), '') = 'on' $$""",
    """CREATE OR REPLACE FUNCTION stats_local_day(p_store uuid, p_at timestamptz)
       RETURNS date LANGUAGE sql STABLE AS $$
       SELECT (p_at AT TIME ZONE s.timezone)::date FROM store s WHERE s.id = p_store $$""",
    _BUMP,
    # A member became (1) or stopped being (-1) active in a month, in a scope: the chain's
    # cohorts count every member, a store's those who joined there.
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
    # One member's day in one scope: +1/-1 event. Returns +1 when the day became active,
    # -1 when it stopped being active, else 0; keeps the prev/next links.
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
    """CREATE OR REPLACE FUNCTION stats_redemption_trg() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM stats_redemption_apply(OLD, -1); END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM stats_redemption_apply(NEW, 1); END IF;
      RETURN NULL;
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
    # The ledger is append-only: only inserts count.
    """CREATE OR REPLACE FUNCTION stats_top_up_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      PERFORM stats_bump(NEW.store_id, stats_local_day(NEW.store_id, NEW.created_at),
                         d_top_ups => 1, d_top_up_cents => NEW.delta_cents);
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_store_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP = 'UPDATE'
         OR NOT EXISTS (SELECT 1 FROM store WHERE chain = NEW.chain AND id <> NEW.id) THEN
        PERFORM stats_rebuild(NEW.chain);  -- days move to another zone (the home zone)
      ELSIF NOT EXISTS (SELECT 1 FROM store WHERE chain = NEW.chain AND id <> NEW.id
                                                AND timezone = NEW.timezone) THEN
        PERFORM stats_rebuild_vouchers(NEW.chain);  -- a zone new to the chain
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_voucher_trg() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE v voucher; v_sign int; v_zone text;
    BEGIN
      IF stats_off() THEN RETURN NULL; END IF;
      IF TG_OP = 'INSERT' THEN v := NEW; v_sign := 1; ELSE v := OLD; v_sign := -1; END IF;
      FOR v_zone IN SELECT stats_chain_zones(v.chain) LOOP
        INSERT INTO stats_voucher_day AS t (id, campaign_id, chain_id, zone, day, shard, issued)
        VALUES (gen_random_uuid(), v.campaign, v.chain, v_zone,
                (v.created_at AT TIME ZONE v_zone)::date, (txid_current() % 8)::int, v_sign)
        ON CONFLICT (campaign_id, zone, day, shard)
        DO UPDATE SET issued = t.issued + EXCLUDED.issued;
      END LOOP;
      RETURN NULL;
    END $$""",
    _ZONES,
    _REBUILD_VOUCHERS,
    _REBUILD,
)

_TRIGGERS = (
    "CREATE TRIGGER stats_redemption_write AFTER INSERT OR DELETE ON redemption "
    "FOR EACH ROW EXECUTE FUNCTION stats_redemption_trg()",
    "CREATE TRIGGER stats_redemption_change AFTER UPDATE ON redemption FOR EACH ROW WHEN ("
    "OLD.reversed_at IS DISTINCT FROM NEW.reversed_at OR OLD.store IS DISTINCT FROM NEW.store"
    " OR OLD.created_at IS DISTINCT FROM NEW.created_at"
    " OR OLD.member_id IS DISTINCT FROM NEW.member_id OR OLD.kind IS DISTINCT FROM NEW.kind"
    " OR OLD.charged_cents IS DISTINCT FROM NEW.charged_cents"
    " OR OLD.discount_cents IS DISTINCT FROM NEW.discount_cents"
    ") EXECUTE FUNCTION stats_redemption_trg()",
    "CREATE TRIGGER stats_booking_write AFTER INSERT OR DELETE ON booking "
    "FOR EACH ROW EXECUTE FUNCTION stats_booking_trg()",
    "CREATE TRIGGER stats_booking_change AFTER UPDATE ON booking FOR EACH ROW WHEN ("
    "OLD.status IS DISTINCT FROM NEW.status OR OLD.start_at IS DISTINCT FROM NEW.start_at"
    " OR OLD.store IS DISTINCT FROM NEW.store OR OLD.member IS DISTINCT FROM NEW.member"
    ") EXECUTE FUNCTION stats_booking_trg()",
    "CREATE TRIGGER stats_member_write AFTER INSERT OR DELETE ON member "
    "FOR EACH ROW EXECUTE FUNCTION stats_member_trg()",
    "CREATE TRIGGER stats_member_change AFTER UPDATE ON member FOR EACH ROW WHEN ("
    "OLD.registered_store IS DISTINCT FROM NEW.registered_store"
    " OR OLD.created_at IS DISTINCT FROM NEW.created_at"
    ") EXECUTE FUNCTION stats_member_trg()",
    "CREATE TRIGGER stats_card_write AFTER INSERT OR DELETE ON card "
    "FOR EACH ROW EXECUTE FUNCTION stats_card_trg()",
    "CREATE TRIGGER stats_card_change AFTER UPDATE ON card FOR EACH ROW WHEN ("
    "OLD.issued_store IS DISTINCT FROM NEW.issued_store"
    " OR OLD.created_at IS DISTINCT FROM NEW.created_at"
    ") EXECUTE FUNCTION stats_card_trg()",
    "CREATE TRIGGER stats_top_up AFTER INSERT ON card_ledger FOR EACH ROW "
    "WHEN (NEW.kind = 'top_up' AND NEW.store_id IS NOT NULL) "
    "EXECUTE FUNCTION stats_top_up_trg()",
    "CREATE TRIGGER stats_store_timezone AFTER UPDATE OF timezone ON store FOR EACH ROW "
    "WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION stats_store_trg()",
    "CREATE TRIGGER stats_store_new AFTER INSERT ON store FOR EACH ROW "
    "EXECUTE FUNCTION stats_store_trg()",
    "CREATE TRIGGER stats_voucher_write AFTER INSERT OR DELETE ON voucher FOR EACH ROW "
    "EXECUTE FUNCTION stats_voucher_trg()",
)

_UP_PG = (
    # Distinct active members: the rows of a range, or those before it by prev_day;
    # the planner takes whichever is narrower for the range asked.
    "CREATE INDEX stats_activity_by_day ON stats_activity (scope_id, day) "
    "INCLUDE (prev_day, next_day, member_id)",
    "CREATE INDEX stats_activity_by_prev ON stats_activity (scope_id, prev_day) "
    "INCLUDE (day, next_day)",
    *_FUNCTIONS,
    *_TRIGGERS,
    # A database that already has events gets its rollups now.
    "SELECT stats_rebuild(NULL)",
)
_DOWN_PG = (
    *(f"DROP TRIGGER {name} ON {table}" for name, table in (
        ("stats_redemption_write", "redemption"), ("stats_redemption_change", "redemption"),
        ("stats_booking_write", "booking"), ("stats_booking_change", "booking"),
        ("stats_member_write", "member"), ("stats_member_change", "member"),
        ("stats_card_write", "card"), ("stats_card_change", "card"),
        ("stats_top_up", "card_ledger"), ("stats_store_timezone", "store"),
        ("stats_store_new", "store"), ("stats_voucher_write", "voucher"))),
    *(f"DROP FUNCTION {name}" for name in (
        "stats_redemption_trg()", "stats_redemption_apply(redemption, int)",
        "stats_booking_trg()", "stats_booking_apply(booking, int)", "stats_member_trg()",
        "stats_card_trg()", "stats_top_up_trg()", "stats_store_trg()", "stats_voucher_trg()",
        "stats_rebuild(uuid)", "stats_rebuild_vouchers(uuid)", "stats_chain_zones(uuid)", "stats_activity_add(uuid, uuid, uuid, date, int)",
        "stats_touch(uuid, uuid, date, int)", "stats_cohort_bump(uuid, uuid, date, int)",
        "stats_bump", "stats_local_day(uuid, timestamptz)",
        "stats_off()")),
    "DROP INDEX stats_activity_by_day",
    "DROP INDEX stats_activity_by_prev",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stats", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw(raw_ddl(*_UP_PG, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN_PG, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
