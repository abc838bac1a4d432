#!/usr/bin/env bash
# Compression table for the ETTh1 forecaster (h=96, the linear channel-independent model of
# the README's ETTh1 row): `petra bench compress --preset etth1` trains it once (seeds fixed)
# and prints one JSON line per genome (fp32, int8, int4, rank 0.25, rank 0.25 + int8) with
# size, batch-1 p50/p99, batch-64 throughput, hold-out MSE and its change against fp32.
#   tests/bench/compress_etth1.sh [BUILD_DIR] [ETTh1.csv]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
csv=${2:-$top/../shared/data/ett/ETTh1.csv}
exec "$build/petra" bench compress --preset etth1 --csv "$csv"
