"""outbox_emit through the real exactly_once.so: the row written, headers, ids, seq."""

import unittest

from eo_sqlite import UUID7, connect, now_ms, one


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
            "SELECT seq, id, topic, key, key_seq, payload, headers, created_at, attempts, next_attempt_at, "
            "lease_owner, lease_until, delivered_at, last_error FROM exactly_once_outbox").fetchall()
        self.assertEqual(len(row), 1)
        seq, rid, topic, key, key_seq, payload, headers, created, attempts, next_at, owner, until, delivered, err = row[0]
        self.assertEqual((rid, topic, key, payload, headers), (event_id, "payment-events", "acct-7", '{"paid":100}', None))
        self.assertTrue(before <= created <= after)
        # next_attempt_at NULL: due now (docs/DESIGN.md §4 outbox contract).
        self.assertEqual((attempts, next_at, owner, until, delivered, err), (0, None, None, None, None, None))
        self.assertEqual((seq, key_seq), (1, 1))

    def test_headers_and_key_types(self):
        one(self.db, "SELECT outbox_emit('t', 'k', '[1,2]', json_object('content-type', 'application/json'))")
        one(self.db, "SELECT outbox_emit('t', x'00ff', '\"s\"', NULL)")
        one(self.db, "SELECT outbox_emit('t', 7, 'null')")
        # Keys are TEXT in the outbox contract: a blob key is stored as TEXT of the same bytes.
        rows = self.db.execute("SELECT CAST(key AS BLOB), typeof(key), payload, headers FROM exactly_once_outbox "
                               "ORDER BY seq").fetchall()
        self.assertEqual(rows, [(b"k", "text", "[1,2]", '{"content-type":"application/json"}'),
                                (b"\x00\xff", "text", '"s"', None),
                                (b"7", "text", "null", None)])

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



if __name__ == "__main__":
    unittest.main(verbosity=2)
