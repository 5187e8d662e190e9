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
-- the message is valid JSON that names the event row
SELECT count(*) AS rows_for_messages FROM exactly_once.outbox WHERE topic = 'cdc';
SELECT pg_drop_replication_slot('eo_regress_slot');
DELETE FROM exactly_once.outbox;
