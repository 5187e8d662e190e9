#!/usr/bin/env python3
"""Shared conformance scenarios: behaviour written once, run against both engines.

  run.py sqlite SCENARIO...                 through the built exactly_once.so (EXACTLY_ONCE_SQLITE_EXT)
  run.py postgres --dir CLUSTER SCENARIO... through psql against a pg_harness.py cluster

A scenario file is a list of steps; each step is one statement and the line(s) after it
starting with `=>` give the expected outcome:

    SELECT claim_once('payments', 'pay_1', '48h');
    => 1
    SELECT claim_once(NULL, 'k');
    => error 22004 claim_once: scope must not be NULL

Outcomes, compared as text:
  => VALUE            the statement's single value; booleans are 1/0 on both engines, NULL is NULL;
                      a 16-byte value (SQLite's BLOB dedup key, PostgreSQL's uuid) in uuid text form
  => uuid7            a UUIDv7 in text form (event ids)
  => version          the engine's own release: SQLite EXACTLY_ONCE_VERSION (the build's), PostgreSQL
                      the installed extension's version
  => ok               a statement without a value (BEGIN, COMMIT, SAVEPOINT, ...)
  => error SQLSTATE MESSAGE
                      the call fails with exactly MESSAGE on both engines (PostgreSQL also with
                      SQLSTATE; SQLite has no SQLSTATEs) and, like every failed call, writes nothing
Pseudo-statements, so that scenarios never name an engine's tables:
  count claims;  count outbox;       rows in the state table (=> N)
  minutes left 'SCOPE', 'KEY';       the claim's remaining TTL in whole minutes, rounded up (=> N,
                                     NULL when there is no row); a scenario allows a 1-minute stall
  outbox last;                       the newest event: topic | key | key_seq | payload | headers,
                                     JSON compact with sorted keys (PostgreSQL's jsonb reorders)
  sleep SECONDS;                     let time pass (TTL expiry); no outcome line
Inputs are written once: the SQLite runner gives its connection PostgreSQL's repeat(text, n) and
chr(n) (Python functions of the runner, not the extension's) for long and unusual strings.
A step may be limited to one engine with a leading `@sqlite` or `@postgres`: for what only one
engine has (SQLite's blob keys, PostgreSQL's interval TTLs); behaviour both engines share is
never written that way. Lines starting with `#` are comments.

Every error step is also checked to have written nothing: every state table (each SQLite
main.exactly_once_* table; each table of PostgreSQL's schema exactly_once: claims, outbox and its
per-key counter) holds the same rows before and after it, and PostgreSQL's
exactly_once.default_ttl setting is unchanged.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TABLES = {  # the one place that maps the engine-neutral names to each engine's state tables
    "sqlite": {"claims": "main.exactly_once_claims", "outbox": "main.exactly_once_outbox"},
    "postgres": {"claims": "exactly_once.claims", "outbox": "exactly_once.outbox"},
}


class Step:
    def __init__(self, path, line, sql, expected, only):
        self.path, self.line, self.sql, self.expected, self.only = path, line, sql, expected, only

    def where(self):
        return f"{os.path.basename(self.path)}:{self.line}"


def parse(path):
    steps, sql_lines, start, only = [], [], 0, None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("=>"):
                if not sql_lines:
                    raise SystemExit(f"{path}:{n}: expected outcome without a statement")
                sql = "\n".join(sql_lines).strip()
                if sql.endswith(";"):
                    sql = sql[:-1].rstrip()
                steps.append(Step(path, start, sql, stripped[2:].strip(), only))
                sql_lines, only = [], None
                continue
            if not sql_lines and re.match(r"^sleep [0-9.]+;?$", stripped):
                steps.append(Step(path, n, stripped.rstrip(";"), None, None))  # no outcome
                continue
            if not sql_lines:
                start = n
                m = re.match(r"^@(sqlite|postgres)\s+(.*)$", stripped)
                if m:
                    only, line = m.group(1), m.group(2)
            sql_lines.append(line)
    if sql_lines:
        raise SystemExit(f"{path}:{start}: statement without an expected outcome")
    return steps


# ------------------------------------------------------------------------------ engines

class SqliteEngine:
    name = "sqlite"

    def __init__(self):
        ext = os.environ.get("EXACTLY_ONCE_SQLITE_EXT", "")
        if not ext or not os.path.exists(ext):
            raise SystemExit(f"EXACTLY_ONCE_SQLITE_EXT does not name the built extension: {ext!r}")
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.enable_load_extension(True)
        self.db.load_extension(ext)
        self.db.enable_load_extension(False)
        # PostgreSQL's built-ins for building inputs, so that a scenario writes an input once.
        self.db.create_function("repeat", 2, lambda text, n: None if text is None or n is None else text * n,
                                deterministic=True)
        self.db.create_function("chr", 1, lambda n: None if n is None else chr(n), deterministic=True)
        # State tables exist from the start, so that counting them never fails.
        self.db.execute("SELECT claim_once('conformance', 'setup'), release_claim('conformance', 'setup')")

    def run(self, sql):
        """('value', text) | ('ok', None) | ('error', (None, message))"""
        try:
            rows = self.db.execute(sql).fetchall()
        except sqlite3.Error as e:
            return "error", (None, str(e))
        if not rows:
            return "ok", None
        if len(rows) != 1 or len(rows[0]) != 1:
            raise SystemExit(f"sqlite: {sql!r} returned {rows!r}, expected one value")
        v = rows[0][0]
        if isinstance(v, bytes):  # a dedup key as PostgreSQL shows its uuid, other blobs as bytea
            h = v.hex()
            v = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if len(v) == 16 else "\\x" + h
        return "value", "NULL" if v is None else str(v)

    def state(self):
        """Every row of every state table, to compare around an error step."""
        tables = [r[0] for r in self.db.execute(
            r"SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name LIKE 'exactly\_once\_%' ESCAPE '\' "
            "ORDER BY name")]
        return [(t, sorted(self.db.execute(f'SELECT * FROM main."{t}"').fetchall(), key=repr)) for t in tables]

    def close(self):
        self.db.close()


class PostgresEngine:
    """One psql session per scenario file; each call runs inside a PL/pgSQL exception block
    (like tests/pg/regress/sql/eo_bad_input.sql), so a failed call reports its SQLSTATE and
    message and the session's transaction goes on, as a failed statement does in SQLite."""
    name = "postgres"

    def __init__(self, cluster_dir):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg"))
        import pg_harness  # noqa: E402  (throwaway-cluster helpers)
        self.h = pg_harness
        self.dir = cluster_dir
        self.db = f"eo_conformance_{os.getpid()}"
        self.h.psql(cluster_dir, f"DROP DATABASE IF EXISTS {self.db}")
        self.h.psql(cluster_dir, f"CREATE DATABASE {self.db}")
        self.h.psql(cluster_dir, "CREATE EXTENSION exactly_once", db=self.db)
        self.steps = []

    # Steps are collected and run in one session (run_all), since a transaction may span steps.
    def run_all(self, steps):
        script = [r"\set ON_ERROR_STOP 1", r"\pset format unaligned", r"\pset tuples_only on",
                  # The module's settings exist from the start, so that the state read around the
                  # first error step does not see exactly_once.default_ttl appear (printed before
                  # the first @@ marker, so ignored).
                  "SELECT exactly_once_version();",
                  """CREATE FUNCTION pg_temp.eo_step(stmt text) RETURNS text LANGUAGE plpgsql AS $f$
                     DECLARE v text;
                     BEGIN
                       EXECUTE stmt INTO v;
                       RETURN 'value ' || coalesce(v, 'NULL');
                     EXCEPTION WHEN OTHERS THEN
                       RETURN 'error ' || SQLSTATE || ' ' || SQLERRM;
                     END $f$;""",
                  # Every row of every table in schema exactly_once, and the TTL setting.
                  """CREATE FUNCTION pg_temp.eo_state() RETURNS text LANGUAGE plpgsql AS $f$
                     DECLARE t text; h text; result text := current_setting('exactly_once.default_ttl');
                     BEGIN
                       FOR t IN SELECT tablename FROM pg_catalog.pg_tables
                                 WHERE schemaname = 'exactly_once' ORDER BY tablename LOOP
                         EXECUTE format('SELECT count(*) || %L || coalesce(md5(string_agg(r::text, %L ORDER BY r::text)), %L) '
                                        'FROM exactly_once.%I r', ':', ',', '', t) INTO h;
                         result := result || ' ' || t || '=' || h;
                       END LOOP;
                       RETURN result;
                     END $f$;"""]
        for i, s in enumerate(steps):
            script.append(f"\\echo @@{i}")
            if s.kind == "raw":
                script.append(s.sql + ";")
                script.append("SELECT 'ok';")
            else:
                tag = "$eo_step$"
                if tag in s.sql:
                    raise SystemExit(f"{s.where()}: statement contains {tag}")
                script.append(f"SELECT pg_temp.eo_step({tag}{s.sql}{tag});")
        env, _, _ = self.h.conn_env(self.dir)
        r = subprocess.run([os.path.join(self.h.BINDIR, "psql"), "-X", "-q", "-d", self.db],
                           input="\n".join(script) + "\n", env=env, text=True, capture_output=True)
        if r.returncode != 0:
            raise SystemExit(f"postgres: psql failed:\n{r.stderr}")
        results, current = {}, None
        for line in r.stdout.splitlines():
            m = re.match(r"^@@(\d+)$", line)
            if m:
                current = int(m.group(1))
                continue
            if current is not None and current not in results:
                results[current] = line
        out = []
        for i, s in enumerate(steps):
            line = results.get(i)
            if line is None:
                raise SystemExit(f"{s.where()}: postgres printed no result")
            if line == "ok":
                out.append(("ok", None))
            elif line.startswith("value "):
                v = line[len("value "):]
                out.append(("value", {"true": "1", "false": "0"}.get(v, v)))
            elif line.startswith("error "):
                out.append(("error", (line[6:11], line[12:])))
            else:
                raise SystemExit(f"{s.where()}: unexpected psql output {line!r}")
        return out

    def close(self):
        self.h.psql(self.dir, f"DROP DATABASE IF EXISTS {self.db}", check=False)


# ------------------------------------------------------------------------------ running

SEP = "\x1f"  # between the columns of `outbox last`, split again by normalise()
PSEUDO_SQL = {  # the pseudo-statements' SQL per engine; {scope} and {key} are SQL literals
    ("sqlite", "minutes left"):
        "SELECT (expires_at - CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 59999) / 60000 "
        "FROM main.exactly_once_claims WHERE k = dedup_key({scope}, {key})",
    ("postgres", "minutes left"):
        "SELECT ceil(extract(epoch FROM expires_at - clock_timestamp()) / 60)::bigint "
        "FROM exactly_once.claims WHERE k = dedup_key({scope}, {key})",
    ("sqlite", "outbox last"):
        "SELECT topic || char(31) || key || char(31) || key_seq || char(31) || payload || char(31) || "
        "coalesce(headers, 'NULL') FROM main.exactly_once_outbox ORDER BY seq DESC LIMIT 1",
    ("postgres", "outbox last"):
        "SELECT topic || chr(31) || key || chr(31) || key_seq || chr(31) || payload::text || chr(31) || "
        "coalesce(headers::text, 'NULL') FROM exactly_once.outbox ORDER BY seq DESC LIMIT 1",
}


def normalise(step, outcome):
    """`outbox last`'s columns joined by ' | ', its JSON in one canonical form."""
    kind, value = outcome
    if kind != "value" or step.sql != "outbox last" or SEP not in value:
        return outcome
    cols = value.split(SEP)
    for i in (3, 4):
        if cols[i] != "NULL":
            cols[i] = json.dumps(json.loads(cols[i]), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return kind, " | ".join(cols)


def engine_sql(engine, step):
    """The statement as the engine runs it, and its kind ('call' or 'raw')."""
    m = re.match(r"^count (claims|outbox)$", step.sql)
    if m:
        return f"SELECT count(*) FROM {TABLES[engine][m.group(1)]}", "call"
    m = re.match(r"^minutes left ('(?:[^']|'')*'), ('(?:[^']|'')*')$", step.sql)
    if m:
        return PSEUDO_SQL[(engine, "minutes left")].format(scope=m.group(1), key=m.group(2)), "call"
    if step.sql == "outbox last":
        return PSEUDO_SQL[(engine, "outbox last")], "call"
    if re.match(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", step.sql, re.I):
        return step.sql, "raw"
    return step.sql, "call"


def check(engine, step, outcome):
    kind, value = outcome
    exp = step.expected
    if exp == "ok":
        return kind == "ok", "ok"
    if exp == "uuid7":
        return kind == "value" and bool(UUID7.match(value)), "a UUIDv7"
    if exp == "version":
        want = VERSIONS.get(engine) or "(unknown: EXACTLY_ONCE_VERSION is not set)"
        return kind == "value" and bool(re.match(r"^\d+\.\d+\.\d+$", value)) and value == want, f"version {want}"
    m = re.match(r"^error (\w{5}) (.*)$", exp)
    if m:
        state, message = m.groups()
        if kind != "error":
            return False, exp
        got_state, got_message = value
        same = got_message == message and (got_state is None or got_state == state)
        return same, exp
    return kind == "value" and value == exp, exp


VERSIONS = {"sqlite": os.environ.get("EXACTLY_ONCE_VERSION", "")}  # postgres: read from the cluster


def describe(outcome):
    kind, value = outcome
    if kind == "error":
        return "error " + (value[0] + " " if value[0] else "") + value[1]
    return "ok" if kind == "ok" else value


class Prepared:
    def __init__(self, step, sql, kind):
        self.step, self.sql, self.kind = step, sql, kind

    def where(self):
        return self.step.where() if self.step else "(extension version)"


def run_file(engine_name, path, cluster_dir):
    steps = [s for s in parse(path) if s.only in (None, engine_name)]
    checked = sum(1 for s in steps if s.expected is not None)
    failures = []
    if engine_name == "sqlite":
        eng = SqliteEngine()
        try:
            for s in steps:
                if s.sql.startswith("sleep "):
                    time.sleep(float(s.sql.split()[1]))
                    continue
                sql, _ = engine_sql(engine_name, s)
                before = eng.state() if s.expected.startswith("error") else None
                outcome = normalise(s, eng.run(sql))
                if before is not None and eng.state() != before:
                    failures.append(f"{s.where()}: failed call changed the state tables: {s.sql}")
                ok, want = check(engine_name, s, outcome)
                if not ok:
                    failures.append(f"{s.where()}: {s.sql}\n    expected: {want}\n    got:      {describe(outcome)}")
        finally:
            eng.close()
        return checked, failures

    eng = PostgresEngine(cluster_dir)
    try:
        # Expand every step into the statements psql runs; a `sleep` becomes pg_sleep, error steps
        # are bracketed by row counts.
        prepared, index = [], []
        for s in steps:
            if s.sql.startswith("sleep "):
                prepared.append(Prepared(s, f"SELECT pg_sleep({float(s.sql.split()[1])})::text", "call"))
                index.append(None)
                continue
            sql, kind = engine_sql(engine_name, s)
            is_error = s.expected.startswith("error")
            if is_error:
                prepared.append(Prepared(s, "SELECT pg_temp.eo_state()", "call"))
            prepared.append(Prepared(s, sql, kind))
            index.append(len(prepared) - 1)
            if is_error:
                prepared.append(Prepared(s, "SELECT pg_temp.eo_state()", "call"))
        prepared.append(Prepared(None, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'exactly_once'",
                                 "call"))
        results = eng.run_all(prepared)
        VERSIONS["postgres"] = results[-1][1]
        for s, i in zip(steps, index):
            if i is None:
                continue
            if s.expected.startswith("error") and results[i - 1] != results[i + 1]:
                failures.append(f"{s.where()}: failed call changed the state tables: {s.sql}")
            outcome = normalise(s, results[i])
            ok, want = check(engine_name, s, outcome)
            if not ok:
                failures.append(f"{s.where()}: {s.sql}\n    expected: {want}\n    got:      {describe(outcome)}")
    finally:
        eng.close()
    return checked, failures


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("sqlite", "postgres"):
        raise SystemExit(__doc__)
    engine = args.pop(0)
    cluster = None
    if engine == "postgres":
        if len(args) < 2 or args[0] != "--dir":
            raise SystemExit("usage: run.py postgres --dir CLUSTER SCENARIO...")
        cluster = args[1]
        args = args[2:]
    if not args:
        raise SystemExit("no scenario files given")
    total, failed = 0, []
    for path in args:
        n, failures = run_file(engine, path, cluster)
        total += n
        failed += failures
        print(f"{engine}: {os.path.basename(path)}: {n} steps, {len(failures)} failed")
    for f in failed:
        print("FAIL " + f)
    failed_steps = len({f.split(":", 2)[0] + ":" + f.split(":", 2)[1] for f in failed})
    print(f"{engine}: {total - failed_steps} passed, {failed_steps} failed")
    sys.exit(1 if failed or total == 0 else 0)


if __name__ == "__main__":
    main()
