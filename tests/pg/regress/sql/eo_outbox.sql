-- outbox_emit: UUIDv7 ids, one row per call in the caller's transaction, seq order.
SELECT outbox_emit('payment-events', 'acct-7', '{"paid": 100}'::jsonb) AS id \gset
SELECT substr(:'id', 15, 1) AS uuid_version, substr(:'id', 20, 1) IN ('8', '9', 'a', 'b') AS rfc_variant;
SELECT topic, key, payload, headers, seq > 0 AS has_seq, attempts, delivered_at IS NULL AS pending,
       created_at <= clock_timestamp() AS created_ok
  FROM exactly_once.outbox WHERE id = :'id';

-- overloads: jsonb + headers, text payload (validated), text payload + headers; any JSON value
SELECT outbox_emit('payment-events', 'acct-7', '{"paid": 200}'::jsonb, '{"trace": "t-1"}'::jsonb) IS NOT NULL,
       outbox_emit('payment-events', 'acct-7', '{"paid": 300}') IS NOT NULL,
       outbox_emit('payment-events', 'acct-7', '[1, "two", null]', '{"content-type": "application/json"}') IS NOT NULL,
       outbox_emit('payment-events', 'acct-8', '"just a string"') IS NOT NULL,
       outbox_emit('payment-events', 'acct-8', '42'::jsonb) IS NOT NULL,
       outbox_emit('payment-events', 'acct-8', 'null'::jsonb) IS NOT NULL;
SELECT key, payload, headers FROM exactly_once.outbox ORDER BY seq;
-- ids increase with seq within a session (UUIDv7 monotonic per backend)
SELECT bool_and(id > prev) AS ids_increase
  FROM (SELECT id, lag(id) OVER (ORDER BY seq) AS prev FROM exactly_once.outbox) s WHERE prev IS NOT NULL;
SELECT count(DISTINCT id) = count(*) AS ids_unique FROM exactly_once.outbox;

-- rollback: the event never existed
BEGIN;
SELECT outbox_emit('payment-events', 'acct-9', '{"paid": 1}') IS NOT NULL;
ROLLBACK;
SELECT count(*) AS rolled_back_events FROM exactly_once.outbox WHERE key = 'acct-9';

-- the payment scenario: claim, business write and event commit together
CREATE TABLE accounts (id int PRIMARY KEY, balance int);
INSERT INTO accounts VALUES (7, 1000);
CREATE FUNCTION pay(p_id text, amount int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT claim_once('payments', p_id, interval '48 hours') THEN
        RETURN false;
    END IF;
    UPDATE accounts SET balance = balance - amount WHERE id = 7;
    PERFORM outbox_emit('payment-events', 'acct-7', jsonb_build_object('payment', p_id, 'paid', amount));
    RETURN true;
END $$;
SELECT pay('pay_500', 100) AS first, pay('pay_500', 100) AS retry, pay('pay_501', 50) AS other;
SELECT balance FROM accounts;
SELECT payload FROM exactly_once.outbox WHERE payload ? 'payment' ORDER BY seq;

-- key_seq: 1, 2, 3, ... per (topic, key) in commit order, without gaps; a rolled-back emit
-- gives its number back.
SELECT key, string_agg(key_seq::text, ',' ORDER BY seq) AS key_seqs FROM exactly_once.outbox GROUP BY key ORDER BY key;
SELECT count(*) AS key_rows FROM exactly_once.outbox_keys;
SELECT count(*) AS rolled_back_key_rows FROM exactly_once.outbox_keys WHERE khash = dedup_key('payment-events', 'acct-9');

-- Bulk emits: per-key ordering uses row locks on exactly_once.outbox_keys, which live in the
-- tuples, not in the shared lock table: 20 000 distinct keys (or topics) in one transaction
-- work, and the transaction holds no per-key entries in pg_locks.
BEGIN;
SELECT count(outbox_emit('bulk', 'key-' || g, jsonb_build_object('g', g))) AS bulk_keys FROM generate_series(1, 20000) g;
SELECT count(*) AS lock_table_entries_over_10 FROM pg_locks WHERE pid = pg_backend_pid() HAVING count(*) > 10;
COMMIT;
SELECT count(outbox_emit('bulk-topic-' || g, 'k', '{}'::jsonb)) AS bulk_topics FROM generate_series(1, 20000) g;
SELECT count(*) AS bulk_events, min(key_seq), max(key_seq) FROM exactly_once.outbox WHERE topic = 'bulk';
SELECT count(*) AS bulk_topic_events FROM exactly_once.outbox WHERE topic LIKE 'bulk-topic-%';
SELECT count(*) AS key_rows FROM exactly_once.outbox_keys;

-- headers: at most 64 KiB (exactly_once::kMaxHeadersBytes, as in SQLite), 54000 above
\set SHOW_CONTEXT never
SELECT outbox_emit('h', 'k', '{}'::jsonb, jsonb_build_object('big', repeat('x', 70000)));
\echo :LAST_ERROR_SQLSTATE
SELECT outbox_emit('h', 'k', '{}'::jsonb, jsonb_build_object('fits', repeat('x', 60000))) IS NOT NULL AS headers_60k;
-- a header named twice: untyped headers are text, checked by the core as in SQLite (22P02);
-- a jsonb argument has merged the names already and keeps the last (documented)
SELECT outbox_emit('h', 'dup', '{}', '{"a": "1", "a": "2"}');
\echo :LAST_ERROR_SQLSTATE
SELECT outbox_emit('h', 'dup', '{}'::jsonb, '{"a": "1", "a": "2"}'::jsonb) IS NOT NULL AS dup_jsonb_headers;
SELECT headers FROM exactly_once.outbox WHERE topic = 'h' AND key = 'dup';
-- NULL headers are no headers, in every overload (the column is NULL), as in SQLite
SELECT outbox_emit('h', 'no-headers', '{}', NULL) IS NOT NULL AS text_null,
       outbox_emit('h', 'no-headers', '{}'::jsonb, NULL) IS NOT NULL AS jsonb_null,
       outbox_emit('h', 'no-headers', '{}', NULL::jsonb) IS NOT NULL AS text_jsonb_null;
SELECT count(*) AS without_headers FROM exactly_once.outbox WHERE key = 'no-headers' AND headers IS NULL;
-- text payload that core JSON accepts but jsonb rejects: the error names function and argument
SELECT outbox_emit('h', 'k', '{"s": "\u0000"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS h_events FROM exactly_once.outbox WHERE topic = 'h';

-- NOTIFY delivery at commit, once per transaction: isolation spec outbox_notify.

DROP FUNCTION pay(text, int);
DROP TABLE accounts;
DELETE FROM exactly_once.outbox;
DELETE FROM exactly_once.outbox_keys;
DELETE FROM exactly_once.claims;
