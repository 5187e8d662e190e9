"""Triggers on the extension's own tables: calls back into the extension, bounded nesting, errors reported."""

import sqlite3
import unittest

from eo_sqlite import ClaimsDbTest, TempDirTest, connect, one, run_isolated


class ReentrancyTest(ClaimsDbTest):
    def test_reentrant_call_from_trigger_on_state_table(self):
        # A trigger on our own table calls claim_once while our cached INSERT is running.
        one(self.db, "SELECT claim_once('init', 'k')")
        self.db.execute(
            "CREATE TEMP TRIGGER nested AFTER INSERT ON exactly_once_claims "
            "WHEN (SELECT count(*) FROM exactly_once_claims) < 4 "
            "BEGIN SELECT claim_once('nested', (SELECT count(*) FROM exactly_once_claims)); END")
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 4)
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 0)

    def test_nesting_follows_the_connections_trigger_depth_limit(self):
        one(self.db, "SELECT claim_once('init', 'k')")
        self.db.execute(
            "CREATE TEMP TRIGGER nested AFTER INSERT ON exactly_once_claims "
            "WHEN (SELECT count(*) FROM exactly_once_claims) < 4 "
            "BEGIN SELECT claim_once('nested', (SELECT count(*) FROM exactly_once_claims)); END")
        self.db.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 2)  # the example above nests 3 deep
        with self.assertRaisesRegex(sqlite3.Error, r"^claim_once: nested too deeply \(more than 2 nested calls"):
            self.db.execute("SELECT claim_once('s', 'k')")
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 1)  # all undone
        self.db.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 3)
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 4)


class UserTriggerTest(unittest.TestCase):
    """The application's own triggers and views around the functions."""

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_missing_table_in_a_users_trigger_is_reported(self):
        # Only our own tables being missing means "nothing stored yet"; a user's trigger on
        # them that names a missing table is an error to report, not to swallow.
        one(self.db, "SELECT claim_once('s', 'k')")
        self.db.executescript("""
            CREATE TRIGGER audit_delete AFTER DELETE ON exactly_once_claims
            BEGIN INSERT INTO audit_log VALUES ('delete'); END;
            CREATE TRIGGER audit_insert AFTER INSERT ON exactly_once_claims
            BEGIN INSERT INTO audit_log VALUES ('insert'); END;
        """)
        for sql, fn in (("SELECT release_claim('s', 'k')", "release_claim"),
                        ("SELECT purge_expired()", "purge_expired"),
                        ("SELECT claim_once('s', 'k2')", "claim_once")):
            with self.subTest(fn=fn):
                with self.assertRaisesRegex(sqlite3.Error, rf"^{fn}: no such table: (main\.)?audit_log$"):
                    self.db.execute(sql)
        self.assertEqual(one(self.db, "SELECT is_claimed('s', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 1)


class CrashTest(TempDirTest):
    """Inputs that once crashed the process; each runs in a process of its own."""

    def test_trigger_on_own_table_calling_back_is_bounded(self):
        out = run_isolated(self, """
            db = connect()
            one(db, "SELECT outbox_emit('t', 'k', '{}')")
            one(db, "SELECT claim_once('s', 'k')")
            def attempt(sql):
                try:
                    db.execute(sql).fetchall()
                    print("no error")
                except sqlite3.Error as e:
                    print(e)
            # Unbounded: every event written writes another one.
            db.execute("CREATE TEMP TRIGGER again AFTER INSERT ON exactly_once_outbox "
                       "BEGIN SELECT outbox_emit('t', 'k', '{}'); END")
            attempt("SELECT outbox_emit('t', 'k', '{}')")
            db.execute("DROP TRIGGER again")
            # Unbounded through both tables: a claim emits, an event claims a new key.
            db.execute("CREATE TEMP TRIGGER c2o AFTER INSERT ON exactly_once_claims "
                       "BEGIN SELECT outbox_emit('t', 'k', '{}'); END")
            db.execute("CREATE TEMP TRIGGER o2c AFTER INSERT ON exactly_once_outbox "
                       "BEGIN SELECT claim_once('n', NEW.seq); END")
            attempt("SELECT claim_once('s', 'k2')")
            print(one(db, "SELECT count(*) FROM exactly_once_outbox"), one(db, "SELECT count(*) FROM exactly_once_claims"))
            db.execute("DROP TRIGGER c2o")
            db.execute("DROP TRIGGER o2c")
            print(one(db, "SELECT claim_once('s', 'k2')"), one(db, "SELECT length(outbox_emit('t', 'k', '{}'))"))
            db.close()
        """)
        self.assertEqual(out.splitlines(), [
            "outbox_emit: nested too deeply (more than 64 nested calls: "
            "does a trigger on an exactly_once_ table call the extension again?)",
            "claim_once: nested too deeply (more than 64 nested calls: "
            "does a trigger on an exactly_once_ table call the extension again?)",
            "1 1",  # nothing written by the failed calls
            "1 36",  # and the connection works on
        ])



if __name__ == "__main__":
    unittest.main(verbosity=2)
