#!/usr/bin/env bash
# Soak (not in the default test run): petrad for an hour (embedded default unless
# PETRA_CONFIG names a config with brokers), sampled every 10 s: RSS, threads, open fds
# (from /proc), and events/s, queue depth, checkpoint age, health (from petractl). Writes a
# CSV and prints a JSON summary: RSS growth after the 5-minute mark, fd and thread drift,
# worst checkpoint age, samples not healthy.
#   tests/reliability/soak.sh [BUILD_DIR] [SECONDS=3600] [OUT=soak.csv]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
secs=${2:-3600}
out=${3:-soak.csv}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
sock=$tmp/ctl.sock
args=(--quiet --state-dir "$tmp/state" --control-socket "$sock" --run-for "$secs")
if [ -n "${PETRA_CONFIG:-}" ]; then args+=(--config "$PETRA_CONFIG"); else args+=(--embedded); fi
"$build/petrad" "${args[@]}" > "$tmp/summary" 2> "$tmp/log" &
echo $! > "$tmp/pid"
pid=$(cat "$tmp/pid")
echo "t_s,rss_kb,threads,fds,events_per_s,queue_depth,checkpoint_age_s,health" > "$out"
t=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  thr=$(awk '/Threads/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
  st=$("$build/petractl" --socket "$sock" --json status 2>/dev/null || echo '{}')
  "$build/petractl" --socket "$sock" health > /dev/null 2>&1 && h=ok || h=$?
  line=$(echo "$st" | python3 -c 'import json,sys
d=json.loads(sys.stdin.read() or "{}")
print("%s,%s,%s" % (round(d.get("events_per_s") or 0), d.get("queue_depth", ""), d.get("last_checkpoint_age_s", "")))')
  [ "${rss:-0}" != 0 ] && echo "$t,$rss,$thr,$fds,$line,$h" >> "$out"
  sleep 10; t=$((t + 10))
done
prc=0
wait "$pid" || prc=$?
[ "$prc" -eq 0 ] || { echo "petrad exited with $prc (its log: the run's stderr)" >&2; soak_failed=1; }
python3 - "$out" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
t = [int(r["t_s"]) for r in rows]
rss = [int(r["rss_kb"]) for r in rows]
fds = [int(r["fds"]) for r in rows]
thr = [int(r["threads"]) for r in rows]
age = [float(r["checkpoint_age_s"]) for r in rows if r["checkpoint_age_s"]]
eps = [float(r["events_per_s"]) for r in rows if r["events_per_s"]]
base = next((v for tt, v in zip(t, rss) if tt >= 300), rss[0])
print(json.dumps({"bench": "soak", "seconds": t[-1], "samples": len(rows),
                  "rss_at_300s_kb": base, "rss_last_kb": rss[-1], "rss_max_kb": max(rss),
                  "rss_growth_after_300s": round(rss[-1] / base - 1, 4),
                  "fds_min": min(fds), "fds_max": max(fds), "threads_min": min(thr), "threads_max": max(thr),
                  "events_per_s_mean": round(sum(eps) / len(eps)) if eps else None,
                  "checkpoint_age_max_s": max(age) if age else None,
                  "samples_not_ok": sum(1 for r in rows if r["health"] != "ok")}))
PY
tail -n1 "$tmp/summary"
exit "${soak_failed:-0}"
