"""PostgreSQL pieces shared by the crash and contention tests: a throwaway cluster of the
test's own (tests/pg/pg_harness.py, whose stop step would fail on the crashes we cause on
purpose), long-lived psql sessions fed on stdin, immediate restarts, and a server log check
that tolerates exactly the crashes we caused."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg"))
import pg_harness  # noqa: E402

PSQL = os.path.join(pg_harness.BINDIR, "psql")
PG_CTL = os.path.join(pg_harness.BINDIR, "pg_ctl")


def start(d, settings=()):
    pg_harness.start_cluster(d, list(settings))


def env(d, app="eo_crash"):
    e, _, _ = pg_harness.conn_env(d)
    return dict(e, PGAPPNAME=app)


def psql(d, sql, check=True):
    """One psql run (a script on stdin); returns its stdout lines."""
    r = subprocess.run([PSQL, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"], input=sql, env=env(d, "eo_check"),
                       text=True, capture_output=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}\n{sql[:300]}")
    return r.stdout.splitlines() if r.returncode == 0 else None


def server_kw():
    ids = pg_harness.server_user()
    return {} if ids is None else {"user": ids[0], "group": ids[1], "extra_groups": []}


def restart_immediate(d):
    """pg_ctl -m immediate stop (no shutdown checkpoint: crash recovery at the next start), start."""
    p = pg_harness.paths(d)
    subprocess.run([PG_CTL, "-D", p["data"], "-m", "immediate", "-w", "stop"], check=True,
                   stdout=subprocess.DEVNULL, **server_kw())
    subprocess.run([PG_CTL, "-D", p["data"], "-l", p["log"], "-w", "-t", "60", "start"], check=True,
                   stdout=subprocess.DEVNULL, **server_kw())


# What a connection meets while the server comes back from a crash (it terminates every
# session, reinitialises, recovers) or goes through an immediate restart (a writer may try
# while pg_ctl stops it); any other error is a real one.
_COMING_BACK = re.compile(
    r"the database system is (in recovery mode|starting up|not yet accepting connections|shutting down)"
    r"|terminating connection (because of crash of another server process|due to immediate shutdown command)"
    r"|server closed the connection unexpectedly|Connection reset by peer|Broken pipe"  # one that the crash took
    r"|Connection refused|No such file or directory")  # no postmaster listening on the socket (yet)


def wait_ready(d, who, timeout=60):
    """Until a new connection runs SELECT 1. Retries only the errors of a server coming back
    (above); any other error raises at once, and so does a server not back after `timeout` s."""
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        r = subprocess.run([PSQL, "-X", "-At", "-c", "SELECT 1"], env=env(d, "eo_ready"), text=True,
                           capture_output=True)
        if r.returncode == 0 and r.stdout.split() == ["1"]:
            return
        error = " ".join(r.stderr.split()) or f"psql exit {r.returncode}, output {r.stdout!r}"
        if not _COMING_BACK.search(error):
            raise RuntimeError(f"wait_ready ({who}): SELECT 1 failed, and not as a server in recovery would: {error}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"wait_ready ({who}): the server did not accept connections within {timeout} s "
                               f"after a crash or restart; last error: {error}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _start_time(pid):
    """The process's start time (/proc/PID/stat field 22), None once it is gone (reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError):
        return None


def kill_backend(pid, timeout=60):
    """SIGKILL a backend, then wait until the postmaster has reaped it. os.kill returns before
    the process has died, and a busy machine delays its death and the postmaster's SIGCHLD
    handling; until then the server runs queries as before the crash, so a readiness probe
    could pass, and the check after it be refused ("in recovery mode") or terminated once the
    crash is noticed. The postmaster starts crash handling where it reaps the child (reaper()
    in postmaster.c, before it accepts another connection): a connection made afterwards meets
    the server in recovery or the recovered one. False if the backend was already gone."""
    started = _start_time(pid)
    if started is None:
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while _start_time(pid) == started:  # (a new start time: reaped, and the PID reused)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"kill_backend: backend {pid} not reaped by the postmaster {timeout} s after SIGKILL")
        time.sleep(0.005)
    return True


def stop(d):
    """Stops the cluster and removes its directory (the log was checked by the caller)."""
    pg_harness.stop_cluster(d, remove=True, check_log=False)


def stop_keep(d):
    p = pg_harness.paths(d)
    if os.path.exists(os.path.join(p["data"], "postmaster.pid")):
        subprocess.run([PG_CTL, "-D", p["data"], "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL,
                       check=False, **server_kw())
    return p["log"]


# Log lines that mean trouble, unless they are the crashes we caused.
_ALARM = re.compile(r"PANIC:|TRAP:|terminated by signal|was terminated by exception|exited with exit code|"
                    r"ERROR: +AddressSanitizer|runtime error:|FATAL:|ERROR:|could not|corrupt|invalid page")
_EXPECTED = [
    # a backend we killed, and what the postmaster does about it
    re.compile(r"server process \(PID (\d+)\) was terminated by signal 9: Killed"),
    # sessions of a server in crash recovery or shutting down
    re.compile(r"FATAL: +the database system is (in recovery mode|starting up|shutting down|not yet accepting connections)"),
    re.compile(r"FATAL: +terminating connection due to (immediate shutdown command|administrator command)"),
    # a backend told to quit while its client had already gone (the crash took both)
    re.compile(r"LOG: +could not (send data to|receive data from) client: (Broken pipe|Connection reset by peer)"),
    # terminated with the other processes when the postmaster reinitialises
    re.compile(r'background worker "logical replication launcher" \(PID \d+\) exited with exit code 1'),
]


def alarming_log_lines(d, killed_pids, expected_errors=()):
    """Lines of the server log that are not explained by our kills and restarts. Recovery
    chatter at LOG level ("database system was interrupted", "redo starts") is normal."""
    p = pg_harness.paths(d)
    if not os.path.exists(p["log"]):
        return [f"no server log at {p['log']}"]
    bad = []
    expected_errors = [re.compile(e) for e in expected_errors]
    with open(p["log"], errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not _ALARM.search(line):
                continue
            m = _EXPECTED[0].search(line)
            if m:
                if int(m.group(1)) not in killed_pids:
                    bad.append(line + "   <- a backend we did not kill")
                continue
            if any(e.search(line) for e in _EXPECTED[1:]) or any(e.search(line) for e in expected_errors):
                continue
            bad.append(line)
    return bad


class Session:
    """A long-lived psql fed on stdin. run() sends a script followed by an \\echo marker and
    returns the output lines before the marker, or None when the connection (or psql) died.
    psql flushes after every command, so the caller can time each round trip."""

    def __init__(self, d, app, stderr_path):
        self.err = open(stderr_path, "a")
        self.p = subprocess.Popen([PSQL, "-X", "-At", "-v", "VERBOSITY=terse"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1, env=env(d, app))
        self.count = 0

    def run(self, script):
        self.count += 1
        marker = f"@@done {self.count}"
        try:
            self.p.stdin.write(f"{script}\n\\echo {marker}\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                return None
            line = line.rstrip("\n")
            if line == marker:
                return lines
            lines.append(line)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.err.close()
        return self.p.returncode
