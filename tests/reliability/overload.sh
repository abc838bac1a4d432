#!/usr/bin/env bash
# Overload (not in the default test run): labelled events produced at RATE per second
# (default 10× what the trainer learns, ~600–700 examples/s here → 7,000/s) for SECONDS
# (default 600) while petrad trains; then it runs until it has caught up. Reports peak RSS
# against the configured bounds (trainer queue + librdkafka prefetch), backpressure
# episodes, the lag health showed during the run, and proves nothing was dropped (every
# event id in the trainer's audit file).
#   tests/reliability/overload.sh [BUILD_DIR] [SECONDS=600] [RATE=7000]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
secs=${2:-600}
rate=${3:-7000}
tmp=$(mktemp -d /tmp/petra-overload-XXXXXX)
trap '"$top/tests/kafka/broker.sh" stop "$tmp/kafka" >/dev/null 2>&1 || true; kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
bs=$("$top/tests/kafka/broker.sh" start "$tmp/kafka")
count=$((secs * rate * 105 / 100))
n=$("$top/tests/labelled_events.sh" "$build" "$tmp/events.csv" "$count" 8)
"$top/tests/labelled_events.sh" "$build" "$tmp/events.csv" --replay "$bs" ov.events "$rate" 2> "$tmp/replay.log" &
rp=$!
qcap=8192 kbytes=65536
"$build/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
  --set kafka.group_id=ov --set topics.events=ov.events --set consumer.auto.offset.reset=earliest \
  --set trainer.queue_capacity=$qcap --set consumer.queued.max.messages.kbytes=$kbytes \
  --set trainer.audit_file="$tmp/audit" > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
pid=$(cat "$tmp/pid")
peak=0 maxlag=0 degraded=0 t0=$(date +%s)
while true; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  lag=$( ("$build/petractl" --socket "$tmp/ctl.sock" --json status 2>/dev/null || true) | python3 -c 'import json,sys
try: print(sum(p["lag"] or 0 for p in json.loads(sys.stdin.read())["partitions"]))
except Exception: print(0)')
  [ "$lag" -gt "$maxlag" ] && maxlag=$lag
  "$build/petractl" --socket "$tmp/ctl.sock" health > /dev/null 2>&1 || degraded=$((degraded + 1))
  seen=$(cat "$tmp/audit" 2>/dev/null | wc -l)
  if ! kill -0 $rp 2>/dev/null && [ "$seen" -ge "$n" ]; then break; fi
  [ $(( $(date +%s) - t0 )) -gt $((secs * 20)) ] && { echo "did not catch up" >&2; break; }
  sleep 2
done
kill -TERM "$pid"; wait "$pid" || true
python3 - "$tmp/audit" "$n" "$peak" "$maxlag" "$degraded" "$qcap" "$kbytes" "$(tail -n1 "$tmp/out")" "$secs" "$rate" <<'PY'
import json, sys
audit, n, peak, maxlag, degraded, qcap, kbytes, summary, secs, rate = sys.argv[1:11]
seen = set(int(l) for l in open(audit))
missing = sum(1 for i in range(1, int(n) + 1) if i not in seen)
s = json.loads(summary)
print(json.dumps({"bench": "overload", "seconds": int(secs), "rate": int(rate), "events": int(n), "missing": missing,
                  "peak_rss_kb": int(peak), "queue_capacity": int(qcap), "prefetch_kbytes_per_partition": int(kbytes),
                  "max_lag_seen": int(maxlag), "health_not_ok_samples": int(degraded),
                  "backpressure_episodes": s["paused_count"], "examples": s["examples"]}))
sys.exit(1 if missing else 0)
PY
