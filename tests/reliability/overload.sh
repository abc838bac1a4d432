#!/usr/bin/env bash
# Overload (not in the default test run): labelled events produced at RATE per second for
# SECONDS (default 600) into a real broker while petrad trains a model SPEC slow enough that
# RATE is about 10× what it learns (default: the default features with a 256-unit GRU and a
# 128-unit dense layer, ~500–700 examples/s on the 2-core VM, against 6,000 events/s).
# Samples RSS, lag, queue depth and health every 2 s (CSV), then stops petrad with SIGTERM
# (drain: what it consumed is trained and checkpointed, the rest stays in Kafka past the
# committed offset) and proves nothing was dropped: the trained event ids (the trainer's
# audit file) are exactly 1..K with no gap, K > 0, and the topic holds all N events. Reports
# peak RSS against the configured bounds and RSS at each third of the run (flat while the
# backlog grows means memory does not follow the backlog). CATCHUP=1 instead waits until
# every event is trained (only feasible when RATE is close to the training rate).
#   tests/reliability/overload.sh [BUILD_DIR] [SECONDS=600] [RATE=6000] [SPEC]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
secs=${2:-600}
rate=${3:-6000}
spec=${4:-"seq fields=mcc:400:16,channel:4:2 numeric=4 len=32 dense=128 act=relu gru=256 classes=1"}
out=${OVERLOAD_CSV:-overload.csv}
tmp=$(mktemp -d /tmp/petra-overload-XXXXXX)
trap '"$top/tests/kafka/broker.sh" stop "$tmp/kafka" >/dev/null 2>&1 || true; kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
bs=$("$top/tests/kafka/broker.sh" start "$tmp/kafka")
count=$((secs * rate * 105 / 100))
n=$("$top/tests/labelled_events.sh" "$build" "$tmp/events.csv" "$count" 8)
"$top/tests/labelled_events.sh" "$build" "$tmp/events.csv" --replay "$bs" ov.events "$rate" 2> "$tmp/replay.log" &
rp=$!
qcap=8192 kbytes=65536 minmsgs=300000
"$build/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
  --set kafka.group_id=ov --set topics.events=ov.events --set consumer.auto.offset.reset=earliest \
  --set model.spec="$spec" --set trainer.queue_capacity=$qcap \
  --set consumer.queued.max.messages.kbytes=$kbytes --set consumer.queued.min.messages=$minmsgs \
  --set trainer.audit_file="$tmp/audit" > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
pid=$(cat "$tmp/pid")
echo "t_s,rss_kb,lag,queue_depth,backpressure,examples,health" > "$out"
peak=0 maxlag=0 degraded=0 t0=$(date +%s)
while true; do
  t=$(( $(date +%s) - t0 ))
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  st=$( ("$build/petractl" --socket "$tmp/ctl.sock" --json status 2>/dev/null || true) | python3 -c 'import json,sys
try:
  d = json.loads(sys.stdin.read())
  print(sum(p["lag"] or 0 for p in d["partitions"]), d["queue_depth"], int(bool(d["backpressure"])), d["examples"])
except Exception: print(0, 0, 0, 0)')
  read -r lag qd bp ex <<< "$st"
  [ "$lag" -gt "$maxlag" ] && maxlag=$lag
  if "$build/petractl" --socket "$tmp/ctl.sock" health > /dev/null 2>&1; then h=ok; else h=not_ok; degraded=$((degraded + 1)); fi
  echo "$t,$rss,$lag,$qd,$bp,$ex,$h" >> "$out"
  seen=$(grep -vc "^#" "$tmp/audit" 2>/dev/null || echo 0)
  if ! kill -0 $rp 2>/dev/null; then
    [ "${CATCHUP:-0}" = 1 ] || break
    [ "$seen" -ge "$n" ] && break
  fi
  [ "$t" -gt $((secs * 20)) ] && { echo "did not catch up" >&2; break; }
  sleep 2
done
wait $rp || { echo "replay failed:"; tail -5 "$tmp/replay.log"; exit 1; }
grep -q " 0 not delivered" "$tmp/replay.log" || { echo "replay lost messages:"; tail -3 "$tmp/replay.log"; exit 1; }
kill -TERM "$pid"
prc=0
wait "$pid" || prc=$?
[ "$prc" -eq 0 ] || { echo "petrad exited with $prc after SIGTERM (a drain must end cleanly)"; exit 1; }
python3 - "$tmp/audit" "$n" "$peak" "$maxlag" "$degraded" "$qcap" "$kbytes" "$minmsgs" "$(tail -n1 "$tmp/out")" "$secs" "$rate" "$out" <<'PY'
import csv, json, sys
audit, n, peak, maxlag, degraded, qcap, kbytes, minmsgs, summary, secs, rate, out = sys.argv[1:13]
n = int(n)
ids = [int(l) for l in open(audit) if not l.startswith('#')]
seen = set(ids)
k = max(seen) if seen else 0
gaps = sum(1 for i in range(1, k + 1) if i not in seen)
rows = list(csv.DictReader(open(out)))
rss = [int(r["rss_kb"]) for r in rows if int(r["rss_kb"]) > 0]
third = [rss[len(rss) * i // 3] for i in (1, 2)] + [rss[-1]] if rss else []
s = json.loads(summary)
print(json.dumps({"bench": "overload", "seconds": int(secs), "rate": int(rate), "events_produced": n,
                  "trained_prefix": k, "gaps_below_prefix": gaps, "untrained_kept_in_kafka": n - k,
                  "duplicates_trained": len(ids) - len(seen),
                  "peak_rss_kb": int(peak), "rss_kb_at_thirds": third,
                  "queue_capacity": int(qcap), "prefetch_kbytes": int(kbytes), "prefetch_min_messages": int(minmsgs),
                  "max_lag_seen": int(maxlag), "health_not_ok_samples": int(degraded),
                  "backpressure_episodes": s["paused_count"], "examples": s["examples"]}))
sys.exit(1 if gaps or k == 0 else 0)
PY
