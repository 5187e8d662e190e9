-- exactly_once.logical_messages: events also become transactional logical decoding messages
-- (prefix 'exactly_once'), what Debezium reads from pg_logical_emit_message. Needs wal_level=logical.
-- decoding reads WAL up to the flush point: make commits flush at once
SET synchronous_commit = on;
SELECT 'init' FROM pg_create_logical_replication_slot('eo_regress_slot', 'test_decoding');
LOAD 'exactly_once';
SHOW exactly_once.logical_messages;
SELECT outbox_emit('cdc', 'k1', '{"n": 1}') IS NOT NULL AS emitted_without_message;
SET exactly_once.logical_messages = on;
BEGIN;
SELECT outbox_emit('cdc', 'k1', '{"n": 2}', '{"h": "v"}') IS NOT NULL AS emitted;
SELECT outbox_emit('cdc', 'k "quoted"', '[1, 2]') IS NOT NULL AS emitted;
COMMIT;
BEGIN;
SELECT outbox_emit('cdc', 'k2', '{"n": 3}') IS NOT NULL AS emitted_then_rolled_back;
ROLLBACK;
RESET exactly_once.logical_messages;
-- only the committed transaction's two messages; the id varies, so it is masked
SELECT regexp_replace(data, '"id":"[0-9a-f-]{36}"', '"id":"<uuid>"') AS message
  FROM pg_logical_slot_get_changes('eo_regress_slot', NULL, NULL, 'include-xids', '0')
 WHERE data LIKE 'message:%';
-- the message content is JSON naming the event row: parse it and compare with the outbox
BEGIN;
SET LOCAL exactly_once.logical_messages = on;
SELECT outbox_emit('cdc', 'k1', '{"n": 4}', '{"h": "w"}') AS id \gset
COMMIT;
WITH m AS (
  SELECT substr(data, strpos(data, 'content:') + 8)::jsonb AS j
    FROM pg_logical_slot_get_changes('eo_regress_slot', NULL, NULL, 'include-xids', '0')
   WHERE data LIKE 'message:%')
SELECT (m.j->>'id')::uuid = o.id AS id_matches, m.j->>'topic' AS topic, m.j->>'key' AS key,
       (m.j->>'key_seq')::bigint = o.key_seq AS key_seq_matches, m.j->'payload' = o.payload AS payload_matches,
       m.j->'headers' AS headers, jsonb_typeof(m.j) AS kind
  FROM m JOIN exactly_once.outbox o ON o.id = (m.j->>'id')::uuid;
SELECT count(*) AS rows_for_messages FROM exactly_once.outbox WHERE topic = 'cdc';
-- exactly_once.logical_messages is superuser-only: a session cannot hide its events from CDC
CREATE ROLE regress_eo_cdc;
SET ROLE regress_eo_cdc;
SET exactly_once.logical_messages = off;
RESET ROLE;
DROP ROLE regress_eo_cdc;
SELECT pg_drop_replication_slot('eo_regress_slot');
DELETE FROM exactly_once.outbox;
DELETE FROM exactly_once.outbox_keys;
