"""One scenario through the real sqlite3 CLI (`.load ./exactly_once`) and through Python's
sqlite3 module (enable_load_extension); both must print cli_scenario.expected."""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from eo_sqlite import EXT, SQLITE3_CLI, require_extension

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.join(HERE, "cli_scenario.sql")
EXPECTED = os.path.join(HERE, "cli_scenario.expected")


def cli_value(v):
    """A value as the CLI's default list mode prints it."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, float):
        return repr(v)
    return str(v)


def run_with_python(scenario, ext_dir):
    """Runs the scenario file the way the CLI does: dot-commands, then each complete statement."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    out = []
    try:
        pending = ""
        for line in scenario.splitlines(keepends=True):
            if not pending and line.startswith("."):
                command, _, arg = line.strip().partition(" ")
                if command != ".load":
                    raise ValueError(f"unsupported dot-command in scenario: {line!r}")
                db.enable_load_extension(True)
                db.load_extension(os.path.join(ext_dir, arg.strip()))
                db.enable_load_extension(False)
                continue
            if not pending and (not line.strip() or line.lstrip().startswith("--")):
                continue
            pending += line
            if sqlite3.complete_statement(pending):
                for row in db.execute(pending).fetchall():
                    out.append("|".join(cli_value(v) for v in row))
                pending = ""
        if pending.strip():
            raise ValueError(f"incomplete statement at end of scenario: {pending!r}")
    finally:
        db.close()
    return "".join(line + "\n" for line in out)


class CliScenarioTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_extension()
        with open(SCENARIO, encoding="utf-8") as f:
            cls.scenario = f.read()
        with open(EXPECTED, encoding="utf-8") as f:
            cls.expected = f.read()
        # `.load ./exactly_once` as in the README: run from a directory holding the module.
        cls.dir = tempfile.mkdtemp(prefix="eo_sqlite_cli_")
        shutil.copy(EXT, os.path.join(cls.dir, "exactly_once.so"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def test_expected_output_is_not_trivial(self):
        self.assertGreaterEqual(len(self.expected.splitlines()), 10)

    def test_sqlite3_cli(self):
        for target in (":memory:", os.path.join(self.dir, "cli.db")):
            with self.subTest(database=target):
                proc = subprocess.run([SQLITE3_CLI, "-batch", "-bail", target], input=self.scenario,
                                      cwd=self.dir, capture_output=True, text=True, timeout=120)
                self.assertEqual(proc.stderr, "")
                self.assertEqual(proc.returncode, 0)
                self.assertEqual(proc.stdout, self.expected)

    def test_python_sqlite3_module(self):
        self.assertEqual(run_with_python(self.scenario, self.dir), self.expected)


if __name__ == "__main__":
    unittest.main(verbosity=2)
