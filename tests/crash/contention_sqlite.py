#!/usr/bin/env python3
"""TTL contention, SQLite (audit item 13; defect 1): short TTLs under write-lock waits.

Locker processes hold the write lock (BEGIN IMMEDIATE) for random spans, many longer than the
TTLs, while claimer processes claim a few hot keys ('1s' and '500ms' TTLs) in a loop, in
autocommit, in BEGIN IMMEDIATE and in deferred BEGIN transactions. Every process records its
own clock around each call; ttl_check.py then proves from those records alone that no key was
won twice within its TTL and that no 0 was answered while no win could be live.

Two runs on real files and locks:
  1. control: the same load with a claim written the naive way (clock read by the client
     before the statement waits for the lock: defect 1's pattern). The check must find
     violations, or it could not fail.
  2. claim_once: no violation allowed.

  contention_sqlite.py [--seconds N] [--control-seconds N]   (EXACTLY_ONCE_SQLITE_EXT)
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sqlite"))
sys.path.insert(0, HERE)
from eo_sqlite import connect, one  # noqa: E402
import ttl_check  # noqa: E402

HOT_KEYS = {"hot-1s-a": ("1s", 1.0), "hot-1s-b": ("1s", 1.0), "hot-500ms-a": ("500ms", 0.5),
            "hot-500ms-b": ("500ms", 0.5)}
LOCKERS, CLAIMERS = 2, 4
HOLD = (0.2, 1.6)   # seconds a locker holds the write lock: often longer than both TTLs
GAP = (0.2, 1.2)    # seconds between a locker's holds: fresh claims get in between
SLACK = 0.002       # millisecond expiry arithmetic, float clocks

# -------------------------------------------------------------------------- child processes


def naive_claim(db, key, ttl_s):
    """Defect 1's pattern, done by hand: the clock is read before the statement waits."""
    now = int(time.time() * 1000)
    db.execute("INSERT INTO naive_claims(k, expires_at) VALUES (?, ?) ON CONFLICT(k) DO UPDATE "
               "SET expires_at = excluded.expires_at WHERE naive_claims.expires_at <= ?",
               (key, now + int(ttl_s * 1000), now))
    return db.execute("SELECT changes()").fetchone()[0]


def run_claimer(a):
    db = connect(a.db, timeout=30.0)
    rng = random.Random(os.getpid())
    calls = []
    while time.time() < a.until:
        key = rng.choice(list(HOT_KEYS))
        ttl_text, ttl_s = HOT_KEYS[key]
        mode = rng.choices(["autocommit", "BEGIN IMMEDIATE", "BEGIN"], weights=[70, 15, 15])[0]
        s = time.time()
        if mode != "autocommit":
            db.execute(mode)
        if a.naive:
            result = naive_claim(db, key, ttl_s)
        else:
            result = one(db, "SELECT claim_once('hot', ?, ?)", key, ttl_text)
        e = time.time()  # the claim was judged inside that statement; COMMIT publishes it
        if mode != "autocommit":
            db.execute("COMMIT")
        calls.append((key, ttl_s, s, e, result))
        time.sleep(rng.uniform(0, 0.02))
    with open(a.out, "w") as f:
        json.dump({"calls": calls}, f)


def run_locker(a):
    db = connect(a.db, timeout=30.0)
    rng = random.Random(os.getpid())
    holds = []
    while time.time() < a.until:
        time.sleep(rng.uniform(*GAP))
        db.execute("BEGIN IMMEDIATE")
        held_from = time.time()  # the write lock is ours from before this moment ...
        time.sleep(rng.uniform(*HOLD))
        held_to = time.time()    # ... until after this one
        db.execute("COMMIT")
        holds.append((None, held_from, held_to))
    with open(a.out, "w") as f:
        json.dump({"holds": holds}, f)


# -------------------------------------------------------------------------- the parent


def run(workdir, name, seconds, naive):
    tag = "naive" if naive else "claim_once"
    db_path = os.path.join(workdir, f"{tag}.db")
    db = connect(db_path)
    assert one(db, "PRAGMA journal_mode = WAL") == "wal"
    db.execute("CREATE TABLE naive_claims(k TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)")
    one(db, "SELECT claim_once('setup', 'creates the state tables')")
    db.close()
    until = time.time() + 1.0 + seconds  # 1 s for the processes to start
    procs = []
    for role, count in (("locker", LOCKERS), ("claimer", CLAIMERS)):
        for i in range(count):
            out = os.path.join(workdir, f"{tag}-{role}{i}.json")
            cmd = [sys.executable, os.path.abspath(__file__), role, "--db", db_path, "--until", repr(until),
                   "--out", out] + (["--naive"] if naive else [])
            procs.append((out, subprocess.Popen(cmd)))
    calls, holds = [], []
    for out, p in procs:
        if p.wait(timeout=seconds + 120) != 0:
            raise SystemExit(f"contention_sqlite: a {name} process failed (exit {p.returncode})")
        with open(out) as f:
            data = json.load(f)
        calls += [tuple(c) for c in data.get("calls", [])]
        holds += [tuple(h) for h in data.get("holds", [])]
    return ttl_check.report("contention_sqlite", name, calls, holds, SLACK, "lock holds")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--control-seconds", type=float, default=10)
    sub = ap.add_subparsers(dest="cmd")
    for role in ("claimer", "locker"):
        c = sub.add_parser(role)
        c.add_argument("--db", required=True)
        c.add_argument("--until", type=float, required=True)
        c.add_argument("--out", required=True)
        c.add_argument("--naive", action="store_true")
    a = ap.parse_args()
    if a.cmd == "claimer":
        return run_claimer(a)
    if a.cmd == "locker":
        return run_locker(a)

    workdir = tempfile.mkdtemp(prefix="eo_contention_sqlite_")
    failed = []
    try:
        if a.control_seconds > 0:
            figures, problems = run(workdir, "control (naive clock before the wait)", a.control_seconds, naive=True)
            if not problems:
                failed.append("the control found no violation: the check cannot tell a stale clock")
            if figures["waits longer than the TTL"] == 0:
                failed.append("the control had no wait longer than a TTL")
        figures, problems = run(workdir, "claim_once", a.seconds, naive=False)
        if problems:
            failed.append(f"claim_once: {len(problems)} violations (first: {problems[0]})")
        if figures["waits longer than the TTL"] == 0 or figures["wins"] == 0:
            failed.append("claim_once: no wait longer than a TTL, or no win: nothing was tested")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        print("contention_sqlite: FAILED\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)
    print("contention_sqlite: ok")


if __name__ == "__main__":
    main()
