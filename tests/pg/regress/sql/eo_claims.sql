-- claim_once / is_claimed / release_claim / purge_expired / dedup_key semantics.
SELECT claim_once('payments', 'pay_123') AS first, claim_once('payments', 'pay_123') AS retry;
SELECT is_claimed('payments', 'pay_123') AS claimed, is_claimed('payments', 'pay_124') AS other;

-- The claim is part of the caller's transaction.
BEGIN;
SELECT claim_once('payments', 'rolled_back');
SELECT is_claimed('payments', 'rolled_back');
ROLLBACK;
SELECT is_claimed('payments', 'rolled_back') AS after_rollback, claim_once('payments', 'rolled_back') AS again;

-- Savepoints too.
BEGIN;
SAVEPOINT a;
SELECT claim_once('payments', 'sp');
ROLLBACK TO SAVEPOINT a;
SELECT claim_once('payments', 'sp') AS after_rollback_to_savepoint;
COMMIT;

-- TTL forms: interval, integer seconds, duration text, default GUC.
SELECT claim_once('ttl', 'interval', interval '48 hours'),
       claim_once('ttl', 'seconds', 90),
       claim_once('ttl', 'text', '1h30m'),
       claim_once('ttl', 'text-seconds', '3600'),
       claim_once('ttl', 'default'),
       claim_once('ttl', 'month', interval '1 month');
SELECT key, expires_at - clock_timestamp() BETWEEN lo AND hi AS ttl_ok
  FROM (VALUES ('interval', interval '47 hours 59 minutes', interval '48 hours'),
               ('seconds', interval '80 seconds', interval '90 seconds'),
               ('text', interval '1 hour 29 minutes', interval '1 hour 30 minutes'),
               ('text-seconds', interval '59 minutes', interval '1 hour'),
               ('default', interval '23 hours 59 minutes', interval '24 hours'),
               ('month', interval '27 days', interval '32 days')) AS v(key, lo, hi)
  JOIN exactly_once.claims c ON c.k = dedup_key('ttl', v.key)
 ORDER BY key;

-- integer and bigint seconds resolve to the one bigint overload (no ambiguity)
SELECT claim_once('ttl', 'int4', 3600) AS int4_ttl, claim_once('ttl', 'int8', 3600::bigint) AS int8_ttl,
       claim_once('ttl', 'int2', 3600::smallint) AS int2_ttl, claim_once('ttl', 'big', 3000000000::bigint) AS int8_large;
SELECT key, round(extract(epoch FROM expires_at - clock_timestamp()) / 3600) AS hours
  FROM (VALUES ('int4'), ('int8'), ('int2'), ('big')) AS v(key)
  JOIN exactly_once.claims c ON c.k = dedup_key('ttl', v.key) ORDER BY key;
-- interval bounds: the maximum is 36500 days (as '36500d' in SQLite); '100 years' is longer;
-- a positive interval under 1 ms counts as 1 ms (millisecond precision, as in the core).
-- (now + interval is calendar-aware: in a zone with DST, '36500 days' may be an hour off 36500
-- x 24 hours; UTC makes the boundary exact.)
SET TimeZone = 'UTC';
SELECT claim_once('ttl', 'max', interval '36500 days') AS max_days;
\set SHOW_CONTEXT never
SELECT claim_once('ttl', 'too-long', interval '100 years');
SELECT claim_once('ttl', 'too-long', interval '36500 days 1 second');
SELECT claim_once('ttl', 'micro', interval '1 microsecond') AS one_microsecond;
SELECT pg_sleep(0.01);
SELECT claim_once('ttl', 'micro', interval '1 hour') AS micro_claim_expired_after_1ms;
RESET TimeZone;

SHOW exactly_once.default_ttl;
SET exactly_once.default_ttl = '2h';
SHOW exactly_once.default_ttl;
SELECT claim_once('ttl', 'guc-2h');
SELECT expires_at - clock_timestamp() BETWEEN interval '1 hour 59 minutes' AND interval '2 hours' AS guc_ttl_ok
  FROM exactly_once.claims WHERE k = dedup_key('ttl', 'guc-2h');
RESET exactly_once.default_ttl;
SHOW exactly_once.max_key_bytes;

-- Expired claims count as absent at once, before any purge; re-claiming renews them.
SELECT claim_once('exp', 'k', 60);
UPDATE exactly_once.claims SET expires_at = clock_timestamp() - interval '1 millisecond'
 WHERE k = dedup_key('exp', 'k');
SELECT is_claimed('exp', 'k') AS live_after_expiry;
SELECT claim_once('exp', 'k', '1h') AS reclaimed, claim_once('exp', 'k') AS reclaim_again;
SELECT expires_at > clock_timestamp() + interval '59 minutes' AS renewed
  FROM exactly_once.claims WHERE k = dedup_key('exp', 'k');
SELECT count(*) FROM exactly_once.claims WHERE k = dedup_key('exp', 'k');

-- release_claim: true only when a live claim was released.
SELECT release_claim('payments', 'pay_123') AS released, release_claim('payments', 'pay_123') AS again,
       release_claim('payments', 'never') AS never;
SELECT claim_once('payments', 'pay_123') AS claim_after_release;
SELECT claim_once('exp', 'gone', 60);
UPDATE exactly_once.claims SET expires_at = clock_timestamp() - interval '1 second' WHERE k = dedup_key('exp', 'gone');
SELECT release_claim('exp', 'gone') AS release_expired;

-- purge_expired works in batches and keeps live claims.
DELETE FROM exactly_once.claims;
INSERT INTO exactly_once.claims
SELECT dedup_key('purge', g::text), clock_timestamp() - interval '1 hour' FROM generate_series(1, 25) g;
SELECT claim_once('purge', 'live-' || g, '1h') FROM generate_series(1, 5) g;
SELECT purge_expired(10) AS batch1, purge_expired(10) AS batch2, purge_expired() AS rest, purge_expired() AS none;
SELECT count(*) AS live_left, bool_and(expires_at > clock_timestamp()) AS all_live FROM exactly_once.claims;

-- dedup_key: length-prefixed, deterministic, matches what claim_once stores.
SELECT dedup_key('a', 'bc') <> dedup_key('ab', 'c') AS length_prefixed,
       dedup_key('payments', 'pay_123') AS pay_123,
       dedup_key('payments', 'pay_123') = dedup_key('payments', 'pay_123') AS deterministic;
SELECT count(*) FROM exactly_once.claims WHERE k = dedup_key('purge', 'live-1');
-- IMMUTABLE: usable in an index expression.
CREATE TABLE requests (scope text, key text);
CREATE INDEX ON requests (dedup_key(scope, key));
DROP TABLE requests;
-- Any text, including multibyte and long keys within the limit.
SELECT claim_once('ünïcødé', 'ключ-🔑'), claim_once('ünïcødé', 'ключ-🔑');
SELECT claim_once('big', repeat('x', 65536)), claim_once('big', repeat('x', 65536));
DELETE FROM exactly_once.claims;

-- A claim whose expired row keeps changing under it gives up after 5 rounds with 40001
-- (claim_contended: retry the transaction). A BEFORE UPDATE trigger that skips every renewal
-- stands in for a concurrent renewer winning each round.
CREATE FUNCTION eo_test_skip_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
SELECT claim_once('contended', 'k', interval '1 millisecond');
SELECT pg_sleep(0.01);
CREATE TRIGGER eo_test_skip BEFORE UPDATE ON exactly_once.claims
    FOR EACH ROW EXECUTE FUNCTION eo_test_skip_update();
\set SHOW_CONTEXT never
SELECT claim_once('contended', 'k');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER eo_test_skip ON exactly_once.claims;
DROP FUNCTION eo_test_skip_update();
SELECT claim_once('contended', 'k') AS renewed_once_nothing_interferes;
