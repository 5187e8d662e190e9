-- The payment scenario in psql: psql -X -f demo/pg_payment.sql (after CREATE EXTENSION rights; see README).
-- Paying twice with the same payment id charges once and emits one event.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS exactly_once;
DROP TABLE IF EXISTS demo_accounts;
CREATE TABLE demo_accounts (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO demo_accounts VALUES (7, 1000);

LISTEN exactly_once_outbox;

\echo 'first attempt of pay_123:'
BEGIN;
SELECT claim_once('payments', 'pay_123', interval '48 hours') AS claimed \gset
\if :claimed
  UPDATE demo_accounts SET balance = balance - 100 WHERE id = 7;
  SELECT outbox_emit('payment-events', 'acct-7', '{"payment": "pay_123", "paid": 100}'::jsonb) AS event_id;
\else
  \echo 'already processed: nothing to do'
\endif
COMMIT;

\echo 'retry of pay_123 (e.g. the client timed out and sent it again):'
BEGIN;
SELECT claim_once('payments', 'pay_123', interval '48 hours') AS claimed \gset
\if :claimed
  UPDATE demo_accounts SET balance = balance - 100 WHERE id = 7;
  SELECT outbox_emit('payment-events', 'acct-7', '{"payment": "pay_123", "paid": 100}'::jsonb) AS event_id;
\else
  \echo 'already processed: nothing to do'
\endif
COMMIT;

SELECT balance AS balance_after_two_attempts FROM demo_accounts WHERE id = 7;
SELECT seq, topic, key, payload FROM exactly_once.outbox
 WHERE topic = 'payment-events' AND delivered_at IS NULL ORDER BY seq;
-- demo_accounts is left in place for the caller to inspect.
