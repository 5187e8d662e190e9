"""dedup_key through the real exactly_once.so: the shared vectors and the stored claim key."""

import unittest

from eo_sqlite import connect, one, read_vectors


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



if __name__ == "__main__":
    unittest.main(verbosity=2)
