#!/usr/bin/env python3
"""TTL contention, PostgreSQL (audit item 13): short TTLs under row-lock waits.

Holder sessions claim a hot key and keep the claim's row locked in an open transaction
(pg_sleep) for random spans, many longer than the TTL, then commit or roll back; claimer
sessions claim the same hot keys ('1s' as text, interval '500 milliseconds') in a loop, in
autocommit and in explicit transactions, and wait for the holders' rows. Every session is a
long-lived psql timed by its own thread's clock; ttl_check.py proves from those records that
no key was won twice within its TTL and that no false was answered while no win could be live.

Two runs on one throwaway cluster of its own:
  1. control: the same load through a claim written the naive way in PL/pgSQL (clock read at
     the start, INSERT ... ON CONFLICT DO UPDATE ... WHERE expired judged by it after the row
     lock wait). The check must find violations, or it could not fail.
  2. claim_once: no violation allowed.

  contention_pg.py --dir DIR [--seconds N] [--control-seconds N]     (PG_CONFIG; run by ctest)
"""
import argparse
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_sessions as pgs  # noqa: E402
import ttl_check  # noqa: E402

HOT_KEYS = {"hot-1s-a": ("'1s'", 1.0), "hot-1s-b": ("'1s'", 1.0),
            "hot-500ms-a": ("interval '500 milliseconds'", 0.5), "hot-500ms-b": ("interval '500 milliseconds'", 0.5)}
HOLDERS, CLAIMERS = 2, 4
HOLD = (0.2, 1.6)  # seconds a holder keeps its claim's row locked
GAP = (0.1, 0.8)
# Millisecond arithmetic in the core, and claim_once re-stamps a row only when its statement
# took over 1 ms (docs/DESIGN.md §4 Clock): the judged moment may precede the wait's end by 1 ms.
SLACK = 0.003

NAIVE_SQL = """
CREATE TABLE naive_claims(k text PRIMARY KEY, expires_at timestamptz NOT NULL);
-- The stale-clock pattern of audit defect 1: the clock is read before the statement waits.
CREATE FUNCTION naive_claim(scope text, key text, ttl interval) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  n int;
BEGIN
  INSERT INTO naive_claims VALUES (scope || '/' || key, started + ttl)
    ON CONFLICT (k) DO UPDATE SET expires_at = excluded.expires_at WHERE naive_claims.expires_at <= started;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n = 1;
END $$;
"""


class Role(threading.Thread):
    def __init__(self, d, name, workdir, until, fn, seed):
        super().__init__(daemon=True)
        self.session = pgs.Session(d, f"eo_contention_{name}", os.path.join(workdir, f"{name}.stderr"))
        self.name, self.until, self.fn = name, until, fn
        self.rng = random.Random(seed)
        self.calls, self.holds, self.errors = [], [], []

    def q(self, sql):
        lines = self.session.run(sql)
        if lines is None:
            raise RuntimeError(f"{self.name}: the session died")
        return lines

    def run(self):
        try:
            while time.time() < self.until:
                self.step()
        except Exception as e:
            self.errors.append(repr(e))
        finally:
            self.session.close()

    def claim(self, key):
        ttl_sql, _ = HOT_KEYS[key]
        return self.fn.format(scope="'hot'", key=f"'{key}'", ttl=ttl_sql)


class Holder(Role):
    def step(self):
        time.sleep(self.rng.uniform(*GAP))
        key = self.rng.choice(list(HOT_KEYS))
        while time.time() < self.until:  # the claimers keep the key busy: try until we win it
            s = time.time()
            out = self.q(f"BEGIN;\nSELECT {self.claim(key)};")
            e = time.time()
            if out[-1] == "t":
                break
            self.q("COMMIT;")
            self.calls.append((key, HOT_KEYS[key][1], s, e, 0))
            time.sleep(self.rng.uniform(0, 0.02))
        else:
            return
        # The row is ours from before `held_from` until after `held_to`.
        held_from = e
        self.q(f"SELECT pg_sleep({self.rng.uniform(*HOLD):.3f});")
        held_to = time.time()
        commit = self.rng.random() < 0.7
        done = self.q("COMMIT;" if commit else "ROLLBACK;")
        self.holds.append((key, held_from, held_to))
        if commit and done[-1] == "COMMIT":
            self.calls.append((key, HOT_KEYS[key][1], s, e, 1))


class Claimer(Role):
    def step(self):
        key = self.rng.choice(list(HOT_KEYS))
        in_transaction = self.rng.random() < 0.3
        s = time.time()
        out = self.q(("BEGIN;\n" if in_transaction else "") + f"SELECT {self.claim(key)};")
        e = time.time()
        if in_transaction:
            if self.q("COMMIT;")[-1] != "COMMIT":
                raise RuntimeError(f"{self.name}: COMMIT failed")
        if out[-1] not in ("t", "f"):
            raise RuntimeError(f"{self.name}: unexpected output {out}")
        self.calls.append((key, HOT_KEYS[key][1], s, e, 1 if out[-1] == "t" else 0))
        time.sleep(self.rng.uniform(0, 0.02))


def run(d, workdir, name, seconds, fn):
    until = time.time() + seconds
    roles = [Holder(d, f"{name}-holder{i}", workdir, until, fn, i) for i in range(HOLDERS)]
    roles += [Claimer(d, f"{name}-claimer{i}", workdir, until, fn, 100 + i) for i in range(CLAIMERS)]
    for r in roles:
        r.start()
    for r in roles:
        r.join(timeout=seconds + 120)
    errors = [e for r in roles for e in r.errors]
    if errors:
        raise SystemExit(f"contention_pg: {name} sessions failed: {errors[:5]}")
    calls = [c for r in roles for c in r.calls]
    holds = [h for r in roles for h in r.holds]
    return ttl_check.report("contention_pg", name, calls, holds, SLACK, "row lock holds")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--control-seconds", type=float, default=10)
    a = ap.parse_args()
    d = a.dir
    pgs.start(d)
    workdir = pgs.pg_harness.paths(d)["dir"]
    pgs.psql(d, "CREATE EXTENSION exactly_once;" + NAIVE_SQL)
    failed = []
    if a.control_seconds > 0:
        figures, problems = run(d, workdir, "control", a.control_seconds,
                                "naive_claim({scope}, {key}, ({ttl})::interval)")
        if not problems:
            failed.append("the control found no violation: the check cannot tell a stale clock")
        if figures["waits longer than the TTL"] == 0:
            failed.append("the control had no wait longer than a TTL")
    figures, problems = run(d, workdir, "claim_once", a.seconds, "claim_once({scope}, {key}, {ttl})")
    if problems:
        failed.append(f"claim_once: {len(problems)} violations (first: {problems[0]})")
    if figures["waits longer than the TTL"] == 0 or figures["wins"] == 0:
        failed.append("claim_once: no wait longer than a TTL, or no win: nothing was tested")
    pgs.stop_keep(d)
    alarming = pgs.alarming_log_lines(d, set())
    if alarming:
        failed.append("server log:\n    " + "\n    ".join(alarming[:20]))
    if failed:
        print(f"contention_pg: FAILED (cluster kept in {d}):\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)
    pgs.stop(d)
    print("contention_pg: ok")


if __name__ == "__main__":
    main()
