#!/usr/bin/env bash
# Broker frozen (SIGSTOP) for longer than the consumer session timeout while petrad
# consumes: the control socket keeps answering during the outage, petrad recovers when the
# broker continues (rejoining its group), and every produced event id reaches training at
# least once (the trainer's audit file) before an orderly exit.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bpid=$(cat "$PETRA_KAFKA_DIR/pid")
bin=${PETRA_BIN:?}
t=pause-$$-$RANDOM
tmp=$(mktemp -d)
trap 'kill -CONT "$bpid" 2>/dev/null; kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

# labelled events, one example each, event ids 1..N (petra replay numbers the rows)
lib=$(dirname "$0")/../labelled_events.sh
n=$("$lib" "$bin" "$tmp/events.csv" 12000 4)
PETRA_PARTITIONS=3 "$lib" "$bin" "$tmp/events.csv" --replay "$bs" "$t.events" 2000 2> "$tmp/replay.log" &
rp=$!
"$bin/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
  --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
  --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
  --set consumer.auto.offset.reset=earliest --set consumer.session.timeout.ms=6000 \
  --set consumer.heartbeat.interval.ms=1000 --set checkpoint.interval_s=2 \
  --set trainer.audit_file="$tmp/audit" --run-for 180 > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
sleep 6
kill -STOP "$bpid"
sleep 4
"$bin/petractl" --socket "$tmp/ctl.sock" --timeout 2 status > "$tmp/status_during" 2>&1
ok '[ $? -eq 0 ] || { cat "$tmp/status_during"; false; }'
sleep 10   # frozen 14 s in all: beyond the 6 s session timeout
kill -CONT "$bpid"
wait $rp
ok '[ $? -eq 0 ] || { tail -3 "$tmp/replay.log"; false; }'
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
ok 'grep -q "partition_assigned" "$tmp/err"'
echo "info: $(grep -c partition_assigned "$tmp/err") partition assignments, $(grep -c kafka_error "$tmp/err") kafka_error lines, $(grep -c partition_revoked "$tmp/err") revocations"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
