#!/usr/bin/env bash
# The broker restarted while petrad (ha.enabled) has a transaction open: petrad stays up and
# answers its control socket during the outage (the loop never waits on the broker for long),
# health names the broker; afterwards it recovers — the open transaction aborted or committed,
# never half — and goes on training. Then: every event id exactly once in the model's lineage
# (tests/audit_lineage.py over the audit file), committed snapshot versions strictly
# increasing on the topic (read_committed), an orderly exit 0.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
here=$(cd "$(dirname "$0")/.." && pwd)
t=rha-$$-$RANDOM
tmp=$(mktemp -d); [ -n "${PETRA_KEEP:-}" ] && echo "tmp $tmp"
trap 'kill $sup 2>/dev/null; kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; [ -s "$PETRA_KAFKA_DIR/pid" ] || "$here/kafka/broker.sh" start "$PETRA_KAFKA_DIR" >/dev/null 2>&1; [ -n "${PETRA_KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail=0 pass=0 sup=
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
ms() { date +%s%3N; }

lib=$here/labelled_events.sh
n=$("$lib" "$bin" "$tmp/events.csv" 30000 9)
PETRA_PARTITIONS=3 "$lib" "$bin" "$tmp/events.csv" --replay "$bs" "$t.events" 2> "$tmp/replay.log"
ok '[ $? -eq 0 ]'
# Every commit carries a checkpoint's input offsets (ha.commit_interval_s past the run, so no
# commit goes without them): the path that held the loop 10 s in a broker restart before the
# offsets went out from a thread of their own (librdkafka 2.0.2's send_offsets_to_transaction
# waits for the broker without a bound, whatever its timeout).
# petrad as systemd runs it (Restart=on-failure, RestartSec=2s): an owner that lost its lease
# while the broker was away ends with 3 and comes back; its successor takes the model over
# from the committed state
supervise() {
  local runs=0 rc
  while :; do
    "$bin/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" \
      --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
      --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
      --set topics.state="$t.state" --set ha.enabled=1 --set ha.lease_topic="$t.lease" \
      --set ha.session_timeout_ms=6000 --set ha.commit_interval_s=30 --set checkpoint.interval_s=1 \
      --set snapshot.interval_s=0.5 --set consumer.auto.offset.reset=earliest --set trainer.queue_capacity=512 \
      --set log.level="${LOGLEVEL:-info}" --set trainer.audit_file="$tmp/audit" >> "$tmp/out" 2>> "$tmp/err" &
    echo $! > "$tmp/pid"
    wait $!
    rc=$?
    echo "$rc" >> "$tmp/exits"
    runs=$((runs + 1))
    [ $rc -ne 0 ] && [ $runs -lt 6 ] || break
    sleep 2
  done
}
supervise &
sup=$!
role=
for _ in $(seq 1 150); do
  role=$("$bin/petractl" --socket "$tmp/ctl.sock" --json status 2>/dev/null |
    python3 -c "import json,sys; print(json.load(sys.stdin)['role'])" 2>/dev/null)
  [ "$role" = owner ] && break
  sleep 0.2
done
ok '[ "$role" = owner ] || { tail -5 "$tmp/err"; false; }'
sleep 2
trained_before=$(grep -vc '^#' "$tmp/audit")
"$here/kafka/broker.sh" restart "$PETRA_KAFKA_DIR" 12 > "$tmp/restart.log" 2>&1 &
rs=$!
# during the outage: the owner with the open transaction answers every control call (its
# loop never waits on the broker for long), and health names the broker. Calls that reach its
# successor (restarted after the lease expired) are counted apart: a takeover still holds the
# loop while it fences (init_transactions) and reads the state (petrad.conf(5), known limit).
owner_pid=$(cat "$tmp/pid")
down=0 slow=0 calls=0 worst=0 later_slow=0 later_calls=0
for _ in $(seq 1 30); do
  t0=$(ms)
  "$bin/petractl" --socket "$tmp/ctl.sock" --timeout 2 health > "$tmp/health" 2>&1
  hrc=$?
  took=$(( $(ms) - t0 ))
  if [ "$(cat "$tmp/pid")" = "$owner_pid" ] && kill -0 "$owner_pid" 2>/dev/null; then
    calls=$((calls + 1))
    [ $took -gt $worst ] && worst=$took
    [ $took -ge 1500 ] && { slow=$((slow + 1)); echo "$(date -u +%T.%3N) a call to the owner took $took ms" >> "$tmp/slow"; }
  else
    later_calls=$((later_calls + 1))
    [ $took -ge 1500 ] && later_slow=$((later_slow + 1))
  fi
  [ $hrc -eq 1 ] && grep -q "broker unreachable" "$tmp/health" && down=1
  sleep 0.5
done
ok '[ $down -eq 1 ] || { echo "health never reported the broker:"; cat "$tmp/health"; false; }'
ok '[ $slow -eq 0 ] || { echo "$slow of $calls control calls went unanswered:"; cat "$tmp/slow";
  echo "the owner'"'"'s log then (librdkafka lines left out):"; grep -v "kafka_error\|^%\|^{" "$tmp/err" | cut -c1-200 | head -60; false; }'
wait $rs
ok '[ $? -eq 0 ] || { cat "$tmp/restart.log"; false; }'
# recovery: training goes on to the end of the input, committed (the group's offsets, which
# only transactions move under ha, reach the end of every partition)
committed_to_end() {
  /usr/bin/python3 - "$bs" "$t" "$t.events" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
bs, group, topic = sys.argv[1:4]
c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False})
parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=5).topics[topic].partitions]
done = all(tp.offset >= c.get_watermark_offsets(tp, timeout=5)[1] for tp in c.committed(parts, timeout=5))
c.close()
sys.exit(0 if done else 1)
PY
}
for _ in $(seq 1 90); do
  committed_to_end 2> /dev/null && break
  sleep 1
done
sleep 2
"$bin/petractl" --socket "$tmp/ctl.sock" --json status > "$tmp/status" 2>&1
kill -TERM "$(cat "$tmp/pid")"
wait $sup
ok '[ "$(tail -1 "$tmp/exits")" = 0 ] || { tail -20 "$tmp/err"; false; }'
ok '! grep -qv "^[03]$" "$tmp/exits"' # only lease losses (3) before the orderly end
/usr/bin/python3 "$here/audit_lineage.py" "$n" "$tmp/audit" > "$tmp/lineage"
ok '[ $? -eq 0 ]'
cat "$tmp/lineage"
"$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$t.snapshots" --history --json --wait 20 > "$tmp/history" 2> "$tmp/inspect.err"
ok '[ $? -eq 0 ] || { tail -3 "$tmp/inspect.err"; false; }'
read -r nv bad < <(python3 -c '
import json, sys
v = [json.loads(l)["version"] for l in open(sys.argv[1])]
print(len(v), sum(1 for a, b in zip(v, v[1:]) if b <= a))' "$tmp/history")
ok '[ "$nv" -ge 3 ] && [ "$bad" -eq 0 ]'
aborts=$(grep -c txn_commit_failed "$tmp/err")
echo "info: outage 12 s; $calls control calls to the owner during it, slowest ${worst} ms; $later_calls to its successor, $later_slow of them unanswered while it took over; $aborts transactions aborted; petrad exits $(tr '\n' ' ' < "$tmp/exits"); $nv committed snapshots, $bad not increasing"
grep -E "txn_commit_failed|txn_" "$tmp/err" | cut -c1-220 | head -5
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
