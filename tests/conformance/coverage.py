#!/usr/bin/env python3
"""Static check (no database) that the conformance scenarios cover the public surface:

  coverage.py [--root REPO] [--scenarios DIR]   (defaults: this checkout, scenarios/ here)

Fails, listing what is missing, unless
  * every public SQL function is called by a scenario step: the SQLite functions are the names in
    kFunctions (sqlite_ext/extension.cpp), the PostgreSQL ones the CREATE FUNCTION names of
    sql/exactly_once--<project VERSION>.sql. A function both engines have must be called by a step
    that runs on both (no @ prefix); a function one engine has, by a step that runs on it (the
    PostgreSQL trigger functions by the @postgres CREATE TRIGGER steps that install them);
  * every entry of the error catalogue (kCatalogue, core/errors.cpp) is the expected outcome of a
    scenario step, `=> error SQLSTATE fn: message`: the message matches the entry's wording (each
    {arg}, {1}, {2}, ... matches any text; a message that several wordings match counts for the
    most specific one, the one with the most literal text) and SQLSTATE is sqlstate_of() of the
    entry's kind. A scenario message matching an entry with another SQLSTATE is an error too;
  * or the entry is in ALLOWLIST below: a test file (from the repository root) that asserts the
    message, and the message or a distinctive fragment of it, which the file must contain literally
    and which must fit the entry's wording. An allowlisted entry that a scenario covers fails, so
    that the list only ever shrinks.
An entry that no input can raise has no place in the catalogue: remove it from core/errors.cpp.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (the scenario parser: the same steps the runner runs)

# Entries no scenario can reach: name -> (test file, the message or a distinctive fragment it asserts).
# Why not a scenario: run.py gives each scenario file a fresh in-memory SQLite database and a fresh
# PostgreSQL database, and its steps never name an engine's tables.
ALLOWLIST = {
    # needs a hand-edited exactly_once_config row (CHECK constraints off)
    "stored_setting_invalid": ("tests/sqlite/test_config.py",
                               "claim_once: default_ttl setting in exactly_once_config is invalid"),
    # needs a file whose exactly_once_meta names a newer release
    "schema_newer": ("tests/sqlite/test_upgrade.py",
                     "newer than this extension ({VERSION}): load exactly_once 99.0.0 or later"),
    # needs a hand-edited exactly_once_meta row
    "schema_version_unreadable": ("tests/sqlite/test_upgrade.py",
                                  "is not a release number (exactly_once_meta was edited?)"),
    # needs a file with release 0.2.0's layout (tests/sqlite/fixtures/v0.2.0.db)
    "schema_upgrade_blocked": ("tests/sqlite/test_upgrade.py",
                               "layout, and it cannot be upgraded while another statement reads them (a SELECT ... "
                               "FROM or "),
    # needs a claim whose expired row keeps changing between one call's statements: a trigger
    # that skips every renewal stands in for the concurrent renewer (pg_regress eo_claims)
    "claim_contended": ("tests/pg/regress/expected/eo_claims.out",
                        "claim_once: the claim kept changing concurrently (released, purged or re-inserted 5 times"),
    # PostgreSQL keeps jsonb's own SQLSTATE (22P05 for "\u0000"), not the kind's 22P02 (core/errors.hpp)
    "json_rejected_by_engine": ("tests/pg/regress/expected/eo_outbox.out",
                                "outbox_emit: payload is not valid jsonb: unsupported Unicode escape sequence"),
}

PLACEHOLDER = re.compile(r"\{(?:arg|\d)\}")
MIN_FRAGMENT = 20  # an allowlist fragment inside one literal stretch of a wording is at least this long


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def block(text, start_pattern, what, close="};"):
    """The text from start_pattern up to the first `close` after it."""
    m = re.search(start_pattern, text)
    if not m:
        raise SystemExit(f"coverage: cannot find {what}")
    end = text.find(close, m.end())
    if end < 0:
        raise SystemExit(f"coverage: {what} is not closed by {close!r}")
    return text[m.end():end]


def strip_cpp_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def c_string(literals):
    """Adjacent C string literals ("a" "b") as one Python string."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', literals)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), "".join(parts))


# ------------------------------------------------------------------------------ sources

def sqlite_functions(root):
    body = strip_cpp_comments(block(read(root, "sqlite_ext/extension.cpp"),
                                    r"FunctionSpec\s+kFunctions\s*\[\s*\]\s*=\s*\{", "kFunctions"))
    names = re.findall(r'\{\s*\{\s*"(\w+)"', body)
    if len(names) != body.count("{{") or not names:
        raise SystemExit(f"coverage: read {len(names)} names from kFunctions but it has {body.count('{{')} rows")
    return set(names)


def project_version(root):
    m = re.search(r"project\s*\(\s*exactly_once\s+VERSION\s+(\d+\.\d+\.\d+)", read(root, "CMakeLists.txt"))
    if not m:
        raise SystemExit("coverage: no project(exactly_once VERSION x.y.z) in CMakeLists.txt")
    return m.group(1)


def postgres_functions(root, version):
    rel = f"sql/exactly_once--{version}.sql"
    text = re.sub(r"--[^\n]*", "", read(root, rel))
    names = re.findall(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:[\w@]+\.)?(\w+)\s*\(", text, re.I)
    if not names:
        raise SystemExit(f"coverage: no CREATE FUNCTION in {rel}")
    triggers = set(re.findall(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:[\w@]+\.)?(\w+)\s*\([^)]*\)\s*"
                              r"RETURNS\s+trigger\b", text, re.I))
    return rel, set(names), triggers


class Entry:
    def __init__(self, name, kind, wording, sqlstate):
        self.name, self.kind, self.wording, self.sqlstate = name, kind, wording, sqlstate
        pieces = PLACEHOLDER.split(wording)
        self.literal = sum(len(p) for p in pieces)  # how specific the wording is
        # ("fn", None) for the "<function>: " prefix, then ("lit", text) and ("ph", None) in order
        self.tokens = [("fn", None)]
        for i, p in enumerate(pieces):
            if i:
                self.tokens.append(("ph", None))
            if p:
                self.tokens.append(("lit", p))
        # A scenario's message: "<function>: <wording>", each placeholder any text.
        self.message = re.compile(r"\w+: " + ".*".join(re.escape(p) for p in pieces), re.S)

    def fits_fragment(self, text):
        """Whether text is a stretch of some message this entry words. It may begin inside the
        function's name, at the wording's leading placeholder or inside a literal stretch, and end
        inside a literal stretch or at the message's end; all between is the wording's own text,
        each placeholder any text. Inside one literal stretch it must be MIN_FRAGMENT long."""
        if any(kind == "lit" and text in lit for kind, lit in self.tokens):
            return len(text) >= MIN_FRAGMENT
        n = len(self.tokens)

        def piece(i, where):
            kind, lit = self.tokens[i]
            if kind == "fn":
                return r"\w*: " if where == "start" else r"\w+: "
            if kind == "ph":
                return ".*"
            if where == "start":  # a non-empty tail of the literal
                return "(?:" + "|".join(re.escape(lit[k:]) for k in range(len(lit))) + ")"
            if where == "end":  # a non-empty head (the whole literal included)
                return "(?:" + "|".join(re.escape(lit[:k]) for k in range(1, len(lit) + 1)) + ")"
            return re.escape(lit)

        starts = [i for i in range(n) if i == 0 or self.tokens[i][0] == "lit" or (i == 1 and self.tokens[1][0] == "ph")]
        ends = [j for j in range(n) if j == n - 1 or self.tokens[j][0] == "lit"]
        for i in starts:
            for j in ends:
                if j <= i:
                    continue
                pattern = piece(i, "start") + "".join(piece(k, "mid") for k in range(i + 1, j)) + piece(j, "end")
                if re.fullmatch(pattern, text, re.S):
                    return True
        return False


def catalogue(root):
    text = read(root, "core/errors.cpp")
    states = dict(re.findall(r"case\s+K::(\w+)\s*:\s*return\s+\"(\w{5})\"\s*;",
                             block(text, r"sqlstate_of\s*\([^)]*\)\s*noexcept\s*\{", "sqlstate_of", "\n}")))
    body = strip_cpp_comments(block(text, r"CatalogueEntry\s+kCatalogue\s*\[\s*\]\s*=\s*\{", "kCatalogue"))
    rows = re.findall(r'\{\s*F::(\w+)\s*,\s*K::(\w+)\s*,\s*"(\w+)"\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', body)
    if len(rows) != body.count("{F::") or not rows:
        raise SystemExit(f"coverage: read {len(rows)} entries from kCatalogue but it has {body.count('{F::')}")
    entries = []
    for failure, kind, name, literals in rows:
        if failure != name:
            raise SystemExit(f"coverage: kCatalogue entry F::{failure} is named {name!r}")
        if kind not in states:
            raise SystemExit(f"coverage: sqlstate_of has no case for K::{kind} (entry {name})")
        entries.append(Entry(name, kind, c_string(literals), states[kind]))
    return entries


# ------------------------------------------------------------------------------ scenarios

def sql_code(sql):
    """The statement without its string literals and comments, where a call is a name and '('."""
    sql = re.sub(r"\$(\w*)\$.*?\$\1\$", " ", sql, flags=re.S)
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)


def calls(step, name):
    return re.search(r"(?<![\w.$])" + re.escape(name) + r"\s*\(", sql_code(step.sql), re.I) is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(HERE, "..", "..")))
    ap.add_argument("--scenarios", default=None, help="scenario directory (default: scenarios/ next to this file)")
    a = ap.parse_args()
    root = a.root
    sdir = a.scenarios or os.path.join(HERE, "scenarios")
    files = sorted(os.path.join(sdir, f) for f in os.listdir(sdir) if f.endswith(".txt"))
    if not files:
        raise SystemExit(f"coverage: no scenarios in {sdir}")
    steps = [s for f in files for s in run.parse(f)]
    problems = []

    # ---- functions
    lite = sqlite_functions(root)
    version = project_version(root)
    sql_rel, pg, pg_triggers = postgres_functions(root, version)
    covered_fns = 0
    for fn in sorted(lite | pg):
        both = fn in lite and fn in pg
        engines = [e for e, fns in (("sqlite", lite), ("postgres", pg)) if fn in fns]
        ok = [s for s in steps if s.expected is not None and calls(s, fn)
              and (s.only is None if both else s.only in (None, engines[0]))]
        if fn in pg_triggers:  # a trigger function runs when the trigger that names it fires
            ok = [s for s in ok if re.search(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\b.*"
                                             r"\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+(?:[\w]+\.)?" + re.escape(fn)
                                             + r"\s*\(", sql_code(s.sql), re.I | re.S)]
        if ok:
            covered_fns += 1
            continue
        if both:
            where = "a step that runs on both engines (no @ prefix)"
        else:
            where = f"a step that runs on {engines[0]}"
        src = ", ".join(["sqlite_ext/extension.cpp kFunctions"] * (fn in lite) + [sql_rel] * (fn in pg))
        problems.append(f"function {fn} ({src}) is called by no scenario: needs {where}"
                        + (" (a CREATE TRIGGER ... EXECUTE FUNCTION step)" if fn in pg_triggers else ""))

    # ---- error catalogue
    entries = catalogue(root)
    by_name = {e.name: e for e in entries}
    by_scenario = {}  # entry name -> the steps whose expected error it words
    unmatched = []
    for s in steps:
        m = re.match(r"^error (\w{5}) (.*)$", s.expected or "")
        if not m:
            continue
        state, message = m.groups()
        fits = [e for e in entries if e.message.fullmatch(message)]
        if not fits:
            unmatched.append(f"{s.where()}: {message}")
            continue
        best = max(e.literal for e in fits)
        for e in (e for e in fits if e.literal == best):
            if state != e.sqlstate:
                problems.append(f"{s.where()}: expects SQLSTATE {state} but its message is catalogue entry "
                                f"{e.name}, kind {e.kind}: {e.sqlstate}")
            else:
                by_scenario.setdefault(e.name, []).append(s)

    allowed = []
    for name, (rel, text) in sorted(ALLOWLIST.items()):
        e = by_name.get(name)
        if e is None:
            problems.append(f"ALLOWLIST names {name!r}, which is not in kCatalogue: remove it")
            continue
        if name in by_scenario:
            problems.append(f"ALLOWLIST entry {name} is covered by {by_scenario[name][0].where()}: remove it")
            continue
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            problems.append(f"ALLOWLIST entry {name}: {rel} does not exist")
            continue
        if text not in read(root, rel):
            problems.append(f"ALLOWLIST entry {name}: {rel} does not contain {text!r}")
            continue
        if not e.fits_fragment(text):
            problems.append(f"ALLOWLIST entry {name}: {text!r} does not fit its wording {e.wording!r}")
            continue
        allowed.append(name)
    for e in entries:
        if e.name not in by_scenario and e.name not in ALLOWLIST:
            problems.append(f"catalogue entry {e.name} ({e.sqlstate}, {e.wording!r}) is the expected error of no "
                            f"scenario step: add one, `=> error {e.sqlstate} <function>: <message>`")

    total_fns = len(lite | pg)
    print(f"coverage: functions: {covered_fns}/{total_fns} called by scenarios "
          f"(SQLite {len(lite)}, PostgreSQL {len(pg)} in {sql_rel}, {len(lite & pg)} on both)")
    print(f"coverage: catalogue: {len(entries)} entries: {len(by_scenario)} by scenarios, {len(allowed)} by ALLOWLIST "
          f"({', '.join(allowed)})")
    print(f"coverage: {len(steps)} steps in {len(files)} scenario files")
    for u in unmatched:
        print(f"coverage: note: an expected error from outside the catalogue: {u}")
    for p in problems:
        print("FAIL " + p)
    if problems:
        print(f"coverage: {len(problems)} problem(s)")
        sys.exit(1)
    print("coverage: ok")


if __name__ == "__main__":
    main()
