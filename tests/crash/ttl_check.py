"""The TTL contention check (audit item 13), shared by the SQLite and PostgreSQL tests.

Input, all from the callers' own clocks (time.time(), the wall clock the engines read too):
  calls: (key, ttl seconds, s, e, result) for every claim_once that completed: s read right
         before the call (or its BEGIN) was sent, e right after the claim statement returned;
         result 1 (a claim whose transaction then committed) or 0. Rolled-back claims are not
         calls here.
  holds: (key or None, a, r): an interval during which another session certainly held the lock
         a claim of that key (None: of every key) must wait for: a read after the lock was
         taken, r before its release was sent.

What the engines promise (docs/DESIGN.md §4, Clock): a claim is judged at one moment c of its
call, read after any wait for the lock; it wins iff no committed claim of the key is live at c,
and a win makes the key live for TTL from c (millisecond precision). So, for two wins i, j of
one key, |c_i - c_j| >= TTL; and a 0 at c_z needs a win i with c_i <= c_z < c_i + TTL.

What we know of c, soundly: c lies in [lb, e], where lb = s, raised to r when s falls inside a
hold [a, r] of that key: the lock is held from before a until after r, so a call that began in
between cannot take it (nor, after the fix, read its clock) before r. Nothing better can be
said from the callers' side: the brief's "later start >= earlier return + TTL" is not
guaranteed (a caller that started before the TTL ran out may wait and win after it), while
the intervals below are. Hence the violations, each one impossible under the promise:
  two wins  i, j:  max(e_j - lb_i, e_i - lb_j) < TTL - slack
                   (no choice of c_i, c_j in their intervals is TTL apart)
  stale 0   z:     no win i with lb_i <= e_z + slack and lb_z < e_i + TTL + slack
                   (no win can have been live at any moment of z's interval)
slack covers millisecond rounding (and PostgreSQL's 1 ms re-stamp threshold); it only ever
makes the check more lenient.
"""


def lower_bounds(calls, holds):
    """lb for each call (see above). Holds of one lock are disjoint, so one raise suffices."""
    by_key = {}
    for key, a, r in holds:
        by_key.setdefault(key, []).append((a, r))
    out = []
    for key, _, s, _, _ in calls:
        lb = s
        for a, r in by_key.get(key, []) + by_key.get(None, []):
            if a <= s <= r:
                lb = max(lb, r)
        out.append(lb)
    return out


def check(calls, holds, slack):
    """Returns (figures, list of violation descriptions)."""
    lbs = lower_bounds(calls, holds)
    wins, zeros = {}, {}
    for (key, ttl, s, e, result), lb in zip(calls, lbs):
        (wins if result == 1 else zeros).setdefault(key, []).append((lb, e, ttl, s))
    problems = []
    for key, ws in wins.items():
        ws.sort()
        for i in range(len(ws)):
            lb_i, e_i, ttl, s_i = ws[i]
            for j in range(i + 1, len(ws)):
                lb_j, e_j, _, s_j = ws[j]
                if lb_j - e_i >= ttl:  # sorted by lb: no later win can be closer
                    break
                if max(e_j - lb_i, e_i - lb_j) < ttl - slack:
                    problems.append(
                        f"two wins of {key} within its TTL {ttl:g} s: calls [{s_i:.3f} (lb {lb_i:.3f}), {e_i:.3f}] "
                        f"and [{s_j:.3f} (lb {lb_j:.3f}), {e_j:.3f}]")
    for key, zs in zeros.items():
        ws = wins.get(key, [])
        for lb_z, e_z, ttl, s_z in zs:
            if not any(lb_i <= e_z + slack and lb_z < e_i + ttl + slack for lb_i, e_i, _, _ in ws):
                problems.append(f"stale 0 for {key}: call [{s_z:.3f} (lb {lb_z:.3f}), {e_z:.3f}] while no win of "
                                f"the key can have been live (TTL {ttl:g} s)")
    waited = [lb - s for (_, _, s, _, _), lb in zip(calls, lbs) if lb > s]
    figures = {
        "calls": len(calls),
        "wins": sum(len(v) for v in wins.values()),
        "zeros": sum(len(v) for v in zeros.values()),
        "calls that waited on a lock hold": len(waited),
        "longest such wait (s)": round(max(waited), 3) if waited else 0,
        "waits longer than the TTL": sum(1 for ((_, ttl, s, _, _), lb) in zip(calls, lbs) if lb - s > ttl),
    }
    return figures, problems


def report(test, run_name, calls, holds, slack, holds_label):
    """check() plus the counts both contention tests print; returns (figures, problems)."""
    figures, problems = check(calls, holds, slack)
    figures[holds_label] = len(holds)
    figures["holds longer than 1 s"] = sum(1 for _, a, r in holds if r - a > 1.0)
    print(f"{test} [{run_name}]: {figures}; violations: {len(problems)}", flush=True)
    for p in problems[:10]:
        print(f"  {p}")
    return figures, problems
