#!/usr/bin/env python3
"""The outbox contract (docs/DESIGN.md §4) checked against an engine's live schema and data.

  schema_contract.py sqlite                    through the built extension (EXACTLY_ONCE_SQLITE_EXT)
  schema_contract.py sqlite --from FILE        the same on a copy of FILE (an older release's database,
                                               which the extension upgrades at the first emit)
  schema_contract.py postgres --dir CLUSTER    on a pg_harness.py cluster with the extension installed

The contract is read from docs/DESIGN.md itself (the type mapping table and the table between
the outbox-contract markers), so the document and both engines cannot drift apart unnoticed:
each engine must have exactly the contract's columns, in its order, with the mapped types,
nullability and defaults, the unique id and the pending index; then events emitted through
the public functions must carry the contract's meaning (id/created_at agree, key_seq counts
per key without gaps and is never reused after rows are deleted, bookkeeping starts empty).
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DESIGN = os.path.join(HERE, "..", "..", "docs", "DESIGN.md")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

failures = []


def check(what, ok, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def cells(line):
    return [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]


def read_contract():
    """(mapping {logical: {'postgres': type, 'sqlite': type}}, [column dicts in order])."""
    text = open(DESIGN, encoding="utf-8").read()
    m = re.search(r"<!-- outbox-contract:begin -->\n(.*?)<!-- outbox-contract:end -->", text, re.S)
    if not m:
        raise SystemExit("docs/DESIGN.md has no outbox-contract table")
    rows = [cells(l) for l in m.group(1).strip().splitlines()[2:]]
    columns = [dict(name=r[0], type=r[1], nullable=r[2] == "yes", default=r[3]) for r in rows]
    mapping = {}
    head = text.index("| logical type | PostgreSQL | SQLite |")
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        c = cells(line)
        mapping[c[0]] = {"postgres": c[1], "sqlite": c[2]}
    for col in columns:
        if col["type"] not in mapping:
            raise SystemExit(f"docs/DESIGN.md: column {col['name']} has unmapped type {col['type']}")
    if len(columns) < 10:
        raise SystemExit(f"docs/DESIGN.md: the contract table parsed to {len(columns)} columns")
    return mapping, columns


def uuid7_ms(event_id):
    return int(event_id.replace("-", "")[:12], 16)


# ------------------------------------------------------------------------------------- SQLite

def check_sqlite(mapping, columns, start_from=None):
    ext = os.environ.get("EXACTLY_ONCE_SQLITE_EXT", "")
    if not ext or not os.path.exists(ext):
        raise SystemExit(f"EXACTLY_ONCE_SQLITE_EXT does not name the built extension: {ext!r}")
    tmp = tempfile.mkdtemp(prefix="eo_contract_")
    if start_from:
        shutil.copyfile(start_from, os.path.join(tmp, "contract.db"))
    db = sqlite3.connect(os.path.join(tmp, "contract.db"), isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.enable_load_extension(False)
    # Topic 'contract': an upgraded file holds other events too.
    ids = [db.execute("SELECT outbox_emit('contract', ?, ?, ?)", (k, json.dumps(p), h)).fetchone()[0]
           for k, p, h in [("acct-1", {"n": 1}, None), ("acct-2", {"n": 2}, '{"h":"v"}'), ("acct-1", {"n": 3}, None)]]

    live = db.execute("PRAGMA main.table_xinfo('exactly_once_outbox')").fetchall()
    check("sqlite: the contract's columns, in order", [r[1] for r in live] == [c["name"] for c in columns],
          f"{[r[1] for r in live]}")
    ddl = db.execute("SELECT sql FROM main.sqlite_master WHERE name = 'exactly_once_outbox'").fetchone()[0]
    by_name = {r[1]: r for r in live}
    for col in columns:
        if col["name"] not in by_name:
            check(f"sqlite: column {col['name']} exists", False)
            continue
        _, name, decl, notnull, default, pk, _hidden = by_name[col["name"]]
        want = mapping[col["type"]]["sqlite"]
        check(f"sqlite: {name} is {want}", decl.upper() == want.upper(), decl)
        # An INTEGER PRIMARY KEY is the rowid: never NULL, though table_xinfo says notnull = 0.
        effectively_not_null = bool(notnull) or pk == 1
        check(f"sqlite: {name} {'nullable' if col['nullable'] else 'NOT NULL'}",
              effectively_not_null != col["nullable"], f"notnull={notnull} pk={pk}")
        if col["default"] == "assigned":
            check(f"sqlite: {name} is assigned (INTEGER PRIMARY KEY AUTOINCREMENT, never reused)",
                  pk == 1 and re.search(rf"\b{name}\s+INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT", ddl, re.I) is not None)
        else:
            check(f"sqlite: {name} default {col['default'] or 'none'}",
                  (default or "") == col["default"], repr(default))

    indexes = db.execute("PRAGMA main.index_list('exactly_once_outbox')").fetchall()
    def index_columns(name):
        return [r[2] for r in db.execute(f"PRAGMA main.index_info('{name}')").fetchall()]
    check("sqlite: id is unique", any(r[2] == 1 and r[4] == 0 and index_columns(r[1]) == ["id"] for r in indexes))
    pending = db.execute("SELECT sql FROM main.sqlite_master WHERE type = 'index' "
                         "AND name = 'exactly_once_outbox_pending'").fetchone()
    check("sqlite: exactly_once_outbox_pending ON (seq) WHERE delivered_at IS NULL",
          pending is not None and index_columns("exactly_once_outbox_pending") == ["seq"]
          and re.search(r"WHERE\s+delivered_at\s+IS\s+NULL\s*$", pending[0], re.I) is not None,
          str(pending))

    if failures:
        return  # the rows cannot be read the contract's way
    rows = db.execute("SELECT id, key, key_seq, payload, headers, created_at, attempts, next_attempt_at, "
                      "lease_owner, lease_until, delivered_at, last_error, typeof(key) FROM exactly_once_outbox "
                      "WHERE topic = 'contract' ORDER BY seq").fetchall()
    check_meaning("sqlite", ids, [(r[0], r[1], r[2], r[5], r[6:12]) for r in rows])
    check("sqlite: payload and headers kept as the caller's JSON text",
          [r[3] for r in rows] == ['{"n": 1}', '{"n": 2}', '{"n": 3}'] and rows[1][4] == '{"h":"v"}', str(rows))
    # A blob key is the same stream as the text of its bytes, stored as TEXT.
    db.execute("SELECT outbox_emit('contract', CAST('acct-2' AS BLOB), '{}')")
    blob = db.execute("SELECT typeof(key), key, key_seq FROM exactly_once_outbox ORDER BY seq DESC LIMIT 1").fetchone()
    check("sqlite: a BLOB key is stored as TEXT and continues that key's key_seq", blob == ("text", "acct-2", 2), str(blob))

    # key_seq is never reused: deliver and delete every row of acct-1, then emit for it again.
    db.execute("UPDATE exactly_once_outbox SET delivered_at = 1 WHERE topic = 'contract' AND key = 'acct-1'")
    db.execute("DELETE FROM exactly_once_outbox WHERE topic = 'contract' AND key = 'acct-1'")
    db.execute("SELECT outbox_emit('contract', 'acct-1', '{}')")
    after = db.execute("SELECT key_seq FROM exactly_once_outbox WHERE topic = 'contract' AND key = 'acct-1'").fetchall()
    check("sqlite: key_seq continues after the key's rows were deleted", after == [(3,)], str(after))
    db.close()


# --------------------------------------------------------------------------------- PostgreSQL

def check_postgres(mapping, columns, cluster):
    sys.path.insert(0, os.path.join(HERE, "..", "pg"))
    import pg_harness  # noqa: E402
    dbname = f"eo_contract_{os.getpid()}"

    def q(sql):
        return pg_harness.psql(cluster, sql, db=dbname).stdout.rstrip("\n")

    pg_harness.psql(cluster, f"DROP DATABASE IF EXISTS {dbname}")
    pg_harness.psql(cluster, f"CREATE DATABASE {dbname}")
    try:
        pg_harness.psql(cluster, "CREATE EXTENSION exactly_once", db=dbname)
        ids = [q(f"SELECT outbox_emit('orders', '{k}', '{p}'::jsonb{h})") for k, p, h in
               [("acct-1", '{"n": 1}', ""), ("acct-2", '{"n": 2}', ", '{\"h\":\"v\"}'::jsonb"), ("acct-1", '{"n": 3}', "")]]
        live = [l.split("|") for l in q(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
            "coalesce(pg_get_expr(d.adbin, d.adrelid), ''), attidentity FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE attrelid = 'exactly_once.outbox'::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum").splitlines()]
        check("postgres: the contract's columns, in order", [r[0] for r in live] == [c["name"] for c in columns],
              f"{[r[0] for r in live]}")
        by_name = {r[0]: r for r in live}
        for col in columns:
            if col["name"] not in by_name:
                check(f"postgres: column {col['name']} exists", False)
                continue
            name, typ, notnull, default, identity = by_name[col["name"]]
            want = mapping[col["type"]]["postgres"]
            check(f"postgres: {name} is {want}",
                  typ == {"timestamptz": "timestamp with time zone"}.get(want, want), typ)
            check(f"postgres: {name} {'nullable' if col['nullable'] else 'NOT NULL'}",
                  (notnull == "t") != col["nullable"], notnull)
            if col["default"] == "assigned":
                check(f"postgres: {name} is assigned (GENERATED ALWAYS AS IDENTITY)", identity == "a", identity)
            else:
                check(f"postgres: {name} default {col['default'] or 'none'}", default == col["default"], repr(default))
        indexes = q("SELECT indisunique, pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = 'exactly_once.outbox'::regclass ORDER BY 2").splitlines()
        check("postgres: id is unique", any(i.startswith("t|") and i.endswith("(id)") for i in indexes), str(indexes))
        check("postgres: outbox_pending ON (seq) WHERE delivered_at IS NULL",
              any(re.search(r"INDEX outbox_pending ON exactly_once\.outbox USING btree \(seq\) "
                            r"WHERE \(delivered_at IS NULL\)$", i) for i in indexes), str(indexes))

        if failures:
            return  # the rows cannot be read the contract's way
        rows = [l.split("|") for l in q(
            "SELECT id, key, key_seq, floor(extract(epoch FROM created_at) * 1000)::bigint, attempts, "
            "next_attempt_at, lease_owner, lease_until, delivered_at, last_error FROM exactly_once.outbox "
            "ORDER BY seq").splitlines()]
        check_meaning("postgres", ids, [(r[0], r[1], int(r[2]), int(r[3]),
                                         tuple(None if v == "" else v for v in r[4:10])) for r in rows])
        q("UPDATE exactly_once.outbox SET delivered_at = clock_timestamp() WHERE key = 'acct-1'")
        q("DELETE FROM exactly_once.outbox WHERE key = 'acct-1'")
        q("SELECT outbox_emit('orders', 'acct-1', '{}'::jsonb)")
        after = q("SELECT string_agg(key_seq::text, ',') FROM exactly_once.outbox WHERE key = 'acct-1'")
        check("postgres: key_seq continues after the key's rows were deleted", after == "3", after)
    finally:
        pg_harness.psql(cluster, f"DROP DATABASE IF EXISTS {dbname}", check=False)


# -------------------------------------------------------------------------------- both engines

def check_meaning(engine, ids, rows):
    """rows: (id, key, key_seq, created_at Unix ms, (attempts, next_attempt_at, lease_owner,
    lease_until, delivered_at, last_error)) in seq order, for three events emitted on keys
    acct-1, acct-2, acct-1."""
    check(f"{engine}: outbox_emit returns the row's id, a UUIDv7 in canonical text",
          [r[0] for r in rows] == ids and all(UUID7.match(i) for i in ids), f"{ids} vs {[r[0] for r in rows]}")
    check(f"{engine}: key_seq counts per key from 1", [(r[1], r[2]) for r in rows] ==
          [("acct-1", 1), ("acct-2", 1), ("acct-1", 2)], str([(r[1], r[2]) for r in rows]))
    # Equal unless the generator moved ahead of the clock (docs/DESIGN.md §4), never earlier.
    check(f"{engine}: the id's UUIDv7 millisecond is created_at's or later", all(uuid7_ms(r[0]) >= r[3] for r in rows),
          str([(uuid7_ms(r[0]), r[3]) for r in rows]))
    check(f"{engine}: relay bookkeeping starts empty (attempts 0, the rest NULL)",
          all(tuple(str(v) if v is not None else None for v in r[4]) == ("0", None, None, None, None, None)
              for r in rows), str([r[4] for r in rows]))


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("sqlite", "postgres"):
        raise SystemExit(__doc__)
    mapping, columns = read_contract()
    print(f"schema_contract: {len(columns)} columns from docs/DESIGN.md, engine {args[0]}")
    if args[0] == "sqlite":
        if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--from"):
            raise SystemExit(__doc__)
        check_sqlite(mapping, columns, args[2] if len(args) == 3 else None)
    else:
        if len(args) != 3 or args[1] != "--dir":
            raise SystemExit(__doc__)
        check_postgres(mapping, columns, args[2])
    if failures:
        raise SystemExit(f"schema_contract: {len(failures)} difference(s) from docs/DESIGN.md's outbox contract")
    print("schema_contract: the live schema keeps the contract")


if __name__ == "__main__":
    main()
