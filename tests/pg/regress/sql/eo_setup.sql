-- CREATE EXTENSION in a default database: functions callable unqualified (schema public),
-- state in schema exactly_once, not usable by PUBLIC, no function resolves a name through search_path, no SECURITY DEFINER.
CREATE EXTENSION exactly_once;
SELECT exactly_once_version();
SELECT extversion, extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'exactly_once';

SELECT p.pronamespace::regnamespace AS schema, p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'exactly_once'
 ORDER BY 2, 3;

SELECT c.relnamespace::regnamespace AS schema, c.relname, c.relkind, c.relacl
  FROM pg_class c WHERE c.relnamespace = 'exactly_once'::regnamespace ORDER BY 2;
SELECT nspacl FROM pg_namespace WHERE nspname = 'exactly_once';
SELECT has_schema_privilege('public', 'exactly_once', 'USAGE') AS public_usage,
       has_table_privilege('public', 'exactly_once.claims', 'INSERT') AS public_insert_claims,
       has_table_privilege('public', 'exactly_once.outbox', 'INSERT') AS public_insert_outbox;

-- A role without grants cannot touch the state, directly or through the functions.
CREATE ROLE regress_eo_app;
SET ROLE regress_eo_app;
\set VERBOSITY sqlstate
INSERT INTO exactly_once.claims VALUES (gen_random_uuid(), now());
SELECT claim_once('setup', 'k1');
SELECT outbox_emit('setup', 'k1', '{}'::jsonb);
\set VERBOSITY default
SELECT dedup_key('setup', 'k1');   -- pure, needs no grant
RESET ROLE;

-- EXECUTE on the functions makes them work for that role, with no grant on the state
-- (eo_privileges shows the whole least-privilege setup).
GRANT EXECUTE ON FUNCTION claim_once(text, text), outbox_emit(text, text, jsonb) TO regress_eo_app;
SET ROLE regress_eo_app;
SELECT claim_once('setup', 'k1'), claim_once('setup', 'k1');
SELECT outbox_emit('setup', 'k1', '{}'::jsonb) IS NOT NULL AS emitted;
\set VERBOSITY sqlstate
INSERT INTO exactly_once.claims VALUES (gen_random_uuid(), now());
\set VERBOSITY default
RESET ROLE;
DELETE FROM exactly_once.claims;
DELETE FROM exactly_once.outbox;
REVOKE EXECUTE ON FUNCTION claim_once(text, text), outbox_emit(text, text, jsonb) FROM regress_eo_app;
DROP ROLE regress_eo_app;

-- A hostile search_path cannot redirect the functions' SQL (they carry no SET search_path:
-- every name they use is schema-qualified). Look-alike tables, and operators that would
-- raise if resolved, in a schema first on the path and in pg_temp.
CREATE SCHEMA evil;
CREATE TABLE evil.claims (k uuid PRIMARY KEY, expires_at timestamptz);
CREATE TABLE evil.outbox (LIKE exactly_once.outbox);
CREATE TABLE evil.outbox_keys (LIKE exactly_once.outbox_keys);
CREATE TEMP TABLE claims (k uuid PRIMARY KEY, expires_at timestamptz);
CREATE FUNCTION evil.trap(uuid, uuid) RETURNS boolean LANGUAGE plpgsql
  AS $$BEGIN RAISE EXCEPTION 'evil operator called'; END$$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.trap);
CREATE FUNCTION evil.trap8(bigint, integer) RETURNS bigint LANGUAGE plpgsql
  AS $$BEGIN RAISE EXCEPTION 'evil operator called'; END$$;
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = evil.trap8);
SET search_path = evil, public;
SELECT claim_once('setup', 'path'), claim_once('setup', 'path'), is_claimed('setup', 'path');
SELECT outbox_emit('setup', 'path', '{}') IS NOT NULL AS emitted, outbox_emit('setup', 'path', '{}') IS NOT NULL AS again;
SELECT release_claim('setup', 'path'), purge_expired();
SET search_path = pg_temp, evil, public;
SELECT claim_once('setup', 'temp');
SELECT count(*) AS evil_rows FROM evil.claims;
SELECT count(*) AS evil_events FROM evil.outbox;
SELECT count(*) AS temp_rows FROM pg_temp.claims;
RESET search_path;
DROP TABLE pg_temp.claims;
DROP SCHEMA evil CASCADE;
SELECT count(*) AS real_rows FROM exactly_once.claims;
SELECT count(*) AS real_events, max(key_seq) AS last_key_seq FROM exactly_once.outbox WHERE topic = 'setup';
DELETE FROM exactly_once.claims;
DELETE FROM exactly_once.outbox;
DELETE FROM exactly_once.outbox_keys;

-- Another schema at CREATE EXTENSION; DROP EXTENSION removes the state schema too; cached
-- plans in this session follow the recreated tables.
SELECT claim_once('setup', 'cached'), outbox_emit('setup', 'cached', '{}') IS NOT NULL;
DROP EXTENSION exactly_once;
SELECT count(*) AS state_schema_left FROM pg_namespace WHERE nspname = 'exactly_once';
CREATE SCHEMA app;
CREATE EXTENSION exactly_once SCHEMA app;
SELECT app.claim_once('setup', 'cached') AS fresh_table, app.claim_once('setup', 'cached') AS second,
       app.outbox_emit('setup', 'cached', '{}') IS NOT NULL AS emitted;
SELECT count(*) FROM exactly_once.outbox;
DROP EXTENSION exactly_once;
DROP SCHEMA app;
CREATE EXTENSION exactly_once;
SELECT claim_once('setup', 'cached') AS fresh_again;
DELETE FROM exactly_once.claims;
DELETE FROM exactly_once.outbox;
