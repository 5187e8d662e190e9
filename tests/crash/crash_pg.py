#!/usr/bin/env python3
"""Crash consistency, PostgreSQL (audit item 12): backends SIGKILLed and the server restarted.

Writer sessions (long-lived psql processes fed on stdin) run transactions of claim_once +
a business write (ledger row, per-writer total) + outbox_emit, branching on the claim as an
application does (\\gset, \\if); some transactions roll back, some roll back a savepoint, some
undo a failing outbox_emit with ROLLBACK TO. Meanwhile the test crashes the server again and
again: kill -9 of a writer's backend (the postmaster then terminates every session and
reinitialises, i.e. crash recovery) and immediate shutdowns (pg_ctl -m immediate) followed by
a start. After each crash, in one REPEATABLE READ snapshot:

  * lost = 0: every key whose COMMIT a writer saw succeed has its ledger row, claim and event;
  * partial = 0: every ledger row has its claim and exactly one event (key_seq 1, its
    outbox_keys row), every claim and every event has its ledger row, totals match;
  * keys whose transaction or savepoint was seen rolled back are absent;
  * amcheck: the B-tree indexes of the tables involved verify, with heapallindexed.

Writers reconnect after each crash and retry the transaction whose outcome they did not see
(the same transaction: its plan is a function of its number); claim_once then answers false
for its keys if it had committed, and the writer skips the business write. The server log
may show only the crashes we caused (server processes we killed, recovery, connection
refusals while recovering); PANIC, TRAP, other signals or unexpected errors fail the test.

  crash_pg.py --dir DIR [--kills N] [--restarts N] [--writers N]     (PG_CONFIG; run by ctest)
"""
import argparse
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_sessions as pgs  # noqa: E402

SCOPE, TOPIC, TTL = "crash", "crash-events", "1d"
EXPECTED_ERRORS = [r"ERROR: +outbox_emit: payload is not valid JSON"]


def plan(slot, n):
    """As in crash_sqlite.py: transaction n of writer `slot`, the same on every attempt."""
    rng = random.Random(slot * 1_000_003 + n)
    key = lambda part: f"w{slot}-{n}-{part}"  # noqa: E731
    kind = rng.choices(["commit", "rollback", "savepoint", "error"], weights=[50, 15, 25, 10])[0]
    if kind == "commit":
        return kind, [("keep", key(p)) for p in "abc"[:rng.randint(1, 3)]], "commit"
    if kind == "rollback":
        return kind, [("drop", key("a")), ("drop", key("b"))], "rollback"
    if kind == "savepoint":
        return kind, [("keep", key("a")),
                      ("savepoint", "s1"), ("drop", key("b")), ("rollback_to", "s1"), ("release", "s1"),
                      ("savepoint", "s2"), ("keep", key("c")), ("release", "s2")], "commit"
    return kind, [("keep", key("a")),
                  ("savepoint", "s1"), ("fail", key("b")), ("rollback_to", "s1"), ("release", "s1")], "commit"


def script(slot, n):
    """The psql text of transaction n; the business write runs only if the claim was won."""
    kind, steps, end = plan(slot, n)
    out = ["BEGIN;"]
    for step, arg in steps:
        if step in ("keep", "drop", "fail"):
            emit = (f"SELECT outbox_emit('{TOPIC}', '{arg}', 'not json');" if step == "fail" else
                    f"SELECT outbox_emit('{TOPIC}', '{arg}', jsonb_build_object('key', '{arg}')) IS NOT NULL AS emitted \\gset")
            out += [f"SELECT claim_once('{SCOPE}', '{arg}', '{TTL}') AS won \\gset",
                    f"\\echo claim {arg} :won",
                    "\\if :won",
                    f"INSERT INTO ledger(key, slot, n) VALUES ('{arg}', {slot}, {n});",
                    f"UPDATE totals SET rows = rows + 1 WHERE slot = {slot};",
                    emit,
                    "\\endif"]
        elif step == "savepoint":
            out.append(f"SAVEPOINT {arg};")
        elif step == "rollback_to":
            out.append(f"ROLLBACK TO SAVEPOINT {arg};")
        elif step == "release":
            out.append(f"RELEASE SAVEPOINT {arg};")
    out.append("COMMIT;" if end == "commit" else "ROLLBACK;")
    # Some transactions dawdle somewhere inside (as applications do): kills land inside them.
    rng = random.Random(slot * 7_000_003 + n)
    if rng.random() < 0.4:  # (not after the failing emit: it would be refused in the aborted transaction)
        before_savepoint = out.index("SAVEPOINT s1;") if "SAVEPOINT s1;" in out else len(out) - 1
        out.insert(rng.randrange(1, before_savepoint + 1), f"SELECT pg_sleep({rng.uniform(0, 0.005):.4f}) \\gset")
    return kind, steps, end, "\n".join(out)


class Writer(threading.Thread):
    def __init__(self, d, slot, workdir, shared):
        super().__init__(daemon=True)
        self.d, self.slot, self.shared = d, slot, shared
        self.stderr_path = os.path.join(workdir, f"writer{slot}.stderr")
        self.stop = threading.Event()
        self.violations = []
        self.n = 0
        self.in_doubt = False
        self.reconnects = 0
        self.done_since_reconnect = 0

    def run(self):
        try:
            self.loop()
        except Exception as e:  # reported as a failure by the parent
            self.violations.append(f"writer {self.slot} crashed: {e!r}")

    def loop(self):
        session = None
        rng = random.Random(self.slot)
        while not self.stop.is_set():
            if session is None:
                # Not a psql per 50 ms against a server in recovery; a connection that the
                # crash handling still takes is just another in-doubt attempt.
                pgs.wait_ready(self.d, f"writer {self.slot}")
                session = pgs.Session(self.d, f"eo_crash_w{self.slot}", self.stderr_path)
                self.reconnects += 1
                self.done_since_reconnect = 0
            kind, steps, end, text = script(self.slot, self.n)
            lines = session.run(text)
            if lines is None or not lines or lines[-1] not in ("COMMIT", "ROLLBACK"):
                # Connection lost (or psql gone) before we saw the outcome: in doubt, retry n.
                session.close()
                session = None
                self.in_doubt = True
                time.sleep(0.05)
                continue
            self.account(kind, steps, end, lines)
            self.in_doubt = False
            self.n += 1
            self.done_since_reconnect += 1
            time.sleep(rng.uniform(0, 0.02))  # bounded data, hence bounded checks
        if session is not None:
            session.close()

    def account(self, kind, steps, end, lines):
        won = {}
        for line in lines:
            if line.startswith("claim "):
                _, key, value = line.split(" ")
                won[key] = value
        kept = [k for s, k in steps if s == "keep"]
        dropped = [k for s, k in steps if s in ("drop", "fail")]
        bad = [k for k in won if won[k] not in ("t", "f")]
        if bad or set(won) != set(kept + dropped):
            self.violations.append(f"transaction {self.slot}/{self.n}: unexpected claim output {lines}")
            return
        kept_won = {won[k] for k in kept}
        if len(kept_won) > 1:
            self.violations.append(f"transaction {self.slot}/{self.n}: claims answered {won}: partly committed before")
        if kept_won == {"f"} and not self.in_doubt:
            self.violations.append(f"transaction {self.slot}/{self.n} ran for the first time but {kept} were claimed")
        for k in dropped:
            if won[k] != "t":
                self.violations.append(f"{k} was always rolled back, yet claim_once answered {won[k]}")
        final = lines[-1]
        if final != ("COMMIT" if end == "commit" else "ROLLBACK"):
            self.violations.append(f"transaction {self.slot}/{self.n} ({kind}) ended with {final}: {lines}")
            return
        with self.shared["lock"]:
            if end == "commit":
                self.shared["committed"].update(kept)
                self.shared["txn_committed"] += 1
                self.shared["dup"] += kept_won == {"f"}
            else:
                dropped = dropped + kept
                self.shared["txn_rolled_back"] += 1
            self.shared["rolled_back"].update(dropped)
            self.shared["kinds"][kind] = self.shared["kinds"].get(kind, 0) + 1


CHECK_SQL = f"""
BEGIN ISOLATION LEVEL REPEATABLE READ;
\\echo @@ledger
SELECT key FROM ledger;
\\echo @@counts
WITH l AS (SELECT key, dedup_key('{SCOPE}', key) AS k FROM ledger),
     e AS (SELECT key, count(*) AS n, min(key_seq) AS min_seq, max(key_seq) AS max_seq,
                  bool_and(payload = jsonb_build_object('key', key)) AS payload_ok
             FROM exactly_once.outbox WHERE topic = '{TOPIC}' GROUP BY key)
SELECT 'ledger rows without their claim', count(*) FROM l LEFT JOIN exactly_once.claims c USING (k) WHERE c.k IS NULL
UNION ALL SELECT 'claims without a ledger row', count(*) FROM exactly_once.claims c LEFT JOIN l USING (k) WHERE l.k IS NULL
UNION ALL SELECT 'ledger rows without exactly one event', count(*) FROM l LEFT JOIN e USING (key) WHERE e.n IS DISTINCT FROM 1
UNION ALL SELECT 'events without a ledger row', count(*) FROM e LEFT JOIN l USING (key) WHERE l.key IS NULL
UNION ALL SELECT 'events on other topics', count(*) FROM exactly_once.outbox WHERE topic <> '{TOPIC}'
UNION ALL SELECT 'events with a wrong payload or key_seq', count(*) FROM e WHERE NOT payload_ok OR min_seq <> 1 OR max_seq <> 1
UNION ALL SELECT 'outbox_keys rows unlike the events', abs((SELECT count(*) FROM exactly_once.outbox_keys WHERE last_key_seq = 1)
                                                     - (SELECT count(*) FROM exactly_once.outbox))
                                                   + (SELECT count(*) FROM exactly_once.outbox_keys WHERE last_key_seq <> 1)
UNION ALL SELECT 'writer totals unlike its ledger rows', count(*) FROM totals t
            WHERE t.rows <> (SELECT count(*) FROM ledger WHERE slot = t.slot)
UNION ALL SELECT 'heap pages failing amcheck', (SELECT count(*) FROM verify_heapam('ledger'))
    + (SELECT count(*) FROM verify_heapam('exactly_once.claims')) + (SELECT count(*) FROM verify_heapam('exactly_once.outbox'))
    + (SELECT count(*) FROM verify_heapam('exactly_once.outbox_keys'));
-- Each B-tree index of these tables, every heap tuple found in it (raises an error if not).
\\echo @@amcheck
SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
     WHERE am.amname = 'btree' AND i.indrelid IN ('ledger'::regclass, 'totals'::regclass,
           'exactly_once.claims'::regclass, 'exactly_once.outbox'::regclass, 'exactly_once.outbox_keys'::regclass)) AS v;
COMMIT;
"""


def check(d, shared, stats):
    with shared["lock"]:  # what the writers saw, before the snapshot: committed before it
        committed = set(shared["committed"])
        rolled_back = set(shared["rolled_back"])
    try:
        lines = pgs.psql(d, CHECK_SQL)
    except RuntimeError as e:  # amcheck reports corruption as an error
        return [f"check failed: {e}"]
    i, j = lines.index("@@counts"), lines.index("@@amcheck")
    ledger = set(lines[lines.index("@@ledger") + 1:i])
    stats["indexes"] = int(lines[j + 1])
    problems = []
    for line in lines[i + 1:j]:
        what, n = line.rsplit("|", 1)
        if int(n):
            problems.append(f"partial: {n} {what}")
    lost = sorted(committed - ledger)
    undone = sorted(rolled_back & ledger)
    if lost:
        problems.insert(0, f"lost {len(lost)} committed keys: {lost[:5]}")
    if undone:
        problems.append(f"{len(undone)} rolled-back keys present: {undone[:5]}")
    stats["checks"] += 1
    stats["keys"] = len(ledger)
    stats["logged"] = len(committed)
    return problems


def client_backends(d):
    rows = pgs.psql(d, "SELECT pid, state FROM pg_stat_activity WHERE application_name LIKE 'eo_crash_w%'")
    return [(int(p), s) for p, s in (r.split("|") for r in rows)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--kills", type=int, default=30, help="kill -9 of a writer's backend")
    ap.add_argument("--restarts", type=int, default=12, help="immediate shutdowns and starts")
    ap.add_argument("--writers", type=int, default=4)
    a = ap.parse_args()
    d = a.dir
    # synchronous_commit = on: a COMMIT that returned is in the WAL the OS has (the harness's
    # default "off" would lose the last commits at an immediate shutdown, by PostgreSQL's design).
    pgs.start(d, ["synchronous_commit=on"])
    workdir = pgs.pg_harness.paths(d)["dir"]
    pgs.psql(d, "CREATE EXTENSION exactly_once; CREATE EXTENSION amcheck;"
                "CREATE TABLE ledger(key text PRIMARY KEY, slot int NOT NULL, n int NOT NULL);"
                "CREATE TABLE totals(slot int PRIMARY KEY, rows int NOT NULL);"
                f"INSERT INTO totals SELECT g, 0 FROM generate_series(0, {a.writers - 1}) g;")
    shared = {"lock": threading.Lock(), "committed": set(), "rolled_back": set(), "txn_committed": 0,
              "txn_rolled_back": 0, "dup": 0, "kinds": {}}
    writers = [Writer(d, s, workdir, shared) for s in range(a.writers)]
    for w in writers:
        w.start()
    stats = {"checks": 0, "keys": 0, "logged": 0, "indexes": 0}
    crashes = ["kill"] * a.kills + ["restart"] * a.restarts
    rng = random.Random(os.getpid())
    rng.shuffle(crashes)
    killed, kill_states, failures = set(), {}, []
    t0 = time.monotonic()
    for i, how in enumerate(crashes):
        time.sleep(rng.uniform(0.2, 0.6))  # let the writers work
        try:
            if how == "kill":
                backends = client_backends(d)
                busy = [b for b in backends if b[1] != "idle"]  # prefer one inside a transaction
                pid, state = rng.choice(busy or backends) if backends else (None, None)
                # Returns once the postmaster has seen the crash: the wait below cannot pass
                # on the server of before the kill. (Gone already: restart instead.)
                if pid is not None and pgs.kill_backend(pid):
                    killed.add(pid)
                    kill_states[state] = kill_states.get(state, 0) + 1
                else:
                    how = "restart"
            if how == "restart":
                pgs.restart_immediate(d)
                kill_states["immediate restart"] = kill_states.get("immediate restart", 0) + 1
            pgs.wait_ready(d, f"check after crash {i + 1}")
        except (RuntimeError, subprocess.CalledProcessError) as e:  # the cluster is stopped and kept below
            failures.append(f"crash {i + 1} ({how}): {e}")
            break
        problems = check(d, shared, stats)
        problems += [v for w in writers for v in w.violations]
        if problems:
            failures.append(f"after crash {i + 1} ({how}): " + "; ".join(problems[:8]))
            break

    # Work resumes: every writer commits again after the last crash; then stop, final check.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not failures and \
            any(w.done_since_reconnect < 5 or w.in_doubt for w in writers):
        time.sleep(0.1)
    stalled = [w.slot for w in writers if w.done_since_reconnect < 5 or w.in_doubt]
    if stalled and not failures:
        failures.append(f"writers {stalled} did not resume after the last crash")
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(timeout=60)
    failures += [v for w in writers for v in w.violations]
    if not failures:
        problems = check(d, shared, stats)
        if problems:
            failures.append("final check: " + "; ".join(problems))
    # What psql printed: errors other than the intended one (a unique violation, say) fail.
    for w in writers:
        with open(w.stderr_path, errors="replace") as f:
            odd = [line.strip() for line in f if line.startswith("ERROR:") and "payload is not valid JSON" not in line]
        if odd:
            failures.append(f"writer {w.slot} saw errors: {odd[:5]}")
    log_path = pgs.stop_keep(d)
    alarming = pgs.alarming_log_lines(d, killed, EXPECTED_ERRORS)
    if alarming:
        failures.append("server log:\n    " + "\n    ".join(alarming[:20]))

    print(f"crash_pg: {len(crashes)} crashes in {time.monotonic() - t0:.1f} s: {len(killed)} kill -9 of a writer's "
          f"backend, {kill_states.get('immediate restart', 0)} immediate restarts (backend state at the kill: {kill_states})")
    print(f"crash_pg: transactions committed {shared['txn_committed']}, rolled back {shared['txn_rolled_back']}; "
          f"by kind {shared['kinds']}; in-doubt transactions found committed on retry (claim_once = false) "
          f"{shared['dup']}; reconnects {sum(w.reconnects for w in writers)}")
    print(f"crash_pg: {stats['checks']} checks (each with amcheck of the heaps and {stats['indexes']} B-tree indexes); final: {stats['keys']} committed keys, "
          f"{stats['logged']} seen committed by the writers; lost 0 and partial 0 required")
    if shared["txn_committed"] == 0 or shared["dup"] + len(killed) == 0:
        failures.append("nothing was tested")
    if failures:
        print(f"crash_pg: FAILED (cluster kept in {d}, log {log_path}):\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    pgs.stop(d)
    print("crash_pg: ok")


if __name__ == "__main__":
    main()
