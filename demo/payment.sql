-- One payment, sent four times, charged once.
--
-- The client asks us to charge 100 from account 7 for payment 'pay_123'. The network is
-- unreliable, so the same request reaches us four times. Every delivery runs the very same
-- transaction: claim the payment id, move the money only if the claim succeeded, and queue
-- one event for the rest of the system in the outbox. demo/run.sh runs this file with the
-- sqlite3 command-line shell from the directory that holds exactly_once.so.

.bail on
.headers off
.mode list
.load ./exactly_once

.print 'Setup: account 7 belongs to Alice and holds 1000.'
SELECT '       Payment ids are remembered for 48 hours: default_ttl = ' ||
       exactly_once_config('default_ttl', '48h') || ' (stored in this database).';
CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);
INSERT INTO accounts VALUES (7, 'Alice', 1000);
-- What claim_once answered for the delivery in progress (1 = first time, 0 = seen before).
CREATE TEMP TABLE attempt(claimed INTEGER NOT NULL);

.print ''
.print 'Delivery 1: the request arrives, but the server crashes before COMMIT.'
BEGIN;
  DELETE FROM attempt;
  INSERT INTO attempt SELECT claim_once('payments', 'pay_123');
  UPDATE accounts SET balance = balance - 100 WHERE id = 7 AND (SELECT claimed FROM attempt) = 1;
  SELECT '  claim_once said ' || claimed || ': charging 100, queueing event ' ||
         outbox_emit('payment-events', 'acct-7', json_object('payment', 'pay_123', 'account', 7, 'amount', 100))
    FROM attempt WHERE claimed = 1;
ROLLBACK;
SELECT '  ROLLBACK undid the claim, the charge and the event: balance ' || balance ||
       ', pay_123 claimed: ' || is_claimed('payments', 'pay_123') ||
       ', events in the outbox: ' || (SELECT count(*) FROM exactly_once_outbox)
  FROM accounts WHERE id = 7;

.print ''
.print 'Delivery 2: the client retries; this time the transaction commits.'
.print '            (The reply to the client is lost on the way back.)'
BEGIN;
  DELETE FROM attempt;
  INSERT INTO attempt SELECT claim_once('payments', 'pay_123');
  UPDATE accounts SET balance = balance - 100 WHERE id = 7 AND (SELECT claimed FROM attempt) = 1;
  SELECT '  claim_once said ' || claimed || ': charging 100, queueing event ' ||
         outbox_emit('payment-events', 'acct-7', json_object('payment', 'pay_123', 'account', 7, 'amount', 100))
    FROM attempt WHERE claimed = 1;
  SELECT '  claim_once said 0: pay_123 was already processed, nothing to do' FROM attempt WHERE claimed = 0;
COMMIT;
SELECT '  Balance: ' || balance FROM accounts WHERE id = 7;

.print ''
.print 'Delivery 3: the client did not get a reply, so it sends pay_123 again.'
BEGIN;
  DELETE FROM attempt;
  INSERT INTO attempt SELECT claim_once('payments', 'pay_123');
  UPDATE accounts SET balance = balance - 100 WHERE id = 7 AND (SELECT claimed FROM attempt) = 1;
  SELECT '  claim_once said ' || claimed || ': charging 100, queueing event ' ||
         outbox_emit('payment-events', 'acct-7', json_object('payment', 'pay_123', 'account', 7, 'amount', 100))
    FROM attempt WHERE claimed = 1;
  SELECT '  claim_once said 0: pay_123 was already processed, nothing to do' FROM attempt WHERE claimed = 0;
COMMIT;
SELECT '  Balance: ' || balance FROM accounts WHERE id = 7;

.print ''
.print 'Delivery 4: a proxy replays the same request once more.'
BEGIN;
  DELETE FROM attempt;
  INSERT INTO attempt SELECT claim_once('payments', 'pay_123');
  UPDATE accounts SET balance = balance - 100 WHERE id = 7 AND (SELECT claimed FROM attempt) = 1;
  SELECT '  claim_once said ' || claimed || ': charging 100, queueing event ' ||
         outbox_emit('payment-events', 'acct-7', json_object('payment', 'pay_123', 'account', 7, 'amount', 100))
    FROM attempt WHERE claimed = 1;
  SELECT '  claim_once said 0: pay_123 was already processed, nothing to do' FROM attempt WHERE claimed = 0;
COMMIT;
SELECT '  Balance: ' || balance FROM accounts WHERE id = 7;

.print ''
.print 'Result after four deliveries:'
SELECT '  balance of account 7: ' || balance || ' (started at 1000: charged exactly once)' FROM accounts WHERE id = 7;
SELECT '  events in the outbox: ' || count(*) FROM exactly_once_outbox;
SELECT '  claims stored:        ' || count(*) FROM exactly_once_claims;

.print ''
.print "The claim row: 16 bytes = dedup_key('payments', 'pay_123'), live for 48 hours."
.mode line
SELECT hex(k) AS key,
       hex(k) = hex(dedup_key('payments', 'pay_123')) AS is_pay_123,
       datetime(expires_at / 1000, 'unixepoch') || ' UTC' AS expires
  FROM exactly_once_claims;

.print ''
.print 'The outbox row, waiting for a relay to deliver it:'
SELECT seq, id, topic, key, payload,
       datetime(created_at / 1000, 'unixepoch') || ' UTC' AS created,
       attempts,
       coalesce(delivered_at, 'not yet') AS delivered
  FROM exactly_once_outbox;
