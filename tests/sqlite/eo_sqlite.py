"""Shared helpers for the exactly_once SQLite extension tests.

The build passes the extension through the environment (tests/sqlite/CMakeLists.txt):
EXACTLY_ONCE_SQLITE_EXT (path of exactly_once.so), EXACTLY_ONCE_VECTORS (dedup key vectors),
EXACTLY_ONCE_VERSION, SQLITE3_CLI.
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

EXT = os.environ.get("EXACTLY_ONCE_SQLITE_EXT", "")
VECTORS = os.environ.get("EXACTLY_ONCE_VECTORS", "")
VERSION = os.environ.get("EXACTLY_ONCE_VERSION", "")
SQLITE3_CLI = os.environ.get("SQLITE3_CLI", "sqlite3")

STATE_TABLES = ("exactly_once_claims", "exactly_once_outbox", "exactly_once_outbox_keys", "exactly_once_config",
                "exactly_once_meta")


def require_extension():
    if not EXT or not os.path.exists(EXT):
        raise RuntimeError(f"EXACTLY_ONCE_SQLITE_EXT does not name the built extension: {EXT!r}")


def connect(path=":memory:", uri=False, timeout=5.0):
    """A connection in autocommit mode (BEGIN/COMMIT are explicit) with the extension loaded."""
    require_extension()
    conn = sqlite3.connect(path, uri=uri, timeout=timeout, isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(EXT)
    conn.enable_load_extension(False)
    return conn


def one(conn, sql, *args):
    """The single value of a one-row, one-column query."""
    rows = conn.execute(sql, args).fetchall()
    if len(rows) != 1 or len(rows[0]) != 1:
        raise AssertionError(f"{sql!r} returned {rows!r}, expected one value")
    return rows[0][0]


def now_ms():
    return int(time.time() * 1000)


def table_exists(conn, name, schema="main"):
    return one(conn, f"SELECT count(*) FROM {schema}.sqlite_schema WHERE type = 'table' AND name = ?", name) == 1


def row_counts(conn):
    """Rows in each state table (None when the table does not exist)."""
    return {t: (one(conn, f"SELECT count(*) FROM main.{t}") if table_exists(conn, t) else None)
            for t in STATE_TABLES}


def read_vectors(path=None):
    """[(scope bytes, key bytes, dedup key hex)] from the shared vectors file."""
    path = path or VECTORS
    out = []
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            scope_hex, key_hex, expected = line.split("\t")
            out.append((bytes.fromhex(scope_hex), bytes.fromhex(key_hex), expected.lower()))
    return out


# Shared by the suites (tests/sqlite/test_*.py).
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def cached_statements(db):
    return one(db, "SELECT cached_statements FROM exactly_once_session")


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eo_sqlite_")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)


class ClaimsDbTest(unittest.TestCase):
    """A fresh in-memory database, and the claims table read and written directly."""

    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def expiry_of(self, scope, key):
        return one(self.db, "SELECT expires_at FROM exactly_once_claims WHERE k = dedup_key(?, ?)", scope, key)

    def set_expiry(self, scope, key, expires_at):
        self.db.execute("UPDATE exactly_once_claims SET expires_at = ? WHERE k = dedup_key(?, ?)",
                        (expires_at, scope, key))

    def insert_expired(self, prefix, n):
        # Claims that expired a second ago, written directly so the test need not sleep.
        self.db.execute(
            "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
            "INSERT INTO exactly_once_claims(k, expires_at) SELECT dedup_key(?, n), ? FROM i",
            (n, prefix, now_ms() - 1000))


def run_isolated(test, code, timeout=120):
    """Runs `code` (which prints its findings) in a new Python process, so that a crash
    fails the test instead of ending the suite; returns its output."""
    prelude = "import sqlite3, sys\nfrom eo_sqlite import connect, one, EXT\n"
    try:
        proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, cwd=os.path.dirname(os.path.abspath(__file__)))
    except subprocess.TimeoutExpired:
        test.fail(f"did not finish within {timeout} s")
    test.assertEqual(proc.returncode, 0, f"exit status {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout
