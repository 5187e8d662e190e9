"""purge_expired through the real exactly_once.so: batches, the default batch, oldest first."""

import unittest

from eo_sqlite import ClaimsDbTest, now_ms, one


class PurgeTest(ClaimsDbTest):
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



if __name__ == "__main__":
    unittest.main(verbosity=2)
