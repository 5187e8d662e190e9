-- One scenario, run twice by test_cli.py: through the sqlite3 CLI (`.load`) and through
-- Python's sqlite3 module; both outputs must equal cli_scenario.expected.
-- One statement per line (or per multi-line block), default CLI output mode (list, '|').
.load ./exactly_once
SELECT 'version', exactly_once_version() GLOB '[0-9]*.[0-9]*.[0-9]*';
CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
INSERT INTO accounts VALUES (7, 1000);
CREATE TABLE payments(id TEXT PRIMARY KEY, account INTEGER NOT NULL, amount INTEGER NOT NULL);
CREATE TRIGGER payments_once BEFORE INSERT ON payments
  WHEN NOT claim_once('payments', NEW.id)
BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER payments_apply AFTER INSERT ON payments BEGIN
  UPDATE accounts SET balance = balance - NEW.amount WHERE id = NEW.account;
  SELECT outbox_emit('payment-events', 'acct-' || NEW.account, json_object('payment', NEW.id, 'amount', NEW.amount));
END;
-- The same payment delivered three times (network retries).
INSERT INTO payments VALUES ('pay_123', 7, 100);
INSERT INTO payments VALUES ('pay_123', 7, 100);
BEGIN;
INSERT INTO payments VALUES ('pay_123', 7, 100);
COMMIT;
SELECT 'balance', balance FROM accounts WHERE id = 7;
SELECT 'payments', count(*) FROM payments;
SELECT 'event', seq, topic, key, payload, headers IS NULL, length(id), delivered_at IS NULL FROM exactly_once_outbox;
SELECT 'claim', lower(hex(k)), length(k), expires_at > strftime('%s', 'now') * 1000 FROM exactly_once_claims;
SELECT 'dedup_key', lower(hex(dedup_key('payments', 'pay_123')));
SELECT 'direct', claim_once('payments', 'pay_123'), claim_once('payments', 'pay_124', '48h'), claim_once('payments', 'pay_124');
SELECT 'is_claimed', is_claimed('payments', 'pay_124'), is_claimed('payments', 'pay_999');
SELECT 'release', release_claim('payments', 'pay_124'), release_claim('payments', 'pay_124'), is_claimed('payments', 'pay_124');
BEGIN;
SELECT 'in tx', claim_once('jobs', 'job-1'), length(outbox_emit('jobs', 'job-1', '{"n":1}', '{"trace":"abc"}'));
ROLLBACK;
SELECT 'after rollback', is_claimed('jobs', 'job-1'), (SELECT count(*) FROM exactly_once_outbox WHERE topic = 'jobs');
SELECT 'config', exactly_once_config('default_ttl'), exactly_once_config('default_ttl', '48h'), exactly_once_config('default_ttl', 5400);
SELECT 'purge', purge_expired(), purge_expired(10);
SELECT 'claims', count(*) FROM exactly_once_claims;
