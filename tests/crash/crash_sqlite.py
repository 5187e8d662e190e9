#!/usr/bin/env python3
"""Crash consistency, SQLite (audit item 12): writers SIGKILLed at random moments.

Several writer processes share one WAL database. Each runs transactions of
claim_once + a business write (a ledger row and a per-writer total) + outbox_emit, some rolled
back, some with a savepoint rolled back (ROLLBACK TO), some with a failing outbox_emit undone
by ROLLBACK TO. The parent SIGKILLs writers many times (at random moments, inside an open
transaction, during COMMIT, and all of them at once), and after every kill opens the file
afresh and checks, in one read snapshot:

  * lost = 0: every key a writer logged as committed (it appends to its log only after COMMIT
    returned) has its ledger row, its claim and exactly one event;
  * partial = 0: every ledger row has its claim and exactly one event, every event and every
    claim has its ledger row, each writer's total equals its ledger rows;
  * every key a writer logged as rolled back (after ROLLBACK / ROLLBACK TO returned) is absent;
  * PRAGMA integrity_check is ok.

Work resumes: a restarted writer retries the transaction it was in when killed (the plan of a
transaction is a function of its number, so the retry is the same transaction); claim_once
returns 0 for its keys when it had committed before the kill, and the writer then skips the
business write. Mixed answers within one transaction, or a 0 for a key that was never
committed, are violations the writer reports itself. At the end every writer runs once more
without kills and must finish.

  crash_sqlite.py [--kills N] [--writers N]     (EXACTLY_ONCE_SQLITE_EXT names the extension)
"""
import argparse
import mmap
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sqlite"))
from eo_sqlite import connect, one  # noqa: E402

SCOPE, TOPIC, TTL = "crash", "crash-events", "1d"  # the TTL never runs out during the test
# What a writer is doing: one shared byte per writer (set by the parent at spawn, then the writer).
PHASE_IDLE, PHASE_IN_TX, PHASE_COMMIT, PHASE_STARTING = 0, 1, 2, 3
VIOLATION_EXIT = 3
PAUSE = 0.02  # at most, between a writer's transactions

# ------------------------------------------------------------------------------- the writer


def plan(slot, n):
    """The transaction number n of writer `slot`, the same on every attempt (retry after a kill).
    steps: ('keep', key) claim+write+emit that commits; ('drop', key) one that is undone;
    ('savepoint'|'rollback_to'|'release', name); ('fail', key) claim+write, then an outbox_emit
    that fails. end: 'commit' or 'rollback'."""
    rng = random.Random(slot * 1_000_003 + n)
    key = lambda part: f"w{slot}-{n}-{part}"  # noqa: E731
    begin = rng.choice(["BEGIN", "BEGIN IMMEDIATE"])
    kind = rng.choices(["commit", "rollback", "savepoint", "error"], weights=[50, 15, 25, 10])[0]
    if kind == "commit":
        steps = [("keep", key(p)) for p in "abc"[:rng.randint(1, 3)]]
        return kind, begin, steps, "commit"
    if kind == "rollback":
        return kind, begin, [("drop", key("a")), ("drop", key("b"))], "rollback"
    if kind == "savepoint":
        return kind, begin, [("keep", key("a")),
                             ("savepoint", "s1"), ("drop", key("b")), ("rollback_to", "s1"), ("release", "s1"),
                             ("savepoint", "s2"), ("keep", key("c")), ("release", "s2")], "commit"
    return kind, begin, [("keep", key("a")),
                         ("savepoint", "s1"), ("fail", key("b")), ("rollback_to", "s1"), ("release", "s1")], "commit"


def read_log(path):
    """[(n, outcome, committed keys, rolled-back keys, flags)] of complete lines."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="ascii") as f:
        data = f.read()
    for line in data.split("\n")[:-1]:  # a line without its newline is not complete: ignored
        n, outcome, kept, dropped, flags = line.split("\t")
        out.append((int(n), outcome, [k for k in kept.split(",") if k], [k for k in dropped.split(",") if k],
                    flags))
    return out


class Violation(Exception):
    pass


def run_writer(a):
    phase = None
    with open(a.phase_file, "r+b") as f:
        phase = mmap.mmap(f.fileno(), 0)
    db = connect(a.db, timeout=60.0)
    db.execute("PRAGMA synchronous = NORMAL")    # WAL + NORMAL is durable against process crashes
    db.execute("PRAGMA wal_autocheckpoint = 50")  # checkpoints often, so some kills land in one
    log = read_log(a.log)
    n = log[-1][0] + 1 if log else 0
    in_doubt = n  # the transaction in progress when the previous incarnation was killed
    log_fd = os.open(a.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    done = 0
    phase[a.slot] = PHASE_IDLE  # ready
    try:
        while (a.max_txns is None or done < a.max_txns) and not (a.stop_file and os.path.exists(a.stop_file)):
            busy = 0
            while True:
                try:
                    line = run_transaction(db, phase, a.slot, n, retry=(n == in_doubt))
                    break
                except sqlite3.OperationalError as e:
                    # "database is locked" from a deferred BEGIN whose snapshot went stale: the
                    # transaction did not commit; roll back and run it again.
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    phase[a.slot] = PHASE_IDLE
                    busy += 1
            os.write(log_fd, (line + (f",busy={busy}" if busy else "") + "\n").encode("ascii"))
            n += 1
            done += 1
            time.sleep(random.uniform(0, PAUSE))  # bounded data, hence bounded checks
    except Violation as e:
        print(f"crash_sqlite writer {a.slot}: VIOLATION: {e}", file=sys.stderr, flush=True)
        sys.exit(VIOLATION_EXIT)
    db.close()


def run_transaction(db, phase, slot, n, retry):
    """Runs transaction n; returns its log line (written by the caller after COMMIT/ROLLBACK)."""
    kind, begin, steps, end = plan(slot, n)
    phase[slot] = PHASE_IN_TX
    db.execute(begin)
    kept_won, kept, dropped = [], [], []
    # Some transactions dawdle between statements (as applications do): more kills land inside
    # them, and the other writers wait for the write lock meanwhile.
    dawdle = random.random() < 0.3
    for step, arg in steps:
        if dawdle:
            time.sleep(random.uniform(0, 0.002))
        if step in ("keep", "drop", "fail"):
            won = one(db, "SELECT claim_once(?, ?, ?)", SCOPE, arg, TTL)
            if step == "keep":
                kept.append(arg)
                kept_won.append(won)
            else:
                dropped.append(arg)
                # Never committed, so never claimed: a 0 means an undone claim survived.
                if won != 1:
                    raise Violation(f"claim_once returned {won} for {arg}, which was always rolled back")
            if won == 1:
                db.execute("INSERT INTO ledger(key, slot, n) VALUES (?, ?, ?)", (arg, slot, n))
                db.execute("UPDATE totals SET rows = rows + 1 WHERE slot = ?", (slot,))
                payload = "not json" if step == "fail" else None
                try:
                    if payload is None:
                        one(db, "SELECT outbox_emit(?, ?, json_object('key', ?))", TOPIC, arg, arg)
                    else:
                        one(db, "SELECT outbox_emit(?, ?, ?)", TOPIC, arg, payload)
                        raise Violation("outbox_emit accepted a payload that is not JSON")
                except sqlite3.Error as e:
                    if payload is None or not str(e).startswith("outbox_emit: payload is not valid JSON"):
                        raise
        elif step == "savepoint":
            db.execute(f"SAVEPOINT {arg}")
        elif step == "rollback_to":
            db.execute(f"ROLLBACK TO {arg}")
        elif step == "release":
            db.execute(f"RELEASE {arg}")
    # All keys that commit together were claimed together: all 1 (first time), or all 0 (a
    # retry of a transaction that committed before the kill). Anything else is a torn commit.
    if len(set(kept_won)) > 1:
        raise Violation(f"transaction {n} claims answered {kept_won} for {kept}: partly committed before")
    duplicate = bool(kept_won) and kept_won[0] == 0
    if duplicate and not retry:
        raise Violation(f"transaction {n} ran for the first time but its keys {kept} were already claimed")
    if end == "commit":
        phase[slot] = PHASE_COMMIT
        db.execute("COMMIT")
        outcome = "commit"
    else:
        db.execute("ROLLBACK")
        outcome = "rollback"
        dropped += kept
        kept = []
    phase[slot] = PHASE_IDLE
    return f"{n}\t{outcome}\t{','.join(kept)}\t{','.join(dropped)}\tkind={kind}" + (",dup" if duplicate else "")


# ------------------------------------------------------------------------------- the parent


class ForkedWriter:
    """A writer in a forked child (no interpreter start-up per kill, which under ASan costs
    more than the work between kills). The parent holds no SQLite connection when it forks."""

    def __init__(self, args):
        sys.stdout.flush()
        sys.stderr.flush()
        self.returncode = None
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                random.seed()  # not the parent's sequence
                run_writer(args)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"writer {self.pid} still running")
            time.sleep(0.001)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)


def check(db_path, log_paths, stats):
    """The invariant, on a fresh connection, in one read snapshot. Returns a list of problems."""
    committed, rolled_back = set(), set()
    # Logs first, snapshot second: a key logged before the snapshot began had committed before it.
    for p in log_paths:
        for _, _, kept, dropped, _ in read_log(p):
            committed.update(kept)
            rolled_back.update(dropped)
    db = connect(db_path, timeout=60.0)
    problems = []
    try:
        db.execute("BEGIN")
        ledger = {k for (k,) in db.execute("SELECT key FROM ledger")}
        counts = {"ledger rows without their claim": 0, "ledger rows without exactly one event": 0,
                  "claims without a ledger row": 0, "events without a ledger row": 0,
                  "events with a wrong payload": 0}
        if one(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'exactly_once_outbox'") == 1:
            no_claim = one(db, "SELECT count(*) FROM ledger AS l WHERE NOT EXISTS ("
                               "SELECT 1 FROM exactly_once_claims AS c WHERE c.k = dedup_key(?, l.key))", SCOPE)
            counts["ledger rows without their claim"] = no_claim
            # Grouped once, not counted per ledger row: the outbox has no (topic, key) index.
            counts["ledger rows without exactly one event"] = one(
                db, "SELECT count(*) FROM ledger AS l LEFT JOIN (SELECT key, count(*) AS n FROM exactly_once_outbox "
                    "WHERE topic = ? AND delivered_at IS NULL GROUP BY key) AS o ON o.key = l.key "
                    "WHERE coalesce(o.n, 0) <> 1", TOPIC)
            # Distinct ledger keys have distinct claim keys, so the claims that belong to no
            # ledger row are the claims beyond those the ledger rows found.
            counts["claims without a ledger row"] = \
                one(db, "SELECT count(*) FROM exactly_once_claims") - (len(ledger) - no_claim)
            counts["events without a ledger row"] = one(
                db, "SELECT count(*) FROM exactly_once_outbox AS o WHERE o.topic <> ? OR o.delivered_at IS NOT NULL "
                    "OR NOT EXISTS (SELECT 1 FROM ledger AS l WHERE l.key = o.key)", TOPIC)
            counts["events with a wrong payload"] = one(
                db, "SELECT count(*) FROM exactly_once_outbox WHERE payload <> json_object('key', key)")
        counts["writer totals unlike its ledger rows"] = one(
            db, "SELECT count(*) FROM totals AS t WHERE t.rows <> (SELECT count(*) FROM ledger AS l WHERE l.slot = t.slot)")
        integrity = [r[0] for r in db.execute("PRAGMA integrity_check")]
        db.execute("COMMIT")
    finally:
        db.close()
    lost = sorted(committed - ledger)
    undone = sorted(rolled_back & ledger)
    if lost:
        problems.append(f"lost {len(lost)} committed keys: {lost[:5]}")
    problems += [f"partial: {n} {what}" for what, n in counts.items() if n]
    if undone:
        problems.append(f"{len(undone)} rolled-back keys present: {undone[:5]}")
    if integrity != ["ok"]:
        problems.append(f"integrity_check: {integrity[:5]}")
    stats["checks"] += 1
    stats["keys_checked"] = len(ledger)
    stats["logged_committed"] = len(committed)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=400)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--resume-txns", type=int, default=20, help="transactions each writer runs after the kills")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    a = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="eo_crash_sqlite_")
    db_path = os.path.join(workdir, "crash.db")
    stop_file = os.path.join(workdir, "stop")
    phase_file = os.path.join(workdir, "phase")
    logs = [os.path.join(workdir, f"writer{s}.log") for s in range(a.writers)]
    with open(phase_file, "wb") as f:
        f.write(b"\0" * a.writers)
    with open(phase_file, "r+b") as f:
        phase = mmap.mmap(f.fileno(), 0)
    db = connect(db_path)
    assert one(db, "PRAGMA journal_mode = WAL") == "wal"
    db.executescript("CREATE TABLE ledger(key TEXT PRIMARY KEY, slot INTEGER NOT NULL, n INTEGER NOT NULL);"
                     "CREATE TABLE totals(slot INTEGER PRIMARY KEY, rows INTEGER NOT NULL);")
    db.executemany("INSERT INTO totals VALUES (?, 0)", [(s,) for s in range(a.writers)])
    db.close()  # the state tables do not exist yet: the writers race to create them

    def spawn(slot, stop=True, max_txns=None):
        phase[slot] = PHASE_STARTING
        return ForkedWriter(argparse.Namespace(db=db_path, log=logs[slot], phase_file=phase_file, slot=slot,
                                               stop_file=stop_file if stop else None, max_txns=max_txns))

    stats = {"checks": 0, "keys_checked": 0, "logged_committed": 0}
    kills = {"random moment": 0, "inside a transaction": 0, "during COMMIT": 0, "while starting": 0}
    phase_at_kill = {PHASE_IDLE: 0, PHASE_IN_TX: 0, PHASE_COMMIT: 0, PHASE_STARTING: 0}
    all_at_once = 0
    failures = []
    rng = random.Random(os.getpid())
    procs = [spawn(s) for s in range(a.writers)]
    t0 = time.monotonic()

    def reap(slot):
        rc = procs[slot].wait()
        if rc != -signal.SIGKILL:
            failures.append(f"writer {slot} exited with {rc} (not by our SIGKILL)")

    def wait_phase(slot, pred, timeout):
        # Polls, yielding the CPU, until the writer's phase satisfies pred (or it died).
        deadline = time.monotonic() + timeout
        while not pred(phase[slot]) and time.monotonic() < deadline and procs[slot].poll() is None:
            time.sleep(0)

    def kill(slot):
        phase_at_kill[phase[slot]] += 1
        procs[slot].send_signal(signal.SIGKILL)

    total = 0
    while total < a.kills and not failures:
        for s, p in enumerate(procs):  # a writer that stopped by itself is a failure
            if p.poll() is not None:
                failures.append(f"writer {s} exited with {p.returncode} on its own")
        if failures:
            break
        if total % 25 == 24:
            # Every writer at once: the next opener finds no live connection and recovers the WAL.
            time.sleep(rng.uniform(0, 0.05))
            for s in range(a.writers):
                kill(s)
            for s in range(a.writers):
                reap(s)
            all_at_once += 1
            total += a.writers
            victims = list(range(a.writers))
        else:
            slot = rng.randrange(a.writers)
            how = rng.choices(list(kills), weights=[30, 30, 30, 10])[0]
            if how == "while starting":  # while it opens the file (and perhaps recovers the WAL)
                time.sleep(rng.uniform(0, 0.03))
            else:
                wait_phase(slot, lambda p: p != PHASE_STARTING, 30.0)
                time.sleep(rng.uniform(0, 0.05))  # let it work a little
                if how != "random moment":
                    want = PHASE_IN_TX if how == "inside a transaction" else PHASE_COMMIT
                    wait_phase(slot, lambda p: p == want, 0.5)  # a COMMIT is short: then kill anyway
            kills[how] += 1
            kill(slot)
            reap(slot)
            total += 1
            victims = [slot]
        problems = check(db_path, logs, stats)
        if problems:
            failures.append(f"after kill {total}: " + "; ".join(problems))
            break
        for s in victims:
            procs[s] = spawn(s)

    # Stop the survivors cleanly, then every writer once more without kills: work resumes.
    with open(stop_file, "w"):
        pass
    for s, p in enumerate(procs):
        rc = p.wait(timeout=120)
        if rc not in (0, -signal.SIGKILL):
            failures.append(f"writer {s} exited with {rc} at the stop")
    resumed = [spawn(s, stop=False, max_txns=a.resume_txns) for s in range(a.writers)]
    for s, p in enumerate(resumed):
        rc = p.wait(timeout=300)
        if rc != 0:
            failures.append(f"writer {s} did not resume: exit {rc}")
    problems = check(db_path, logs, stats)
    if problems:
        failures.append("final check: " + "; ".join(problems))

    lines = [entry for p in logs for entry in read_log(p)]
    txn_committed = sum(1 for e in lines if e[1] == "commit")
    txn_rolled_back = sum(1 for e in lines if e[1] == "rollback")
    by_kind = {}
    for e in lines:
        kind = e[4].split(",")[0].split("=")[1]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    dup = sum(1 for e in lines if ",dup" in e[4])
    busy = sum(int(f.split("=")[1]) for e in lines for f in e[4].split(",") if f.startswith("busy="))
    print(f"crash_sqlite: {total} SIGKILLs of {a.writers} writers in {time.monotonic() - t0:.1f} s "
          f"(targeted: {kills}; {all_at_once} rounds of all writers at once)")
    print(f"crash_sqlite: writer phase at the kill: between transactions {phase_at_kill[PHASE_IDLE]}, "
          f"inside a transaction {phase_at_kill[PHASE_IN_TX]}, in COMMIT {phase_at_kill[PHASE_COMMIT]}, "
          f"starting {phase_at_kill[PHASE_STARTING]}")
    print(f"crash_sqlite: transactions committed {txn_committed}, rolled back {txn_rolled_back}; "
          f"by kind {by_kind} (savepoint and error kinds commit after a ROLLBACK TO)")
    print(f"crash_sqlite: in-doubt transactions found committed on retry (claim_once = 0) {dup}; "
          f"retried after 'database is locked' {busy}")
    print(f"crash_sqlite: {stats['checks']} checks (integrity_check each), final: {stats['keys_checked']} "
          f"committed keys in the file, {stats['logged_committed']} logged committed; lost 0 and partial 0 "
          f"required", flush=True)
    # The run must have exercised what it claims: kills inside transactions and during COMMIT.
    if phase_at_kill[PHASE_IN_TX] == 0 or phase_at_kill[PHASE_COMMIT] == 0 or txn_committed == 0:
        failures.append("the kills did not hit open transactions and COMMITs (nothing tested)")
    if not a.keep and not failures:
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print(f"crash_sqlite: FAILED (files kept in {workdir}):\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("crash_sqlite: ok")


if __name__ == "__main__":
    main()
