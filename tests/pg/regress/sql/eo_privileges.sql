-- Least privilege (README "PostgreSQL: privileges"): the state belongs to a dedicated NOLOGIN
-- role, an application role gets EXECUTE on the functions and nothing on the tables. It can
-- claim, release, emit and purge through the functions, and cannot write, read or hide state
-- directly (42501), whatever its search_path.
CREATE FUNCTION pg_temp.eo_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Default install: EXECUTE on the state functions is granted to nobody.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'exactly_once'
 ORDER BY 1::text;

-- The setup: a dedicated owner of the state, then EXECUTE for the application role.
CREATE ROLE regress_eo_state NOLOGIN;
ALTER SCHEMA exactly_once OWNER TO regress_eo_state;
ALTER TABLE exactly_once.claims OWNER TO regress_eo_state;
ALTER TABLE exactly_once.outbox OWNER TO regress_eo_state;
ALTER TABLE exactly_once.outbox_keys OWNER TO regress_eo_state;
SELECT c.relname, c.relowner::regrole FROM pg_class c
 WHERE c.relnamespace = 'exactly_once'::regnamespace ORDER BY 1;
CREATE ROLE regress_eo_app LOGIN;
GRANT EXECUTE ON FUNCTION
    claim_once(text, text), claim_once(text, text, interval), claim_once(text, text, bigint),
    claim_once(text, text, text), is_claimed(text, text), release_claim(text, text),
    purge_expired(integer), outbox_emit(text, text, jsonb), outbox_emit(text, text, jsonb, jsonb),
    outbox_emit(text, text, text), outbox_emit(text, text, text, jsonb), outbox_emit(text, text, text, text)
    TO regress_eo_app;

-- The application's own table with the trigger helpers (created by its owner, who needs
-- EXECUTE on the trigger functions only for CREATE TRIGGER).
CREATE TABLE app_orders (id int PRIMARY KEY, request_id text);
CREATE TRIGGER app_orders_dedup BEFORE INSERT ON app_orders FOR EACH ROW
    EXECUTE FUNCTION exactly_once_dedup_trigger('app-orders', 'request_id');
CREATE TRIGGER app_orders_outbox AFTER INSERT ON app_orders FOR EACH ROW
    EXECUTE FUNCTION exactly_once_outbox_trigger('app-order-events', 'id');
GRANT SELECT, INSERT ON app_orders TO regress_eo_app;

-- A hostile schema on the application's search_path: look-alike tables and a trap operator.
CREATE SCHEMA regress_eo_evil;
CREATE TABLE regress_eo_evil.claims (k uuid PRIMARY KEY, expires_at timestamptz);
CREATE TABLE regress_eo_evil.outbox_keys (khash uuid PRIMARY KEY, last_key_seq bigint);
CREATE FUNCTION regress_eo_evil.trap(uuid, uuid) RETURNS boolean LANGUAGE plpgsql
  AS $$BEGIN RAISE EXCEPTION 'evil operator called'; END$$;
CREATE OPERATOR regress_eo_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_eo_evil.trap);
GRANT USAGE ON SCHEMA regress_eo_evil TO regress_eo_app;
GRANT ALL ON ALL TABLES IN SCHEMA regress_eo_evil TO regress_eo_app;

-- CDC is on for this session (superuser-only setting): the application cannot turn it off.
SET synchronous_commit = on;
SELECT 'init' FROM pg_create_logical_replication_slot('eo_priv_slot', 'test_decoding');
SET exactly_once.logical_messages = on;

CREATE TEMP TABLE direct_access (n serial, stmt text);
INSERT INTO direct_access (stmt) VALUES
    ($$INSERT INTO exactly_once.claims VALUES (gen_random_uuid(), now() + interval '1 day')$$),
    ($$UPDATE exactly_once.claims SET expires_at = now()$$),
    ($$DELETE FROM exactly_once.claims$$),
    ($$TRUNCATE exactly_once.claims$$),
    ($$SELECT count(*) FROM exactly_once.claims$$),
    ($$INSERT INTO exactly_once.outbox (id, topic, key, key_seq, payload, created_at)
         VALUES (gen_random_uuid(), 'app', 'acct-7', 99, '{"forged": true}', now())$$),
    ($$UPDATE exactly_once.outbox SET payload = '{"forged": true}'$$),
    ($$DELETE FROM exactly_once.outbox$$),
    ($$TRUNCATE exactly_once.outbox$$),
    ($$INSERT INTO exactly_once.outbox_keys VALUES (gen_random_uuid(), 1)$$),
    ($$UPDATE exactly_once.outbox_keys SET last_key_seq = 0$$),
    ($$DELETE FROM exactly_once.outbox_keys$$),
    ($$TRUNCATE exactly_once.outbox_keys$$),
    ($$SELECT nextval('exactly_once.outbox_seq_seq')$$),
    ($$CREATE TABLE exactly_once.mine (x int)$$),
    ($$SELECT exactly_once_version() IS NOT NULL$$),
    ($$SELECT dedup_key('app', 'k1') IS NOT NULL$$);
GRANT SELECT ON direct_access TO regress_eo_app;

SET ROLE regress_eo_app;
SET search_path = regress_eo_evil, public;
SELECT current_user;
-- Through the functions: everything documented works.
SELECT claim_once('app', 'k1') AS first, claim_once('app', 'k1') AS again,
       claim_once('app', 'k2', interval '1 hour') AS by_interval, claim_once('app', 'k3', 60) AS by_seconds,
       claim_once('app', 'k4', '1h') AS by_text, is_claimed('app', 'k1') AS claimed;
SELECT release_claim('app', 'k1') AS released, claim_once('app', 'k1') AS reclaimed;
SELECT claim_once('app', 'short', '1ms') AS short_claim;
SELECT pg_sleep(0.01);
SELECT purge_expired() AS purged;
SELECT outbox_emit('app', 'acct-7', '{"paid": 1}'::jsonb) IS NOT NULL AS emitted_jsonb,
       outbox_emit('app', 'acct-7', '{"paid": 2}', '{"h": "v"}') IS NOT NULL AS emitted_text;
INSERT INTO app_orders VALUES (1, 'req-1'), (2, 'req-1'), (3, 'req-3');
SELECT id FROM app_orders ORDER BY id;
-- The application cannot hide its events from CDC.
\set VERBOSITY sqlstate
SET exactly_once.logical_messages = off;
\set VERBOSITY default
-- Directly: every write (and read) of the state is refused, and changes nothing.
SELECT stmt, pg_temp.eo_try(stmt) AS result FROM pg_temp.direct_access ORDER BY n;
-- Also with USAGE on the schema (e.g. for a relay that reads the outbox): the tables refuse.
RESET ROLE;
GRANT USAGE ON SCHEMA exactly_once TO regress_eo_app;
SET ROLE regress_eo_app;
SELECT stmt, pg_temp.eo_try(stmt) AS result FROM pg_temp.direct_access ORDER BY n;
RESET ROLE;
REVOKE USAGE ON SCHEMA exactly_once FROM regress_eo_app;
SET ROLE regress_eo_app;
RESET search_path;
RESET ROLE;
RESET exactly_once.logical_messages;

-- What happened is what the functions did, nothing else; the look-alikes are untouched.
SELECT count(*) AS claims, count(*) FILTER (WHERE k = dedup_key('app-orders', 'req-1')) AS req1_claims
  FROM exactly_once.claims;
SELECT topic, key, key_seq, payload FROM exactly_once.outbox ORDER BY seq;
SELECT (SELECT count(*) FROM regress_eo_evil.claims) AS evil_claims,
       (SELECT count(*) FROM regress_eo_evil.outbox_keys) AS evil_keys;
-- Every event of the application reached CDC (2 from outbox_emit, 2 from the trigger).
SELECT count(*) AS cdc_messages
  FROM pg_logical_slot_get_changes('eo_priv_slot', NULL, NULL, 'include-xids', '0')
 WHERE data LIKE 'message: transactional: 1 prefix: exactly_once%';
SELECT pg_drop_replication_slot('eo_priv_slot');

-- A role with no EXECUTE grant gets nothing through the functions either.
CREATE ROLE regress_eo_other;
SET ROLE regress_eo_other;
\set VERBOSITY sqlstate
SELECT claim_once('app', 'k9');
SELECT outbox_emit('app', 'k9', '{}'::jsonb);
SELECT release_claim('app', 'k2');
SELECT is_claimed('app', 'k2');
SELECT purge_expired();
\set VERBOSITY default
RESET ROLE;

-- The statements run as the state owner, and the switch ends with the call even when it
-- fails inside them: a trigger of the state owner on claims raises for one key, the error
-- unwinds the subtransaction, and the caller is itself again.
CREATE FUNCTION exactly_once.regress_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.k = public.dedup_key('app', 'boom') THEN
        RAISE EXCEPTION 'boom as %', current_user;
    END IF;
    RETURN NEW;
END $$;
ALTER FUNCTION exactly_once.regress_boom() OWNER TO regress_eo_state;
CREATE TRIGGER regress_boom BEFORE INSERT ON exactly_once.claims FOR EACH ROW
    EXECUTE FUNCTION exactly_once.regress_boom();
SET ROLE regress_eo_app;
SELECT pg_temp.eo_try($$SELECT claim_once('app', 'boom')$$) AS failed_inside, current_user AS still;
SELECT claim_once('app', 'after-boom') AS works_after, current_user AS still;
RESET ROLE;
DROP TRIGGER regress_boom ON exactly_once.claims;
DROP FUNCTION exactly_once.regress_boom();

-- Back to the default owner for the tests that follow.
DROP TABLE app_orders;
DROP SCHEMA regress_eo_evil CASCADE;
DELETE FROM exactly_once.claims;
DELETE FROM exactly_once.outbox;
DELETE FROM exactly_once.outbox_keys;
ALTER SCHEMA exactly_once OWNER TO CURRENT_USER;
ALTER TABLE exactly_once.claims OWNER TO CURRENT_USER;
ALTER TABLE exactly_once.outbox OWNER TO CURRENT_USER;
ALTER TABLE exactly_once.outbox_keys OWNER TO CURRENT_USER;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM regress_eo_app;
DROP ROLE regress_eo_app, regress_eo_other, regress_eo_state;
