#!/usr/bin/env bash
# The exactly_once demo: build the SQLite extension, then watch one payment that reaches
# the database four times get charged exactly once (demo/payment.sql, sqlite3 shell).
#
#   demo/run.sh
#
# Works from a fresh clone and again and again afterwards. It uses its own build directory
# (build-demo/, or $EXACTLY_ONCE_DEMO_BUILD_DIR) configured without tests, benchmarks or
# PostgreSQL, so it never changes the settings of the build/ that runs the test suite.
# Exits non-zero if the build fails, if any SQL fails, or if the outcome is wrong.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${EXACTLY_ONCE_DEMO_BUILD_DIR:-$root/build-demo}"

# ---- what the build and the demo need (Debian 12 packages; idempotent) --------------------
"$root/scripts/install-deps.sh" demo

# ---- build just the loadable extension --------------------------------------------------
log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$work" "$log"' EXIT

echo "Building the SQLite extension in ${build#"$root"/}/ ..."
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
         -DEXACTLY_ONCE_TESTS=OFF -DEXACTLY_ONCE_BENCH=OFF -DEXACTLY_ONCE_POSTGRES=OFF \
         -DEXACTLY_ONCE_SANITIZE=OFF &&
       cmake --build "$build" --target exactly_once_sqlite -j "$(nproc)"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "demo: the build failed (output above)" >&2
  exit 1
fi
module_dir="$build/sqlite_ext"
if [[ ! -f "$module_dir/exactly_once.so" ]]; then
  echo "demo: the build finished but $module_dir/exactly_once.so is missing" >&2
  exit 1
fi
echo

# ---- the scenario -------------------------------------------------------------------------
# Run from the module's directory so that payment.sql can say `.load ./exactly_once`,
# exactly as a user would. The database is a temporary file, removed on exit.
db="$work/shop.db"
if ! (cd "$module_dir" && sqlite3 "$db" <"$here/payment.sql"); then
  echo "demo: the SQL scenario failed" >&2
  exit 1
fi

# ---- check the outcome independently (plain sqlite3, no extension loaded) ----------------
balance="$(sqlite3 "$db" "SELECT balance FROM accounts WHERE id = 7")"
events="$(sqlite3 "$db" "SELECT count(*) FROM exactly_once_outbox WHERE key = 'acct-7' AND json_extract(payload, '$.payment') = 'pay_123'")"
all_events="$(sqlite3 "$db" "SELECT count(*) FROM exactly_once_outbox")"
claims="$(sqlite3 "$db" "SELECT count(*) FROM exactly_once_claims")"
echo
if [[ "$balance" == 900 && "$events" == 1 && "$all_events" == 1 && "$claims" == 1 ]]; then
  echo "OK: four deliveries, one charge (balance 1000 -> 900), one event, one claim."
else
  echo "FAILED: expected balance 900, 1 event and 1 claim; got balance $balance, $all_events event(s), $claims claim(s)" >&2
  exit 1
fi
