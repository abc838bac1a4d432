#!/usr/bin/env bash
# `petra score` throughput with a compressed (int8) champion, real broker on loopback.
# petrad trains on generated transactions with fast evolution until it publishes a
# champion with 8-bit layers; then petra score (1 core: BLAS single-threaded, one scoring
# thread) scores every event from the start of the topic with it. Prints one JSON line with
# events/s and the snapshot swap latency (consumed -> visible to scorers).
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
"$build/petra" gen --count "$records" --seed 3 --brokers "$bs" --events-topic petra.events \
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
"$build/petra" inspect --from-kafka --brokers "$bs" --topic petra.snapshots --wait 20 --json > "$tmp/inspect.json"
"$build/petra" score --config "$tmp/petrad.conf" --start earliest --exit-at-end --output-topic petra.scores \
  --wait-snapshot 60 > "$tmp/score.json" 2> "$tmp/score.err"
python3 - "$tmp/score.json" "$tmp/inspect.json" "$genome" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
i = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(json.dumps({"bench": "score", "genome": sys.argv[3], "snapshot_version": s["model_version"],
                  "snapshot_bytes": i.get("size_bytes", i.get("bytes")), "scored": s["scored"],
                  "seconds": s["seconds"], "events_per_s": s["events_per_s"],
                  "swap_p50_ms": s["swap_p50_ms"], "swap_max_ms": s["swap_max_ms"],
                  "snapshots_loaded": s["snapshots_loaded"]}))
PY
