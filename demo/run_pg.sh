#!/usr/bin/env bash
# The payment scenario in PostgreSQL: builds and installs the extension, starts a throwaway
# PostgreSQL 15 cluster (Unix socket only, removed at the end), runs demo/pg_payment.sql in
# psql, and checks the outcome. Needs root (or sudo) to install into PostgreSQL's directories.
#
#   demo/run_pg.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-demo-pg"
harness=(python3 "$root/tests/pg/pg_harness.py")

"$root/scripts/install-deps.sh" all
echo "Building and installing the PostgreSQL extension (build-demo-pg/) ..."
log="$(mktemp)"
work="$(mktemp -d)"
cluster="$work/cluster"
cleanup() {
  "${harness[@]}" stop --dir "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work" "$log"
}
trap cleanup EXIT
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEXACTLY_ONCE_TESTS=OFF \
         -DEXACTLY_ONCE_BENCH=OFF -DEXACTLY_ONCE_POSTGRES=ON -DEXACTLY_ONCE_SANITIZE=OFF &&
       cmake --build "$build" --target exactly_once_pg -j "$(nproc)" &&
       "${harness[@]}" install --build "$build" &&
       "${harness[@]}" start --dir "$cluster"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "demo: build, install or server start failed (output above)" >&2
  exit 1
fi

export PGHOST="$(cat "$cluster/sockdir")" PGPORT="$(cat "$cluster/port")" PGUSER=postgres PGDATABASE=postgres
echo "Throwaway PostgreSQL on socket $PGHOST, port $PGPORT"
echo
psql -X -q -f "$root/demo/pg_payment.sql" -v ON_ERROR_STOP=1 --pset=footer=off

balance="$(psql -X -At -c "SELECT balance FROM demo_accounts WHERE id = 7")"
events="$(psql -X -At -c "SELECT count(*) FROM exactly_once.outbox WHERE topic = 'payment-events'")"
echo
if [[ "$balance" == 900 && "$events" == 1 ]]; then
  echo "OK: two deliveries, one charge (balance 1000 -> 900), one event."
else
  echo "FAILED: expected balance 900 and 1 event; got balance $balance, $events event(s)" >&2
  exit 1
fi
