#!/usr/bin/env bash
# Broker stopped and started again mid-stream (tests/kafka/broker.sh restart: same ports,
# same data): during the outage petrad keeps running, its control socket answers and health
# reports the broker unreachable (degraded, exit 1); after the restart it reconnects, and every
# produced event id reaches training before an orderly exit.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
here=$(cd "$(dirname "$0")" && pwd)
t=restart-$$-$RANDOM
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; [ -s "$PETRA_KAFKA_DIR/pid" ] || "$here/../kafka/broker.sh" start "$PETRA_KAFKA_DIR" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

lib=$here/../labelled_events.sh
n=$("$lib" "$bin" "$tmp/events.csv" 16000 5)
PETRA_PARTITIONS=3 "$lib" "$bin" "$tmp/events.csv" --replay "$bs" "$t.events" 2> "$tmp/replay.log"
ok '[ $? -eq 0 ]'
"$bin/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
  --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
  --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
  --set consumer.auto.offset.reset=earliest --set checkpoint.interval_s=2 --set trainer.queue_capacity=1024 \
  --set trainer.audit_file="$tmp/audit" --run-for 180 > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
sleep 5
"$here/../kafka/broker.sh" restart "$PETRA_KAFKA_DIR" 12 > "$tmp/restart.log" 2>&1 &
rs=$!
# during the outage (stopped at ~5 s, back at ~17 s + start-up): health names the broker
down=0
for i in $(seq 1 40); do
  "$bin/petractl" --socket "$tmp/ctl.sock" --timeout 2 health > "$tmp/health" 2>&1
  if [ $? -eq 1 ] && grep -q "broker unreachable" "$tmp/health"; then down=1; break; fi
  sleep 0.5
done
ok '[ $down -eq 1 ] || { echo "health never reported the broker:"; cat "$tmp/health"; false; }'
wait $rs
ok '[ $? -eq 0 ] || { cat "$tmp/restart.log"; false; }'
ok '[ "$(cat "$PETRA_KAFKA_DIR/bootstrap")" = "$bs" ]'
# every id trained, then an orderly stop (--run-for bounds it if they never are)
for _ in $(seq 1 150); do
  "$lib" --check "$tmp/audit" "$n" > /dev/null 2>&1 && break
  sleep 1
done
kill -TERM "$(cat "$tmp/pid")"
wait "$(cat "$tmp/pid")"
ok '[ $? -eq 0 ] || { tail -20 "$tmp/err"; false; }'
"$lib" --check "$tmp/audit" "$n"
ok '[ $? -eq 0 ]'
echo "info: $(grep -c kafka_error "$tmp/err") kafka_error lines, $(grep -c partition_assigned "$tmp/err") assignments"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
