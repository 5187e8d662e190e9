"""Shared helpers for the exactly_once SQLite extension tests.

The build passes the extension through the environment (tests/sqlite/CMakeLists.txt):
EXACTLY_ONCE_SQLITE_EXT (path of exactly_once.so), EXACTLY_ONCE_VECTORS (dedup key vectors),
EXACTLY_ONCE_VERSION, SQLITE3_CLI.
"""
import os
import sqlite3
import time

EXT = os.environ.get("EXACTLY_ONCE_SQLITE_EXT", "")
VECTORS = os.environ.get("EXACTLY_ONCE_VECTORS", "")
VERSION = os.environ.get("EXACTLY_ONCE_VERSION", "")
SQLITE3_CLI = os.environ.get("SQLITE3_CLI", "sqlite3")

STATE_TABLES = ("exactly_once_claims", "exactly_once_outbox", "exactly_once_config")


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
