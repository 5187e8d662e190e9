#!/usr/bin/env python3
"""PostgreSQL benchmark for exactly_once (pgbench), one command:

    python3 bench/pg/run_bench.py [--seconds 10] [--clients 4] [--out bench/pg/results.md]

Needs the extension installed (ctest's pg_install, or `cmake --install <build> --component postgres`)
and postgresql-15-pgq3 for the PgQ peer. Starts a throwaway cluster with tests/pg/pg_harness.py
(fsync on, default settings otherwise), runs every variant with pgbench -M prepared side by side,
prints a markdown table with transactions/s, statements/s and ratios, and removes the cluster.

Claims (each claim its own statement in every variant; unique random keys):
  claim_once      SELECT claim_once('bench', :key)
  bare uuid       INSERT INTO bare_uuid(k) VALUES (lpad(to_hex(:key), 32, '0')::uuid) ON CONFLICT DO NOTHING
                  (the key number spelled as a uuid: a cheap text conversion like claim_once's
                  :key::text, no md5 - claim_once's XXH3 is inside the function and not paid here)
  naive text      INSERT INTO processed(id) VALUES ('bench:' || :key) ON CONFLICT DO NOTHING
at 1 and 100 claims per transaction, synchronous_commit on and off.
Duplicate claims ("dup" group): the same three re-claiming keys that already hold a live claim
(100 000 pre-filled keys, random picks), i.e. what a consumer retrying redeliveries costs.
Outbox (1 and 100 events per transaction, synchronous_commit off and on; distinct random keys):
  outbox_emit     SELECT outbox_emit('bench', :key, '{"n": 1}'::jsonb)   (defaults; also with
                  exactly_once.notify = off)
  plain insert    INSERT INTO plain_outbox(...) VALUES (...)   (same columns, same indexes, no
                  per-key sequence row, no notify)
  pgq             SELECT pgq.insert_event('bench', :key, '{"n": 1}')
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HARNESS = os.path.join(ROOT, "tests", "pg", "pg_harness.py")
sys.path.insert(0, os.path.join(ROOT, "tests", "pg"))
import pg_harness  # noqa: E402

SETUP = r"""
CREATE EXTENSION IF NOT EXISTS exactly_once;
CREATE EXTENSION IF NOT EXISTS pgq;
DROP TABLE IF EXISTS bare_uuid, processed, plain_outbox;
CREATE TABLE bare_uuid (k uuid PRIMARY KEY);
CREATE TABLE processed (id text PRIMARY KEY);
CREATE TABLE plain_outbox (LIKE exactly_once.outbox INCLUDING ALL);
SELECT pgq.create_queue('bench') WHERE NOT EXISTS (SELECT 1 FROM pgq.queue WHERE queue_name = 'bench');
"""

CLAIM_VARIANTS = {
    "claim_once": "SELECT claim_once('bench', :k::text);",
    "bare uuid insert": "INSERT INTO bare_uuid (k) VALUES (lpad(to_hex(:k::bigint), 32, '0')::uuid) ON CONFLICT DO NOTHING;",
    "naive text table": "INSERT INTO processed (id) VALUES ('bench:' || :k) ON CONFLICT DO NOTHING;",
}
EMIT = "SELECT outbox_emit('bench', :k::text, '{\"n\": 1}'::jsonb);"
OUTBOX_VARIANTS = {
    "outbox_emit": EMIT,
    "outbox_emit, notify off": ("-c exactly_once.notify=off", EMIT),
    "plain insert": "INSERT INTO plain_outbox (id, topic, key, key_seq, payload, headers, created_at) "
                    "VALUES (gen_random_uuid(), 'bench', :k::text, 1, '{\"n\": 1}'::jsonb, NULL, clock_timestamp());",
    "pgq insert_event": "SELECT pgq.insert_event('bench', :k::text, '{\"n\": 1}');",
}


DUP_KEYS = 100000
# Pre-fills every table with live claims of keys 1..DUP_KEYS (same key spelling as the variants).
DUP_FILL = f"""
INSERT INTO exactly_once.claims SELECT dedup_key('bench', g::text), now() + interval '1 day'
  FROM generate_series(1, {DUP_KEYS}) g;
INSERT INTO bare_uuid SELECT lpad(to_hex(g), 32, '0')::uuid FROM generate_series(1, {DUP_KEYS}) g;
INSERT INTO processed SELECT 'bench:' || g FROM generate_series(1, {DUP_KEYS}) g;
"""


def script(stmt, per_tx, key_max=9000000000000000000):
    lines = []
    if per_tx > 1:
        lines.append("BEGIN;")
    for _ in range(per_tx):
        lines.append(rf"\set k random(1, {key_max})")
        lines.append(stmt)
    if per_tx > 1:
        lines.append("END;")
    return "\n".join(lines) + "\n"


def pgbench(env, stmt, per_tx, sync, seconds, clients, key_max=9000000000000000000):
    options = f"-c synchronous_commit={sync}"
    if isinstance(stmt, tuple):  # (extra session settings, statement)
        options += " " + stmt[0]
        stmt = stmt[1]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script(stmt, per_tx, key_max))
        path = f.name
    try:
        e = dict(env, PGOPTIONS=options)
        out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 4)),
                              "-T", str(seconds), "-f", path, "bench"], env=e, text=True, capture_output=True)
        if out.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{out.stderr}")
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
        failed = re.search(r"number of failed transactions: ([0-9]+)", out.stdout)
        return float(m.group(1)), int(failed.group(1)) if failed else 0
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "eo_pg_bench"))
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--only", choices=["claims", "dup", "outbox"], default=None)
    a = ap.parse_args()

    pg_harness.start_cluster(a.dir, ["fsync=on", "synchronous_commit=on", "full_page_writes=on",
                                     "shared_buffers='256MB'", "max_wal_size='4GB'", "checkpoint_timeout='30min'"])
    try:
        env, _, _ = pg_harness.conn_env(a.dir)
        pg_harness.psql(a.dir, "CREATE DATABASE bench")
        pg_harness.psql(a.dir, SETUP, db="bench")
        version = pg_harness.psql(a.dir, "SELECT exactly_once_version() || ' on ' || version()", db="bench").stdout.strip()
        rows = []

        def reset():
            pg_harness.psql(a.dir, "TRUNCATE bare_uuid, processed, plain_outbox, exactly_once.claims, "
                                   "exactly_once.outbox, exactly_once.outbox_keys; CHECKPOINT", db="bench")

        for per_tx in ((1, 100) if a.only in (None, "claims") else ()):
            for sync in ("on", "off"):
                res = {}
                for name, stmt in CLAIM_VARIANTS.items():
                    reset()
                    res[name] = pgbench(env, stmt, per_tx, sync, a.seconds, a.clients)
                base = res["bare uuid insert"][0]
                for name, (tps, failed) in res.items():
                    rows.append(("claims", name, per_tx, sync, tps, tps * per_tx, tps / base, failed))
        for per_tx in ((1, 100) if a.only in (None, "dup") else ()):
            for sync in ("on", "off"):
                res = {}
                for name, stmt in CLAIM_VARIANTS.items():
                    reset()
                    pg_harness.psql(a.dir, DUP_FILL, db="bench")
                    pg_harness.psql(a.dir, "VACUUM ANALYZE exactly_once.claims, bare_uuid, processed", db="bench")
                    res[name] = pgbench(env, stmt, per_tx, sync, a.seconds, a.clients, key_max=DUP_KEYS)
                base = res["bare uuid insert"][0]
                for name, (tps, failed) in res.items():
                    rows.append(("dup claims", name, per_tx, sync, tps, tps * per_tx, tps / base, failed))
        for per_tx in ((100, 1) if a.only in (None, "outbox") else ()):
            for sync in ("off", "on"):
                res = {}
                for name, stmt in OUTBOX_VARIANTS.items():
                    reset()
                    res[name] = pgbench(env, stmt, per_tx, sync, a.seconds, a.clients)
                base = res["pgq insert_event"][0]
                for name, (tps, failed) in res.items():
                    rows.append(("outbox", name, per_tx, sync, tps, tps * per_tx, tps / base, failed))

        lines = [f"exactly_once PostgreSQL benchmark: {version}",
                 f"pgbench -M prepared, {a.clients} clients, {a.seconds}s per variant, fsync on; ratio vs "
                 "the bare uuid insert (claims, dup claims: re-claiming live keys) or PgQ insert_event (outbox) in the same group", "",
                 "| group | variant | per tx | synchronous_commit | tx/s | statements/s | ratio | failed tx |",
                 "|---|---|---:|---|---:|---:|---:|---:|"]
        for g, name, per_tx, sync, tps, sps, ratio, failed in rows:
            lines.append(f"| {g} | {name} | {per_tx} | {sync} | {tps:.0f} | {sps:.0f} | {ratio:.2f} | {failed} |")
        text = "\n".join(lines)
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text + "\n")
    finally:
        pg_harness.stop_cluster(a.dir)


if __name__ == "__main__":
    main()
