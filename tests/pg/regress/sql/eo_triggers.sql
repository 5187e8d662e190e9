-- Generic triggers on real tables.
CREATE TABLE orders (id serial PRIMARY KEY, request_id text, amount int);
CREATE TRIGGER orders_dedup BEFORE INSERT ON orders FOR EACH ROW
    EXECUTE FUNCTION exactly_once_dedup_trigger('orders', 'request_id');
CREATE TRIGGER orders_outbox AFTER INSERT OR UPDATE ON orders FOR EACH ROW
    EXECUTE FUNCTION exactly_once_outbox_trigger('order-events', 'id');

INSERT INTO orders (request_id, amount) VALUES ('req-1', 10);
INSERT INTO orders (request_id, amount) VALUES ('req-1', 10);   -- duplicate: skipped
INSERT INTO orders (request_id, amount) VALUES ('req-2', 20), ('req-2', 20), ('req-3', 30);
SELECT id, request_id, amount FROM orders ORDER BY id;
SELECT is_claimed('orders', 'req-1') AS req1, is_claimed('orders', 'req-4') AS req4;
UPDATE orders SET amount = amount + 1 WHERE request_id = 'req-3';
SELECT topic, key, payload - 'id' AS payload FROM exactly_once.outbox ORDER BY seq;
SELECT bool_and((payload->>'id') = key) AS keyed_by_id FROM exactly_once.outbox;

-- rollback undoes row, claim and event together
BEGIN;
INSERT INTO orders (request_id, amount) VALUES ('req-5', 50);
ROLLBACK;
SELECT is_claimed('orders', 'req-5') AS req5_after_rollback,
       (SELECT count(*) FROM exactly_once.outbox WHERE payload->>'request_id' = 'req-5') AS req5_events;
INSERT INTO orders (request_id, amount) VALUES ('req-5', 50);
SELECT count(*) AS orders FROM orders;

-- a third argument sets the TTL; a non-text key column works through its text form
CREATE TABLE hooks (delivery uuid, body text);
CREATE TRIGGER hooks_dedup BEFORE INSERT ON hooks FOR EACH ROW
    EXECUTE FUNCTION exactly_once_dedup_trigger('hooks', 'delivery', '7d');
INSERT INTO hooks VALUES ('00000000-0000-0000-0000-000000000001', 'a'), ('00000000-0000-0000-0000-000000000001', 'b');
SELECT * FROM hooks;
SELECT expires_at - clock_timestamp() BETWEEN interval '6 days 23 hours' AND interval '7 days' AS ttl_7d
  FROM exactly_once.claims WHERE k = dedup_key('hooks', '00000000-0000-0000-0000-000000000001');

-- misuse is a clear error
\set SHOW_CONTEXT never
\set VERBOSITY default
INSERT INTO orders (request_id, amount) VALUES (NULL, 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO orders (request_id, amount) VALUES ('', 1);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bad1 (a text);
CREATE TRIGGER bad1_t BEFORE INSERT ON bad1 FOR EACH ROW EXECUTE FUNCTION exactly_once_dedup_trigger('s', 'nope');
INSERT INTO bad1 VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bad2 (a text);
CREATE TRIGGER bad2_t AFTER INSERT ON bad2 FOR EACH ROW EXECUTE FUNCTION exactly_once_dedup_trigger('s', 'a');
INSERT INTO bad2 VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bad3 (a text);
CREATE TRIGGER bad3_t BEFORE INSERT ON bad3 FOR EACH ROW EXECUTE FUNCTION exactly_once_outbox_trigger('t', 'a');
INSERT INTO bad3 VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bad4 (a text);
CREATE TRIGGER bad4_t BEFORE INSERT ON bad4 FOR EACH ROW EXECUTE FUNCTION exactly_once_dedup_trigger('s');
INSERT INTO bad4 VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bad5 (a text);
CREATE TRIGGER bad5_t BEFORE INSERT ON bad5 FOR EACH ROW EXECUTE FUNCTION exactly_once_dedup_trigger('s', 'a', 'forever');
INSERT INTO bad5 VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_in_bad_tables FROM (SELECT * FROM bad1 UNION ALL SELECT * FROM bad2 UNION ALL
    SELECT * FROM bad3 UNION ALL SELECT * FROM bad4 UNION ALL SELECT * FROM bad5) s;

-- The key text does not depend on session settings: the trigger functions pin DateStyle,
-- TimeZone, extra_float_digits, IntervalStyle, bytea_output and lc_monetary (proconfig SET
-- clauses apply to trigger calls too). The same instant under three settings is one row.
\set VERBOSITY default
CREATE TABLE events_ts (at timestamptz, note text);
CREATE TRIGGER events_ts_dedup BEFORE INSERT ON events_ts FOR EACH ROW
    EXECUTE FUNCTION exactly_once_dedup_trigger('events_ts', 'at');
CREATE TRIGGER events_ts_outbox AFTER INSERT ON events_ts FOR EACH ROW
    EXECUTE FUNCTION exactly_once_outbox_trigger('ts-events', 'at');
SET TimeZone = 'UTC';
INSERT INTO events_ts VALUES ('2024-03-01 12:00:00+00', 'utc');
SET TimeZone = 'Europe/Berlin';
INSERT INTO events_ts VALUES ('2024-03-01 12:00:00+00', 'berlin');
SET DateStyle = 'German';
INSERT INTO events_ts VALUES ('2024-03-01 12:00:00+00', 'german');
RESET DateStyle;
RESET TimeZone;
SELECT note FROM events_ts;
SELECT is_claimed('events_ts', '2024-03-01 12:00:00+00') AS claimed_in_utc_iso;
SELECT key, payload->>'at' AS payload_at FROM exactly_once.outbox WHERE topic = 'ts-events';
-- the settings are restored after the trigger
SET TimeZone = 'Europe/Berlin';
INSERT INTO events_ts VALUES ('2024-03-02 12:00:00+00', 'after');
SHOW TimeZone;
RESET TimeZone;
-- float8: 0.30000000000000004 and 0.3 are different values and stay two rows, whatever
-- extra_float_digits says; exact duplicates are dropped
CREATE TABLE events_f (v float8);
CREATE TRIGGER events_f_dedup BEFORE INSERT ON events_f FOR EACH ROW
    EXECUTE FUNCTION exactly_once_dedup_trigger('events_f', 'v');
SET extra_float_digits = 0;
INSERT INTO events_f VALUES (0.1::float8 + 0.2::float8), (0.3), (0.3), (0.1::float8 + 0.2::float8);
RESET extra_float_digits;
INSERT INTO events_f VALUES (0.3);
SELECT count(*) AS rows, count(DISTINCT v) AS distinct_values FROM events_f;
DROP TABLE events_ts, events_f;

DROP TABLE orders, hooks, bad1, bad2, bad3, bad4, bad5;
DELETE FROM exactly_once.outbox;
DELETE FROM exactly_once.claims;
