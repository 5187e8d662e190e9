"""exactly_once_config through the real exactly_once.so: default_ttl stored, shared, rolled back, guarded."""

import sqlite3
import unittest

from eo_sqlite import DAY_MS, HOUR_MS, TempDirTest, cached_statements, connect, now_ms, one


class ConfigTest(TempDirTest):
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



if __name__ == "__main__":
    unittest.main(verbosity=2)
