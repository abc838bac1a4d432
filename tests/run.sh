#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine:
#   1. install the Debian packages (deploy/install-deps.sh),
#   2. fetch the Kafka broker's jars from Maven Central (cached outside the tree),
#   3. build the shipped programs with clang (Release, -Werror), build the Release .deb (deploy/package.sh, -Werror) and, as root, install it, check the
#      installed programs, conffile, unit and pkg-config file, and remove it
#      (deploy/verify-package.sh); configure + build with -Werror and run every ctest test
#      (unit, CLI, and integration
#      tests against a real Kafka broker that ctest's fixture starts and stops on 127.0.0.1),
#   4. build again with ASan+UBSan and run the unit and CLI tests there, then the end-to-end
#      test and the scoring-parity test (leak detection on, real broker; the scale-out test,
#      five scorer runs with a kill, runs in step 3 only: 104 s under ASan, the run's length),
#   5. build the hot-swap stress test with TSan and run it,
#   6. build the libFuzzer targets (clang) and run each briefly from its seed corpus.
# Usage: tests/run.sh [--no-sanitize]   (build dirs: build/, build-clang/, build-asan/ in the repo root)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
t0=$(date +%s)

stage() { printf '\n==== %s (%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }

stage "dependencies"
deploy/install-deps.sh
tests/kafka/broker.sh fetch

cleanup() { tests/kafka/broker.sh stop "$top/build/kafka" >/dev/null 2>&1 || true; }
trap cleanup EXIT

stage "build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPETRA_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

stage "build (clang, Release, -Werror): the shipped programs and library"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DPETRA_WERROR=ON >/dev/null
cmake --build build-clang -j "$jobs" --target petrad petra petractl petra_shared petra_static

stage "package: deploy/package.sh (Release, -O3, -Werror), installed, checked, removed"
deb=$(deploy/package.sh)
if [ "$(id -u)" -eq 0 ]; then
  deploy/verify-package.sh "$deb"
else
  echo "package built ($deb); installing it to check needs root: run deploy/verify-package.sh $deb as root"
fi

stage "tests: unit and cli (both cores)"
(cd build && ctest --output-on-failure -L unit -j "$jobs")
stage "tests: integration (real Kafka broker, one at a time)"
(cd build && ctest --output-on-failure -LE unit -j 1)

if [ "${1:-}" != "--no-sanitize" ]; then
  stage "build (ASan+UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPETRA_SANITIZE="address;undefined" >/dev/null
  cmake --build build-asan -j "$jobs"
  stage "tests under ASan+UBSan: unit"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -L unit -j "$jobs")
  stage "end to end under ASan+UBSan with leak detection (real Kafka broker)"
  # petrad, petra score/gen/inspect run sanitized here: a leak makes them exit nonzero
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -R 'petrad_e2e|score_parity\.petra_score_matches' -j 1)
fi
if [ "${1:-}" != "--no-sanitize" ]; then
  stage "build (TSan): the hot-swap holder's stress test"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPETRA_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j "$jobs" --target test_holder
  (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R '^holder\.')
  stage "fuzz targets (clang libFuzzer + ASan/UBSan), ${PETRA_FUZZ_SECONDS:-20}s each"
  tests/fuzz/run.sh "${PETRA_FUZZ_SECONDS:-20}"
fi
stage "all tests passed"
