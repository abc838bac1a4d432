#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan + UBSan (build-fuzz/) and runs each for
# SECONDS (default 20), and on to MIN_RUNS executions (default 10^6) if it has not reached them,
# from its seed corpus in tests/fuzz/corpus/<target>. New inputs go to a
# scratch corpus outside the tree; a crash leaves its reproducer in build-fuzz/ and fails.
#   tests/fuzz/run.sh [SECONDS]        (tests/fuzz/run-long.sh runs for hours)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-20}
cd "$top"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPETRA_FUZZ=ON \
  -DPETRA_SANITIZE="address;undefined" -DPETRA_BUILD_TESTS=OFF -DPETRA_WERROR=ON >/dev/null
cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" --target fuzz_wire fuzz_text fuzz_state >/dev/null
status=0
for t in wire text state; do
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  echo "fuzz_$t: ${secs}s"
  if ! (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
        ./fuzz_$t -max_total_time="$secs" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        "$work" 2> "fuzz_$t.log"); then
    echo "fuzz_$t FAILED:"; tail -n 40 "build-fuzz/fuzz_$t.log"; status=1
  fi
  done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/fuzz_$t.log")
  # at least MIN_RUNS executions per target (the slower snapshot paths need more than SECONDS)
  more=$(( ${MIN_RUNS:-1000000} - ${done_runs:-0} ))
  if [ "$status" = 0 ] && [ "$more" -gt 0 ]; then
    if ! (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
          ./fuzz_$t -runs="$more" -max_total_time=300 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
          "$work" 2> "fuzz_$t.more.log"); then
      echo "fuzz_$t FAILED:"; tail -n 40 "build-fuzz/fuzz_$t.more.log"; status=1
    fi
    done_runs=$(( done_runs + $(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/fuzz_$t.more.log") ))
  fi
  echo "  fuzz_$t executions: $done_runs"
  grep -E "stat::peak_rss_mb" "build-fuzz/fuzz_$t.log" | sed "s/^/  fuzz_$t /"
  rm -rf "$work"
done
exit $status
