"""Waiting for a lock never shortens a TTL nor judges liveness by a clock read before the wait.

docs/DESIGN.md §4 Claims (Clock): the statements read the clock themselves, after SQLite has
taken the lock (and waited for it in the busy handler). Another process holds the lock for
HOLD seconds; the caller's call waits under its busy timeout. Outcomes and stored expiries
are judged against clock readings the test takes itself, never against how long anything
took: the holder reads the clock just before it commits, so the waiting call's statement
ran after that reading.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from eo_sqlite import connect, now_ms, one

HOLD = 1.2  # seconds the other process keeps the lock
TRIALS = 5  # a trial whose preconditions a stalled machine broke is run again

HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN " + sys.argv[2])
    print(int(time.time() * 1000), flush=True)   # holds the lock from here
    time.sleep(float(sys.argv[3]))
    print(int(time.time() * 1000), flush=True)   # still holds it here: read before COMMIT
    db.execute("COMMIT")
""")


class Holder:
    """Another process holding the database's lock (BEGIN IMMEDIATE or EXCLUSIVE) for HOLD s."""

    def __init__(self, path, mode):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, path, mode, str(HOLD)],
                                     stdout=subprocess.PIPE, text=True)
        self.locked_at = int(self.proc.stdout.readline())

    def released_after(self):
        """A clock reading taken while the lock was still held (so before any waiter ran)."""
        line = self.proc.stdout.readline()
        self.proc.stdout.close()
        self.proc.wait(timeout=60)
        if self.proc.returncode != 0 or not line:
            raise AssertionError(f"holder failed (exit {self.proc.returncode})")
        return int(line)


class ClockAfterWaitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eo_clock_")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "clock.db")

    def open(self, journal_mode="wal"):
        db = connect(self.path, timeout=30.0)  # busy timeout far above HOLD
        self.addCleanup(db.close)
        db.execute(f"PRAGMA journal_mode={journal_mode}")
        return db

    def expires_at(self, db, scope, key):
        return one(db, "SELECT expires_at FROM main.exactly_once_claims WHERE k = dedup_key(?, ?)", scope, key)

    def set_expiry(self, db, scope, key, expires_at):
        one(db, "SELECT claim_once(?, ?, '1h')", scope, key)
        db.execute("UPDATE main.exactly_once_claims SET expires_at = ? WHERE k = dedup_key(?, ?)",
                   (expires_at, scope, key))

    def waited_call(self, db, sql, *args, mode="IMMEDIATE"):
        """Runs sql on db while another process holds the lock; returns (value, before, released).

        before: the test's clock just before the call; released: a reading taken by the
        holder while it still held the lock. The call waited when before < released.
        """
        holder = Holder(self.path, mode)
        before = now_ms()
        value = one(db, sql, *args)
        released = holder.released_after()
        return value, before, released

    def test_claim_after_a_wait_gets_its_full_ttl_and_no_second_winner(self):
        b, c = self.open(), self.open()
        for trial in range(TRIALS):
            key = f"pay_{trial}"
            claimed, before, released = self.waited_call(b, "SELECT claim_once('payments', ?, '1s')", key)
            returned = now_ms()
            # Another caller right after B returned: within B's TTL, so it must lose.
            c_result = one(c, "SELECT claim_once('payments', ?, '1s')", key)
            c_done = now_ms()
            self.assertEqual(claimed, 1)
            if before >= released or c_done >= released + 1000:
                continue  # nothing was waited for, or the machine stalled past B's TTL
            self.assertEqual(c_result, 0, "two callers won one key within one TTL")
            # The statement read the clock after taking the lock, which the holder still
            # had at `released`: a full second from then at least, never from `before`.
            stored = self.expires_at(b, "payments", key)
            self.assertGreaterEqual(stored, released + 1000,
                                    f"expiry {stored} counts from before the wait ({before}), "
                                    f"lock released after {released}")
            self.assertLessEqual(stored, returned + 1000)
            return
        self.fail(f"no trial out of {TRIALS} both waited and finished within the TTL")

    def test_default_ttl_after_a_wait(self):
        b = self.open()
        one(b, "SELECT exactly_once_config('default_ttl', '1s')")
        for trial in range(TRIALS):
            key = f"default_{trial}"
            claimed, before, released = self.waited_call(b, "SELECT claim_once('payments', ?)", key)
            self.assertEqual(claimed, 1)
            if before >= released:
                continue
            self.assertGreaterEqual(self.expires_at(b, "payments", key), released + 1000)
            return
        self.fail(f"no trial out of {TRIALS} waited")

    def test_claim_that_expires_during_the_wait_is_renewed(self):
        b = self.open()
        for trial in range(TRIALS):
            key = f"renew_{trial}"
            start = now_ms()
            self.set_expiry(b, "s", key, start + 300)  # expires while the holder holds the lock
            claimed, before, released = self.waited_call(b, "SELECT claim_once('s', ?, '1s')", key)
            if before >= released or before >= start + 300 or released < start + 300:
                continue  # not live when the call started, or not yet expired when it ran
            self.assertEqual(claimed, 1, "liveness judged by the clock before the wait")
            self.assertGreaterEqual(self.expires_at(b, "s", key), released + 1000)
            return
        self.fail(f"no trial out of {TRIALS} waited long enough")

    def test_release_judges_liveness_after_the_wait(self):
        b = self.open()
        for trial in range(TRIALS):
            expiring, live = f"expiring_{trial}", f"live_{trial}"
            start = now_ms()
            self.set_expiry(b, "s", expiring, start + 300)  # expires during the wait
            self.set_expiry(b, "s", live, start + 600_000)  # live long after it
            (released_expiring, before, released) = self.waited_call(b, "SELECT release_claim('s', ?)", expiring)
            if before >= released or before >= start + 300:
                continue
            self.assertEqual(released_expiring, 0, "an expired claim was released as live")
            self.assertEqual(self.expires_at(b, "s", expiring), start + 300)  # left for purge
            self.assertEqual(one(b, "SELECT release_claim('s', ?)", live), 1)
            return
        self.fail(f"no trial out of {TRIALS} waited")

    def test_is_claimed_judges_liveness_after_the_wait(self):
        # Readers wait only in rollback-journal mode, behind an EXCLUSIVE lock.
        b = self.open(journal_mode="delete")
        for trial in range(TRIALS):
            expiring, live = f"expiring_{trial}", f"live_{trial}"
            start = now_ms()
            self.set_expiry(b, "s", expiring, start + 300)
            self.set_expiry(b, "s", live, start + 600_000)
            value, before, released = self.waited_call(
                b, "SELECT is_claimed('s', ?) || ',' || is_claimed('s', ?)", expiring, live, mode="EXCLUSIVE")
            if before >= released or before >= start + 300:
                continue
            self.assertEqual(value, "0,1", "(expired during the wait, live after it)")
            return
        self.fail(f"no trial out of {TRIALS} waited")

    def test_purge_judges_expiry_after_the_wait(self):
        b = self.open()
        for trial in range(TRIALS):
            start = now_ms()
            self.set_expiry(b, "s", f"expiring_{trial}", start + 300)
            self.set_expiry(b, "s", f"live_{trial}", start + 600_000)
            purged, before, released = self.waited_call(b, "SELECT purge_expired()")
            if before >= released or before >= start + 300:
                one(b, "SELECT purge_expired()")
                continue
            self.assertEqual(purged, 1, "a claim that expired during the wait was kept")
            self.assertEqual(one(b, "SELECT is_claimed('s', ?)", f"live_{trial}"), 1)
            return
        self.fail(f"no trial out of {TRIALS} waited")

    def test_clock_is_read_inside_the_statement(self):
        # The mechanism: the clock function is not constant, so SQLite evaluates it in the
        # statement body (after OP_Transaction) rather than once in the init section.
        db = self.open()
        before = now_ms()
        value = one(db, "SELECT exactly_once_now()")
        self.assertGreaterEqual(value, before)
        self.assertLessEqual(value, now_ms())
        self.assertEqual(one(db, "SELECT count(*) FROM pragma_function_list WHERE name = 'exactly_once_now' "
                                 "AND flags & 0x800 = 0"), 1, "exactly_once_now must not be DETERMINISTIC")


if __name__ == "__main__":
    unittest.main(verbosity=2)
