-- Set-up of the PostgreSQL database FerretDB stores every service's collections in (deploy/infra.sh applies it on
-- every start; it is idempotent). Why it exists: FerretDB v1.24 pushes a top-level equality `{f: v}` down as
-- `_jsonb -> 'f' @> v`, but its createIndex makes btree indexes on `(_jsonb -> 'f')`, which cannot serve `@>`; so
-- every such query scans its table. A GIN index on the same expression serves it (docs/queries.md).
--
-- For each btree index FerretDB creates, an event trigger adds a GIN index on the expression of the index's leading
-- field. Only the leading field: a query is served by an index when its equality is on the leading field of one (the
-- rule that holds on MongoDB 7 too), and the later fields of our compound indexes are sort keys and ranges, which
-- FerretDB evaluates in Go anyway; a GIN index per field would slow every insert for lookups nobody makes.
-- `fastupdate = off`: with GIN's pending list a lookup scans every entry not yet merged, so lookups slow down as
-- writes pile up (3.2x at 50,000 entries, measured); off, each insert merges at once and lookups stay flat.
-- Unique indexes stay FerretDB's btree ones: they decide races. The GIN index beside them only finds.
-- A second trigger drops a GIN index once no btree index of its table leads with its field (an index retired).

SET client_min_messages = warning;

ALTER DATABASE ferretdb SET plan_cache_mode = force_custom_plan;

CREATE OR REPLACE FUNCTION fishbridge_gin_for(index_oid oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  def text := pg_get_indexdef(index_oid);
  field text;
  tab record;
BEGIN
  IF def !~ ' USING btree ' THEN
    RETURN;  -- our own GIN indexes (the trigger fires for them too), and anything that is not FerretDB's
  END IF;
  field := substring(def from '\(\(_jsonb -> ''((?:[^'']|'''')+)''::text\)\)');
  IF field IS NULL THEN
    RETURN;  -- not an index on a document field (FerretDB's metadata tables' `_id` and `table` indexes are, and get one)
  END IF;
  SELECT n.nspname AS schema_name, c.relname AS table_name
    INTO tab
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE i.indexrelid = index_oid;
  -- One GIN index per (table, field), whichever btree indexes lead with the field; the name is a digest of both.
  EXECUTE format(
    'CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((_jsonb -> %L)) WITH (fastupdate = off)',
    'gin_' || md5(tab.schema_name || '.' || tab.table_name || '.' || replace(field, '''''', '''')),
    tab.schema_name, tab.table_name, replace(field, '''''', ''''));
END;
$$;

CREATE OR REPLACE FUNCTION fishbridge_gin_on_create_index() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE object_type = 'index' LOOP
    PERFORM fishbridge_gin_for(cmd.objid);
  END LOOP;
END;
$$;

DROP EVENT TRIGGER IF EXISTS fishbridge_gin_on_create_index;
CREATE EVENT TRIGGER fishbridge_gin_on_create_index ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION fishbridge_gin_on_create_index();

-- A GIN index outlives no btree index: when a service drops one (an index it retired), the GIN indexes of that
-- schema whose field no btree index leads with any more are dropped too.
CREATE OR REPLACE FUNCTION fishbridge_leading_field(index_oid oid) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT replace(substring(pg_get_indexdef(index_oid) from '\(\(_jsonb -> ''((?:[^'']|'''')+)''::text\)\)'), '''''', '''')
$$;

CREATE OR REPLACE FUNCTION fishbridge_drop_orphan_gin(schema_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  gin record;
BEGIN
  FOR gin IN
    SELECT c.relname AS index_name, i.indrelid, fishbridge_leading_field(i.indexrelid) AS field
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = schema_name AND pg_get_indexdef(i.indexrelid) ~ ' USING gin '
  LOOP
    IF NOT EXISTS (
      SELECT 1 FROM pg_index b
       WHERE b.indrelid = gin.indrelid AND pg_get_indexdef(b.indexrelid) ~ ' USING btree '
         AND fishbridge_leading_field(b.indexrelid) = gin.field
    ) THEN
      EXECUTE format('DROP INDEX IF EXISTS %I.%I', schema_name, gin.index_name);
    END IF;
  END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION fishbridge_gin_on_drop_index() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  dropped record;
BEGIN
  -- A dropped table (a collection) or schema (a database) takes its indexes with it: nothing is left to tidy.
  IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() WHERE object_type IN ('table', 'schema')) THEN
    RETURN;
  END IF;
  FOR dropped IN
    SELECT DISTINCT schema_name FROM pg_event_trigger_dropped_objects() WHERE object_type = 'index'
  LOOP
    PERFORM fishbridge_drop_orphan_gin(dropped.schema_name);
  END LOOP;
END;
$$;

DROP EVENT TRIGGER IF EXISTS fishbridge_gin_on_drop_index;
CREATE EVENT TRIGGER fishbridge_gin_on_drop_index ON sql_drop
  WHEN TAG IN ('DROP INDEX')
  EXECUTE FUNCTION fishbridge_gin_on_drop_index();

-- Indexes made before the triggers existed (a database from an older set-up) get theirs now, and lose the orphans.
DO $$
DECLARE
  idx record;
  sch record;
BEGIN
  FOR sch IN
    SELECT nspname FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg_temp%'
  LOOP
    PERFORM fishbridge_drop_orphan_gin(sch.nspname);
  END LOOP;
  FOR idx IN
    SELECT i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
  LOOP
    PERFORM fishbridge_gin_for(idx.indexrelid);
  END LOOP;
END;
$$;
