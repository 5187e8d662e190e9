"""Every bad input to every function, through the real exactly_once.so (docs/DESIGN.md §4)."""

import sqlite3
import unittest

from eo_sqlite import connect, one, row_counts


class BadInputTest(unittest.TestCase):
    """docs/DESIGN.md §4: every bad input gets an error naming the function and writes nothing."""

    CASES = [
        # (sql, function, text the message must contain)
        ("SELECT claim_once(NULL, 'k')", "claim_once", "scope must not be NULL"),
        ("SELECT claim_once('s', NULL)", "claim_once", "key must not be NULL"),
        ("SELECT claim_once('', 'k')", "claim_once", "scope must not be empty"),
        ("SELECT claim_once('s', '')", "claim_once", "key must not be empty"),
        ("SELECT claim_once('s', x'')", "claim_once", "key must not be empty"),
        ("SELECT claim_once('s', zeroblob(65537))", "claim_once", "key is 65537 bytes"),
        ("SELECT claim_once('s', 0.5)", "claim_once", "key must be text, blob or integer"),
        ("SELECT claim_once(0.5, 'k')", "claim_once", "scope must be text, blob or integer"),
        ("SELECT claim_once(zeroblob(65537), 'k')", "claim_once", "scope is 65537 bytes"),
        ("SELECT claim_once('s', 'k', 0)", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', 0.0)", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', '0s')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', -5)", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', -0.5)", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', '-1h')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', 'abc')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', '')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', '5x')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', '1h 30m')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', 1e300)", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', 9223372036854775807)", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', '1000000d')", "claim_once", "ttl"),
        ("SELECT claim_once('s', 'k', NULL)", "claim_once", "ttl must not be NULL"),
        ("SELECT claim_once('s', 'k', x'01')", "claim_once", "ttl"),
        ("SELECT claim_once('s')", "claim_once", "expected 2 or 3 arguments, got 1"),
        ("SELECT claim_once('s', 'k', '1h', 1)", "claim_once", "expected 2 or 3 arguments, got 4"),
        ("SELECT is_claimed(NULL, 'k')", "is_claimed", "scope must not be NULL"),
        ("SELECT is_claimed('s', '')", "is_claimed", "key must not be empty"),
        ("SELECT is_claimed('s')", "is_claimed", "expected 2 arguments, got 1"),
        ("SELECT release_claim('s', NULL)", "release_claim", "key must not be NULL"),
        ("SELECT release_claim()", "release_claim", "expected 2 arguments, got 0"),
        ("SELECT purge_expired(0)", "purge_expired", "max_rows must be a positive integer"),
        ("SELECT purge_expired(-1)", "purge_expired", "max_rows must be a positive integer"),
        ("SELECT purge_expired(1.5)", "purge_expired", "max_rows must be a positive integer"),
        ("SELECT purge_expired('abc')", "purge_expired", "max_rows must be a positive integer"),
        ("SELECT purge_expired(NULL)", "purge_expired", "max_rows must not be NULL"),
        ("SELECT purge_expired(1, 2)", "purge_expired", "expected 0 or 1 arguments, got 2"),
        ("SELECT dedup_key(NULL, 'k')", "dedup_key", "scope must not be NULL"),
        ("SELECT dedup_key('s', zeroblob(65537))", "dedup_key", "key is 65537 bytes"),
        ("SELECT dedup_key('s')", "dedup_key", "expected 2 arguments, got 1"),
        ("SELECT outbox_emit(NULL, 'k', '{}')", "outbox_emit", "topic must not be NULL"),
        ("SELECT outbox_emit('', 'k', '{}')", "outbox_emit", "topic must not be empty"),
        ("SELECT outbox_emit('t', NULL, '{}')", "outbox_emit", "key must not be NULL"),
        ("SELECT outbox_emit('t', '', '{}')", "outbox_emit", "key must not be empty"),
        ("SELECT outbox_emit('t', zeroblob(65537), '{}')", "outbox_emit", "key is 65537 bytes"),
        ("SELECT outbox_emit('t', 'k', NULL)", "outbox_emit", "payload must not be NULL"),
        ("SELECT outbox_emit('t', 'k', '{')", "outbox_emit", "payload is not valid JSON"),
        ("SELECT outbox_emit('t', 'k', 'not json')", "outbox_emit", "payload is not valid JSON"),
        ("SELECT outbox_emit('t', 'k', '')", "outbox_emit", "payload"),
        ("SELECT outbox_emit('t', 'k', x'7b7d')", "outbox_emit", "payload must be JSON text"),
        ("SELECT outbox_emit('t', 'k', 1.5)", "outbox_emit", "payload must be JSON text, not a REAL"),
        ("SELECT outbox_emit('t', 'k', '{}', 1.5)", "outbox_emit", "headers must be JSON text, not a REAL"),
        ("SELECT outbox_emit(0.5, 'k', '{}')", "outbox_emit", "topic must be text, blob or integer"),
        ("SELECT outbox_emit('t', 0.5, '{}')", "outbox_emit", "key must be text, blob or integer"),
        ("SELECT outbox_emit('t', 'k', '{}', '[]')", "outbox_emit", "headers must be a JSON object of strings"),
        ("SELECT outbox_emit('t', 'k', '{}', '{\"a\":1}')", "outbox_emit", "headers must be a JSON object of strings"),
        ("SELECT outbox_emit('t', 'k', '{}', '\"x\"')", "outbox_emit", "headers must be a JSON object of strings"),
        ("SELECT outbox_emit('t', 'k', '{}', 'nope')", "outbox_emit", "headers is not valid JSON"),
        ("SELECT outbox_emit('t', 'k', '{}' || char(0) || 'x')", "outbox_emit",
         "payload is not valid JSON (it contains a NUL byte)"),
        ("SELECT outbox_emit('t', 'k', '{}', '{\"a\":\"x\"}' || char(0) || '{}')", "outbox_emit",
         "headers is not valid JSON (it contains a NUL byte)"),
        ("SELECT outbox_emit('t', 'k', '{}', '{\"a\":\"x\",\"a\":\"y\"}')", "outbox_emit",
         'headers names "a" more than once'),
        ("SELECT outbox_emit('t', 'k', CAST(x'efbbbf7b7d' AS TEXT))", "outbox_emit",
         "payload is not valid JSON (it starts with a byte-order mark)"),
        ("SELECT outbox_emit('t', 'k', '{}', '{\"a\":\"' || replace(hex(zeroblob(32768)), '0', 'x') || '\"}')",
         "outbox_emit", "headers is 65544 bytes, over the limit of 65536 bytes"),
        ("SELECT outbox_emit('t', 'k', replace(hex(zeroblob(1001)), '00', '[') || replace(hex(zeroblob(1001)), '00', ']'))",
         "outbox_emit", "payload is nested more than 1000 levels deep"),
        ("SELECT outbox_emit('t', 'k')", "outbox_emit", "expected 3 or 4 arguments, got 2"),
        ("SELECT outbox_emit('t', 'k', '{}', '{}', 1)", "outbox_emit", "expected 3 or 4 arguments, got 5"),
        ("SELECT exactly_once_config('nope')", "exactly_once_config", 'unknown setting "nope"'),
        ("SELECT exactly_once_config('nope', '1h')", "exactly_once_config", 'unknown setting "nope"'),
        ("SELECT exactly_once_config(NULL)", "exactly_once_config", "name must not be NULL"),
        ("SELECT exactly_once_config(CAST('default_ttl' AS BLOB))", "exactly_once_config", "name must be text"),
        ("SELECT exactly_once_config(CAST('default_ttl' AS BLOB), '1h')", "exactly_once_config", "name must be text"),
        ("SELECT exactly_once_config(1)", "exactly_once_config", "name must be text"),
        ("SELECT exactly_once_config('default_ttl', 0)", "exactly_once_config", "default_ttl must be positive"),
        ("SELECT exactly_once_config('default_ttl', 'soon')", "exactly_once_config", "default_ttl is not a duration"),
        ("SELECT exactly_once_config('default_ttl', NULL)", "exactly_once_config", "default_ttl must not be NULL"),
        ("SELECT exactly_once_config()", "exactly_once_config", "expected 1 or 2 arguments, got 0"),
        ("SELECT exactly_once_config('default_ttl', '1h', 1)", "exactly_once_config", "expected 1 or 2 arguments, got 3"),
        ("SELECT exactly_once_version(1)", "exactly_once_version", "expected 0 arguments, got 1"),
    ]

    def test_every_bad_input(self):
        for fresh in (True, False):
            db = connect()
            self.addCleanup(db.close)
            if not fresh:  # state tables exist and hold a row each
                one(db, "SELECT claim_once('s', 'existing')")
                one(db, "SELECT outbox_emit('t', 'existing', '{}')")
                one(db, "SELECT exactly_once_config('default_ttl', '2h')")
            before = row_counts(db)
            for sql, fn, fragment in self.CASES:
                with self.subTest(sql=sql, fresh=fresh):
                    with self.assertRaises(sqlite3.Error) as cm:
                        db.execute(sql).fetchall()
                    message = str(cm.exception)
                    self.assertTrue(message.startswith(fn + ": "), message)
                    self.assertIn(fragment, message)
                    self.assertEqual(row_counts(db), before)
                    self.assertFalse(db.in_transaction)
            if not fresh:
                self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl')"), "2h")
                self.assertEqual(one(db, "SELECT claim_once('s', 'existing')"), 0)

    def test_bad_input_inside_trigger_aborts_the_statement(self):
        db = connect()
        self.addCleanup(db.close)
        db.executescript("""
            CREATE TABLE p(id TEXT);
            CREATE TRIGGER p_once BEFORE INSERT ON p WHEN NOT claim_once('p', NEW.id)
            BEGIN SELECT RAISE(IGNORE); END;
        """)
        db.execute("INSERT INTO p VALUES ('ok')")
        with self.assertRaisesRegex(sqlite3.Error, "^claim_once: key must not be NULL"):
            db.execute("INSERT INTO p VALUES ('ok2'), (NULL)")
        self.assertEqual(one(db, "SELECT count(*) FROM p"), 1)
        self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_claims"), 1)  # 'ok2' undone



if __name__ == "__main__":
    unittest.main(verbosity=2)
