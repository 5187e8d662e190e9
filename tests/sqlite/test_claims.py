"""claim_once, is_claimed and release_claim through the real exactly_once.so: claims, TTLs, expiry."""

import sqlite3
import time
import unittest

from eo_sqlite import DAY_MS, HOUR_MS, STATE_TABLES, ClaimsDbTest, now_ms, one, row_counts


class ClaimTest(ClaimsDbTest):
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
        self.assertEqual(row_counts(self.db), {t: None for t in STATE_TABLES})
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



if __name__ == "__main__":
    unittest.main(verbosity=2)
