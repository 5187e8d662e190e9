"""What the module exports and how: function flags, the entry point, loading, version, minimum SQLite."""

import os
import re
import shutil
import sqlite3
import subprocess
import unittest

from eo_sqlite import EXT, VERSION, TempDirTest, cached_statements, connect, one, run_isolated


class FunctionFlagsTest(unittest.TestCase):
    def setUp(self):
        self.db = connect()
        self.addCleanup(self.db.close)

    def test_pure_function_flags(self):
        # DETERMINISTIC: allowed in indexes and generated columns; writers are not.
        self.db.execute("CREATE TABLE t(a TEXT, g BLOB AS (dedup_key('s', a)))")
        self.db.execute("CREATE INDEX t_k ON t(dedup_key('s', a))")
        self.db.execute("INSERT INTO t(a) VALUES ('x')")
        self.assertEqual(one(self.db, "SELECT g = dedup_key('s', 'x') FROM t"), 1)
        for fn in ("claim_once('s', a)", "is_claimed('s', a)", "outbox_emit('t', a, '{}')"):
            with self.subTest(fn=fn):
                with self.assertRaisesRegex(sqlite3.Error, "non-deterministic"):
                    self.db.execute(f"CREATE INDEX bad ON t({fn})")

    def test_trusted_schema_off_refuses_writers_in_views_but_not_pure(self):
        self.db.execute("CREATE VIEW v_pure AS SELECT hex(dedup_key('s', 'k')) AS h, exactly_once_version() AS v")
        self.db.execute("CREATE VIEW v_claim AS SELECT claim_once('s', 'k') AS c")
        self.db.execute("CREATE VIEW v_emit AS SELECT outbox_emit('t', 'k', '{}') AS e")
        self.assertEqual(one(self.db, "SELECT c FROM v_claim"), 1)  # trusted schema (default): allowed
        self.db.execute("PRAGMA trusted_schema = OFF")
        self.assertEqual(len(one(self.db, "SELECT h FROM v_pure")), 32)
        for view, fn in (("v_claim", "claim_once"), ("v_emit", "outbox_emit")):
            with self.subTest(view=view):
                with self.assertRaisesRegex(sqlite3.Error, f"unsafe use of {fn}"):
                    self.db.execute(f"SELECT * FROM {view}")

    def test_admin_functions_are_direct_only(self):
        # exactly_once_config and purge_expired change or remove every claim's state: a
        # schema (trigger, view) must not run them behind the application's back.
        self.db.executescript("""
            CREATE TABLE log(x);
            CREATE TRIGGER log_purge AFTER INSERT ON log BEGIN SELECT purge_expired(); END;
            CREATE TRIGGER log_config AFTER UPDATE ON log BEGIN SELECT exactly_once_config('default_ttl', '1s'); END;
            CREATE VIEW v_get AS SELECT exactly_once_config('default_ttl') AS ttl;
            CREATE VIEW v_purge AS SELECT purge_expired() AS n;
        """)
        for sql, fn in (("INSERT INTO log VALUES (1)", "purge_expired"),
                        ("UPDATE log SET x = 2", "exactly_once_config"),
                        ("SELECT * FROM v_get", "exactly_once_config"),
                        ("SELECT * FROM v_purge", "purge_expired")):
            with self.subTest(sql=sql):
                with self.assertRaisesRegex(sqlite3.Error, rf"^unsafe use of {fn}\(\)"):
                    self.db.execute(sql).fetchall()
        self.assertEqual(one(self.db, "SELECT count(*) FROM log"), 0)
        # Called directly they work (and so do TEMP triggers and views: SQLite counts those,
        # which only this connection can create, as direct use).
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl', '2h')"), "2h")
        self.assertEqual(one(self.db, "SELECT exactly_once_config('default_ttl')"), "2h")
        self.assertEqual(one(self.db, "SELECT purge_expired()"), 0)
        self.db.execute("CREATE TEMP VIEW tv AS SELECT exactly_once_config('default_ttl') AS ttl")
        self.assertEqual(one(self.db, "SELECT ttl FROM tv"), "2h")
        # The writers meant for triggers and views stay usable there.
        self.db.execute("CREATE VIEW v_claim AS SELECT claim_once('s', 'k') AS c, release_claim('s', 'k') AS r")
        self.assertEqual(self.db.execute("SELECT c, r FROM v_claim").fetchall(), [(1, 1)])


class LoadTest(TempDirTest):
    def test_extension_loaded_twice(self):
        db = connect()
        self.addCleanup(db.close)
        self.assertEqual(one(db, "SELECT claim_once('s', 'k')"), 1)
        db.enable_load_extension(True)
        self.assertEqual(cached_statements(db), 1)
        db.load_extension(EXT)  # replaces functions and module: the old state is released
        self.assertEqual(one(db, "SELECT claim_once('s', 'k')"), 0)
        self.assertEqual(one(db, "SELECT claim_once('s', 'k2')"), 1)
        self.assertEqual(cached_statements(db), 1)  # the new state's own cache, in use

    def test_failed_load_of_a_second_copy_leaves_nothing_behind(self):
        # SQLite unloads a library whose init failed. A second copy of the module (another
        # path, so another library), loaded while a statement runs, cannot replace the
        # functions (SQLITE_BUSY); it must not leave anything registered that points into it.
        copies = []
        for name in ("a", "b"):
            os.mkdir(self.path(name))
            copies.append(shutil.copy(EXT, self.path(name)))
        out = run_isolated(self, f"""
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.enable_load_extension(True)
            db.load_extension({copies[0]!r})
            print(one(db, "SELECT claim_once('s', 'k')"))
            try:
                db.execute("SELECT load_extension(?)", ({copies[1]!r},)).fetchall()
                print("loaded")
            except sqlite3.Error as e:
                print(e)
            print(one(db, "SELECT claim_once('s', 'k2')"), one(db, "SELECT cached_statements FROM exactly_once_session"))
            db.load_extension({copies[1]!r})  # no statement running: replaces the first copy
            print(one(db, "SELECT claim_once('s', 'k3')"), one(db, "SELECT claim_once('s', 'k')"))
            db.close()
            print("closed")
        """)
        self.assertEqual(out.splitlines(), [
            "1",
            "error during initialization: exactly_once: cannot register claim_once: "
            "unable to delete/modify user-function due to active statements",
            "1 1",
            "1 0",
            "closed",
        ])


class BuildTest(unittest.TestCase):
    def test_version(self):
        db = connect()
        self.addCleanup(db.close)
        self.assertRegex(VERSION, r"^\d+\.\d+\.\d+")
        self.assertEqual(one(db, "SELECT exactly_once_version()"), VERSION)

    def test_only_the_entry_point_is_exported(self):
        nm = shutil.which("nm")
        self.assertIsNotNone(nm, "nm (binutils) is needed to inspect the module")
        out = subprocess.run([nm, "-D", "--defined-only", EXT], check=True, capture_output=True, text=True).stdout
        names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
        self.assertEqual(names, ["sqlite3_exactlyonce_init"])

    def test_minimum_sqlite_version_covers_every_api_used(self):
        # The module calls SQLite through the host's API table: an entry newer than the
        # host is read past the end of its table. Each sqlite3_* the sources use must be
        # at least as old as the minimum version the entry point accepts.
        header, sources = os.environ.get("SQLITE3EXT_H"), os.environ.get("EXACTLY_ONCE_SQLITE_SOURCES")
        self.assertTrue(header and sources, "SQLITE3EXT_H and EXACTLY_ONCE_SQLITE_SOURCES come from the build")
        since, version = {}, (0, 0, 0)  # the API before 3.7.16 has no version comments
        with open(header, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^/\* Version (\d+)\.(\d+)\.(\d+) and later \*/", line)
                if m:
                    version = tuple(int(g) for g in m.groups())
                m = re.match(r"^#define (sqlite3_\w+)\s+sqlite3_api->", line)
                if m:
                    since[m.group(1)] = version
        self.assertIn("sqlite3_changes64", since)
        code = ""
        for name in sorted(os.listdir(sources)):
            if name.endswith((".cpp", ".hpp")):
                with open(os.path.join(sources, name), encoding="utf-8") as f:
                    code += re.sub(r"//[^\n]*", "", f.read())  # not the comments
        m = re.search(r"kMinSqliteVersion = (\d+);", code)
        self.assertIsNotNone(m)
        n = int(m.group(1))
        minimum = (n // 1_000_000, n // 1000 % 1000, n % 1000)
        used = {name: since[name] for name in set(re.findall(r"\bsqlite3_\w+", code)) if name in since}
        self.assertGreater(len(used), 20)
        newer = {name: v for name, v in used.items() if v > minimum}
        # A newer entry may be called only behind a runtime check of the host's version:
        # every line naming it compares against a constant at least as new.
        gates = {g: int(n) for g, n in re.findall(r"constexpr int (k\w+) = (\d+);", code)}
        for name, v in list(newer.items()):
            lines = [ln for ln in code.splitlines() if re.search(rf"\b{name}\b", ln)]
            needed = v[0] * 1_000_000 + v[1] * 1000 + v[2]
            if lines and all(any(gates.get(g, 0) >= needed for g in re.findall(r">= (k\w+)", ln))
                             for ln in lines):
                del newer[name]
        self.assertEqual(newer, {}, f"needs a newer SQLite than {minimum}, ungated")
        self.assertIn(f"needs SQLite {minimum[0]}.{minimum[1]}.{minimum[2]} or later", code)

    def test_module_does_not_link_libsqlite3(self):
        out = subprocess.run(["ldd", EXT], capture_output=True, text=True).stdout
        self.assertNotIn("libsqlite3", out)



if __name__ == "__main__":
    unittest.main(verbosity=2)
