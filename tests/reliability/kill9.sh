#!/usr/bin/env bash
# kill -9 fault injection at scale (not in the default test run): starts its own Kafka
# broker, then runs the petrad crash test (tests/integration/test_petrad_crash.c) with
# KILLS random-time kill -9s per round, for ROUNDS rounds with random seeds. Each round
# proves every produced event id is in the model's lineage exactly once (tests/audit_lineage.py)
# and no snapshot version went backwards. MODE ha runs the ha.enabled variant: every restart
# gets an empty state directory and the state comes from Kafka, in transactions. Prints one
# JSON line per round and a total.
#   tests/reliability/kill9.sh [BUILD_DIR] [KILLS=50] [ROUNDS=1] [MODE=local|ha]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
kills=${2:-50}
rounds=${3:-1}
mode=${4:-local}
testname=no_event_is_lost_across_kill_9_restarts
[ "$mode" = ha ] && testname=exactly_once_across_kill_9_with_empty_disks
work=$(mktemp -d /tmp/petra-kill9-XXXXXX)
trap '"$top/tests/kafka/broker.sh" stop "$work/kafka" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$top/tests/kafka/broker.sh" start "$work/kafka" > /dev/null
total=0 failed=0
for r in $(seq 1 "$rounds"); do
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  t0=$(date +%s)
  if PETRA_KAFKA_DIR="$work/kafka" PETRA_CRASH_KILLS="$kills" PETRA_CRASH_SEED="$seed" \
     "$build/tests/test_petrad_crash" "$testname" > "$work/round$r.log" 2>&1; then
    ok=true
  else
    ok=false; failed=$((failed + 1))
  fi
  total=$((total + kills))
  audit=$(grep -o 'audit: .*' "$work/round$r.log" | tail -n1)
  snaps=$(grep -o 'snapshots: .*' "$work/round$r.log" | tail -n1)
  lineage=$(grep -o '{"runs".*}' "$work/round$r.log" | tail -n1 | tr -d '"')
  printf '{"round":%d,"mode":"%s","seed":%s,"kills":%d,"passed":%s,"seconds":%d,"audit":"%s","lineage":"%s","snapshots":"%s"}\n' \
    "$r" "$mode" "$seed" "$kills" "$ok" $(( $(date +%s) - t0 )) "$audit" "$lineage" "$snaps"
  $ok || tail -n 20 "$work/round$r.log"
done
printf '{"bench":"kill9","kills_total":%d,"rounds":%d,"rounds_failed":%d}\n' "$total" "$rounds" "$failed"
[ "$failed" -eq 0 ]
