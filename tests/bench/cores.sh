#!/usr/bin/env bash
# The seq model's recurrent cores on real event data (UCI card default, CDNOW repurchase; raw
# columns, the real-data benchmark's entity split): per core kind, petra train's hold-out AUC
# (median of --seeds runs) and training examples/s, the fp32 snapshot's bytes and batch-1 p99
# (petra bench plan), and petra evolve's champion on the hold-out (AUC, bytes, p99) beside its
# fp32 model.
#
#   tests/bench/cores.sh [--sets uci,cdnow] [--cores "gru=64 lstm=64 gru=64,32 tf=2:4:32 ..."]
#                        [--seeds N] [--steps N] [--out DIR]
#
# Each core (space-separated; + stands for a space inside one: tf=2:4:32+pool=mean) replaces
# the config's gru=64. Prints a table and writes DIR/cores.jsonl. About 12 minutes for the
# default list. Environment: PETRA_BIN (build dir, default build/). No broker needed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PETRA_BIN:-$top/build}
py=/usr/bin/python3
sets=uci,cdnow cores="gru=64 lstm=64 rnn=64 gru=64,32 lstm=64,32 rnn=64,32 tf=2:4:32 tf=2:4:32+pool=mean" seeds=3 steps=60 out="" epochs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --sets) sets=$2; shift ;;
    --cores) cores=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    --steps) steps=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "cores.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$out" ] || out=$(mktemp -d /tmp/petra-cores.XXXXXX)
mkdir -p "$out"
log() { printf 'cores: %s\n' "$*" >&2; }
log "preparing the data in $out/data"
$py "$top/tests/data/prepare.py" --out "$out/data" --limit 0 --split 2> "$out/prepare.log"
d=$out/data
. "$top/tests/bench/real_data_sets.sh"
: > "$out/cores.jsonl"
IFS=, read -r -a set_list <<< "$sets"
read -r -a core_list <<< "$cores"
for set in "${set_list[@]}"; do
  "set_$set"
  labels=(--labels "$d/$lb.csv" --label-entity "$ent" --label-column "$labcol" --label-time time)
  for core in "${core_list[@]}"; do
    cspec=${spec/gru=64/${core//+/ }}
    r=$out/$set-${core//[=,:+]/_}
    mkdir -p "$r"
    log "$set $core: petra train x$seeds"
    for s in $(seq 1 "$seeds"); do
      "$bin/petra" train --spec "$cspec" --csv "$d/$ev.csv" "${cols[@]}" "${feat[@]}" "${labels[@]}" \
        --epochs "$epochs" --seed "$s" --json --quiet --save "$r/fp32-$s.snap" | tail -n1 > "$r/train-$s.json"
    done
    "$bin/petra" bench plan --snapshot "$r/fp32-1.snap" --batch 1 --seconds 2 | tail -n1 > "$r/plan.json"
    log "$set $core: petra evolve ($steps steps)"
    "$bin/petra" evolve --spec "$cspec" --csv "$d/$ev.csv" "${cols[@]}" "${feat[@]}" "${labels[@]}" \
      --epochs "$epochs" --steps "$steps" --json --quiet --save "$r/champion.snap" 2> "$r/evolve.log" |
      tail -n1 > "$r/evolve.json" || true
    $py - "$set" "$core" "$r" "$seeds" "$epochs" >> "$out/cores.jsonl" <<'PY'
import json, statistics, sys
set_, core, r, seeds, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tr = [json.load(open(f"{r}/train-{s}.json")) for s in range(1, seeds + 1)]
plan = json.load(open(f"{r}/plan.json"))
try:
    ev = json.load(open(f"{r}/evolve.json"))["holdout"]
except (ValueError, KeyError):
    ev = None  # no champion met the budget within the tolerance (petra evolve said why)
print(json.dumps({"set": set_, "core": core, "auc": statistics.median(t["auc"] for t in tr),
                  "auc_seeds": [t["auc"] for t in tr],
                  "train_examples_per_s": statistics.median(t["train"] * epochs / t["seconds"] for t in tr),
                  "bytes": plan["bytes"], "p99_us": plan["batch1_p99_us"], "p50_us": plan["batch1_p50_us"],
                  "evolve": ev}))
PY
  done
done
$py - "$out/cores.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| set | core | AUC (median) | seeds | train ex/s | fp32 bytes | batch-1 p50 / p99 | champion AUC (its fp32) | champion bytes | champion p99 |")
print("| --- " * 10 + "|")
for r in rows:
    e = r["evolve"]
    ch = ("none within tolerance", "-", "-") if e is None else (
        f"{e['champion']['metric']:.4f} ({e['fp32']['metric']:.4f})", f"{e['champion']['bytes']:.0f}",
        f"{e['champion']['p99_us']:.1f} us")
    print(f"| {r['set']} | {r['core']} | {r['auc']:.4f} | {' '.join(f'{a:.4f}' for a in r['auc_seeds'])} | "
          f"{r['train_examples_per_s']:.0f} | {r['bytes']} | {r['p50_us']:.1f} / {r['p99_us']:.1f} us | {ch[0]} | {ch[1]} | {ch[2]} |")
PY
log "rows: $out/cores.jsonl"
