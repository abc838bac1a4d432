#!/usr/bin/env bash
# Ingest throughput of petrad against a real Kafka broker on loopback: consume + decode +
# validate + feature update, on the loop thread (1 core). Starts its own broker (tests/kafka),
# fills an events topic with N generated transactions (no labels topic traffic, so the trainer
# is idle and the loop is measured alone), runs petrad (its default consumer settings) until it
# has drained them, and prints
# petrad's JSON summary plus one line {"bench":"ingest","events_per_s":...}.
#   tests/bench/ingest.sh [N=2000000]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PETRA_BIN:-$top/build}
n=${1:-2000000}
work=$(mktemp -d /tmp/petra-ingest-XXXXXX)
trap '"$top/tests/kafka/broker.sh" stop "$work/kafka" >/dev/null 2>&1; rm -rf "$work"' EXIT
bs=$("$top/tests/kafka/broker.sh" start "$work/kafka")
"$bin/petra" gen --kind tx --count "$n" --brokers "$bs" --events-topic ing-events \
  --labels-topic ing-labels-unused
secs=$(( n / 150000 + 15 ))
"$bin/petrad" --quiet --control-socket "$work/ctl.sock" --state-dir "$work/state" --set kafka.brokers="$bs" \
  --set topics.events=ing-events --set topics.labels=ing-labels-empty \
  --set kafka.group_id=ing --set kafka.poll_budget=20000 \
  --run-for "$secs" > "$work/summary" 2> "$work/log" || { tail -20 "$work/log"; exit 1; }
tail -n1 "$work/summary"
python3 - "$work/summary" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(json.dumps({"bench": "ingest", "events": d["events"], "events_per_s": d["ingest_events_per_s"],
                  "dead_letters": d["dead_letters"]}))
PY
