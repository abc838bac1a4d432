#!/usr/bin/env bash
# Compression table for the ETTh1 forecaster (h=96, the linear channel-independent model of
# the README's ETTh1 row): trains it once per genome with `petra train --genome` (seeds
# fixed, so the fp32 model is the same each time) and prints one JSON line per genome in the
# format of `petra bench compress`.
#   tests/bench/compress_etth1.sh [BUILD_DIR] [ETTh1.csv]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
csv=${2:-$top/../shared/data/ett/ETTh1.csv}
for g in "head:bits=32" "head:bits=8" "head:bits=4" "head:rank=0.25" "head:rank=0.25,bits=8"; do
  "$build/petra" train --spec "ts window=336 horizon=96 arch=linear ci=1 norm=last" --csv "$csv" \
    --split 8640,2880,2880 --epochs 10 --batch 32 --lr 0.005 --lr-decay 0.5 --genome "$g" --json 2>/dev/null |
    python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
base, plan = rows[0], rows[1]
g = plan["genome"]
print(json.dumps({"bench": "compress", "preset": "etth1", "genome": "fp32" if g == "head:bits=32" else g,
                  "bytes": plan["plan_bytes"], "p50_us": plan["p50_us"], "p99_us": plan["p99_us"],
                  "throughput_per_s": plan["throughput_per_s"], "metric": round(plan["plan_mse"], 6),
                  "metric_name": "mse", "fp32_mse": round(base["mse"], 6),
                  "mse_change_pct": round(100 * (plan["plan_mse"] / base["mse"] - 1), 3)}))'
done
