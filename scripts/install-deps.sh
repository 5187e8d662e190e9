#!/usr/bin/env bash
# Installs the Debian 12 packages the build needs. Idempotent: does nothing when they are
# all present. Usage: scripts/install-deps.sh [demo|all]   (default: all)
#   demo  what the SQLite demo needs (compiler, CMake, SQLite, xxHash, nlohmann-json)
#   all   plus GoogleTest, PostgreSQL 15 server and headers, libpq, PgQ, pgbench, and clang-14
#         with libFuzzer and its sanitizer runtimes for the fuzz targets (tests/fuzz/run.sh;
#         libclang-rt-14-dev is only a recommendation of clang-14, so it is named here)
set -euo pipefail

demo_packages=(g++ cmake make pkg-config libsqlite3-dev sqlite3 libxxhash-dev nlohmann-json3-dev)
all_packages=("${demo_packages[@]}" xxhash python3 googletest libgtest-dev
              postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev postgresql-15-pgq3
              clang-14 libfuzzer-14-dev libclang-rt-14-dev)

case "${1:-all}" in
  demo) wanted=("${demo_packages[@]}") ;;
  all)  wanted=("${all_packages[@]}") ;;
  *) echo "usage: $0 [demo|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "Not root and no sudo: please run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
