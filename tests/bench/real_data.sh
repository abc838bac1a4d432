#!/usr/bin/env bash
# The real-data benchmark: petra on the UCI card-default and CDNOW repurchase data with their
# columns as the files have them (no hand scaling), beside peers on the same entity split.
#
#   tests/bench/real_data.sh [--quick] [--sets uci,cdnow] [--out DIR] [--seeds N] [--cores "C C.."]
#
# Per set, in one run:
#   offline    petra train --save (10 epochs) on the train entities; hold-out AUC
#   scaled     the same with the numeric columns log-scaled by hand and petra's normalization
#              off (--transform ...=raw): raw vs hand-scaled should agree
#   score      petra score --snapshot (the saved file) --as-of the label time on the hold-out
#              entities' events: the AUC a scoring pipeline gets (equals offline)
#   evolve     petra evolve --csv --save: the champion's hold-out AUC, bytes and p99 beside fp32
#   petrad     one pass over a real Kafka broker (train entities' events, then their labels
#              through petra replay --kind labels); prequential AUC at the end, and the newest
#              published snapshot scored on the hold-out entities
#   cores      with --cores (e.g. "lstm=64 tf=2:4:32"): one more petrad pass with them as
#              evolution.cores (a trial every 10 s): the core it ends on, its trials, and its
#              newest snapshot on the hold-out entities
#   peers      tests/bench/real_data_peers.py: logistic regression, XGBoost, a PyTorch GRU of
#              the same architecture (what is installed; deploy/install-deps.sh --bench)
# The split: an entity is held out when FNV-1a 64 of its id is 0 mod 5 (petra train's and the
# peers'). --quick: the first 3,000 entities of each set, fewer epochs and steps, no PyTorch
# (what CI runs, tests/integration/real_data.sh). Prints a table and writes DIR/summary.json.
# Environment: PETRA_BIN (build dir, default build/), PETRA_KAFKA_DIR (a running test broker's
# directory; otherwise one is started in DIR/kafka and stopped at the end).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PETRA_BIN:-$top/build}
py=/usr/bin/python3
quick=0 sets=uci,cdnow out="" seeds=1 cores=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --sets) sets=$2; shift ;;
    --out) out=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    --cores) cores=$2; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "real_data.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$out" ] || out=$(mktemp -d /tmp/petra-real-data.XXXXXX)
mkdir -p "$out"
log() { printf 'real_data: %s\n' "$*" >&2; }
if [ "$quick" = 1 ]; then limit=3000 epochs=6 steps=20 peer_flags="--no-torch" settle=12
else limit=0 epochs=10 steps=60 peer_flags="" settle=75; fi

log "preparing the data in $out/data"
$py "$top/tests/data/prepare.py" --out "$out/data" --limit "$limit" --split --scaled 2> "$out/prepare.log"
d=$out/data

own_broker=0
if [ -n "${PETRA_KAFKA_DIR:-}" ] && [ -f "$PETRA_KAFKA_DIR/bootstrap" ]; then
  bs=$(cat "$PETRA_KAFKA_DIR/bootstrap")
else
  "$top/tests/kafka/broker.sh" fetch >&2
  bs=$("$top/tests/kafka/broker.sh" start "$out/kafka")
  own_broker=1
fi
cleanup() { [ "$own_broker" = 1 ] && "$top/tests/kafka/broker.sh" stop "$out/kafka" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# AUC of a petra score CSV (entity_id,...,score) against a labels CSV, rank-based (no sklearn)
auc() { # scores.csv labels.csv entity_col label_col
  $py - "$@" <<'EOF'
import csv, sys
scores = {r["entity_id"]: float(r["score"]) for r in csv.DictReader(open(sys.argv[1]))}
lab = {r[sys.argv[3]]: float(r[sys.argv[4]]) for r in csv.DictReader(open(sys.argv[2]))}
pairs = sorted((scores[k], lab[k]) for k in lab if k in scores)
# average ranks over ties, then Mann-Whitney U
ranks, i = [0.0] * len(pairs), 0
while i < len(pairs):
    j = i
    while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
        j += 1
    for k in range(i, j + 1):
        ranks[k] = (i + j) / 2 + 1
    i = j + 1
pos = sum(1 for _, y in pairs if y == 1)
neg = len(pairs) - pos
u = sum(r for r, (_, y) in zip(ranks, pairs) if y == 1) - pos * (pos + 1) / 2
print(f"{u / (pos * neg):.6f} {len(pairs)}" if pos and neg else f"nan {len(pairs)}")
EOF
}
jget() { $py -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2"; }

# per set: spec, column flags, label columns, config
. "$top/tests/bench/real_data_sets.sh"

# petrad_pass TOPIC NAME [--set ...]: one pass over TOPIC's events and labels with the set's
# config; sets pass_preq, pass_examples and pass_snap_auc (the newest snapshot on the hold-out)
petrad_pass() {
  local t=$1 name=$2
  shift 2
  local g=$t-$name pd=$r/petrad-$name
  mkdir -p "$pd"
  "$bin/petrad" --quiet --config "$conf" --state-dir "$pd/state" --control-socket "$pd/ctl.sock" \
    --set kafka.brokers="$bs" --set kafka.group_id="$g" --set consumer.auto.offset.reset=earliest \
    --set topics.events="$t.events" --set topics.labels="$t.labels" --set topics.snapshots="$g.snapshots" \
    --set topics.metrics="$g.metrics" --set topics.deadletter="$g.dead" --set snapshot.interval_s=2 \
    --set evolution.interval_s=3 "$@" --run-for 600 > "$pd/out" 2> "$pd/err" &
  local pid=$!
  # one pass: every label joined and trained, then evolution steps and snapshots for $settle s
  local t0 done_at=0 last_ex=-1 still=0 st ex
  t0=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    st=$("$bin/petractl" --socket "$pd/ctl.sock" --json status 2>/dev/null || true)
    [ -n "$st" ] || continue
    printf '%s\n' "$st" > "$pd/status.json" # the last status: the core search's state
    ex=$(jget "$st" "d.get('examples', 0)" 2>/dev/null || echo 0)
    if [ "$ex" = "$last_ex" ]; then still=$((still + 1)); else still=0 last_ex=$ex; fi
    # every label trained, or no new example for 10 s (labels without events are not examples)
    if [ "$done_at" = 0 ] && { [ "$ex" -ge "$n_labels" ] || { [ "$ex" -gt 0 ] && [ "$still" -ge 10 ]; }; }; then
      done_at=$(date +%s)
    fi
    # then let the evolution re-measure its population on the final weights: a champion is
    # published only while it is within tolerance of the current uncompressed model
    if [ "$done_at" != 0 ] && [ $(( $(date +%s) - done_at )) -ge "$settle" ]; then break; fi
    if [ $(( $(date +%s) - t0 )) -ge $(( quick ? 90 : 300 )) ]; then log "$set: petrad did not see every label in time"; break; fi
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || { log "$set: petrad exited with $?"; exit 1; }
  local pj
  pj=$(tail -n1 "$pd/out")
  pass_preq=$(jget "$pj" "d['metric']")
  pass_examples=$(jget "$pj" "d['examples']")
  "$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$g.snapshots" --save "$pd/newest.snap" > "$pd/inspect.txt"
  "$bin/petra" score --config "$conf" --snapshot "$pd/newest.snap" --csv "$d/$ev-test.csv" "${cols[@]}" \
    --as-of "$at" --out "$pd/scores.csv" > /dev/null
  read -r pass_snap_auc _ <<< "$(auc "$pd/scores.csv" "$d/$lb-test.csv" "$ent" "$labcol")"
}

summary="$out/summary.json"
: > "$summary"
IFS=, read -r -a set_list <<< "$sets"
for set in "${set_list[@]}"; do
  "set_$set"
  r=$out/$set
  mkdir -p "$r"
  labels=(--labels "$d/$lb.csv" --label-entity "$ent" --label-column "$labcol" --label-time time)
  log "$set: petra train (raw columns), $seeds seed(s)"
  off_auc=()
  for s in $(seq 1 "$seeds"); do
    j=$("$bin/petra" train --spec "$spec" --csv "$d/$ev.csv" "${cols[@]}" "${feat[@]}" "${labels[@]}" \
         --epochs "$epochs" --seed "$s" --json --quiet --save "$r/offline-$s.snap" | tail -n1)
    off_auc+=("$(jget "$j" "d['auc']")")
  done
  off=$(printf '%s\n' "${off_auc[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  j=$("$bin/petra" train --spec "$spec" --csv "$d/$ev-scaled.csv" "${cols[@]}" "${feat[@]}" "${labels[@]}" \
       --transform "$rawt" --epochs "$epochs" --seed 1 --json --quiet | tail -n1)
  scaled=$(jget "$j" "d['auc']")
  log "$set: petra score on the saved snapshot"
  "$bin/petra" score --config "$conf" --snapshot "$r/offline-1.snap" --csv "$d/$ev-test.csv" "${cols[@]}" \
    --as-of "$at" --out "$r/offline-scores.csv" > "$r/score.json"
  read -r score_auc score_n <<< "$(auc "$r/offline-scores.csv" "$d/$lb-test.csv" "$ent" "$labcol")"
  log "$set: petra evolve --csv ($steps steps)"
  ej=$("$bin/petra" evolve --spec "$spec" --csv "$d/$ev.csv" "${cols[@]}" "${feat[@]}" "${labels[@]}" \
        --epochs "$epochs" --steps "$steps" --json --quiet --save "$r/champion.snap" --svg "$r/pareto.svg" \
        2> "$r/evolve.log" | tail -n1)
  "$bin/petra" score --config "$conf" --snapshot "$r/champion.snap" --csv "$d/$ev-test.csv" "${cols[@]}" \
    --as-of "$at" --out "$r/champion-scores.csv" > /dev/null
  read -r champ_score_auc _ <<< "$(auc "$r/champion-scores.csv" "$d/$lb-test.csv" "$ent" "$labcol")"

  log "$set: petrad, one pass over the real broker"
  t=rd-$set-$$-$RANDOM
  "$bin/petra" replay --csv "$d/$ev-train.csv" --brokers "$bs" --topic "$t.events" "${cols[@]}" 2> "$r/replay.log"
  "$bin/petra" replay --kind labels --csv "$d/$lb-train.csv" --brokers "$bs" --topic "$t.labels" \
    --entity "$ent" --time time --value "$labcol" 2>> "$r/replay.log"
  n_labels=$(($(wc -l < "$d/$lb-train.csv") - 1))
  petrad_pass "$t" main
  preq=$pass_preq p_examples=$pass_examples snap_auc=$pass_snap_auc
  fp32_snap_auc=null
  if [ "$quick" = 0 ]; then # the same pass without evolution: the uncompressed model's snapshot
    petrad_pass "$t" fp32 --set evolution.interval_s=86400
    fp32_snap_auc=$pass_snap_auc
  fi
  cores_json=null
  if [ -n "$cores" ]; then
    log "$set: petrad with evolution.cores = $cores"
    petrad_pass "$t" cores --set "evolution.cores=$cores" --set evolution.core_trial_interval_s=10
    cores_json=$(jget "$(cat "$r/petrad-cores/status.json")" \
      "json.dumps(dict(d['core'], prequential_auc=d['metric'], snapshot_auc=float('$pass_snap_auc')))" 2>/dev/null || echo null)
    grep -o 'core_trial.*\|core_changed.*' "$r/petrad-cores/err" | cut -c1-240 >&2 || true
  fi

  log "$set: peers"
  $py "$top/tests/bench/real_data_peers.py" --dir "$d" --sets "$set" --epochs "$epochs" $peer_flags \
    > "$r/peers.jsonl" 2> "$r/peers.log" || log "$set: peers failed (see $r/peers.log)"

  $py - "$set" "$off" "$scaled" "$score_auc" "$score_n" "$ej" "$champ_score_auc" "$preq" "$p_examples" \
      "$n_labels" "$snap_auc" "$r/peers.jsonl" "${off_auc[*]}" "$fp32_snap_auc" "$cores_json" >> "$summary" <<'EOF'
import json, sys
(set_, off, scaled, score_auc, score_n, ej, champ_auc, preq, pex, nlab, snap_auc, peers_path, seeds,
 fp32_snap, cores) = sys.argv[1:]
ev = json.loads(ej)
peers = {}
for line in open(peers_path):
    try:
        p = json.loads(line)
        peers[p["peer"]] = p.get("auc")
    except ValueError:
        pass
print(json.dumps({"set": set_, "offline_auc": float(off), "offline_auc_seeds": [float(x) for x in seeds.split()],
                  "hand_scaled_auc": float(scaled), "score_auc": float(score_auc), "score_entities": int(score_n),
                  "evolve": ev["holdout"], "champion_score_auc": float(champ_auc),
                  "petrad_prequential_auc": float(preq), "petrad_examples": int(pex), "labels": int(nlab),
                  "petrad_snapshot_auc": float(snap_auc),
                  "petrad_fp32_snapshot_auc": None if fp32_snap == "null" else float(fp32_snap), "peers": peers,
                  "petrad_cores": json.loads(cores)}))
EOF
done

$py - "$summary" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(x):
    return "-" if x is None else f"{x:.4f}"
print("| set | petra offline | hand-scaled | petra score (file) | petrad prequential | petrad snapshot "
      "(champion / fp32) | evolve champion AUC | champion bytes | champion p99 | logreg | xgboost | torch GRU |")
print("| --- " * 12 + "|")
for r in rows:
    e, p = r["evolve"], r["peers"]
    lr = p.get("logreg", p.get("logreg_rfm"))
    xg = p.get("xgboost", p.get("xgboost_rfm"))
    print(f"| {r['set']} | {f(r['offline_auc'])} | {f(r['hand_scaled_auc'])} | {f(r['score_auc'])} | "
          f"{f(r['petrad_prequential_auc'])} | {f(r['petrad_snapshot_auc'])} / {f(r['petrad_fp32_snapshot_auc'])} | "
          f"{f(e['champion']['metric'])} (fp32 {f(e['fp32']['metric'])}) | "
          f"{e['champion']['bytes']:.0f} ({100 * e['size_ratio']:.1f}%) | "
          f"{e['champion']['p99_us']:.1f} us ({100 * e['p99_ratio']:.0f}%) | {f(lr)} | {f(xg)} | {f(p.get('torch_gru'))} |")
EOF
$py - "$summary" <<'EOF'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip()):
    c = r.get("petrad_cores")
    if not c:
        continue
    rows = ", ".join(f"{t['core']} {t['metric']:.4f}" + (" (live)" if t["live"] else "") for t in c.get("last_trial") or [])
    print(f"{r['set']}: petrad with evolution.cores ended on {c['live']} after {c['trials']} trial(s), "
          f"{c['switches']} switch(es); last trial: {rows}; prequential {c['prequential_auc']:.4f}, "
          f"snapshot on the hold-out {c['snapshot_auc']:.4f}")
EOF
log "summary: $summary"
