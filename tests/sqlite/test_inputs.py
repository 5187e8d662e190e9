"""Inputs the audit found wrongly refused, through the real exactly_once.so: TTL numbers
longer than 18 characters, and JSON numbers beyond double range (arbitrary-precision numbers
are JSON, and SQLite's own json_valid accepts them)."""
import sqlite3
import unittest

from eo_sqlite import connect, now_ms, one, row_counts


class LongTtlNumbersTest(unittest.TestCase):
    CASES = [("0000000000000000001s", 1_000), ("1.000000000000000000h", 3_600_000),
             ("11111.1110936051901", 11_111_111), ("0" * 500 + "90", 90_000)]

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_claim_once_accepts_them_with_the_right_expiry(self):
        for i, (ttl, ms) in enumerate(self.CASES):
            with self.subTest(ttl=ttl[:30]):
                before = now_ms()
                self.assertEqual(one(self.db, "SELECT claim_once('ttl', ?, ?)", str(i), ttl), 1)
                after = now_ms()
                expires = one(self.db, "SELECT expires_at FROM exactly_once_claims WHERE k = dedup_key('ttl', ?)", str(i))
                self.assertGreaterEqual(expires, before + ms)
                self.assertLessEqual(expires, after + ms)

    def test_default_ttl_accepts_them(self):
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl', '1.000000000000000000h')"), "1h")
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl', '0000000000000000001s')"), "1s")

    def test_huge_values_are_still_too_long_and_nothing_is_written(self):
        for ttl in ["1" + "0" * 400 + "s", "99999999999999999999d", "36501d"]:
            with self.subTest(ttl=ttl[:30]):
                with self.assertRaises(sqlite3.Error) as cm:
                    one(self.db, "SELECT claim_once('ttl', 'big', ?)", ttl)
                self.assertEqual(str(cm.exception), "claim_once: ttl is too long (the maximum is 36500 days)")
        self.assertEqual(one(self.db, "SELECT is_claimed('ttl', 'big')"), 0)


class BigJsonNumbersTest(unittest.TestCase):
    PAYLOADS = ['{"amount":1e400}', "1e-400", "-1e99999", "1" + "0" * 400,
                '[1e400,{"b":123456789012345678901234567890.5e-7}]']

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_outbox_emit_stores_them_byte_identical(self):
        for p in self.PAYLOADS:
            with self.subTest(payload=p[:30]):
                self.assertEqual(one(self.db, "SELECT json_valid(?)", p), 1)  # SQLite's own verdict
                event = one(self.db, "SELECT outbox_emit('t', 'k', ?)", p)
                self.assertEqual(one(self.db, "SELECT payload FROM exactly_once_outbox WHERE id = ?", event), p)

    def test_invalid_numbers_are_still_refused(self):
        for p in ["01", "1.", "-", "1e", "1e+-5", "[1 2]"]:
            with self.subTest(payload=p):
                self.assertEqual(one(self.db, "SELECT json_valid(?)", p), 0)
                with self.assertRaises(sqlite3.Error) as cm:
                    one(self.db, "SELECT outbox_emit('t', 'k', ?)", p)
                self.assertEqual(str(cm.exception), "outbox_emit: payload is not valid JSON")
        self.assertIsNone(row_counts(self.db)["exactly_once_outbox"])  # not even created


if __name__ == "__main__":
    unittest.main()
