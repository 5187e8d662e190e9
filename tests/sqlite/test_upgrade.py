"""Files written by an earlier release: upgraded in place, with their claims and events.

The fixture tests/sqlite/fixtures/v0.2.0.db was written by the 0.2.0 extension (its script,
make_v0_2_0.py, says how and what it holds). Each test works on a copy of it.
"""
import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import unittest

from eo_sqlite import EXT, VERSION, TempDirTest, connect, one

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v0.2.0.db")
OLD_COLUMNS = "seq, id, topic, CAST(key AS TEXT), payload, headers, created_at, attempts, delivered_at"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def emit_in_child(path, key, barrier, results):
    """One process: waits at the barrier, then emits (which upgrades the file, or finds it done)."""
    try:
        db = connect(path, timeout=30.0)
        barrier.wait()
        one(db, "SELECT outbox_emit('race', ?, '{}')", key)
        results.put(("ok", key))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        results.put(("error", f"{key}: {e}"))


class UpgradeFrom_0_2_0(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db_path = os.path.join(self.dir, "app.db")
        shutil.copyfile(FIXTURE, self.db_path)
        plain = sqlite3.connect(self.db_path)
        self.old_events = plain.execute(f"SELECT {OLD_COLUMNS} FROM exactly_once_outbox ORDER BY seq").fetchall()
        self.old_claims = plain.execute("SELECT k, expires_at FROM exactly_once_claims ORDER BY k").fetchall()
        self.old_high_water = plain.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'exactly_once_outbox'").fetchone()[0]
        plain.close()
        self.assertEqual(len(self.old_events), 8, "the fixture's pending and delivered events")
        self.assertGreater(self.old_high_water, self.old_events[-1][0], "the fixture deleted its last events")

    def test_first_emit_upgrades_keeping_claims_events_and_the_applications_objects(self):
        db = connect(self.db_path)
        # Claims need no upgrade: the live ones are still held, the expired ones can be taken.
        self.assertEqual(one(db, "SELECT claim_once('orders', 'o-1')"), 0)
        self.assertEqual(one(db, "SELECT claim_once('expired', 'gone-1')"), 1)
        self.assertEqual(one(db, "SELECT exactly_once_config('default_ttl')"), "2d")
        one(db, "SELECT outbox_emit('orders', 'o-1', '{\"n\":11}')")

        self.assertEqual(one(db, "SELECT value FROM exactly_once_meta WHERE name = 'schema_version'"), VERSION)
        events = db.execute(f"SELECT {OLD_COLUMNS} FROM exactly_once_outbox ORDER BY seq").fetchall()
        self.assertEqual(events[:-1], self.old_events, "every event kept: id, seq, payload, headers, times")
        self.assertGreater(events[-1][0], self.old_high_water, "a seq is never used twice")
        self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_outbox WHERE typeof(key) <> 'text'"), 0)
        self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_outbox WHERE next_attempt_at IS NOT NULL"), 0,
                         "0.2.0's next_attempt_at 0 (due now) is NULL (due now)")
        # key_seq numbers each key's events in seq order; the BLOB and TEXT o-3 are one stream;
        # the new event continues its key.
        per_key = db.execute("SELECT topic, key, group_concat(key_seq) FROM "
                             "(SELECT * FROM exactly_once_outbox ORDER BY seq) GROUP BY topic, key "
                             "ORDER BY topic, key").fetchall()
        self.assertEqual(per_key, [("audit", "a", "1"), ("orders", "o-1", "1,2,3,4"), ("orders", "o-2", "1"),
                                   ("orders", "o-3", "1,2,3")])
        one(db, "SELECT outbox_emit('orders', CAST('o-3' AS BLOB), '{}')")
        self.assertEqual(one(db, "SELECT key_seq FROM exactly_once_outbox ORDER BY seq DESC LIMIT 1"), 4)

        self.assertEqual(db.execute("SELECT k, expires_at FROM exactly_once_claims WHERE k <> dedup_key('expired', "
                                    "'gone-1') ORDER BY k").fetchall(),
                         [c for c in self.old_claims if c[0] != one(db, "SELECT dedup_key('expired', 'gone-1')")])
        # The application's own things: its trigger still fires, its view and index still exist,
        # its user_version is untouched.
        self.assertEqual(one(db, "SELECT emitted FROM app_stats"), 2 + 2)
        self.assertEqual(one(db, "SELECT count(*) FROM app_pending"), 7 + 2)
        self.assertEqual(one(db, "SELECT count(*) FROM sqlite_master WHERE name = 'app_outbox_by_topic'"), 1)
        self.assertEqual(one(db, "PRAGMA user_version"), 7)
        self.assertEqual(one(db, "PRAGMA integrity_check"), "ok")
        db.close()

    def test_an_upgrade_rolled_back_with_the_callers_transaction_leaves_the_old_file(self):
        db = connect(self.db_path)
        db.execute("BEGIN")
        one(db, "SELECT outbox_emit('orders', 'o-9', '{}')")
        db.execute("ROLLBACK")
        self.assertEqual(one(db, "SELECT count(*) FROM sqlite_master WHERE name = 'exactly_once_meta'"), 0)
        self.assertEqual(one(db, "SELECT count(*) FROM pragma_table_info('exactly_once_outbox') "
                                 "WHERE name = 'key_seq'"), 0)
        # and the next emit upgrades it
        one(db, "SELECT outbox_emit('orders', 'o-9', '{}')")
        self.assertEqual(one(db, "SELECT key_seq FROM exactly_once_outbox WHERE key = 'o-9'"), 1)
        db.close()

    def test_two_processes_upgrading_at_once_both_succeed(self):
        for round_ in range(5):
            shutil.copyfile(FIXTURE, self.db_path)
            ctx = multiprocessing.get_context("fork")
            barrier, results = ctx.Barrier(2), ctx.Queue()
            procs = [ctx.Process(target=emit_in_child, args=(self.db_path, f"p{i}", barrier, results)) for i in (0, 1)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
            outcomes = sorted(results.get(timeout=5) for _ in procs)
            self.assertEqual(outcomes, [("ok", "p0"), ("ok", "p1")], f"round {round_}")
            db = connect(self.db_path)
            self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_outbox WHERE topic = 'race'"), 2)
            self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_outbox"), 10)
            self.assertEqual(one(db, "PRAGMA integrity_check"), "ok")
            db.close()

    def test_a_read_only_file_is_refused_clearly_and_left_as_it_was(self):
        before = sha256(self.db_path)
        db = connect(f"file:{self.db_path}?mode=ro", uri=True)
        self.assertEqual(one(db, "SELECT is_claimed('orders', 'o-1')"), 1, "reading needs no upgrade")
        with self.assertRaises(sqlite3.OperationalError) as e:
            one(db, "SELECT outbox_emit('orders', 'o-1', '{}')")
        self.assertEqual(str(e.exception), "outbox_emit: cannot write to a read-only database (state lives in "
                                           "schema main): attempt to write a readonly database")
        db.close()
        self.assertEqual(sha256(self.db_path), before)

    def test_an_emit_inside_a_reading_statement_says_to_run_the_upgrade_and_the_upgrade_works(self):
        db = connect(self.db_path)
        db.execute("CREATE TABLE todo(k TEXT)")
        db.execute("INSERT INTO todo VALUES ('x'), ('y')")
        with self.assertRaises(sqlite3.OperationalError) as e:
            db.execute("SELECT outbox_emit('orders', k, '{}') FROM todo").fetchall()
        self.assertEqual(str(e.exception), "outbox_emit: this database's exactly_once tables have release 0.2.0's "
                         "layout, and it cannot be upgraded while another statement reads them (a SELECT ... FROM or "
                         "INSERT ... SELECT calling us): run SELECT exactly_once_upgrade() once on its own")
        self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_outbox"), 8, "nothing written")
        self.assertEqual(one(db, "SELECT exactly_once_upgrade()"), VERSION)
        self.assertEqual(one(db, "SELECT exactly_once_upgrade()"), VERSION, "a second run changes nothing")
        self.assertEqual(len(db.execute("SELECT outbox_emit('orders', k, '{}') FROM todo").fetchall()), 2)
        self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_outbox"), 10)
        db.close()


class SchemaVersion(TempDirTest):
    def test_a_new_file_records_this_release(self):
        db = connect(os.path.join(self.dir, "new.db"))
        self.assertEqual(one(db, "SELECT claim_once('s', 'k')"), 1)
        self.assertEqual(one(db, "SELECT value FROM exactly_once_meta WHERE name = 'schema_version'"), VERSION)
        self.assertEqual(one(db, "PRAGMA user_version"), 0, "the application's, not ours")
        db.close()

    def test_a_file_from_a_newer_release_is_refused_and_left_alone(self):
        path = os.path.join(self.dir, "future.db")
        plain = sqlite3.connect(path)
        plain.executescript("CREATE TABLE exactly_once_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                            "INSERT INTO exactly_once_meta VALUES ('schema_version', '99.0.0');")
        plain.close()
        before = sha256(path)
        db = connect(path)
        with self.assertRaises(sqlite3.OperationalError) as e:
            one(db, "SELECT claim_once('s', 'k')")
        self.assertEqual(str(e.exception), f"claim_once: this database's exactly_once schema is version 99.0.0, "
                         f"newer than this extension ({VERSION}): load exactly_once 99.0.0 or later")
        db.close()
        self.assertEqual(sha256(path), before)

    def test_a_hand_edited_version_is_refused(self):
        db = connect(os.path.join(self.dir, "edited.db"))
        one(db, "SELECT exactly_once_upgrade()")
        for bad in ("banana", "", "1.2", "1.2.3.4", "01a.0.0", "1..2"):
            db.execute("UPDATE exactly_once_meta SET value = ?", (bad,))
            with self.assertRaises(sqlite3.OperationalError) as e:
                one(db, "SELECT exactly_once_upgrade()")
            self.assertEqual(str(e.exception), f"exactly_once_upgrade: this database's exactly_once schema version "
                             f"\"{bad}\" is not a release number (exactly_once_meta was edited?)")
        db.close()

    def test_a_dropped_key_counter_is_rebuilt_from_the_events(self):
        db = connect(os.path.join(self.dir, "dropped.db"))
        for _ in range(3):
            one(db, "SELECT outbox_emit('t', 'k', '{}')")
        db.execute("DROP TABLE exactly_once_outbox_keys")
        one(db, "SELECT outbox_emit('t', 'k', '{}')")
        one(db, "SELECT outbox_emit('t', 'other', '{}')")
        self.assertEqual(db.execute("SELECT key, key_seq FROM exactly_once_outbox ORDER BY seq").fetchall(),
                         [("k", 1), ("k", 2), ("k", 3), ("k", 4), ("other", 1)])
        db.close()

    def test_upgrade_takes_no_arguments(self):
        db = connect()
        with self.assertRaises(sqlite3.OperationalError) as e:
            one(db, "SELECT exactly_once_upgrade(1)")
        self.assertTrue(str(e.exception).startswith("exactly_once_upgrade: expected"), str(e.exception))
        db.close()


if __name__ == "__main__":
    assert EXT
    unittest.main()
