#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds everything, runs every
# test with CTest. Usage: scripts/test.sh [--sanitize]
#   --sanitize  build in build-asan/ with AddressSanitizer + UBSan and run the suite there
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
cmake_args=(-DEXACTLY_ONCE_TESTS=ON)
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  cmake_args+=(-DEXACTLY_ONCE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DEXACTLY_ONCE_BENCH=OFF)
fi

scripts/install-deps.sh all
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)"
