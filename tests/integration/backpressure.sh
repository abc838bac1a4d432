#!/usr/bin/env bash
# Backpressure against the real broker: input arrives far faster than the trainer can learn
# (a full topic read at ingest speed, a small queue). petrad must pause and resume its
# partitions rather than buffer without bound or drop: memory stays bounded (peak RSS
# sampled while it runs) and every produced event id reaches training (the audit file).
# tests/reliability/overload.sh runs the same at a fixed overload rate for minutes.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
t=bp-$$-$RANDOM
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

lib=$(dirname "$0")/../labelled_events.sh
n=$("$lib" "$bin" "$tmp/events.csv" 30000 6)
PETRA_PARTITIONS=3 "$lib" "$bin" "$tmp/events.csv" --replay "$bs" "$t.events" 2> "$tmp/replay.log"
ok '[ $? -eq 0 ]'
"$bin/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
  --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
  --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
  --set consumer.auto.offset.reset=earliest --set trainer.queue_capacity=512 --set kafka.poll_budget=128 \
  --set consumer.queued.max.messages.kbytes=4096 --set evolution.interval_s=1000 \
  --set trainer.audit_file="$tmp/audit" --run-for 45 > "$tmp/out" 2> "$tmp/err" &
pid=$!
echo $pid > "$tmp/pid"
peak=0 paused_seen=0
while kill -0 $pid 2>/dev/null; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  "$bin/petractl" --socket "$tmp/ctl.sock" --json status 2>/dev/null | grep -q '"paused":true' && paused_seen=$((paused_seen + 1))
  sleep 0.5
done
wait $pid
ok '[ $? -eq 0 ] || { tail -20 "$tmp/err"; false; }'
summary=$(tail -n1 "$tmp/out")
pauses=$(echo "$summary" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["paused_count"])')
echo "info: $n events, peak RSS ${peak} kB, $pauses pauses, paused in $paused_seen samples"
ok '[ "$pauses" -ge 3 ]'
ok '[ "$peak" -lt 409600 ] || { echo "peak RSS $peak kB"; false; }'
"$lib" --check "$tmp/audit" "$n"
ok '[ $? -eq 0 ]'
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
