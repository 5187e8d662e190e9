"""Code stored in another database file may not claim, release or emit in main.

docs/DESIGN.md §4 Security. State lives in main, the database the application opened. A view,
trigger, CHECK, DEFAULT, generated column or index stored in an ATTACHed file runs with
SQLite's default trusted_schema=ON; SQLite cannot tell our functions which schema's code
called them, so while anything is attached every claim_once/release_claim/outbox_emit reads
the attached schemas and refuses to run if one names a writer, unless the application trusted
that file with exactly_once_trust_schema(). The application's own main-schema (and TEMP)
triggers and views keep working. Each hostile file here is written by its author's own
connection (with the extension loaded, or with writable_schema where SQLite would refuse the
CREATE), then attached by the victim.
"""
import os
import re
import shutil
import sqlite3
import tempfile
import unittest

from eo_sqlite import connect, one, row_counts

REFUSED = (r'^{fn}: refused while attached database "{db}" is untrusted: its {type} "{name}" calls {writer}, '
           r"and code stored in another database file must not claim, release or emit in main; DETACH it, "
           r"or if you trust that file run SELECT exactly_once_trust_schema\('{db}'\) on this connection, "
           r"or set PRAGMA trusted_schema=OFF")


def refused(fn, type_, name, writer=None, db="aux"):
    return REFUSED.format(fn=fn, db=re.escape(db), type=type_, name=re.escape(name), writer=writer or fn)


# name -> (statements run by the file's author, crafted schema rows {object: sql} or None,
#          the victim's statement that runs the stored code, (type, object, writer called))
HOSTILE = {
    "view": (["CREATE VIEW v AS SELECT release_claim('payments', 'pay_123') AS r, "
              "outbox_emit('payment-events', 'acct-7', '{\"paid\":1000000}') AS e"],
             None, "SELECT * FROM aux.v", ("view", "v", "release_claim")),
    "view_quoted": (['CREATE VIEW v AS SELECT "Release_Claim"(\'payments\', \'pay_123\') AS r'],
                    None, "SELECT * FROM aux.v", ("view", "v", "release_claim")),
    "trigger": (["CREATE TABLE t(a)",
                 "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
                 "SELECT [outbox_emit]('payment-events', 'acct-7', '{\"paid\":1}'); END"],
                None, "INSERT INTO aux.t VALUES (1)", ("trigger", "tr", "outbox_emit")),
    "trigger_when": (["CREATE TABLE t(a)",
                      "CREATE TRIGGER tr BEFORE INSERT ON t WHEN NOT `CLAIM_ONCE`('payments', NEW.a) "
                      "BEGIN SELECT RAISE(IGNORE); END"],
                     None, "INSERT INTO aux.t VALUES ('pay_456')", ("trigger", "tr", "claim_once")),
    "check": (["CREATE TABLE t(a CHECK (claim_once('payments', a) >= 0))"],
              None, "INSERT INTO aux.t VALUES ('pay_456')", ("table", "t", "claim_once")),
    # SQLite refuses a non-constant DEFAULT in CREATE TABLE but loads one from a stored schema.
    "default": (["CREATE TABLE t(a, b DEFAULT 0)"],
                {"t": "CREATE TABLE t(a, b DEFAULT (release_claim('payments', 'pay_123')))"},
                "INSERT INTO aux.t(a) VALUES (1)", ("table", "t", "release_claim")),
}

# Stored code SQLite itself refuses to load, since our writers are not deterministic: the
# file cannot be attached at all.
UNLOADABLE = {
    "generated_column": (["CREATE TABLE t(a, g AS (a))"],
                         {"t": "CREATE TABLE t(a, g AS (claim_once('payments', a)))"},
                         "non-deterministic functions prohibited in generated columns"),
    "stored_generated_column": (["CREATE TABLE t(a, g AS (a) STORED)"],
                                {"t": "CREATE TABLE t(a, g AS (claim_once('payments', a)) STORED)"},
                                "non-deterministic functions prohibited in generated columns"),
    "expression_index": (["CREATE TABLE t(a)", "CREATE INDEX i ON t(abs(a))"],
                         {"i": "CREATE INDEX i ON t(claim_once('payments', a))"},
                         "non-deterministic functions prohibited in index expressions"),
    "partial_index": (["CREATE TABLE t(a)", "CREATE INDEX i ON t(a) WHERE a > 0"],
                      {"i": "CREATE INDEX i ON t(a) WHERE claim_once('payments', a)"},
                      "non-deterministic functions prohibited in partial index WHERE clauses"),
}


class TrustTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eo_trust_")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.db = connect(self.path("main.db"))
        self.addCleanup(self.db.close)
        # main's state before anything is attached: a live claim and one event.
        self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_123', '1h')"), 1)
        one(self.db, "SELECT outbox_emit('payment-events', 'acct-7', '{\"paid\":100}')")

    def path(self, name):
        return os.path.join(self.dir, name)

    def author(self, name, statements, crafted=None):
        """Writes database file `name` as its author would; returns its path."""
        path = self.path(name)
        db = connect(path)
        try:
            for sql in statements:
                db.execute(sql)
            if crafted:
                db.execute("PRAGMA writable_schema = ON")
                for obj, sql in crafted.items():
                    db.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql, obj))
                db.execute("PRAGMA writable_schema = OFF")
        finally:
            db.close()
        return path

    def main_state(self):
        return (row_counts(self.db),
                self.db.execute("SELECT hex(k), expires_at FROM main.exactly_once_claims ORDER BY k").fetchall(),
                self.db.execute("SELECT id, topic, key, payload FROM main.exactly_once_outbox ORDER BY seq").fetchall())

    def test_hostile_schema_objects_cannot_touch_main(self):
        for case, (statements, crafted, use, (type_, obj, writer)) in HOSTILE.items():
            with self.subTest(case=case):
                path = self.author(f"{case}.db", statements, crafted)
                before = self.main_state()
                self.db.execute("ATTACH ? AS aux", (path,))
                try:
                    with self.assertRaisesRegex(sqlite3.Error, refused(writer, type_, obj)):
                        self.db.execute(use).fetchall()
                    self.assertEqual(self.main_state(), before)
                    self.assertEqual(one(self.db, "SELECT is_claimed('payments', 'pay_123')"), 1)
                finally:
                    self.db.execute("DETACH aux")

    def test_stored_code_sqlite_will_not_load(self):
        for case, (statements, crafted, message) in UNLOADABLE.items():
            with self.subTest(case=case):
                path = self.author(f"{case}.db", statements, crafted)
                before = self.main_state()
                with self.assertRaisesRegex(sqlite3.Error, re.escape(message)):
                    self.db.execute("ATTACH ? AS aux", (path,))
                    self.db.execute("INSERT INTO aux.t(a) VALUES ('pay_789')")
                self.assertEqual(self.main_state(), before)
                self.assertEqual(self.db.execute("PRAGMA database_list").fetchall()[-1][1], "main")

    def test_direct_calls_are_refused_too_while_a_hostile_file_is_attached(self):
        # SQLite cannot tell a direct call from the attached view's: refuse both, and name
        # the way out. Detaching restores the direct calls at once.
        path = self.author("hostile.db", HOSTILE["view"][0])
        self.db.execute("ATTACH ? AS aux", (path,))
        before = self.main_state()
        for sql, fn in (("SELECT claim_once('payments', 'pay_new')", "claim_once"),
                        ("SELECT release_claim('payments', 'pay_123')", "release_claim"),
                        ("SELECT outbox_emit('t', 'k', '{}')", "outbox_emit")):
            with self.subTest(fn=fn):
                with self.assertRaisesRegex(sqlite3.Error, refused(fn, "view", "v", "release_claim")):
                    one(self.db, sql)
        self.assertEqual(self.main_state(), before)
        # Readers and pure functions are not writers: they stay available.
        self.assertEqual(one(self.db, "SELECT is_claimed('payments', 'pay_123')"), 1)
        self.db.execute("DETACH aux")
        self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_new')"), 1)

    def test_main_schema_triggers_and_views_keep_working(self):
        self.db.executescript("""
            CREATE TABLE payments(id TEXT PRIMARY KEY, amount INTEGER);
            CREATE TRIGGER payments_once BEFORE INSERT ON payments
              WHEN NOT claim_once('payments', NEW.id) BEGIN SELECT RAISE(IGNORE); END;
            CREATE TRIGGER payments_event AFTER INSERT ON payments
              BEGIN SELECT outbox_emit('payment-events', NEW.id, json_object('amount', NEW.amount)); END;
            CREATE VIEW release_p1 AS SELECT release_claim('payments', 'p1') AS released;
        """)
        benign = self.author("benign.db", [
            "CREATE TABLE orders(id TEXT PRIMARY KEY)",
            "CREATE VIEW order_keys AS SELECT hex(dedup_key('orders', id)) AS k, is_claimed('orders', id) AS c "
            "FROM orders",
            "CREATE TRIGGER orders_log AFTER INSERT ON orders BEGIN SELECT 1; END",
        ])
        for attached in (False, True):
            with self.subTest(benign_file_attached=attached):
                if attached:
                    self.db.execute("ATTACH ? AS aux", (benign,))
                self.db.execute("DELETE FROM payments")
                self.db.execute("INSERT INTO payments VALUES ('p1', 10)")
                self.db.execute("INSERT INTO payments VALUES ('p1', 10)")  # retry: ignored
                self.assertEqual(one(self.db, "SELECT count(*) FROM payments"), 1)
                self.assertEqual(one(self.db, "SELECT count(*) FROM main.exactly_once_outbox WHERE key = 'p1'"),
                                 1 if not attached else 2)
                self.assertEqual(one(self.db, "SELECT released FROM release_p1"), 1)
                if attached:
                    self.db.execute("INSERT INTO aux.orders VALUES ('o1')")
                    self.assertEqual(one(self.db, "SELECT c FROM aux.order_keys"), 0)
        # A TEMP trigger (the connection's own) on the attached table may claim.
        self.db.execute("""CREATE TEMP TRIGGER orders_once BEFORE INSERT ON aux.orders
                           WHEN NOT claim_once('orders', NEW.id) BEGIN SELECT RAISE(IGNORE); END""")
        self.db.execute("INSERT INTO aux.orders VALUES ('o2')")
        self.db.execute("INSERT INTO aux.orders VALUES ('o2')")
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.orders"), 2)
        self.assertEqual(one(self.db, "SELECT is_claimed('orders', 'o2')"), 1)

    def test_only_the_hostile_one_of_several_files_is_named(self):
        self.db.execute("ATTACH ? AS benign", (self.author("benign.db", ["CREATE TABLE x(a)"]),))
        self.db.execute("ATTACH ? AS \"odd\"\"name\"", (self.author("hostile.db", HOSTILE["check"][0]),))
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "table", "t", db='odd"name')):
            one(self.db, "SELECT claim_once('s', 'k')")

    def test_opt_in_trusts_that_file_only(self):
        hostile = self.author("own.db", HOSTILE["trigger_when"][0])
        other = self.author("other.db", HOSTILE["trigger_when"][0])
        self.db.execute("ATTACH ? AS aux", (hostile,))
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "trigger", "tr")):
            self.db.execute("INSERT INTO aux.t VALUES ('pay_1')")
        # Trusted (the name matches as SQLite matches schema names, ASCII case-insensitively).
        self.assertEqual(one(self.db, "SELECT exactly_once_trust_schema('AUX')"), "aux")
        self.db.execute("INSERT INTO aux.t VALUES ('pay_1')")
        self.db.execute("INSERT INTO aux.t VALUES ('pay_1')")  # claimed: ignored by its trigger
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.t"), 1)
        self.assertEqual(one(self.db, "SELECT is_claimed('payments', 'pay_1')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_2')"), 1)
        # The same file attached again under the name stays trusted.
        self.db.execute("DETACH aux")
        self.db.execute("ATTACH ? AS aux", (hostile,))
        self.db.execute("INSERT INTO aux.t VALUES ('pay_3')")
        # Another file under the same name is not.
        self.db.execute("DETACH aux")
        self.db.execute("ATTACH ? AS aux", (other,))
        before = self.main_state()
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "trigger", "tr")):
            self.db.execute("INSERT INTO aux.t VALUES ('pay_4')")
        self.assertEqual(self.main_state(), before)
        self.assertEqual(one(self.db, "SELECT count(*) FROM aux.t"), 0)
        # Nor does trust carry to another connection.
        second = connect(self.path("main.db"))
        self.addCleanup(second.close)
        second.execute("ATTACH ? AS aux", (hostile,))
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "trigger", "tr")):
            second.execute("INSERT INTO aux.t VALUES ('pay_5')")

    def test_opt_in_is_direct_only_and_checks_its_argument(self):
        self.db.execute("ATTACH ? AS aux", (self.author("a.db", ["CREATE TABLE t(a)"]),))
        self.db.execute("CREATE VIEW main.grant_trust AS SELECT exactly_once_trust_schema('aux') AS t")
        with self.assertRaisesRegex(sqlite3.Error, r"^unsafe use of exactly_once_trust_schema\(\)"):
            self.db.execute("SELECT * FROM grant_trust").fetchall()
        self.db.execute("DROP VIEW main.grant_trust")
        # A hostile file cannot grant itself trust from its own schema either.
        sneaky = self.author("sneaky.db", [
            "CREATE VIEW v AS SELECT exactly_once_trust_schema('sneaky'), claim_once('payments', 'pay_123')"])
        self.db.execute("ATTACH ? AS sneaky", (sneaky,))
        with self.assertRaisesRegex(sqlite3.Error, r"^unsafe use of exactly_once_trust_schema\(\)"):
            self.db.execute("SELECT * FROM sneaky.v").fetchall()
        for arg, message in (("NULL", r"schema must not be NULL|schema.*NULL"),
                             ("'nosuch'", r'no attached database named "nosuch"'),
                             ("'main'", r'no attached database named "main" \(main and temp are always trusted\)'),
                             ("'temp'", r'no attached database named "temp"'),
                             ("x'00'", r"schema must be text")):
            with self.subTest(arg=arg):
                with self.assertRaisesRegex(sqlite3.Error, rf"^exactly_once_trust_schema: .*({message})"):
                    one(self.db, f"SELECT exactly_once_trust_schema({arg})")
        with self.assertRaisesRegex(sqlite3.Error, r"^exactly_once_trust_schema: expected 1 argument"):
            one(self.db, "SELECT exactly_once_trust_schema()")

    def test_trusted_schema_off_leaves_the_refusal_to_sqlite(self):
        # With trusted_schema=OFF SQLite refuses the writers in all stored code itself (main's
        # too), so direct calls work even with the hostile file attached.
        self.db.execute("CREATE VIEW main.v_claim AS SELECT claim_once('s', 'k') AS c")
        self.db.execute("ATTACH ? AS aux", (self.author("hostile.db", HOSTILE["view"][0]),))
        self.db.execute("PRAGMA trusted_schema = OFF")
        before = self.main_state()
        for view, fn in (("aux.v", "release_claim"), ("main.v_claim", "claim_once")):
            with self.subTest(view=view):
                with self.assertRaisesRegex(sqlite3.Error, rf"^unsafe use of {fn}\(\)"):
                    self.db.execute(f"SELECT * FROM {view}").fetchall()
        self.assertEqual(self.main_state(), before)
        self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_direct')"), 1)
        self.db.execute("PRAGMA trusted_schema = ON")
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "view", "v", "release_claim")):
            one(self.db, "SELECT claim_once('payments', 'pay_direct2')")

    # The extension remembers a benign verdict per attached database; each test below
    # changes what is attached after a verdict was given and expects the new state judged.

    def test_a_file_attached_after_a_check_is_checked(self):
        self.db.execute("ATTACH ? AS a", (self.author("benign.db", ["CREATE TABLE t(a)"]),))
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k1')"), 1)
        self.db.execute("ATTACH ? AS b", (self.author("hostile.db", HOSTILE["view"][0]),))
        with self.assertRaisesRegex(sqlite3.Error, refused("release_claim", "view", "v", db="b")):
            self.db.execute("SELECT * FROM b.v").fetchall()

    def test_another_file_under_the_same_name_and_schema_cookie_is_checked(self):
        # Same layout, same number of schema changes: only the trigger body differs.
        benign = self.author("benign.db", ["CREATE TABLE t(a)",
                                           "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END"])
        hostile = self.author("hostile.db", ["CREATE TABLE t(a)",
                                             "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
                                             "SELECT release_claim('payments', 'pay_123'); END"])
        self.db.execute("ATTACH ? AS aux", (benign,))
        self.assertEqual(one(self.db, "PRAGMA aux.schema_version"), 2)
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k1')"), 1)
        self.db.execute("DETACH aux")
        self.db.execute("ATTACH ? AS aux", (hostile,))
        self.assertEqual(one(self.db, "PRAGMA aux.schema_version"), 2)
        before = self.main_state()
        with self.assertRaisesRegex(sqlite3.Error, refused("release_claim", "trigger", "tr")):
            self.db.execute("INSERT INTO aux.t VALUES (1)")
        self.assertEqual(self.main_state(), before)

    def test_schema_change_in_our_own_open_transaction_is_checked(self):
        self.db.execute("ATTACH ? AS aux", (self.author("benign.db", ["CREATE TABLE t(a)"]),))
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k1')"), 1)
        self.db.execute("BEGIN")
        self.db.execute("CREATE VIEW aux.v AS SELECT release_claim('payments', 'pay_123') AS r")
        with self.assertRaisesRegex(sqlite3.Error, refused("release_claim", "view", "v")):
            self.db.execute("SELECT * FROM aux.v").fetchall()
        self.db.execute("ROLLBACK")
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k2')"), 1)  # the view is gone again
        self.assertEqual(one(self.db, "SELECT is_claimed('payments', 'pay_123')"), 1)

    def test_schema_change_by_another_connection_is_checked(self):
        path = self.author("shared.db", ["CREATE TABLE t(a)"])
        self.db.execute("ATTACH ? AS aux", (path,))
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k1')"), 1)
        other = connect(path)
        self.addCleanup(other.close)
        other.execute("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT release_claim('payments', 'pay_123'); END")
        before = self.main_state()
        with self.assertRaisesRegex(sqlite3.Error, refused("release_claim", "trigger", "tr")):
            self.db.execute("INSERT INTO aux.t VALUES (1)")
        self.assertEqual(self.main_state(), before)

    def test_schema_rewritten_behind_the_cookie_by_another_connection_is_checked(self):
        # writable_schema edits do not bump the schema cookie; the file's data version moves.
        path = self.author("shared.db", ["CREATE TABLE t(a)", "CREATE VIEW v AS SELECT 1 AS r"])
        self.db.execute("ATTACH ? AS aux", (path,))
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k1')"), 1)
        cookie = one(self.db, "PRAGMA aux.schema_version")
        other = connect(path)
        self.addCleanup(other.close)
        other.execute("PRAGMA writable_schema = ON")
        other.execute("UPDATE sqlite_master SET sql = 'CREATE VIEW v AS SELECT release_claim(''payments'', "
                      "''pay_123'') AS r' WHERE name = 'v'")
        other.execute("PRAGMA writable_schema = OFF")
        self.assertEqual(one(self.db, "PRAGMA aux.schema_version"), cookie)
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "view", "v", "release_claim")):
            one(self.db, "SELECT claim_once('s', 'k2')")

    def test_a_mention_in_a_string_is_refused_too(self):
        # Documented false positive: the check reads identifiers, not SQL semantics.
        self.db.execute("ATTACH ? AS aux", (self.author("notes.db", [
            "CREATE VIEW notes AS SELECT 'we call claim_once from main' AS note"]),))
        with self.assertRaisesRegex(sqlite3.Error, refused("claim_once", "view", "notes")):
            one(self.db, "SELECT claim_once('s', 'k')")


if __name__ == "__main__":
    unittest.main(verbosity=2)
