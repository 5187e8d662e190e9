#!/usr/bin/env python3
"""Cost of the 0.2.0 privilege model (functions write the state as the owner of schema
exactly_once) against the 0.1.0 code (SECURITY INVOKER, app roles hold table grants), side by
side in one cluster, one database, same tables, same run:

    python3 bench/pg/owner_switch_bench.py --old-module /path/to/0.1.0/exactly_once.so [--seconds 5] [--rounds 3]

The 0.1.0 module is copied into pkglibdir as exactly_once_010.so (removed afterwards) and its
entry points are declared as old010.claim_once / old010.outbox_emit. A session only ever calls
one of the two modules, so each loads just one. Both variants run as the same non-superuser
role bench_app (EXECUTE on the 0.2.0 functions, and the 0.1.0 table grants the old code needs).
Rounds alternate old/new; the table reports the median tx/s of each and new/old.
A second table times many calls inside one statement (no client round trips or commits), which
isolates the per-call cost: fresh claims, duplicate claims (the read-only path) and emits.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "pg"))
sys.path.insert(0, HERE)
import pg_harness  # noqa: E402
import run_bench  # noqa: E402

# Each in its own session: CREATE FUNCTION ... LANGUAGE C loads the module, and the two modules
# cannot share a session (both define the exactly_once.* settings).
SETUP_OLD = r"""
CREATE SCHEMA old010;
CREATE FUNCTION old010.claim_once(text, text) RETURNS boolean
    AS '$libdir/exactly_once_010', 'eo_claim_once' LANGUAGE C VOLATILE;
CREATE FUNCTION old010.outbox_emit(text, text, jsonb) RETURNS uuid
    AS '$libdir/exactly_once_010', 'eo_outbox_emit_jsonb' LANGUAGE C VOLATILE;
"""
SETUP = r"""
CREATE EXTENSION exactly_once;
CREATE ROLE bench_app LOGIN;
GRANT USAGE ON SCHEMA old010 TO bench_app;
-- 0.1.0: the documented table grants
GRANT USAGE ON SCHEMA exactly_once TO bench_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA exactly_once TO bench_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA exactly_once TO bench_app;
-- 0.2.0: EXECUTE
GRANT EXECUTE ON FUNCTION claim_once(text, text), outbox_emit(text, text, jsonb) TO bench_app;
"""

GROUPS = [
    # (group, per tx, synchronous_commit, {variant: statement})
    ("claim_once", 100, "off", {"0.1.0": "SELECT old010.claim_once('bench', :k::text);",
                                "0.2.0": "SELECT claim_once('bench', :k::text);"}),
    ("claim_once", 1, "off", {"0.1.0": "SELECT old010.claim_once('bench', :k::text);",
                              "0.2.0": "SELECT claim_once('bench', :k::text);"}),
    ("outbox_emit", 100, "off", {"0.1.0": ("-c exactly_once.notify=off",
                                           "SELECT old010.outbox_emit('bench', :k::text, '{\"n\": 1}'::jsonb);"),
                                 "0.2.0": ("-c exactly_once.notify=off",
                                           "SELECT outbox_emit('bench', :k::text, '{\"n\": 1}'::jsonb);")}),
    ("outbox_emit", 1, "off", {"0.1.0": ("-c exactly_once.notify=off",
                                         "SELECT old010.outbox_emit('bench', :k::text, '{\"n\": 1}'::jsonb);"),
                               "0.2.0": ("-c exactly_once.notify=off",
                                         "SELECT outbox_emit('bench', :k::text, '{\"n\": 1}'::jsonb);")}),
]


IN_STATEMENT = [
    ("claim_once, fresh keys", 50000,
     "SELECT count(*) FILTER (WHERE {p}claim_once('b', g::text)) FROM generate_series(1, {n}) g", None),
    ("claim_once, duplicates", 50000,
     "SELECT count(*) FILTER (WHERE {p}claim_once('b', g::text)) FROM generate_series(1, {n}) g",
     "INSERT INTO exactly_once.claims SELECT dedup_key('b', g::text), now() + interval '1 day' "
     "FROM generate_series(1, {n}) g"),
    ("outbox_emit", 20000,
     "SELECT count({p}outbox_emit('b', g::text, '{{\"n\": 1}}'::jsonb)) FROM generate_series(1, {n}) g", None),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-module", required=True, help="exactly_once.so built from the 0.1.0 sources")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "eo_pg_owner_bench"))
    a = ap.parse_args()
    old_so = os.path.join(pg_harness.pg_config("--pkglibdir"), "exactly_once_010.so")
    shutil.copyfile(a.old_module, old_so)
    pg_harness.start_cluster(a.dir, ["fsync=on", "shared_buffers='256MB'", "max_wal_size='4GB'",
                                     "checkpoint_timeout='30min'"])
    try:
        env, _, _ = pg_harness.conn_env(a.dir)
        env = dict(env, PGUSER="bench_app")
        pg_harness.psql(a.dir, "CREATE DATABASE bench")
        pg_harness.psql(a.dir, SETUP_OLD, db="bench")
        pg_harness.psql(a.dir, SETUP, db="bench")
        version = pg_harness.psql(a.dir, "SELECT exactly_once_version() || ' on ' || version()", db="bench").stdout.strip()
        lines = [f"owner switch (0.2.0) vs SECURITY INVOKER with table grants (0.1.0 code): {version}",
                 f"pgbench -M prepared, {a.clients} clients, {a.seconds}s x {a.rounds} alternating rounds per variant, "
                 "fsync on, role bench_app (not superuser), notify off for outbox_emit", "",
                 "| function | per tx | synchronous_commit | 0.1.0 tx/s (median) | 0.2.0 tx/s (median) | 0.2.0 / 0.1.0 | rounds 0.1.0 | rounds 0.2.0 |",
                 "|---|---:|---|---:|---:|---:|---|---|"]
        for group, per_tx, sync, variants in GROUPS:
            res = {v: [] for v in variants}
            for _ in range(a.rounds):
                for v, stmt in variants.items():
                    pg_harness.psql(a.dir, "TRUNCATE exactly_once.claims, exactly_once.outbox, "
                                           "exactly_once.outbox_keys; CHECKPOINT", db="bench")
                    tps, failed = run_bench.pgbench(env, stmt, per_tx, sync, a.seconds, a.clients)
                    if failed:
                        raise SystemExit(f"{group} {v}: {failed} failed transactions")
                    res[v].append(tps)
            old, new = statistics.median(res["0.1.0"]), statistics.median(res["0.2.0"])
            lines.append(f"| {group} | {per_tx} | {sync} | {old:.0f} | {new:.0f} | {new / old:.3f} | "
                         f"{', '.join(f'{x:.0f}' for x in res['0.1.0'])} | {', '.join(f'{x:.0f}' for x in res['0.2.0'])} |")
        lines += ["", f"Calls inside one statement (psql as bench_app, {a.rounds * 2 - 1} alternating rounds, median):", "",
                  "| workload | calls | 0.1.0 ms | 0.2.0 ms | 0.2.0 / 0.1.0 (time) |", "|---|---:|---:|---:|---:|"]
        for name, n, tmpl, prepare in IN_STATEMENT:
            ms = {"0.1.0": [], "0.2.0": []}
            for _ in range(a.rounds * 2 - 1):
                for v, prefix in (("0.1.0", "old010."), ("0.2.0", "")):
                    pg_harness.psql(a.dir, "TRUNCATE exactly_once.claims, exactly_once.outbox, exactly_once.outbox_keys",
                                    db="bench")
                    if prepare:
                        pg_harness.psql(a.dir, prepare.format(n=n), db="bench")
                    t0 = time.monotonic()
                    r = subprocess.run([os.path.join(pg_harness.BINDIR, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                        "-d", "bench", "-c", tmpl.format(p=prefix, n=n)],
                                       env=dict(env, PGOPTIONS="-c synchronous_commit=off -c exactly_once.notify=off"),
                                       capture_output=True, text=True)
                    ms[v].append((time.monotonic() - t0) * 1000)
                    if r.returncode != 0:
                        raise SystemExit(r.stderr)
            old, new = statistics.median(ms["0.1.0"]), statistics.median(ms["0.2.0"])
            lines.append(f"| {name} | {n} | {old:.0f} | {new:.0f} | {new / old:.3f} |")
        print("\n".join(lines))
    finally:
        pg_harness.stop_cluster(a.dir)
        os.unlink(old_so)


if __name__ == "__main__":
    main()
