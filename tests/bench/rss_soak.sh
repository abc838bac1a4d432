#!/usr/bin/env bash
# RSS of petrad over a long run at default config (embedded default unless PETRA_BROKERS
# is set). Samples VmRSS every INTERVAL seconds into a CSV and prints the curve's summary:
# first/min/max/last and the growth from the 5-minute mark to the end.
#   tests/bench/rss_soak.sh [SECONDS=1800] [INTERVAL=10] [OUT=rss.csv]
set -euo pipefail
secs=${1:-1800}; every=${2:-10}; out=${3:-rss.csv}
bin=${PETRA_BIN:-build}/petrad
"$bin" --embedded --run-for "$secs" --quiet > "$out.summary" 2> "$out.log" &
pid=$!
echo "t_s,rss_kb,threads,fds" > "$out"
t=0
while kill -0 $pid 2>/dev/null; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  thr=$(awk '/Threads/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
  [ -n "$rss" ] && [ "$rss" != 0 ] && echo "$t,$rss,$thr,$fds" >> "$out"
  sleep "$every"; t=$((t + every))
done
wait $pid || true
python3 - "$out" <<'PY'
import csv, json, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
rss = [int(r["rss_kb"]) for r in rows]
t = [int(r["t_s"]) for r in rows]
base = next((v for tt, v in zip(t, rss) if tt >= 300), rss[0])
print(json.dumps({"bench": "rss_soak", "samples": len(rss), "seconds": t[-1], "rss_first_kb": rss[0],
                  "rss_min_kb": min(rss), "rss_max_kb": max(rss), "rss_last_kb": rss[-1],
                  "rss_at_300s_kb": base, "growth_after_300s": round(rss[-1] / base - 1, 4),
                  "max_over_300s_base": round(max(v for tt, v in zip(t, rss) if tt >= 300) / base - 1, 4) if t[-1] >= 300 else None}))
PY
tail -n1 "$out.summary"
