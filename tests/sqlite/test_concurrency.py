"""Several processes claim the same 10,000 keys in one WAL database file.

Every key must be claimed exactly once in total, counted from the processes' own return
values: the sum of all 1s is 10,000 and each key has exactly one winner.
"""
import multiprocessing
import os
import random
import shutil
import tempfile
import time
import unittest

from eo_sqlite import connect, one

KEYS = 10_000
PROCESSES = max(4, min(8, os.cpu_count() or 4))
BATCH = 50
PAUSE = 0.0005  # between batches: SQLite's busy handler polls, so a free lock must stay free a moment


def claim_all(path, worker, mode, barrier, results_queue):
    """Worker: claims every key once, in its own order; reports {key: result}."""
    try:
        db = connect(path, timeout=60.0)  # busy timeout: 60 s
        # Each worker starts at its own offset and half of them go in random order, so all
        # of them meet on every key sooner or later, whoever gets the lock first.
        offset = worker * KEYS // PROCESSES
        keys = list(range(offset, KEYS)) + list(range(offset))
        if worker % 2:
            random.Random(worker).shuffle(keys)
        results = {}
        barrier.wait(timeout=120)
        if mode == "autocommit":
            # One implicit transaction per call: SELECT claim_once(...) reads no table of its
            # own, so the write lock is taken by our INSERT, under the busy timeout.
            for i, k in enumerate(keys, 1):
                results[k] = one(db, "SELECT claim_once('race', ?)", f"key-{k}")
                if i % BATCH == 0:
                    time.sleep(PAUSE)
        else:
            for start in range(0, KEYS, BATCH):
                db.execute("BEGIN IMMEDIATE")
                for k in keys[start:start + BATCH]:
                    results[k] = one(db, "SELECT claim_once('race', ?)", f"key-{k}")
                db.execute("COMMIT")
                time.sleep(PAUSE)  # let a waiting process take the lock (200 pauses: 0.1 s)
        db.close()
        results_queue.put((worker, results, None))
    except BaseException as e:  # reported to the parent, which fails the test
        results_queue.put((worker, None, repr(e)))


class ConcurrencyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eo_sqlite_conc_")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "race.db")
        db = connect(self.path)
        self.assertEqual(one(db, "PRAGMA journal_mode = WAL"), "wal")
        db.close()  # no state tables yet: the workers also race to create them

    def test_every_key_claimed_exactly_once(self):
        ctx = multiprocessing.get_context("fork")
        barrier = ctx.Barrier(PROCESSES)
        queue = ctx.Queue()
        modes = ["autocommit"] + ["batch"] * (PROCESSES - 1)
        procs = [ctx.Process(target=claim_all, args=(self.path, w, modes[w], barrier, queue))
                 for w in range(PROCESSES)]
        for p in procs:
            p.start()
        outcomes = [queue.get(timeout=500) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            self.assertEqual(p.exitcode, 0)

        winners = {k: [] for k in range(KEYS)}
        total_ones = 0
        for worker, results, error in outcomes:
            self.assertIsNone(error, f"worker {worker} failed")
            self.assertEqual(sorted(results), list(range(KEYS)), f"worker {worker} did not try every key")
            self.assertTrue(set(results.values()) <= {0, 1})
            for k, r in results.items():
                if r == 1:
                    winners[k].append(worker)
                    total_ones += 1
        self.assertEqual(total_ones, KEYS)
        self.assertEqual([k for k, w in winners.items() if len(w) != 1], [])
        # The processes really raced: more than one of them won keys.
        self.assertGreater(len({w[0] for w in winners.values()}), 1)

        db = connect(self.path)
        self.addCleanup(db.close)
        self.assertEqual(one(db, "SELECT count(*) FROM exactly_once_claims"), KEYS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
