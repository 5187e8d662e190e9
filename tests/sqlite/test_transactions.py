"""Claims and events live in the caller's transaction: rollback, savepoints, autocommit, triggers,
and the state tables created all together or not at all."""

import sqlite3
import unittest

from eo_sqlite import UUID7, TempDirTest, cached_statements, connect, one, row_counts, table_exists


class TransactionTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = connect(self.path("tx.db"))
        self.addCleanup(self.db.close)
        one(self.db, "SELECT claim_once('setup', 'k')")  # state tables exist
        one(self.db, "SELECT outbox_emit('setup', 'k', '{}')")

    def counts(self):
        return (one(self.db, "SELECT count(*) FROM exactly_once_claims"),
                one(self.db, "SELECT count(*) FROM exactly_once_outbox"))

    def test_rollback_undoes_claim_and_event(self):
        self.db.execute("BEGIN")
        self.assertEqual(one(self.db, "SELECT claim_once('p', 'pay_1')"), 1)
        self.assertRegex(one(self.db, "SELECT outbox_emit('events', 'acct', '{\"paid\":1}')"), UUID7)
        self.assertEqual(self.counts(), (2, 2))
        self.db.execute("ROLLBACK")
        self.assertEqual(self.counts(), (1, 1))
        self.assertEqual(one(self.db, "SELECT is_claimed('p', 'pay_1')"), 0)
        # The retry after the rollback claims again, and after COMMIT it is final.
        self.db.execute("BEGIN")
        self.assertEqual(one(self.db, "SELECT claim_once('p', 'pay_1')"), 1)
        one(self.db, "SELECT outbox_emit('events', 'acct', '{\"paid\":1}')")
        self.db.execute("COMMIT")
        self.assertEqual(self.counts(), (2, 2))
        self.assertEqual(one(self.db, "SELECT claim_once('p', 'pay_1')"), 0)

    def test_rollback_of_first_use_then_tables_come_back(self):
        db = connect()
        self.addCleanup(db.close)
        db.execute("BEGIN")
        self.assertEqual(one(db, "SELECT claim_once('p', 'k')"), 1)
        one(db, "SELECT outbox_emit('t', 'k', '{}')")
        self.assertTrue(table_exists(db, "exactly_once_claims"))
        db.execute("ROLLBACK")
        self.assertFalse(table_exists(db, "exactly_once_claims"))  # created inside the caller's tx
        self.assertEqual(one(db, "SELECT is_claimed('p', 'k')"), 0)
        self.assertEqual(one(db, "SELECT claim_once('p', 'k')"), 1)  # re-created transparently
        self.assertEqual(one(db, "SELECT claim_once('p', 'k')"), 0)
        self.assertRegex(one(db, "SELECT outbox_emit('t', 'k', '{}')"), UUID7)
        self.assertEqual(row_counts(db), {"exactly_once_claims": 1, "exactly_once_outbox": 1,
                                          "exactly_once_outbox_keys": 1, "exactly_once_config": 0,
                                          "exactly_once_meta": 1})

    def test_dropped_state_tables_are_recreated(self):
        self.db.execute("DROP TABLE exactly_once_claims")
        self.db.execute("DROP TABLE exactly_once_outbox")
        self.assertEqual(one(self.db, "SELECT claim_once('setup', 'k')"), 1)
        self.assertRegex(one(self.db, "SELECT outbox_emit('t', 'k', '{}')"), UUID7)
        self.assertEqual(self.counts(), (1, 1))
        # The same cached statements as before the DROP, re-prepared: the claim, and the
        # emit's four (its savepoint, release, key_seq upsert and INSERT).
        self.assertEqual(cached_statements(self.db), 5)

    def test_savepoints(self):
        self.db.execute("BEGIN")
        self.assertEqual(one(self.db, "SELECT claim_once('sp', 'a')"), 1)
        self.db.execute("SAVEPOINT inner1")
        self.assertEqual(one(self.db, "SELECT claim_once('sp', 'b')"), 1)
        one(self.db, "SELECT outbox_emit('sp', 'b', '{}')")
        self.db.execute("ROLLBACK TO inner1")
        self.assertEqual(one(self.db, "SELECT is_claimed('sp', 'b')"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('sp', 'a')"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_outbox WHERE topic = 'sp'"), 0)
        self.assertEqual(one(self.db, "SELECT claim_once('sp', 'b')"), 1)  # undone, so claimable again
        self.db.execute("RELEASE inner1")
        self.db.execute("COMMIT")
        self.assertEqual(self.counts(), (3, 1))
        # A savepoint as the outermost transaction.
        self.db.execute("SAVEPOINT outer1")
        self.assertEqual(one(self.db, "SELECT claim_once('sp', 'c')"), 1)
        self.db.execute("SAVEPOINT nested")
        one(self.db, "SELECT outbox_emit('sp', 'c', '{}')")
        self.db.execute("RELEASE nested")
        self.db.execute("ROLLBACK TO outer1")
        self.db.execute("RELEASE outer1")
        self.assertEqual(self.counts(), (3, 1))

    def test_failed_call_inside_transaction_keeps_earlier_work(self):
        self.db.execute("BEGIN")
        self.assertEqual(one(self.db, "SELECT claim_once('f', 'good')"), 1)
        with self.assertRaises(sqlite3.Error):
            self.db.execute("SELECT claim_once('f', NULL)")
        self.db.execute("COMMIT")
        self.assertEqual(self.counts(), (2, 1))
        self.assertEqual(one(self.db, "SELECT is_claimed('f', 'good')"), 1)


class SchemaCreationTest(unittest.TestCase):
    """The state tables and indexes are created all together or not at all."""

    @staticmethod
    def deny_outbox_index(action, arg1, arg2, db_name, source):
        # The schema's fourth object: claims table and index and outbox table come before it.
        if action == sqlite3.SQLITE_CREATE_INDEX and arg1 == "exactly_once_outbox_pending":
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def test_failed_creation_leaves_nothing(self):
        for how in ("select", "select in transaction", "trigger", "trigger in transaction"):
            with self.subTest(how=how):
                db = connect()
                self.addCleanup(db.close)
                db.executescript("""
                    CREATE TABLE p(id TEXT);
                    CREATE TRIGGER p_once BEFORE INSERT ON p WHEN NOT claim_once('p', NEW.id)
                    BEGIN SELECT RAISE(IGNORE); END;
                """)
                # In a trigger the schema cannot use a SAVEPOINT (SQLite refuses one while a
                # writing statement runs); the failed INSERT's own rollback undoes it.
                sql = "INSERT INTO p VALUES ('k')" if how.startswith("trigger") else "SELECT claim_once('p', 'k')"
                if how.endswith("transaction"):
                    db.execute("BEGIN")
                db.set_authorizer(self.deny_outbox_index)
                with self.assertRaisesRegex(sqlite3.Error, "^claim_once: not authorized$"):
                    db.execute(sql)
                db.set_authorizer(None)
                self.assertEqual(one(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'exactly_once%'"), 0)
                if how.endswith("transaction"):
                    db.execute("COMMIT")
                self.assertEqual(one(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'exactly_once%'"), 0)
                db.execute(sql)  # the next use creates all of it
                self.assertEqual([r[0] for r in db.execute(
                    "SELECT name FROM sqlite_schema WHERE name LIKE 'exactly_once%' ORDER BY name")],
                    ["exactly_once_claims", "exactly_once_claims_by_expiry", "exactly_once_config",
                     "exactly_once_meta", "exactly_once_outbox", "exactly_once_outbox_keys", "exactly_once_outbox_pending"])
                self.assertEqual(one(db, "SELECT is_claimed('p', 'k')"), 1)


class AutocommitTest(unittest.TestCase):
    """Behaviour of SQLite itself that users of the functions must know (README, SQLite)."""

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)
        self.db.execute("CREATE TABLE src(x INTEGER)")
        self.db.execute("INSERT INTO src VALUES (0), (1), (2), (3)")
        self.db.execute("CREATE TABLE dst(x INTEGER)")
        one(self.db, "SELECT claim_once('init', 'k')")
        one(self.db, "SELECT outbox_emit('init', 'k', '{}')")

    def counts(self):
        return (one(self.db, "SELECT count(*) FROM exactly_once_claims"),
                one(self.db, "SELECT count(*) FROM exactly_once_outbox"))

    # Fails at x = 2, after claiming 2 and before writing its event.
    FAILING_SELECT = ("SELECT x, claim_once('s', x), outbox_emit('t', x, CASE WHEN x = 2 THEN 'bad' ELSE '{}' END) "
                      "FROM src ORDER BY x")

    def test_select_in_autocommit_commits_each_call_on_its_own(self):
        # A SELECT does not write, so in autocommit each write made by a call commits as
        # soon as it is done: the calls before the failure stay.
        with self.assertRaisesRegex(sqlite3.Error, "^outbox_emit: payload is not valid JSON"):
            self.db.execute(self.FAILING_SELECT).fetchall()
        self.assertFalse(self.db.in_transaction)
        self.assertEqual(self.counts(), (1 + 3, 1 + 2))
        self.assertEqual(one(self.db, "SELECT is_claimed('s', 2)"), 1)  # claimed, event never written

    def test_select_inside_a_transaction_is_all_or_nothing(self):
        self.db.execute("BEGIN")
        with self.assertRaisesRegex(sqlite3.Error, "^outbox_emit: payload is not valid JSON"):
            self.db.execute(self.FAILING_SELECT).fetchall()
        self.assertTrue(self.db.in_transaction)  # the application decides: ROLLBACK
        self.db.execute("ROLLBACK")
        self.assertEqual(self.counts(), (1, 1))
        self.assertEqual(one(self.db, "SELECT is_claimed('s', 0)"), 0)

    def test_writing_statement_is_all_or_nothing(self):
        # A writing statement (and any trigger it fires) is atomic even in autocommit.
        with self.assertRaisesRegex(sqlite3.Error, "^outbox_emit: payload is not valid JSON"):
            self.db.execute("INSERT INTO dst SELECT x FROM src WHERE claim_once('s', x) AND "
                            "outbox_emit('t', x, CASE WHEN x = 2 THEN 'bad' ELSE '{}' END) IS NOT NULL")
        self.assertEqual(self.counts(), (1, 1))
        self.assertEqual(one(self.db, "SELECT count(*) FROM dst"), 0)

    def test_inlined_subquery_may_call_claim_once_again(self):
        # SQLite inlines a CTE, view or subquery (query flattening) and evaluates the
        # expression once per reference: here the WHERE sees the first call's 1 and the
        # output column a second call's 0. Pinned for the SQLite in use; a future planner
        # may differ, which is why the README says "may".
        rows = self.db.execute(
            "WITH w AS (SELECT x, claim_once('inlined', x) AS c FROM src) SELECT x, c FROM w WHERE c = 1").fetchall()
        self.assertEqual(rows, [(0, 0), (1, 0), (2, 0), (3, 0)])
        # AS MATERIALIZED (SQLite 3.35+) computes each row once.
        rows = self.db.execute(
            "WITH w AS MATERIALIZED (SELECT x, claim_once('materialized', x) AS c FROM src) "
            "SELECT x, c FROM w WHERE c = 1").fetchall()
        self.assertEqual(rows, [(0, 1), (1, 1), (2, 1), (3, 1)])
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 1 + 4 + 4)

    def test_changes_include_our_internal_writes(self):
        self.db.execute("UPDATE src SET x = x + 10")
        self.assertEqual(one(self.db, "SELECT changes()"), 4)
        total = one(self.db, "SELECT total_changes()")
        one(self.db, "SELECT claim_once('c', 'k')")
        self.assertEqual(one(self.db, "SELECT changes()"), 1)  # our INSERT, not the UPDATE's 4
        self.assertEqual(one(self.db, "SELECT total_changes()"), total + 1)
        one(self.db, "SELECT claim_once('c', 'k')")  # already claimed: nothing written
        self.assertEqual(one(self.db, "SELECT changes()"), 0)
        one(self.db, "SELECT outbox_emit('c', 'k', '{}')")
        self.assertEqual(one(self.db, "SELECT changes()"), 1)
        # The emit wrote its key's key_seq counter and the event.
        self.assertEqual(one(self.db, "SELECT total_changes()"), total + 3)
        # A writing statement reports its own count (its triggers' calls not included).
        self.db.execute("CREATE TRIGGER dst_once BEFORE INSERT ON dst WHEN NOT claim_once('dst', NEW.x) "
                        "BEGIN SELECT RAISE(IGNORE); END")
        cur = self.db.execute("INSERT INTO dst VALUES (1), (1), (2)")
        self.assertEqual(cur.rowcount, 2)
        self.assertEqual(one(self.db, "SELECT changes()"), 2)


class TriggerTest(unittest.TestCase):
    SCHEMA = """
        CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
        INSERT INTO accounts VALUES (7, 1000);
        CREATE TABLE payments(id TEXT PRIMARY KEY, account INTEGER NOT NULL, amount INTEGER NOT NULL);
        CREATE TRIGGER payments_once BEFORE INSERT ON payments
          WHEN NOT claim_once('payments', NEW.id)
        BEGIN SELECT RAISE(IGNORE); END;
        CREATE TRIGGER payments_apply AFTER INSERT ON payments BEGIN
          UPDATE accounts SET balance = balance - NEW.amount WHERE id = NEW.account;
          SELECT outbox_emit('payment-events', 'acct-' || NEW.account,
                             json_object('payment', NEW.id, 'amount', NEW.amount));
        END;
    """

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)
        self.db.executescript(self.SCHEMA)

    def state(self):
        # The state tables may not exist: a failed first use rolls their creation back.
        return (one(self.db, "SELECT balance FROM accounts WHERE id = 7"),
                one(self.db, "SELECT count(*) FROM payments"),
                row_counts(self.db)["exactly_once_outbox"] or 0)

    def test_duplicate_deliveries_apply_once(self):
        # First use of the extension on this database happens inside the trigger.
        cur = self.db.execute("INSERT INTO payments VALUES ('pay_123', 7, 100)")
        self.assertEqual(cur.rowcount, 1)
        cur = self.db.execute("INSERT INTO payments VALUES ('pay_123', 7, 100)")
        self.assertEqual(cur.rowcount, 0)  # ignored; our nested statements do not leak into changes()
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO payments VALUES ('pay_123', 7, 100)")
        self.db.execute("COMMIT")
        self.assertEqual(self.state(), (900, 1, 1))
        self.assertEqual(one(self.db, "SELECT payload FROM exactly_once_outbox"), '{"payment":"pay_123","amount":100}')

    def test_multi_row_insert_with_duplicates(self):
        cur = self.db.execute("INSERT INTO payments VALUES ('a', 7, 1), ('b', 7, 2), ('a', 7, 1), ('c', 7, 3), ('b', 7, 2)")
        self.assertEqual(cur.rowcount, 3)
        self.assertEqual(self.state(), (994, 3, 3))

    def test_failed_insert_undoes_its_claim(self):
        # The CHECK on accounts fails in the AFTER trigger: the whole INSERT statement is
        # undone, the claim made by the BEFORE trigger and the event included.
        for explicit_tx in (False, True):
            with self.subTest(explicit_tx=explicit_tx):
                if explicit_tx:
                    self.db.execute("BEGIN")
                with self.assertRaises(sqlite3.IntegrityError):
                    self.db.execute("INSERT INTO payments VALUES ('big', 7, 5000)")
                if explicit_tx:
                    self.db.execute("COMMIT")
                self.assertEqual(one(self.db, "SELECT is_claimed('payments', 'big')"), 0)
                self.assertEqual(self.state(), (1000, 0, 0))
        self.db.execute("UPDATE accounts SET balance = 10000")
        self.db.execute("INSERT INTO payments VALUES ('big', 7, 5000)")  # the retry succeeds
        self.assertEqual(self.state(), (5000, 1, 1))

    def test_integer_ids_from_triggers(self):
        self.db.executescript("""
            CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT);
            CREATE TRIGGER orders_once BEFORE INSERT ON orders WHEN NOT claim_once('orders', NEW.id)
            BEGIN SELECT RAISE(IGNORE); END;
        """)
        self.db.execute("INSERT INTO orders VALUES (1, 'x')")
        self.db.execute("DELETE FROM orders")
        self.db.execute("INSERT INTO orders VALUES (1, 'x')")  # the claim outlives the row
        self.assertEqual(one(self.db, "SELECT count(*) FROM orders"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('orders', '1')"), 1)



if __name__ == "__main__":
    unittest.main(verbosity=2)
