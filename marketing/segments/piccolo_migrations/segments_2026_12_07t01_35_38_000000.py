"""The segments' per-member visit rollup (PostgreSQL only; SQLite reads the redemptions).

Why: a segment's preview filters 100,000 members on their visits and spend in the last
N days (up to 730), their last visit and the stores they visited in the window, in under
300 ms. Summing the window's redemptions per member reads up to every redemption (1 M in
the large demo); this reads one row per member.

``segment_visits``: one row per member with a visit (a non-reversed redemption): the
instants of their visits, ascending (``at``), the running total of what they paid
(``spend``: charged_cents, cumulative, entry i = every visit up to and including at[i]),
each visit's store (``stores``), every store ever visited (``visited``), the last visit
(``last_at``). Visits older than 732 days before the newest are folded into
``base_spend`` (no window reaches them), so a row stays bounded. A window starting at
instant t0 is then, per member, one binary search: ``k = width_bucket(t0 - 1 µs, at)``
(the visits before t0, C code over the array), visits = cardinality(at) - k, spend =
spend[n] - coalesce(spend[k], base_spend), stores visited in it = stores[k+1:n]. No time
zone is stored: the chain's days become instants in the query, so a zone change needs no
rebuild.

Hot path: one trigger on ``redemption`` insert; for a member's newest visit (nearly
always) one ``UPDATE`` of their row appends it; a first visit, a visit stamped before the
row's last (two tills racing) or one due to fold old visits away takes an upsert that
puts it in its place. A reversal (or any change of a counted column, or a
delete) recounts that member from ``redemption_member_created`` (rare), one recount of a
member at a time (a transaction-scoped advisory lock of the member). ``o2o.stats_off``
(bulk loads) silences the trigger like the stats triggers, and marks the rollup stale
(``segment_stale``, once per transaction); the next segment query, or
``segment_visits_rebuild(NULL)``, rebuilds it. The rebuild takes the table in EXCLUSIVE
mode: writers wait, none is lost.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-07T01:35:38:000000"
VERSION = "1.38.0"
DESCRIPTION = "segment visits rollup"

_KEEP = "interval '732 days'"  # > the longest window (730 local days) plus a zone's offset

_TABLES = (
    """CREATE TABLE segment_visits (
  member_id uuid PRIMARY KEY,
  chain_id uuid NOT NULL,
  at timestamptz[] NOT NULL,
  spend bigint[] NOT NULL,
  stores uuid[] NOT NULL,
  visited uuid[] NOT NULL,
  last_at timestamptz,
  base_spend bigint NOT NULL DEFAULT 0
)""",
    "CREATE INDEX segment_visits_chain ON segment_visits (chain_id)",
    "CREATE TABLE segment_stale (id int PRIMARY KEY)",
)
# Both engines: the segments' list, newest first.
_LIST_INDEX = "CREATE INDEX segment_chain_created ON segment (chain, created_at)"

# A member's row with one more visit. Pure (no table access): called in the upsert's SET.
_ADD = f"""
CREATE OR REPLACE FUNCTION segment_visit_add(v segment_visits, p_at timestamptz,
                                             p_spend bigint, p_store uuid)
RETURNS segment_visits LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE n int := cardinality(v.at); k int; cut int;
BEGIN
  IF n = 0 OR p_at >= v.at[n] THEN  -- the usual case: the newest visit
    v.at := v.at || p_at;
    v.spend := v.spend || (coalesce(v.spend[n], v.base_spend) + p_spend);
    v.stores := v.stores || p_store;
  ELSE  -- stamped before the last one (two tills racing): in its place
    k := width_bucket(p_at, v.at);
    v.at := v.at[1:k] || p_at || v.at[k + 1:n];
    v.stores := v.stores[1:k] || p_store || v.stores[k + 1:n];
    v.spend := v.spend[1:k] || (coalesce(v.spend[k], v.base_spend) + p_spend)
      || coalesce((SELECT array_agg(s + p_spend ORDER BY i)
                     FROM unnest(v.spend[k + 1:n]) WITH ORDINALITY u (s, i)), '{{}}');
  END IF;
  IF NOT p_store = ANY (v.visited) THEN v.visited := v.visited || p_store; END IF;
  n := cardinality(v.at);
  v.last_at := v.at[n];
  cut := width_bucket(v.last_at - {_KEEP}, v.at);  -- visits no window can reach
  IF cut > 0 THEN
    v.base_spend := v.spend[cut];
    v.at := v.at[cut + 1:n]; v.spend := v.spend[cut + 1:n]; v.stores := v.stores[cut + 1:n];
  END IF;
  RETURN v;
END $$"""

# One member's row from their redemptions (a reversal, a moved or deleted redemption).
_ROWS = f"""
  WITH e AS (
    SELECT r.id, r.member_id, r.chain, r.store, r.created_at,
           sum(r.charged_cents) OVER (PARTITION BY r.member_id
                                      ORDER BY r.created_at, r.id) AS cum,
           max(r.created_at) OVER (PARTITION BY r.member_id) - {_KEEP} AS cut
      FROM redemption r
     WHERE r.reversed_at IS NULL AND r.member_id IS NOT NULL AND %s
  )
  SELECT member_id, (array_agg(chain))[1],
         coalesce(array_agg(created_at ORDER BY created_at, id)
                  FILTER (WHERE created_at > cut), '{{}}'),
         coalesce(array_agg(cum ORDER BY created_at, id) FILTER (WHERE created_at > cut),
                  '{{}}'),
         coalesce(array_agg(store ORDER BY created_at, id) FILTER (WHERE created_at > cut),
                  '{{}}'),
         array_agg(DISTINCT store), max(created_at),
         coalesce(max(cum) FILTER (WHERE created_at <= cut), 0)
    FROM e GROUP BY member_id"""
_COLUMNS = "member_id, chain_id, at, spend, stores, visited, last_at, base_spend"

_RECOUNT = f"""
CREATE OR REPLACE FUNCTION segment_visits_recount(p_member uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_member IS NULL THEN RETURN; END IF;
  -- One recount of a member at a time: the next one's reads start after this commits
  -- (two racing reversals each read the other's as not yet done, and the later write
  -- won with a stale count).
  PERFORM pg_advisory_xact_lock(hashtextextended('o2o-segment-visits:' || p_member::text, 0));
  DELETE FROM segment_visits WHERE member_id = p_member;
  INSERT INTO segment_visits ({_COLUMNS})
  {_ROWS % "r.member_id = p_member"}
  ON CONFLICT (member_id) DO UPDATE SET
    (chain_id, at, spend, stores, visited, last_at, base_spend) =
    (EXCLUDED.chain_id, EXCLUDED.at, EXCLUDED.spend, EXCLUDED.stores, EXCLUDED.visited,
     EXCLUDED.last_at, EXCLUDED.base_spend);
END $$"""

_REBUILD = f"""
CREATE OR REPLACE FUNCTION segment_visits_rebuild(p_chain uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE segment_visits IN EXCLUSIVE MODE;
  IF p_chain IS NULL THEN
    TRUNCATE segment_visits;
    DELETE FROM segment_stale;
  ELSE
    DELETE FROM segment_visits WHERE chain_id = p_chain;
  END IF;
  INSERT INTO segment_visits ({_COLUMNS})
  {_ROWS % "(p_chain IS NULL OR r.chain = p_chain)"};
  ANALYZE segment_visits;  -- the planner's row counts, at once
END $$"""

_TRIGGER = """
CREATE OR REPLACE FUNCTION segment_visits_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stats_off() THEN  -- a bulk load: rebuilt after it, once
    IF current_setting('o2o.segment_stale', true) IS DISTINCT FROM 'on' THEN
      INSERT INTO segment_stale (id) VALUES (1) ON CONFLICT DO NOTHING;
      PERFORM set_config('o2o.segment_stale', 'on', true);
    END IF;
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.member_id IS NULL OR NEW.reversed_at IS NOT NULL THEN RETURN NULL; END IF;
    -- The usual case, one statement: the member's newest visit, nothing old to trim.
    UPDATE segment_visits t SET at = t.at || NEW.created_at,
           spend = t.spend || (t.spend[cardinality(t.spend)] + NEW.charged_cents),
           stores = t.stores || NEW.store,
           visited = CASE WHEN NEW.store = ANY (t.visited) THEN t.visited
                          ELSE t.visited || NEW.store END,
           last_at = NEW.created_at
     WHERE t.member_id = NEW.member_id AND t.last_at <= NEW.created_at
       AND t.at[1] > NEW.created_at - %s;
    IF FOUND THEN RETURN NULL; END IF;
    -- A first visit, one stamped before the last (two tills racing), or old visits due
    -- to be folded into base_spend.
    INSERT INTO segment_visits AS t (member_id, chain_id, at, spend, stores, visited,
                                     last_at, base_spend)
    VALUES (NEW.member_id, NEW.chain, ARRAY[NEW.created_at], ARRAY[NEW.charged_cents],
            ARRAY[NEW.store], ARRAY[NEW.store], NEW.created_at, 0)
    ON CONFLICT (member_id) DO UPDATE SET
      (at, spend, stores, visited, last_at, base_spend) =
      (SELECT a.at, a.spend, a.stores, a.visited, a.last_at, a.base_spend
         FROM segment_visit_add(t, NEW.created_at, NEW.charged_cents, NEW.store) a);
    RETURN NULL;
  END IF;
  PERFORM segment_visits_recount(OLD.member_id);
  IF TG_OP = 'UPDATE' AND NEW.member_id IS DISTINCT FROM OLD.member_id THEN
    PERFORM segment_visits_recount(NEW.member_id);
  END IF;
  RETURN NULL;
END $$""" % _KEEP

_TRIGGERS = (
    "CREATE TRIGGER segment_visits_insert AFTER INSERT ON redemption "
    "FOR EACH ROW EXECUTE FUNCTION segment_visits_trg()",
    "CREATE TRIGGER segment_visits_update AFTER UPDATE ON redemption FOR EACH ROW "
    "WHEN (OLD.reversed_at IS DISTINCT FROM NEW.reversed_at "
    "OR OLD.member_id IS DISTINCT FROM NEW.member_id "
    "OR OLD.created_at IS DISTINCT FROM NEW.created_at "
    "OR OLD.charged_cents IS DISTINCT FROM NEW.charged_cents "
    "OR OLD.store IS DISTINCT FROM NEW.store) "
    "EXECUTE FUNCTION segment_visits_trg()",
    "CREATE TRIGGER segment_visits_delete AFTER DELETE ON redemption "
    "FOR EACH ROW EXECUTE FUNCTION segment_visits_trg()",
)

_UP = (*_TABLES, _ADD, _RECOUNT, _REBUILD, _TRIGGER, *_TRIGGERS,
       "SELECT segment_visits_rebuild(NULL)")  # what is there already
_DOWN = (
    "DROP TRIGGER segment_visits_insert ON redemption",
    "DROP TRIGGER segment_visits_update ON redemption",
    "DROP TRIGGER segment_visits_delete ON redemption",
    "DROP FUNCTION segment_visits_trg()",
    "DROP FUNCTION segment_visits_rebuild(uuid)",
    "DROP FUNCTION segment_visits_recount(uuid)",
    "DROP FUNCTION segment_visit_add(segment_visits, timestamptz, bigint, uuid)",
    "DROP TABLE segment_stale",
    "DROP TABLE segment_visits",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="segments", description=DESCRIPTION)
    manager.add_raw(raw_ddl(_LIST_INDEX))
    manager.add_raw(raw_ddl(*_UP, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*_DOWN, engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl("DROP INDEX segment_chain_created"))
    return manager
