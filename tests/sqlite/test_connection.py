"""Connections: attached databases, locks, read-only files, separate state per connection."""

import sqlite3
import unittest

from eo_sqlite import TempDirTest, connect, one, table_exists


class AttachedDatabaseTest(TempDirTest):
    """State always lives in schema main: the database the application opened."""

    def setUp(self):
        super().setUp()
        self.db = connect(self.path("main.db"))
        self.addCleanup(self.db.close)
        self.db.execute("ATTACH ? AS aux", (self.path("aux.db"),))
        self.db.execute("CREATE TABLE aux.orders(id TEXT PRIMARY KEY)")

    def test_state_goes_to_main_and_rolls_back_with_attached_writes(self):
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO aux.orders VALUES ('o1')")
        self.assertEqual(one(self.db, "SELECT claim_once('orders', 'o1')"), 1)
        one(self.db, "SELECT outbox_emit('orders', 'o1', '{}')")
        self.db.execute("ROLLBACK")
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.orders"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('orders', 'o1')"), 0)

        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO aux.orders VALUES ('o1')")
        self.assertEqual(one(self.db, "SELECT claim_once('orders', 'o1')"), 1)
        self.db.execute("COMMIT")
        self.assertTrue(table_exists(self.db, "exactly_once_claims", "main"))
        self.assertFalse(table_exists(self.db, "exactly_once_claims", "aux"))
        self.assertEqual(one(self.db, "SELECT count(*) FROM main.exactly_once_claims"), 1)

    def test_trigger_in_attached_schema_is_refused_until_trusted(self):
        # Code stored in another database file may not claim in main (docs/DESIGN.md §4
        # Security); tests/sqlite/test_trust.py covers every kind of schema object.
        self.db.execute("""CREATE TRIGGER aux.orders_once BEFORE INSERT ON orders
                           WHEN NOT claim_once('orders', NEW.id) BEGIN SELECT RAISE(IGNORE); END""")
        with self.assertRaisesRegex(sqlite3.Error, r'^claim_once: refused while attached database "aux" '
                                                   r'is untrusted: its trigger "orders_once" calls claim_once'):
            self.db.execute("INSERT INTO aux.orders VALUES ('o2')")
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.orders"), 0)
        self.assertFalse(table_exists(self.db, "exactly_once_claims", "main"))
        # Trusted explicitly, the file's trigger works as a main-schema one would.
        self.assertEqual(one(self.db, "SELECT exactly_once_trust_schema('aux')"), "aux")
        self.db.execute("INSERT INTO aux.orders VALUES ('o2')")
        self.db.execute("INSERT INTO aux.orders VALUES ('o2')")
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.orders"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM main.exactly_once_claims"), 1)
        self.assertFalse(table_exists(self.db, "exactly_once_claims", "aux"))

    def test_same_named_tables_elsewhere_are_not_used(self):
        self.db.execute("CREATE TABLE aux.exactly_once_claims(x)")
        self.db.execute("CREATE TEMP TABLE exactly_once_claims(x)")  # shadows main for unqualified names
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT count(*) FROM main.exactly_once_claims"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.exactly_once_claims"), 0)
        self.assertEqual(one(self.db, "SELECT count(*) FROM temp.exactly_once_claims"), 0)

    def test_state_follows_main_not_the_attached_file(self):
        one(self.db, "SELECT claim_once('s', 'k')")
        other = connect(self.path("aux.db"))  # the attached file opened as main elsewhere
        self.addCleanup(other.close)
        self.assertEqual(one(other, "SELECT claim_once('s', 'k')"), 1)


class ConnectionTest(TempDirTest):
    def test_deferred_transaction_that_read_first_fails_at_once(self):
        # In WAL mode a deferred BEGIN that has read sees a snapshot; once another connection
        # has committed, upgrading it to write fails with SQLITE_BUSY at once, whatever the
        # busy timeout. BEGIN IMMEDIATE takes the write lock before the first read.
        path = self.path("wal.db")
        a, b = connect(path, timeout=5.0), connect(path, timeout=5.0)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(one(a, "PRAGMA journal_mode = WAL"), "wal")
        one(a, "SELECT claim_once('init', 'k')")
        a.execute("BEGIN")
        self.assertEqual(one(a, "SELECT is_claimed('s', 'x')"), 0)
        self.assertEqual(one(b, "SELECT claim_once('s', 'x')"), 1)
        with self.assertRaisesRegex(sqlite3.OperationalError, "^claim_once: database is locked") as caught:
            a.execute("SELECT claim_once('s', 'x')")
        # BUSY_SNAPSHOT is the code SQLite gives a stale snapshot's write: its busy handler
        # never retries it, so the timeout cannot help (no timing measured here).
        self.assertEqual(caught.exception.sqlite_errorname, "SQLITE_BUSY_SNAPSHOT")
        a.execute("ROLLBACK")
        a.execute("BEGIN IMMEDIATE")
        self.assertEqual(one(a, "SELECT is_claimed('s', 'x')"), 1)
        self.assertEqual(one(a, "SELECT claim_once('s', 'x')"), 0)
        self.assertEqual(one(a, "SELECT claim_once('s', 'y')"), 1)
        a.execute("COMMIT")
        self.assertEqual(one(b, "SELECT is_claimed('s', 'y')"), 1)

    def test_readonly_database(self):
        path = self.path("ro.db")
        db = connect(path)
        one(db, "SELECT claim_once('s', 'k')")
        db.close()
        ro = connect(f"file:{path}?mode=ro", uri=True)
        self.addCleanup(ro.close)
        self.assertEqual(one(ro, "SELECT is_claimed('s', 'k')"), 1)
        self.assertEqual(one(ro, "SELECT exactly_once_config('default_ttl')"), "1d")
        for sql, fn in (("SELECT claim_once('s', 'k2')", "claim_once"),
                        ("SELECT outbox_emit('t', 'k', '{}')", "outbox_emit"),
                        ("SELECT exactly_once_config('default_ttl', '1h')", "exactly_once_config")):
            with self.subTest(fn=fn):
                with self.assertRaisesRegex(sqlite3.Error, f"^{fn}: cannot write to a read-only database"):
                    ro.execute(sql)
        empty = self.path("empty.db")
        sqlite3.connect(empty).close()
        ro2 = connect(f"file:{empty}?mode=ro", uri=True)
        self.addCleanup(ro2.close)
        with self.assertRaisesRegex(sqlite3.Error, "^claim_once: cannot write to a read-only database"):
            ro2.execute("SELECT claim_once('s', 'k')")
        self.assertEqual(one(ro2, "SELECT is_claimed('s', 'k')"), 0)

    def test_connections_have_separate_state(self):
        a, b = connect(), connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(one(a, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(b, "SELECT claim_once('s', 'k')"), 1)  # another :memory: database



if __name__ == "__main__":
    unittest.main(verbosity=2)
