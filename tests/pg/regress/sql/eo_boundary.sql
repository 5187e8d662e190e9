-- C++ boundary (docs/DESIGN.md §5): errors raised deep in the C++ path (core exceptions converted at
-- the entry point) end as clean top-level ERRORs; the session stays usable after each one.
\set SHOW_CONTEXT never
-- oversized key: core validate_key_arg throws too_large
SELECT claim_once('boundary', repeat('k', 100000));
\echo :LAST_ERROR_SQLSTATE
SELECT 1 AS alive_after_oversized_key;
-- bad JSON: core validate_json_payload throws invalid_text
SELECT outbox_emit('boundary', 'k', '{"unterminated": ');
\echo :LAST_ERROR_SQLSTATE
SELECT 2 AS alive_after_bad_json;
-- bad TTL: core parse_duration throws invalid_text / invalid_value
SELECT claim_once('boundary', 'k', '12 parsecs');
\echo :LAST_ERROR_SQLSTATE
SELECT claim_once('boundary', 'k', -3600);
\echo :LAST_ERROR_SQLSTATE
SELECT 3 AS alive_after_bad_ttl;
-- inside a transaction: the transaction is aborted, then usable again after ROLLBACK
BEGIN;
SELECT claim_once('boundary', 'in-tx');
SELECT claim_once('boundary', repeat('k', 100000));
\echo :LAST_ERROR_SQLSTATE
SELECT 1;
ROLLBACK;
SELECT is_claimed('boundary', 'in-tx') AS rolled_back_claim_survived;
-- many errors in a row, each caught in a subtransaction: no leak, no crash
DO $$
DECLARE n int := 0;
BEGIN
    FOR i IN 1..2000 LOOP
        BEGIN
            CASE i % 4
                WHEN 0 THEN PERFORM claim_once('boundary', repeat('k', 70000));
                WHEN 1 THEN PERFORM outbox_emit('boundary', 'k', '[1,2');
                WHEN 2 THEN PERFORM claim_once('boundary', 'k', 'nonsense');
                ELSE PERFORM dedup_key(NULL, 'k');
            END CASE;
        EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
            n := n + 1;
        END;
    END LOOP;
    RAISE NOTICE 'caught % errors', n;
END $$;
-- and the normal path still works in the same session
SELECT claim_once('boundary', 'after'), claim_once('boundary', 'after');
SELECT outbox_emit('boundary', 'k', '{"ok":true}') IS NOT NULL AS emitted;
SELECT pg_backend_pid() = pg_backend_pid() AS same_session;
DELETE FROM exactly_once.claims;
DELETE FROM exactly_once.outbox;
