#!/usr/bin/env bash
# Forecasting real financial series against the published numbers and the naive forecast.
#   tests/bench/forecast.sh [BUILD_DIR] [--no-stream]
# 1. Offline, DLinear's protocol (look-back 336, chronological 0.7/0.1/0.2 split, z-scored with
#    the training part's statistics, early stopping on validation, lr halved per epoch): test
#    MSE/MAE of each petra arch on exchange-rate at horizons 96/192/336/720 and on ETTh1 at 96
#    (its 12/4/4-month split), beside the published Linear/NLinear/DLinear/Repeat numbers and
#    petra's own naive (last value) baseline on the same windows; one line per run (JSON), then
#    a table. ETTh1 also gets the int8 plan of its best model (a --genome run).
# 2. Streaming (unless --no-stream): a broker of its own, exchange-rate replayed as SeriesPoints,
#    petrad reading it once: the prequential MSE of its forecasts beside the naive forecast's,
#    and the skill (naive / model) at the end of the stream.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
stream=1
[ "${2:-}" = "--no-stream" ] && stream=0
data=$top/../shared/data
ex=$data/exchange-rate/exchange_rate.csv
ett=$data/ett/ETTh1.csv
work=$(mktemp -d /tmp/petra-forecast-XXXXXX)
trap '"$top/tests/kafka/broker.sh" stop "$work/kafka" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

run() { # NAME SET HORIZON SPEC ARGS...: one JSON line
  local name=$1 set=$2 h=$3 spec=$4 seed=1 a
  shift 4
  for a in "$@"; do [ "${prev:-}" = --seed ] && seed=$a; prev=$a; done
  prev=
  "$build/petra" train --spec "$spec" --quiet --json "$@" 2>/dev/null |
    python3 -c "
import json,sys
d={}
for l in sys.stdin:
    if l.startswith('{'): d.update(json.loads(l))  # the metrics line, then one per --genome
d.update(bench='forecast', set='$set', horizon=$h, arch='$name', seed=$seed); print(json.dumps(d))"
}

archs=("linear:arch=linear norm=last" "linear-zero:arch=linear norm=last init=zero"
       "dlinear:arch=dlinear norm=none" "dlinear-zero:arch=dlinear norm=last init=zero"
       "revin:arch=linear norm=revin" "dlinear-mean:arch=dlinear norm=none init=mean"
       "dlinear-revin:arch=dlinear norm=revin" "dlinear-huber:arch=dlinear norm=none loss=huber")
# LTSF-Linear's exchange-rate scripts: batch 8 at 96/192, 32 beyond; lr 0.0005, and 0.005 at
# 720 (the script of the paper's first release; its later one has 0.0005 there too)
for h in 96 192 336 720; do
  b=32 lr=0.0005
  [ "$h" -le 192 ] && b=8
  [ "$h" = 720 ] && lr=0.005
  for a in "${archs[@]}"; do
    run "${a%%:*}" exchange "$h" "ts window=336 horizon=$h ci=1 ${a#*:}" --csv "$ex" --split 0.7,0.1,0.2 \
      --epochs 10 --batch "$b" --lr "$lr" --lr-decay 0.5 --seed "${SEED:-1}" >> "$work/offline.jsonl"
    tail -n1 "$work/offline.jsonl"
  done
done
# five-member weight averages (--seeds 5: the members' mean forecast) of the two dlinear rows
for h in 96 192 336 720; do
  b=32 lr=0.0005
  [ "$h" -le 192 ] && b=8
  [ "$h" = 720 ] && lr=0.005
  for a in "dlinear-x5:arch=dlinear norm=none" "dlinear-mean-x5:arch=dlinear norm=none init=mean"; do
    run "${a%%:*}" exchange "$h" "ts window=336 horizon=$h ci=1 ${a#*:}" --csv "$ex" --split 0.7,0.1,0.2 \
      --epochs 10 --batch "$b" --lr "$lr" --lr-decay 0.5 --seed "${SEED:-1}" --seeds 5 >> "$work/offline.jsonl"
    tail -n1 "$work/offline.jsonl"
  done
done
for a in "${archs[@]}"; do
  run "${a%%:*}" etth1 96 "ts window=336 horizon=96 ci=1 ${a#*:}" --csv "$ett" --split 8640,2880,2880 \
    --epochs 10 --batch 32 --lr 0.005 --lr-decay 0.5 --seed "${SEED:-1}" >> "$work/offline.jsonl"
  tail -n1 "$work/offline.jsonl"
done
# ETTh1 with PatchTST/64's look-back (512; the test windows are the same 2,785: the split's
# borders do not move with the window), over seeds (ETT_SEEDS, default 1 2 3)
for a in "linear:arch=linear norm=last" "dlinear-revin:arch=dlinear norm=revin" \
         "dlinear-revin-huber:arch=dlinear norm=revin loss=huber"; do
  for sd in ${ETT_SEEDS:-1 2 3}; do
    run "${a%%:*}" etth1 96 "ts window=512 horizon=96 ci=1 ${a#*:}" --csv "$ett" --split 8640,2880,2880 \
      --epochs 10 --batch 32 --lr 0.005 --lr-decay 0.5 --seed "$sd" >> "$work/offline.jsonl"
    tail -n1 "$work/offline.jsonl"
  done
done
# the int8 plan of the model validation picks (lowest validation MSE; the hold-out is not looked at)
best=$(python3 -c "
import json
r=[json.loads(l) for l in open('$work/offline.jsonl') if '\"etth1\"' in l]
b=min(r, key=lambda d: d['val_mse']); print(b['spec'], '|', b.get('seed', 1))")
run "best+int8" etth1 96 "${best% |*}" --csv "$ett" --split 8640,2880,2880 \
  --epochs 10 --batch 32 --lr 0.005 --lr-decay 0.5 --seed "${best#*| }" --genome "head:bits=8" >> "$work/offline.jsonl"
tail -n1 "$work/offline.jsonl"

python3 - "$work/offline.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pub = {  # published test MSE / MAE (DLinear paper, Table 2; PatchTST for ETTh1)
    ("exchange", 96): {"Linear": (0.082, 0.207), "NLinear": (0.089, 0.208), "DLinear": (0.081, 0.203), "Repeat": (0.081, 0.196)},
    ("exchange", 192): {"Linear": (0.167, 0.304), "NLinear": (0.180, 0.300), "DLinear": (0.157, 0.293), "Repeat": (0.167, 0.289)},
    ("exchange", 336): {"Linear": (0.328, 0.432), "NLinear": (0.331, 0.415), "DLinear": (0.305, 0.414), "Repeat": (0.305, 0.396)},
    ("exchange", 720): {"Linear": (0.964, 0.750), "NLinear": (1.033, 0.780), "DLinear": (0.643, 0.601), "Repeat": (0.823, 0.681)},
    ("etth1", 96): {"NLinear": (0.374, 0.394), "DLinear": (0.386, 0.400), "PatchTST/64": (0.370, 0.400)},
}
import re
def window(r):
    m = re.search(r"window=(\d+)", r["spec"]); return int(m.group(1)) if m else 0
print()
print("| set | horizon | petra arch | window | seed | validation MSE | test MSE | test MAE | petra naive MSE | skill | published |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    p = pub.get((r["set"], r["horizon"]), {})
    ps = ", ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in p.items())
    head = f"| {r['set']} | {r['horizon']} | {r['arch']}"
    if "+int8" in r["arch"]:
        print(f"{head} plan | {window(r)} | {r['seed']} | | {r['plan_mse']:.4f} | {r['plan_mae']:.4f} | | "
              f"{r['naive_mse'] / r['plan_mse']:.3f} | int8 vs fp32: {100 * (r['plan_mse'] / r['mse'] - 1):+.2f}% MSE, "
              f"{r['plan_bytes']} bytes |")
        continue
    print(f"{head} | {window(r)} | {r['seed']} | {r['val_mse']:.4f} | {r['mse']:.4f} | {r['mae']:.4f} | "
          f"{r.get('naive_mse', 0):.4f} | {r.get('skill', 0):.3f} | {ps} |")
# What a user choosing by validation gets: per set and horizon, the run with the lowest
# validation MSE (the hold-out not looked at), against the issue's target.
target = {("exchange", 96): 0.081, ("exchange", 192): 0.167, ("exchange", 336): 0.305,
          ("exchange", 720): 0.643, ("etth1", 96): 0.370}
print()
print("| set | horizon | validation picks | window | seed | test MSE | naive | skill | target | met |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for key in target:
    cand = [r for r in rows if (r["set"], r["horizon"]) == key and "+int8" not in r["arch"]]
    if not cand: continue
    b = min(cand, key=lambda r: r["val_mse"])
    print(f"| {key[0]} | {key[1]} | {b['arch']} | {window(b)} | {b['seed']} | {b['mse']:.4f} | {b['naive_mse']:.4f} | "
          f"{b['skill']:.3f} | {target[key]:.3f} | {'yes' if round(b['mse'], 3) <= target[key] else 'no'} |")
PY
[ "$stream" = 1 ] || exit 0

# 2. streaming through a real broker
"$top/tests/kafka/broker.sh" start "$work/kafka" > /dev/null
bs=$(cat "$work/kafka/bootstrap")
t=fc-$$
"$build/petra" replay --csv "$ex" --brokers "$bs" --topic "$t.series" --kind series --time date --series-id fx \
  2> "$work/replay.log"
n=$(grep -o '[0-9]* messages' "$work/replay.log" | head -n1 | cut -d' ' -f1)
for a in "linear-zero:arch=linear norm=last init=zero" "dlinear-zero:arch=dlinear norm=last init=zero"; do
  "$build/petrad" --quiet --control-socket '' --state-dir "$work/state-${a%%:*}" --set kafka.brokers="$bs" \
    --set kafka.group_id="$t-${a%%:*}" --set "model.spec=ts window=336 horizon=96 channels=8 ci=1 ${a#*:}" \
    --set topics.series="$t.series" --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" \
    --set topics.deadletter="$t.dead" --set trainer.lr=0.0005 --set trainer.metrics_window=100000 \
    --set evolution.interval_s=3600 --run-for 40 > "$work/stream.out" 2> "$work/stream.err"
  tail -n1 "$work/stream.out" | python3 -c "
import json,sys; d=json.loads(sys.stdin.read())
print(json.dumps({'bench':'forecast_stream','set':'exchange','arch':'${a%%:*}','points':$n,'events':d['events'],
  'examples':d['examples'],'prequential_mse':d['metric'],'naive_mse':d['naive_metric'],'skill':d['skill']}))"
done
