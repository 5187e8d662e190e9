#!/usr/bin/env bash
# Builds the fuzz targets (clang-14 + libFuzzer, ASan + UBSan) in build-fuzz/ and runs each for
# a bounded time over a scratch copy of its seed corpus (tests/fuzz/corpus/<target>/).
# Any crash, sanitizer report or disagreement with the target's reference fails the run.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]      (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;; esac

build=build-fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DEXACTLY_ONCE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEXACTLY_ONCE_TESTS=OFF -DEXACTLY_ONCE_BENCH=OFF -DEXACTLY_ONCE_POSTGRES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
for target in ttl_parse json_validation dedup_key; do
  mkdir -p "$scratch/$target" "$scratch/$target-artifacts"
  cp tests/fuzz/corpus/"$target"/* "$scratch/$target/"
  echo "fuzz_$target: ${seconds}s"
  if "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
       -print_final_stats=1 -artifact_prefix="$scratch/$target-artifacts/" "$scratch/$target" \
       >"$scratch/$target.log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' "$scratch/$target.log" | tail -2
    passed=$((passed + 1))
  else
    tail -40 "$scratch/$target.log"
    for a in "$scratch/$target-artifacts"/*; do
      [ -e "$a" ] && { echo "input that failed ($a), as hex:"; od -An -tx1 "$a" | head -20; }
    done
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
