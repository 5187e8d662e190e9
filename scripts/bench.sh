#!/usr/bin/env bash
# Benchmarks, one command each. Ratios come from one run on this machine.
#   scripts/bench.sh sqlite [args]  claim_once vs bare blob insert vs naive table; outbox_emit vs INSERT
#                                   (args go to exactly_once_sqlite_bench: --keys N, --quick, ...)
#   scripts/bench.sh pg [args]      pgbench: claim_once vs bare uuid insert vs naive table;
#                                   outbox_emit vs INSERT vs PgQ (args go to bench/pg/run_bench.py)
# Installs the Debian packages it needs; `pg` installs the extension into PostgreSQL's
# directories, so it needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-}"
shift || true
build=build-bench
case "$what" in
  sqlite)
    scripts/install-deps.sh demo
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEXACTLY_ONCE_TESTS=OFF -DEXACTLY_ONCE_POSTGRES=OFF \
          -DEXACTLY_ONCE_SANITIZE=OFF -DEXACTLY_ONCE_BENCH=ON >/dev/null
    cmake --build "$build" --target exactly_once_sqlite_bench -j"$(nproc)" >/dev/null
    exec "$build/bench/sqlite/exactly_once_sqlite_bench" "$@"
    ;;
  pg)
    scripts/install-deps.sh all
    cmake -S . -B "$build-pg" -DCMAKE_BUILD_TYPE=Release -DEXACTLY_ONCE_TESTS=OFF -DEXACTLY_ONCE_POSTGRES=ON \
          -DEXACTLY_ONCE_SANITIZE=OFF -DEXACTLY_ONCE_BENCH=OFF >/dev/null
    cmake --build "$build-pg" --target exactly_once_pg -j"$(nproc)" >/dev/null
    python3 tests/pg/pg_harness.py install --build "$build-pg" >/dev/null
    exec python3 bench/pg/run_bench.py "$@"
    ;;
  *)
    echo "usage: $0 sqlite|pg [benchmark arguments]" >&2
    exit 2
    ;;
esac
