#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs the main job: petrad on its embedded default
# (librdkafka's in-process mock cluster + the built-in generator). Extra arguments go to
# petrad, e.g. deploy/run.sh --run-for 60.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deploy/install-deps.sh --runtime >/dev/null
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build/petrad --embedded "$@"
