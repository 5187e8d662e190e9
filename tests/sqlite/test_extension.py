"""Extension tests through the real built exactly_once.so and Python's sqlite3 module."""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from eo_sqlite import (EXT, VERSION, connect, now_ms, one, read_vectors, row_counts,
                       table_exists)

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def cached_statements(db):
    return one(db, "SELECT cached_statements FROM exactly_once_session")


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eo_sqlite_")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)


class ClaimTest(unittest.TestCase):
    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_first_claim_is_1_and_every_retry_0(self):
        self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_123')"), 1)
        for _ in range(5):
            self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_123')"), 0)
            self.assertEqual(one(self.db, "SELECT claim_once('payments', 'pay_123', '48h')"), 0)
        self.assertEqual(one(self.db, "SELECT claim_once('refunds', 'pay_123')"), 1)  # other scope
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 2)

    def test_length_prefix_separates_scope_and_key(self):
        self.assertEqual(one(self.db, "SELECT claim_once('a', 'bc')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('ab', 'c')"), 1)
        self.assertNotEqual(one(self.db, "SELECT dedup_key('a', 'bc')"), one(self.db, "SELECT dedup_key('ab', 'c')"))

    def test_claims_within_one_statement(self):
        # Each call sees the claims of the calls before it in the same statement. Inside
        # BEGIN ... COMMIT they also commit or roll back together; in autocommit each one
        # would commit on its own (AutocommitTest).
        self.db.execute("BEGIN")
        rows = self.db.execute(
            "SELECT claim_once('s', column1) FROM (VALUES ('a'), ('b'), ('a'), ('c'), ('b'))").fetchall()
        self.db.execute("COMMIT")
        self.assertEqual([r[0] for r in rows], [1, 1, 0, 1, 0])

    def test_keys_are_bytes_text_blob_and_numbers(self):
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'abc')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('s', x'616263')"), 0)  # same bytes as 'abc'
        self.assertEqual(one(self.db, "SELECT claim_once('s', x'00ff00')"), 1)  # any bytes
        self.assertEqual(one(self.db, "SELECT claim_once('s', x'00ff01')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('s', ?)", b"\x00\xff\x00"), 0)
        self.assertEqual(one(self.db, "SELECT claim_once('s', 42)"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('s', '42')"), 0)  # a number is its text
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'ünïcødé 🔑')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once(x'01', 'k')"), 1)

    def test_integer_keys_are_their_decimal_text_and_reals_are_refused(self):
        for n in (0, -7, 42, 9223372036854775807, -9223372036854775808):
            with self.subTest(n=n):
                self.assertEqual(one(self.db, "SELECT dedup_key('s', ?) = dedup_key('s', ?)", n, str(n)), 1)
                self.assertEqual(one(self.db, "SELECT dedup_key(?, 'k') = dedup_key(?, 'k')", n, str(n)), 1)
        # A REAL's text form has 15 significant digits: 0.30000000000000004 would be '0.3'.
        for sql, fn, arg in (("SELECT claim_once('s', 0.30000000000000004)", "claim_once", "key"),
                             ("SELECT claim_once('s', 1.0)", "claim_once", "key"),
                             ("SELECT claim_once(0.3, 'k')", "claim_once", "scope"),
                             ("SELECT is_claimed('s', 0.3)", "is_claimed", "key"),
                             ("SELECT release_claim('s', 0.3)", "release_claim", "key"),
                             ("SELECT dedup_key('s', 1e300)", "dedup_key", "key"),
                             ("SELECT outbox_emit(1.5, 'k', '{}')", "outbox_emit", "topic"),
                             ("SELECT outbox_emit('t', 1.5, '{}')", "outbox_emit", "key")):
            with self.subTest(sql=sql):
                with self.assertRaisesRegex(sqlite3.Error, f"^{fn}: {arg} must be text, blob or integer$"):
                    self.db.execute(sql)
        with self.assertRaisesRegex(sqlite3.Error, "^outbox_emit: payload must be JSON text, not a REAL$"):
            self.db.execute("SELECT outbox_emit('t', 'k', 0.30000000000000004)")
        self.assertEqual(row_counts(self.db), {"exactly_once_claims": None, "exactly_once_outbox": None,
                                               "exactly_once_config": None})
        self.assertEqual(one(self.db, "SELECT claim_once('s', 1)"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('s', '1')"), 0)
        self.assertEqual(one(self.db, "SELECT claim_once('s', CAST(1.0 AS INTEGER))"), 0)

    def test_key_size_limit(self):
        self.assertEqual(one(self.db, "SELECT claim_once('s', zeroblob(65536))"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('s', ?)", "k" * 65536), 1)
        with self.assertRaisesRegex(sqlite3.Error, r"^claim_once: key is 65537 bytes"):
            self.db.execute("SELECT claim_once('s', zeroblob(65537))")
        with self.assertRaisesRegex(sqlite3.Error, r"^claim_once: scope is 65537 bytes"):
            self.db.execute("SELECT claim_once(?, 'k')", ("s" * 65537,))

    def expiry_of(self, scope, key):
        return one(self.db, "SELECT expires_at FROM exactly_once_claims WHERE k = dedup_key(?, ?)", scope, key)

    def test_ttl_forms(self):
        cases = [("60", 60_000), (60, 60_000), (1.5, 1_500), ("90s", 90_000), ("15m", 900_000),
                 ("48h", 48 * HOUR_MS), ("7d", 7 * DAY_MS), ("1h30m", 5_400_000), ("250ms", 250)]
        for i, (ttl, ms) in enumerate(cases):
            with self.subTest(ttl=ttl):
                before = now_ms()
                self.assertEqual(one(self.db, "SELECT claim_once('ttl', ?, ?)", str(i), ttl), 1)
                after = now_ms()
                expires = self.expiry_of("ttl", str(i))
                self.assertGreaterEqual(expires, before + ms)
                self.assertLessEqual(expires, after + ms)

    def test_default_ttl_is_24h(self):
        before = now_ms()
        one(self.db, "SELECT claim_once('s', 'k')")
        expires = self.expiry_of("s", "k")
        self.assertGreaterEqual(expires, before + DAY_MS)
        self.assertLessEqual(expires, now_ms() + DAY_MS)

    def set_expiry(self, scope, key, expires_at):
        self.db.execute("UPDATE exactly_once_claims SET expires_at = ? WHERE k = dedup_key(?, ?)",
                        (expires_at, scope, key))

    def test_expiry_boundary(self):
        # Live strictly before expires_at, absent from expires_at on. The stored expiry is set
        # directly, relative to the clock the extension also reads (CLOCK_REALTIME).
        self.assertEqual(one(self.db, "SELECT claim_once('b', 'k')"), 1)
        self.set_expiry("b", "k", now_ms() + 60_000)
        self.assertEqual(one(self.db, "SELECT is_claimed('b', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('b', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT release_claim('b', 'k')"), 1)  # live: released
        self.assertEqual(one(self.db, "SELECT claim_once('b', 'k')"), 1)
        self.set_expiry("b", "k", now_ms() - 1)
        self.assertEqual(one(self.db, "SELECT is_claimed('b', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT release_claim('b', 'k')"), 0)  # expired: not "released"
        # expires_at == the call's now: most of these calls run in the very millisecond the
        # expiry was taken from, so a claim still live at expires_at would show up here.
        for _ in range(200):
            t = now_ms()
            self.set_expiry("b", "k", t)
            self.assertEqual(one(self.db, "SELECT is_claimed('b', 'k')"), 0)
            self.set_expiry("b", "k", t)
            self.assertEqual(one(self.db, "SELECT claim_once('b', 'k', '1h')"), 1)  # renewed
        self.set_expiry("b", "k", now_ms())
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 0)

    def test_expired_claim_is_reclaimable_at_once_and_purged(self):
        self.assertEqual(one(self.db, "SELECT claim_once('e', 'k1', 0.2)"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('e', 'k2', '200ms')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('e', 'live', '1h')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('e', 'k1', 0.2)"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('e', 'k1')"), 1)
        time.sleep(0.25)  # the only sleeps in the suite are this one and the purge test's
        self.assertEqual(one(self.db, "SELECT is_claimed('e', 'k1')"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('e', 'live')"), 1)
        # Re-claimable at once, before any purge, and the claim's expiry is renewed.
        before = now_ms()
        self.assertEqual(one(self.db, "SELECT claim_once('e', 'k1', '1h')"), 1)
        self.assertGreaterEqual(self.expiry_of("e", "k1"), before + HOUR_MS)
        self.assertEqual(one(self.db, "SELECT claim_once('e', 'k1', '1h')"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('e', 'k1')"), 1)
        # Purge removes the one still expired (k2), nothing live.
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 1)
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 0)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 2)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims WHERE k = dedup_key('e', 'k2')"), 0)

    def insert_expired(self, prefix, n):
        # Claims that expired a second ago, written directly so the test need not sleep.
        self.db.execute(
            "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
            "INSERT INTO exactly_once_claims(k, expires_at) SELECT dedup_key(?, n), ? FROM i",
            (n, prefix, now_ms() - 1000))

    def test_purge_limit_batches(self):
        one(self.db, "SELECT claim_once('live', 'k')")  # creates the tables
        self.insert_expired("old", 25)
        self.assertEqual([one(self.db, "SELECT purge_expired(10)") for _ in range(4)], [10, 10, 5, 0])
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims"), 1)
        self.assertEqual(one(self.db, "SELECT is_claimed('live', 'k')"), 1)

    def test_purge_default_limit_is_10000(self):
        one(self.db, "SELECT claim_once('init', 'k')")  # creates the tables
        self.insert_expired("old", 10_005)
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 10_000)
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 5)

    def test_purge_removes_oldest_first(self):
        t = now_ms()
        one(self.db, "SELECT claim_once('init', 'k')")  # creates the tables
        self.db.execute("INSERT INTO exactly_once_claims VALUES (dedup_key('o', 'new'), ?)", (t - 10,))
        self.db.execute("INSERT INTO exactly_once_claims VALUES (dedup_key('o', 'old'), ?)", (t - 5000,))
        self.assertEqual(one(self.db, "SELECT purge_expired(1)"), 1)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_claims WHERE k = dedup_key('o', 'new')"), 1)

    def test_release_claim(self):
        self.assertEqual(one(self.db, "SELECT release_claim('s', 'k')"), 0)  # no state yet
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT release_claim('s', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT release_claim('s', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT is_claimed('s', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT claim_once('s', 'k')"), 1)
        self.insert_expired("x", 1)  # dedup_key('x', 1): an expired claim is not "a live claim removed"
        self.assertEqual(one(self.db, "SELECT release_claim('x', 1)"), 0)

    def test_readers_create_nothing(self):
        self.assertEqual(one(self.db, "SELECT is_claimed('s', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT release_claim('s', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 0)
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl')"), "1d")
        self.assertEqual(one(self.db, "SELECT count(*) FROM sqlite_schema"), 0)

    def test_deprecated_count_changes_pragma(self):
        # With count_changes on, INSERT/DELETE first return a row with the count.
        one(self.db, "SELECT claim_once('init', 'k')")  # creates the tables
        self.insert_expired("cc-old", 3)
        self.db.execute("PRAGMA count_changes = 1")
        self.assertEqual(one(self.db, "SELECT claim_once('cc', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT claim_once('cc', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT release_claim('cc', 'k')"), 1)
        self.assertEqual(one(self.db, "SELECT release_claim('cc', 'k')"), 0)
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 3)

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


class DedupKeyTest(unittest.TestCase):
    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_matches_every_shared_vector(self):
        vectors = read_vectors()
        self.assertGreater(len(vectors), 5)
        for scope, key, expected in vectors:
            with self.subTest(scope=scope[:20], key=key[:20]):
                got = one(self.db, "SELECT dedup_key(?, ?)", scope, key)
                self.assertIsInstance(got, bytes)
                self.assertEqual(got.hex(), expected)
                # Text arguments hash their UTF-8 bytes: the same key.
                try:
                    s, k = scope.decode("utf-8"), key.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                self.assertEqual(one(self.db, "SELECT hex(dedup_key(?, ?))", s, k).lower(), expected)

    def test_claims_are_stored_under_dedup_key(self):
        one(self.db, "SELECT claim_once('payments', 'pay_123')")
        self.assertEqual(one(self.db, "SELECT hex(k) FROM exactly_once_claims").lower(),
                         "6fbd4e3d5a0ac0a831b1dbdaebb557d2")
        self.assertEqual(one(self.db, "SELECT length(k) FROM exactly_once_claims"), 16)

    def test_pure_function_flags(self):
        # DETERMINISTIC: allowed in indexes and generated columns; writers are not.
        self.db.execute("CREATE TABLE t(a TEXT, g BLOB AS (dedup_key('s', a)))")
        self.db.execute("CREATE INDEX t_k ON t(dedup_key('s', a))")
        self.db.execute("INSERT INTO t(a) VALUES ('x')")
        self.assertEqual(one(self.db, "SELECT g = dedup_key('s', 'x') FROM t"), 1)
        for fn in ("claim_once('s', a)", "is_claimed('s', a)", "outbox_emit('t', a, '{}')"):
            with self.subTest(fn=fn):
                with self.assertRaisesRegex(sqlite3.Error, "non-deterministic"):
                    self.db.execute(f"CREATE INDEX bad ON t({fn})")

    def test_trusted_schema_off_refuses_writers_in_views_but_not_pure(self):
        self.db.execute("CREATE VIEW v_pure AS SELECT hex(dedup_key('s', 'k')) AS h, exactly_once_version() AS v")
        self.db.execute("CREATE VIEW v_claim AS SELECT claim_once('s', 'k') AS c")
        self.db.execute("CREATE VIEW v_emit AS SELECT outbox_emit('t', 'k', '{}') AS e")
        self.assertEqual(one(self.db, "SELECT c FROM v_claim"), 1)  # trusted schema (default): allowed
        self.db.execute("PRAGMA trusted_schema = OFF")
        self.assertEqual(len(one(self.db, "SELECT h FROM v_pure")), 32)
        for view, fn in (("v_claim", "claim_once"), ("v_emit", "outbox_emit")):
            with self.subTest(view=view):
                with self.assertRaisesRegex(sqlite3.Error, f"unsafe use of {fn}"):
                    self.db.execute(f"SELECT * FROM {view}")


class UserSchemaTest(unittest.TestCase):
    """The application's own triggers and views around the functions."""

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_admin_functions_are_direct_only(self):
        # exactly_once_config and purge_expired change or remove every claim's state: a
        # schema (trigger, view) must not run them behind the application's back.
        self.db.executescript("""
            CREATE TABLE log(x);
            CREATE TRIGGER log_purge AFTER INSERT ON log BEGIN SELECT purge_expired(); END;
            CREATE TRIGGER log_config AFTER UPDATE ON log BEGIN SELECT exactly_once_config('default_ttl', '1s'); END;
            CREATE VIEW v_get AS SELECT exactly_once_config('default_ttl') AS ttl;
            CREATE VIEW v_purge AS SELECT purge_expired() AS n;
        """)
        for sql, fn in (("INSERT INTO log VALUES (1)", "purge_expired"),
                        ("UPDATE log SET x = 2", "exactly_once_config"),
                        ("SELECT * FROM v_get", "exactly_once_config"),
                        ("SELECT * FROM v_purge", "purge_expired")):
            with self.subTest(sql=sql):
                with self.assertRaisesRegex(sqlite3.Error, rf"^unsafe use of {fn}\(\)"):
                    self.db.execute(sql).fetchall()
        self.assertEqual(one(self.db, "SELECT count(*) FROM log"), 0)
        # Called directly they work (and so do TEMP triggers and views: SQLite counts those,
        # which only this connection can create, as direct use).
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl', '2h')"), "2h")
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl')"), "2h")
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 0)
        self.db.execute("CREATE TEMP VIEW tv AS SELECT exactly_once_config('default_ttl') AS ttl")
        self.assertEqual(one(self.db, "SELECT ttl FROM tv"), "2h")
        # The writers meant for triggers and views stay usable there.
        self.db.execute("CREATE VIEW v_claim AS SELECT claim_once('s', 'k') AS c, release_claim('s', 'k') AS r")
        self.assertEqual(self.db.execute("SELECT c, r FROM v_claim").fetchall(), [(1, 1)])

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


class OutboxTest(unittest.TestCase):
    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_emit_writes_one_row(self):
        before = now_ms()
        event_id = one(self.db, """SELECT outbox_emit('payment-events', 'acct-7', json_object('paid', 100))""")
        after = now_ms()
        self.assertRegex(event_id, UUID7)
        row = self.db.execute(
            "SELECT seq, id, topic, key, payload, headers, created_at, attempts, next_attempt_at, "
            "lease_owner, lease_until, delivered_at, last_error FROM exactly_once_outbox").fetchall()
        self.assertEqual(len(row), 1)
        seq, rid, topic, key, payload, headers, created, attempts, next_at, owner, until, delivered, err = row[0]
        self.assertEqual((rid, topic, key, payload, headers), (event_id, "payment-events", "acct-7", '{"paid":100}', None))
        self.assertTrue(before <= created <= after)
        self.assertEqual((attempts, next_at, owner, until, delivered, err), (0, 0, None, None, None, None))
        self.assertEqual(seq, 1)

    def test_headers_and_key_types(self):
        one(self.db, "SELECT outbox_emit('t', 'k', '[1,2]', json_object('content-type', 'application/json'))")
        one(self.db, "SELECT outbox_emit('t', x'00ff', '\"s\"', NULL)")
        one(self.db, "SELECT outbox_emit('t', 7, 'null')")
        rows = self.db.execute("SELECT key, typeof(key), payload, headers FROM exactly_once_outbox ORDER BY seq").fetchall()
        self.assertEqual(rows, [("k", "text", "[1,2]", '{"content-type":"application/json"}'),
                                (b"\x00\xff", "blob", '"s"', None),
                                ("7", "text", "null", None)])

    def test_json_at_the_limits_is_accepted(self):
        headers = '{"a":"' + "x" * (65536 - 8) + '"}'  # exactly 64 KiB
        self.assertRegex(one(self.db, "SELECT outbox_emit('t', 'k', '{}', ?)", headers), UUID7)
        payload = "[" * 1000 + "]" * 1000  # nested exactly 1000 deep
        self.assertRegex(one(self.db, "SELECT outbox_emit('t', 'k', ?)", payload), UUID7)
        self.assertEqual(one(self.db, "SELECT count(*) FROM exactly_once_outbox"), 2)

    def test_ids_unique_and_ordered_like_seq(self):
        ids = [one(self.db, "SELECT outbox_emit('t', 'k', ?)", str(i)) for i in range(500)]
        self.assertEqual(len(set(ids)), 500)
        self.assertEqual(ids, sorted(ids))
        stored = [r[0] for r in self.db.execute("SELECT id FROM exactly_once_outbox ORDER BY seq")]
        self.assertEqual(stored, ids)
        for i in ids:
            self.assertRegex(i, UUID7)

    def test_seq_never_reused_after_relay_deletes(self):
        one(self.db, "SELECT outbox_emit('t', 'k', '1')")
        one(self.db, "SELECT outbox_emit('t', 'k', '2')")
        self.db.execute("DELETE FROM exactly_once_outbox")
        one(self.db, "SELECT outbox_emit('t', 'k', '3')")
        self.assertEqual(one(self.db, "SELECT seq FROM exactly_once_outbox"), 3)

    def test_last_insert_rowid_is_left_alone(self):
        self.db.execute("CREATE TABLE u(id INTEGER PRIMARY KEY)")
        self.db.execute("INSERT INTO u VALUES (42)")
        one(self.db, "SELECT outbox_emit('t', 'k', '{}')")
        self.assertEqual(one(self.db, "SELECT last_insert_rowid()"), 42)


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
        self.assertEqual(row_counts(db), {"exactly_once_claims": 1, "exactly_once_outbox": 1, "exactly_once_config": 0})

    def test_dropped_state_tables_are_recreated(self):
        self.db.execute("DROP TABLE exactly_once_claims")
        self.db.execute("DROP TABLE exactly_once_outbox")
        self.assertEqual(one(self.db, "SELECT claim_once('setup', 'k')"), 1)
        self.assertRegex(one(self.db, "SELECT outbox_emit('t', 'k', '{}')"), UUID7)
        self.assertEqual(self.counts(), (1, 1))
        # The same two cached statements (claim, emit) as before the DROP, re-prepared.
        self.assertEqual(cached_statements(self.db), 2)

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
                self.assertEqual(one(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'exactly_once%'"), 5)
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
        self.assertEqual(one(self.db, "SELECT total_changes()"), total + 2)
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
    def test_config_survives_reconnect(self):
        path = self.path("cfg.db")
        db = connect(path)
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl')"), "1d")
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl', '48h')"), "2d")
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl', 5400)"), "1h30m")
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl', '90m')"), "1h30m")
        db.close()
        db = connect(path)
        self.addCleanup(db.close)
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl')"), "1h30m")
        before = now_ms()
        one(db, "SELECT claim_once('s', 'k')")
        expires = one(db, "SELECT expires_at FROM exactly_once_claims")
        self.assertTrue(before + 5_400_000 <= expires <= now_ms() + 5_400_000)

    def test_config_change_on_another_connection_is_seen(self):
        path = self.path("cfg2.db")
        a, b = connect(path), connect(path)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        one(a, "SELECT claim_once('s', 'k1')")  # a has its statements cached now
        self.assertEqual(one(b, "SELECT exactly_once_config('default_ttl', '1h')"), "1h")
        before = now_ms()
        one(a, "SELECT claim_once('s', 'k2')")
        expires = one(a, "SELECT expires_at FROM exactly_once_claims WHERE k = dedup_key('s', 'k2')")
        self.assertTrue(before + HOUR_MS <= expires <= now_ms() + HOUR_MS)
        self.assertEqual(one(a, "SELECT exactly_once_config('default_ttl')"), "1h")

    def test_config_change_rolled_back_is_forgotten(self):
        db = connect()
        self.addCleanup(db.close)
        db.execute("BEGIN")
        one(db, "SELECT exactly_once_config('default_ttl', '1h')")
        db.execute("ROLLBACK")
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl')"), "1d")
        one(db, "SELECT claim_once('init', 'k')")
        db.execute("BEGIN")
        one(db, "SELECT exactly_once_config('default_ttl', '1h')")
        db.execute("ROLLBACK")
        before = now_ms()
        one(db, "SELECT claim_once('s', 'k')")
        expires = one(db, "SELECT expires_at FROM exactly_once_claims WHERE k = dedup_key('s', 'k')")
        self.assertGreaterEqual(expires, before + DAY_MS)

    def test_config_row_cannot_silently_change_the_ttl(self):
        db = connect()
        self.addCleanup(db.close)
        one(db, "SELECT exactly_once_config('default_ttl', '1h')")
        bad = ("'1h'", "-5", "0", "1.5", "NULL", "3153600000001")  # the last: over the 100-year cap
        for ms in bad:
            with self.subTest(ms=ms):
                with self.assertRaisesRegex(sqlite3.IntegrityError, "CHECK constraint failed: default_ttl_ms_is_a_valid_ttl"):
                    db.execute(f"UPDATE exactly_once_config SET ms = {ms}")
        self.assertEqual(one(db, "SELECT ms FROM exactly_once_config"), HOUR_MS)
        # With CHECKs off the row can be broken anyway: claim_once refuses it rather than
        # applying a shorter TTL (or none) to every claim; an explicit ttl does not read it.
        db.execute("PRAGMA ignore_check_constraints = ON")
        for ms in bad:
            with self.subTest(ms=ms, checks="off"):
                db.execute(f"UPDATE exactly_once_config SET ms = {ms}")
                with self.assertRaisesRegex(sqlite3.Error, "^claim_once: default_ttl setting in exactly_once_config is invalid$"):
                    db.execute("SELECT claim_once('s', 'k')")
                self.assertEqual(one(db, "SELECT is_claimed('s', 'k')"), 0)
        self.assertEqual(one(db, "SELECT claim_once('s', 'k', '1h')"), 1)
        with self.assertRaisesRegex(sqlite3.Error, "^claim_once: default_ttl setting in exactly_once_config is invalid$"):
            db.execute("SELECT claim_once('s', 'k')")  # also when the key is already claimed
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl', '2h')"), "2h")  # repairs it
        self.assertEqual(one(db, "SELECT claim_once('s', 'k')"), 0)
        before = now_ms()
        self.assertEqual(one(db, "SELECT claim_once('s', 'k2')"), 1)
        expires = one(db, "SELECT expires_at FROM exactly_once_claims WHERE k = dedup_key('s', 'k2')")
        self.assertTrue(before + 2 * HOUR_MS <= expires <= now_ms() + 2 * HOUR_MS)

        path = self.path("schema.db")
        a, b = connect(path), connect(path)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(one(a, "SELECT claim_once('s', 'k1')"), 1)
        self.assertEqual(cached_statements(a), 1)
        b.execute("CREATE TABLE unrelated(x)")
        self.assertEqual(one(b, "SELECT claim_once('s', 'k1')"), 0)
        self.assertEqual(one(a, "SELECT claim_once('s', 'k2')"), 1)
        self.assertEqual(one(a, "SELECT claim_once('s', 'k2')"), 0)
        self.assertEqual(cached_statements(a), 1)  # still cached, and still the one statement

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

    def test_extension_loaded_twice(self):
        db = connect()
        self.addCleanup(db.close)
        self.assertEqual(one(db, "SELECT claim_once('s', 'k')"), 1)
        db.enable_load_extension(True)
        self.assertEqual(cached_statements(db), 1)
        db.load_extension(EXT)  # replaces functions and module: the old state is released
        self.assertEqual(one(db, "SELECT claim_once('s', 'k')"), 0)
        self.assertEqual(one(db, "SELECT claim_once('s', 'k2')"), 1)
        self.assertEqual(cached_statements(db), 1)  # the new state's own cache, in use

    def test_connections_have_separate_state(self):
        a, b = connect(), connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(one(a, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(b, "SELECT claim_once('s', 'k')"), 1)  # another :memory: database


def run_isolated(test, code, timeout=120):
    """Runs `code` (which prints its findings) in a new Python process, so that a crash
    fails the test instead of ending the suite; returns its output."""
    prelude = "import sqlite3, sys\nfrom eo_sqlite import connect, one, EXT\n"
    try:
        proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, cwd=os.path.dirname(os.path.abspath(__file__)))
    except subprocess.TimeoutExpired:
        test.fail(f"did not finish within {timeout} s")
    test.assertEqual(proc.returncode, 0, f"exit status {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


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

    def test_failed_load_of_a_second_copy_leaves_nothing_behind(self):
        # SQLite unloads a library whose init failed. A second copy of the module (another
        # path, so another library), loaded while a statement runs, cannot replace the
        # functions (SQLITE_BUSY); it must not leave anything registered that points into it.
        copies = []
        for name in ("a", "b"):
            os.mkdir(self.path(name))
            copies.append(shutil.copy(EXT, self.path(name)))
        out = run_isolated(self, f"""
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.enable_load_extension(True)
            db.load_extension({copies[0]!r})
            print(one(db, "SELECT claim_once('s', 'k')"))
            try:
                db.execute("SELECT load_extension(?)", ({copies[1]!r},)).fetchall()
                print("loaded")
            except sqlite3.Error as e:
                print(e)
            print(one(db, "SELECT claim_once('s', 'k2')"), one(db, "SELECT cached_statements FROM exactly_once_session"))
            db.load_extension({copies[1]!r})  # no statement running: replaces the first copy
            print(one(db, "SELECT claim_once('s', 'k3')"), one(db, "SELECT claim_once('s', 'k')"))
            db.close()
            print("closed")
        """)
        self.assertEqual(out.splitlines(), [
            "1",
            "error during initialization: exactly_once: cannot register claim_once: "
            "unable to delete/modify user-function due to active statements",
            "1 1",
            "1 0",
            "closed",
        ])


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


class BuildTest(unittest.TestCase):
    def test_version(self):
        db = connect()
        self.addCleanup(db.close)
        self.assertRegex(VERSION, r"^\d+\.\d+\.\d+")
        self.assertEqual(one(db, "SELECT exactly_once_version()"), VERSION)

    def test_only_the_entry_point_is_exported(self):
        nm = shutil.which("nm")
        self.assertIsNotNone(nm, "nm (binutils) is needed to inspect the module")
        out = subprocess.run([nm, "-D", "--defined-only", EXT], check=True, capture_output=True, text=True).stdout
        names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
        self.assertEqual(names, ["sqlite3_exactlyonce_init"])

    def test_minimum_sqlite_version_covers_every_api_used(self):
        # The module calls SQLite through the host's API table: an entry newer than the
        # host is read past the end of its table. Each sqlite3_* the sources use must be
        # at least as old as the minimum version the entry point accepts.
        header, sources = os.environ.get("SQLITE3EXT_H"), os.environ.get("EXACTLY_ONCE_SQLITE_SOURCES")
        self.assertTrue(header and sources, "SQLITE3EXT_H and EXACTLY_ONCE_SQLITE_SOURCES come from the build")
        since, version = {}, (0, 0, 0)  # the API before 3.7.16 has no version comments
        with open(header, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^/\* Version (\d+)\.(\d+)\.(\d+) and later \*/", line)
                if m:
                    version = tuple(int(g) for g in m.groups())
                m = re.match(r"^#define (sqlite3_\w+)\s+sqlite3_api->", line)
                if m:
                    since[m.group(1)] = version
        self.assertIn("sqlite3_changes64", since)
        code = ""
        for name in sorted(os.listdir(sources)):
            if name.endswith((".cpp", ".hpp")):
                with open(os.path.join(sources, name), encoding="utf-8") as f:
                    code += re.sub(r"//[^\n]*", "", f.read())  # not the comments
        m = re.search(r"kMinSqliteVersion = (\d+);", code)
        self.assertIsNotNone(m)
        n = int(m.group(1))
        minimum = (n // 1_000_000, n // 1000 % 1000, n % 1000)
        used = {name: since[name] for name in set(re.findall(r"\bsqlite3_\w+", code)) if name in since}
        self.assertGreater(len(used), 20)
        newer = {name: v for name, v in used.items() if v > minimum}
        # A newer entry may be called only behind a runtime check of the host's version:
        # every line naming it compares against a constant at least as new.
        gates = {g: int(n) for g, n in re.findall(r"constexpr int (k\w+) = (\d+);", code)}
        for name, v in list(newer.items()):
            lines = [ln for ln in code.splitlines() if re.search(rf"\b{name}\b", ln)]
            needed = v[0] * 1_000_000 + v[1] * 1000 + v[2]
            if lines and all(any(gates.get(g, 0) >= needed for g in re.findall(r">= (k\w+)", ln))
                             for ln in lines):
                del newer[name]
        self.assertEqual(newer, {}, f"needs a newer SQLite than {minimum}, ungated")
        self.assertIn(f"needs SQLite {minimum[0]}.{minimum[1]}.{minimum[2]} or later", code)

    def test_module_does_not_link_libsqlite3(self):
        out = subprocess.run(["ldd", EXT], capture_output=True, text=True).stdout
        self.assertNotIn("libsqlite3", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
