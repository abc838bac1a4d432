#!/usr/bin/env bash
# The fuzz targets under AFL++ (not in the default test run): builds build-afl/ with
# afl-clang-fast (ASan+UBSan) and runs afl-fuzz on one target from its seed corpus.
#   tests/fuzz/afl.sh [wire|text|state] [SECONDS=60]     (apt-get install afl++)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:-wire}
secs=${2:-60}
cd "$top"
command -v afl-clang-fast >/dev/null || { echo "afl-clang-fast not found: apt-get install afl++" >&2; exit 1; }
CC=afl-clang-fast cmake -S . -B build-afl -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPETRA_FUZZ_AFL=ON \
  -DPETRA_SANITIZE="address;undefined" -DPETRA_BUILD_TESTS=OFF > /dev/null
cmake --build build-afl -j "$(nproc 2>/dev/null || echo 2)" --target "afl_$target" > /dev/null
out=$(mktemp -d)
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_BENCH_UNTIL_CRASH=1 \
  afl-fuzz -V "$secs" -i "tests/fuzz/corpus/$target" -o "$out" -- "build-afl/afl_$target" > "$out.log" 2>&1 || true
stats=$out/default/fuzzer_stats
[ -f "$stats" ] || { tail -20 "$out.log"; exit 1; }
grep -E "^(execs_done|execs_per_sec|saved_crashes|saved_hangs|corpus_count) " "$stats"
crashes=$(awk '/^saved_crashes/{print $3}' "$stats")
[ "$crashes" = 0 ] || { echo "crashes in $out/default/crashes"; exit 1; }
rm -rf "$out" "$out.log"
