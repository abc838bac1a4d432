#!/usr/bin/env bash
# Operator pause/resume cycles and consumer-group rebalances under load, on a topic with four
# partitions (librdkafka 2.0.2's batch consume skipped offsets around both; petrad consumes
# with rd_kafka_consumer_poll): while labelled events stream in, `petractl pause` / `resume`
# run PAUSES times and another member joins petrad's group and leaves again (two rebalances
# each, REBALANCES in all: it takes partitions, reads without committing, closes). Then every
# event id is in the trainer's audit exactly once (tests/audit_lineage.py): nothing skipped,
# nothing trained twice, and petrad exits 0.
#   PAUSES (default 40) and REBALANCES (default 6) for CI; the full trial is
#   PAUSES=200 REBALANCES=20 EVENTS=120000 (README, "Longer trials").
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
here=$(cd "$(dirname "$0")/.." && pwd)
pauses=${PAUSES:-40} rebalances=${REBALANCES:-6} events=${EVENTS:-40000} rate=${RATE:-2000}
t=prb-$$-$RANDOM
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; kill $rp $jp 2>/dev/null; [ -n "${PETRA_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
rp= jp=
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
ctl() { "$bin/petractl" --socket "$tmp/ctl.sock" --timeout 5 "$@"; }

lib=$here/labelled_events.sh
n=$("$lib" "$bin" "$tmp/events.csv" "$events" 17)
PETRA_PARTITIONS=4 "$lib" "$bin" "$tmp/events.csv" --replay "$bs" "$t.events" "$rate" 2> "$tmp/replay.log" &
rp=$!
"$bin/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
  --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
  --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
  --set consumer.auto.offset.reset=earliest --set checkpoint.interval_s=1 --set trainer.queue_capacity=2048 \
  --set trainer.audit_file="$tmp/audit" > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
for _ in $(seq 1 100); do ctl health > /dev/null 2>&1 && break; sleep 0.2; done

# the other member: joins, holds what it is given for a second, leaves; once per two rebalances
/usr/bin/python3 - "$bs" "$t" "$t.events" $((rebalances / 2)) > "$tmp/joiner.log" 2>&1 <<'PY' &
import sys, time
from confluent_kafka import Consumer
bs, group, topic, times = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
done = 0
for i in range(times):
    got = []
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "latest", "session.timeout.ms": 10000})
    c.subscribe([topic], on_assign=lambda cons, parts: got.extend(p.partition for p in parts))
    t0 = time.time()
    while not got and time.time() - t0 < 30:
        c.poll(0.2)
    t1 = time.time()
    while time.time() - t1 < 1.0:
        c.poll(0.1)
    c.close()
    done += bool(got)
    print(f"join {i}: assigned {sorted(got)} after {t1 - t0:.1f} s", flush=True)
    time.sleep(1.0)
print(f"joined {done} of {times}", flush=True)
PY
jp=$!
for i in $(seq 1 "$pauses"); do
  ctl pause > /dev/null 2>&1 || echo "pause $i refused"
  sleep 0.05
  ctl resume > /dev/null 2>&1 || echo "resume $i refused"
  sleep 0.1
done
wait $jp
ok '[ $? -eq 0 ]'
wait $rp
ok '[ $? -eq 0 ] || { tail -3 "$tmp/replay.log"; false; }'
# drain: every event trained (the audit grows to n ids), then an orderly stop
for _ in $(seq 1 300); do
  [ "$(grep -vc '^#' "$tmp/audit" 2>/dev/null)" -ge "$n" ] && break
  sleep 0.2
done
sleep 1
kill -TERM "$(cat "$tmp/pid")"
wait "$(cat "$tmp/pid")"
ok '[ $? -eq 0 ] || { tail -20 "$tmp/err"; false; }'
/usr/bin/python3 "$here/audit_lineage.py" "$n" "$tmp/audit" > "$tmp/lineage"
ok '[ $? -eq 0 ]'
cat "$tmp/lineage"
ok '[ "$(grep -c "assigned \[[0-9]" "$tmp/joiner.log")" -eq $((rebalances / 2)) ] || cat "$tmp/joiner.log"'
revoked=$(grep -c partition_revoked "$tmp/err")
paused=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["paused_count"])' < "$tmp/out")
ok '[ "$paused" -ge "$pauses" ]'
# each join takes partitions from petrad, each leave gives them back
ok '[ "$(grep -c partition_assigned "$tmp/err")" -ge $((rebalances / 2 + 1)) ]'
echo "info: $n events over 4 partitions, $pauses pause/resume cycles ($paused pauses counted), $rebalances rebalances ($revoked partition revocations)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
