-- Every function, every bad input: a clear ERROR naming the argument, the right SQLSTATE,
-- nothing written. eo_try() runs a statement and shows "SQLSTATE: message" (or "ok").
CREATE FUNCTION pg_temp.eo_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE before AS SELECT (SELECT count(*) FROM exactly_once.claims) AS claims,
                              (SELECT count(*) FROM exactly_once.outbox) AS events;

SELECT stmt, pg_temp.eo_try(stmt) AS result FROM (VALUES
    -- dedup_key
    ($$SELECT dedup_key(NULL, 'k')$$),
    ($$SELECT dedup_key('s', NULL)$$),
    ($$SELECT dedup_key('', 'k')$$),
    ($$SELECT dedup_key('s', '')$$),
    ($$SELECT dedup_key(repeat('s', 65537), 'k')$$),
    ($$SELECT dedup_key('s', repeat('k', 65537))$$),
    -- claim_once: scope and key
    ($$SELECT claim_once(NULL, 'k')$$),
    ($$SELECT claim_once('s', NULL)$$),
    ($$SELECT claim_once(NULL, NULL, 60)$$),
    ($$SELECT claim_once('', 'k')$$),
    ($$SELECT claim_once('s', '', interval '1 hour')$$),
    ($$SELECT claim_once('s', repeat('k', 65537))$$),
    ($$SELECT claim_once(repeat('s', 1000000), 'k', '1h')$$),
    -- claim_once: ttl
    ($$SELECT claim_once('s', 'k', NULL)$$),
    ($$SELECT claim_once('s', 'k', NULL::interval)$$),
    ($$SELECT claim_once('s', 'k', NULL::integer)$$),
    ($$SELECT claim_once('s', 'k', 0)$$),
    ($$SELECT claim_once('s', 'k', -1)$$),
    ($$SELECT claim_once('s', 'k', interval '0')$$),
    ($$SELECT claim_once('s', 'k', interval '-1 hour')$$),
    ($$SELECT claim_once('s', 'k', interval '1 day -25 hours')$$),
    ($$SELECT claim_once('s', 'k', interval '101 years')$$),
    ($$SELECT claim_once('s', 'k', '')$$),
    ($$SELECT claim_once('s', 'k', '0s')$$),
    ($$SELECT claim_once('s', 'k', '-5m')$$),
    ($$SELECT claim_once('s', 'k', 'abc')$$),
    ($$SELECT claim_once('s', 'k', '10x')$$),
    ($$SELECT claim_once('s', 'k', '1h30')$$),
    ($$SELECT claim_once('s', 'k', '30m1h')$$),
    ($$SELECT claim_once('s', 'k', '99999999999999999999d')$$),
    ($$SELECT claim_once('s', 'k', '36501d')$$),
    -- is_claimed / release_claim
    ($$SELECT is_claimed(NULL, 'k')$$),
    ($$SELECT is_claimed('s', '')$$),
    ($$SELECT is_claimed('s', repeat('k', 65537))$$),
    ($$SELECT release_claim('s', NULL)$$),
    ($$SELECT release_claim('', 'k')$$),
    ($$SELECT release_claim(repeat('s', 65537), 'k')$$),
    -- purge_expired
    ($$SELECT purge_expired(NULL)$$),
    ($$SELECT purge_expired(0)$$),
    ($$SELECT purge_expired(-10)$$),
    -- outbox_emit
    ($$SELECT outbox_emit(NULL, 'k', '{}'::jsonb)$$),
    ($$SELECT outbox_emit('t', NULL, '{}'::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', NULL::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', NULL::text)$$),
    ($$SELECT outbox_emit('', 'k', '{}'::jsonb)$$),
    ($$SELECT outbox_emit('t', '', '{}')$$),
    ($$SELECT outbox_emit('t', repeat('k', 65537), '{}'::jsonb)$$),
    ($$SELECT outbox_emit(repeat('t', 65537), 'k', '{}')$$),
    ($$SELECT outbox_emit('t', 'k', '{bad')$$),
    ($$SELECT outbox_emit('t', 'k', '"' || repeat('x', 17000000) || '"')$$),
    ($$SELECT outbox_emit('t', 'k', to_jsonb(repeat('x', 17000000)))$$),
    ($$SELECT outbox_emit('t', 'k', '')$$),
    ($$SELECT outbox_emit('t', 'k', 'not json')$$),
    ($$SELECT outbox_emit('t', 'k', '{"a":1} trailing')$$),
    ($$SELECT outbox_emit('t', 'k', '{}'::jsonb, '[]'::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', '{}'::jsonb, '"x"'::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', '{}'::jsonb, 'null'::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', '{}'::jsonb, '{"a":1}'::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', '{}'::jsonb, '{"a":"x","b":{"c":"d"}}'::jsonb)$$),
    ($$SELECT outbox_emit('t', 'k', '{}', '{"a":null}')$$),
    -- GUCs
    ($$SET exactly_once.default_ttl = 'abc'$$),
    ($$SET exactly_once.default_ttl = '0'$$),
    ($$SET exactly_once.default_ttl = '-1h'$$),
    ($$SET exactly_once.default_ttl = ''$$),
    ($$SET exactly_once.max_key_bytes = 0$$),
    ($$SET exactly_once.no_such_setting = 1$$),
    -- trigger functions called directly
    ($$SELECT exactly_once_dedup_trigger()$$),
    ($$SELECT exactly_once_outbox_trigger()$$)
) AS t(stmt);

-- A lower exactly_once.max_key_bytes applies to every key argument.
SET exactly_once.max_key_bytes = 8;
SELECT pg_temp.eo_try($$SELECT claim_once('s', '123456789')$$) AS claim,
       pg_temp.eo_try($$SELECT claim_once('s', '12345678')$$) AS claim_at_limit,
       pg_temp.eo_try($$SELECT outbox_emit('topic-too-long', 'k', '{}')$$) AS emit;
-- dedup_key is IMMUTABLE: its answer never depends on the setting (fixed 64 KiB limit)
SELECT dedup_key('s', '123456789') IS NOT NULL AS dedup_key_ignores_setting;
RESET exactly_once.max_key_bytes;
DELETE FROM exactly_once.claims WHERE k = dedup_key('s', '12345678');
-- the setting is superuser-only, and can only lower the 64 KiB limit
SELECT pg_temp.eo_try($$SET exactly_once.max_key_bytes = 65537$$) AS above_core_limit;
CREATE ROLE regress_eo_keys;
SET ROLE regress_eo_keys;
SELECT pg_temp.eo_try($$SET exactly_once.max_key_bytes = 8$$) AS as_non_superuser;
RESET ROLE;
DROP ROLE regress_eo_keys;

-- Nothing was written by any failed call.
SELECT (SELECT count(*) FROM exactly_once.claims) = claims AS claims_unchanged,
       (SELECT count(*) FROM exactly_once.outbox) = events AS outbox_unchanged
  FROM before;
DROP TABLE before;
