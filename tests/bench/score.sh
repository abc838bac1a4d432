#!/usr/bin/env bash
# `petra score` throughput with a compressed (int8) champion, real broker on loopback.
# petrad trains on generated transactions (two partitions) with fast evolution until it
# publishes a champion with 8-bit layers; then petra score scores every event from the start
# of the topic with it, with one scoring thread and with two (--threads 2), interleaved, three
# runs each (medians); beside them, from the same run, the champion's plan alone at batch 64
# (petra bench plan) and petrad's ingest limit on the same topic (consume + decode + features,
# trainer idle). Prints one JSON line per run and a summary line with the ratios.
#   tests/bench/score.sh [BUILD_DIR] [RECORDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
records=${2:-400000}
tmp=$(mktemp -d)
kdir=$tmp/kafka
trap '"$top/tests/kafka/broker.sh" stop "$kdir" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
"$top/tests/kafka/broker.sh" start "$kdir" > "$tmp/broker.log" 2>&1
bs=$(cat "$kdir/bootstrap")
cat > "$tmp/petrad.conf" <<CONF
kafka.brokers = $bs
state.dir = $tmp/state
evolution.interval_s = 0.5
snapshot.interval_s = 3600
consumer.auto.offset.reset = earliest
CONF
"$build/petra" gen --count "$records" --seed 3 --partitions 2 --brokers "$bs" --events-topic petra.events \
  --labels-topic petra.labels 2>> "$tmp/gen.log"
# evolution needs replay + hold-out first; stop once a champion with int8 layers is out
"$build/petrad" --config "$tmp/petrad.conf" --control-socket "$tmp/ctl.sock" --quiet --run-for 300 \
  > "$tmp/petrad.out" 2> "$tmp/petrad.err" &
pid=$!
genome=""
for i in $(seq 1 150); do
  sleep 2
  genome=$( (grep -o 'champion_changed.*genome="[^"]*"' "$tmp/petrad.err" || true) | tail -n1 | sed 's/.*genome="//; s/"$//')
  case "$genome" in *bits=8*) sleep 3; break ;; esac
done
kill -TERM $pid; wait $pid || true
case "$genome" in *bits=8*) ;; *) echo "no int8 champion within 300 s" >&2; exit 1 ;; esac
"$build/petra" inspect --from-kafka --brokers "$bs" --topic petra.snapshots --wait 20 --json --save "$tmp/champion.snap" \
  > "$tmp/inspect.json"
# one pass first, not counted: the broker's JVM compiles its fetch path during the first reads
# of the topic (the first pass ran 25-40% slower here)
"$build/petra" score --config "$tmp/petrad.conf" --start earliest --exit-at-end --output-topic petra.scores.warmup \
  --group score-warmup --wait-snapshot 60 > /dev/null 2> "$tmp/score.warmup.err"
for run in 1 2 3; do
  for th in 1 2; do
    "$build/petra" score --config "$tmp/petrad.conf" --start earliest --exit-at-end --output-topic "petra.scores.$run.$th" \
      --group "score-$run-$th" --threads "$th" --wait-snapshot 60 > "$tmp/score.$run.$th.json" 2> "$tmp/score.$run.$th.err"
    tail -n1 "$tmp/score.$run.$th.json"
  done
done
"$build/petra" bench plan --snapshot "$tmp/champion.snap" --batch 64 > "$tmp/plan.json"
cat "$tmp/plan.json"
# petrad's ingest limit on the same topic: a group of its own, no labels (the trainer idle)
"$build/petrad" --quiet --control-socket "$tmp/ctl2.sock" --state-dir "$tmp/state2" --set kafka.brokers="$bs" \
  --set topics.labels=score-labels-empty --set kafka.group_id=score-ingest --set kafka.poll_budget=20000 \
  --run-for $(( records / 150000 + 8 )) > "$tmp/ingest.json" 2> "$tmp/ingest.err"
python3 - "$tmp" "$genome" <<'PY'
import json, statistics, sys
tmp, genome = sys.argv[1], sys.argv[2]
last = lambda f: json.loads(open(f).read().strip().splitlines()[-1])
runs = {th: [last(f"{tmp}/score.{r}.{th}.json") for r in (1, 2, 3)] for th in (1, 2)}
med = {th: statistics.median(d["events_per_s"] for d in runs[th]) for th in (1, 2)}
plan, ing, insp = last(f"{tmp}/plan.json"), last(f"{tmp}/ingest.json"), last(f"{tmp}/inspect.json")
s = runs[1][-1]
print(json.dumps({"bench": "score", "genome": insp.get("genome", genome), "snapshot_version": s["model_version"],
                  "snapshot_bytes": insp.get("size_bytes", insp.get("bytes")), "scored": s["scored"],
                  "score_events_per_s_1thread": med[1], "score_events_per_s_2threads": med[2],
                  "threads2_over_1": round(med[2] / med[1], 2),
                  "plan_batch64_examples_per_s": plan["examples_per_s"],
                  "score_over_plan": round(med[1] / plan["examples_per_s"], 2),
                  "petrad_ingest_events_per_s": ing["ingest_events_per_s"],
                  "score_over_ingest": round(med[1] / ing["ingest_events_per_s"], 2),
                  "batch_mean": s.get("batch_mean"), "swap_p50_ms": s["swap_p50_ms"], "swap_max_ms": s["swap_max_ms"],
                  "snapshots_loaded": s["snapshots_loaded"]}))
PY
