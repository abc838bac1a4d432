#!/usr/bin/env bash
# High availability on the real broker (ha.enabled): one writer per model, standby takeover,
# fencing of a zombie, exactly-once training across all of it.
#   - A starts and owns the model; B starts for the same model: standby (petractl health
#     exits 4, status names A as the owner, B publishes nothing);
#   - labelled events stream in; A is killed with -9 (its host dies: A2, started later, gets
#     an empty state directory); B takes over from the state in Kafka;
#   - A2 starts as standby; B is frozen (SIGSTOP) past the session timeout, A2 takes over,
#     B is thawed: it is fenced by the broker and exits with 3, its last output never visible;
#   - A2 drains the stream and stops cleanly.
# Then: the snapshot versions on the topic (read_committed, as scorers read) strictly
# increase through three owners; the trainers' audit files show every event id in the
# model's lineage exactly once (tests/audit_lineage.py). Prints the takeover times.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
here=$(cd "$(dirname "$0")/.." && pwd)
t=ha-$$-$RANDOM
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -CONT $p 2>/dev/null; kill -9 $p 2>/dev/null; done; [ -n "${PETRA_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
field() { "$bin/petractl" --socket "$tmp/$1.sock" --json status 2>/dev/null |
  python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null; }
start() { # NAME: a petrad for the model, its own state dir, socket and audit file
  "$bin/petrad" --quiet --state-dir "$tmp/$1.state" --control-socket "$tmp/$1.sock" --set kafka.brokers="$bs" \
    --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
    --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
    --set topics.state="$t.state" --set ha.enabled=1 --set ha.lease_topic="$t.lease" \
    --set ha.session_timeout_ms=6000 --set checkpoint.interval_s=1 --set snapshot.interval_s=0.5 \
    --set evolution.interval_s=3 --set consumer.auto.offset.reset=earliest \
    --set trainer.audit_file="$tmp/$1.audit" > "$tmp/$1.out" 2> "$tmp/$1.err" &
  eval "pid_$1=$!"
  pids+=($!)
}
wait_role() { # NAME ROLE SECONDS: prints the seconds it took
  local t0 now
  t0=$(date +%s%N)
  for _ in $(seq 1 $(($3 * 5))); do
    [ "$(field "$1" "d['role']")" = "$2" ] && { now=$(date +%s%N); echo "$(( (now - t0) / 1000000 ))"; return 0; }
    sleep 0.2
  done
  echo "-1"
  return 1
}

lib=$here/labelled_events.sh
n=$("$lib" "$bin" "$tmp/events.csv" 40000 11)

start A
ta=$(wait_role A owner 30)
ok '[ "$ta" -ge 0 ] || { tail -5 "$tmp/A.err"; false; }'
start B
tb=$(wait_role B standby 30)
ok '[ "$tb" -ge 0 ]'
"$bin/petractl" --socket "$tmp/B.sock" health > /dev/null
ok '[ $? -eq 4 ]'
ok '[ "$(field A "d[\"role\"]")" = owner ]'
for _ in $(seq 1 50); do # the standby asks the group who owns the lease (DescribeConsumerGroups)
  owner_seen=$(field B "d['ha']['owner']")
  [ "$owner_seen" != unknown ] && [ -n "$owner_seen" ] && break
  sleep 0.2
done
echo "info: B stands by; owner as B sees it: $owner_seen (A is pid $pid_A)"
ok 'echo "$owner_seen" | grep -q -- "-$pid_A"'
"$bin/petractl" --socket "$tmp/B.sock" evolve > /dev/null 2>&1
ok '[ $? -ne 0 ]' # owner-only commands are refused on a standby

# the stream: 40,000 labelled events at 2,500/s into 3 partitions while owners change
PETRA_PARTITIONS=3 "$lib" "$bin" "$tmp/events.csv" --replay "$bs" "$t.events" 2500 2> "$tmp/replay.log" &
replay=$!
sleep 3
ok '[ "$(field B "d[\"last_snapshot\"][\"published\"]")" = 0 ]' # the standby published nothing

kill -9 "$pid_A"
tkill=$(date +%s%N)
tk1=$(wait_role B owner 40)
for _ in $(seq 1 200); do # its first committed snapshot
  [ "$(field B "d['last_snapshot']['published']")" -ge 1 ] 2>/dev/null && break
  sleep 0.1
done
tsnap=$(( ($(date +%s%N) - tkill) / 1000000 ))
restore=$(field B "round(d['ha']['takeover_ms'])")
echo "info: kill -9 of the owner: B owned the model ${tk1} ms later (session timeout 6000 ms; of it the takeover itself, fencing + restore, ${restore} ms), its first snapshot was committed ${tsnap} ms after the kill"
ok '[ "$tsnap" -lt 20000 ]' # the issue's bound: the standby publishes within 20 s of the kill
ok '[ "$tk1" -ge 0 ] || { tail -5 "$tmp/B.err"; false; }'
ok 'grep -q "checkpoint_restored source=kafka" "$tmp/B.err"'
start A2
ok '[ "$(wait_role A2 standby 30)" -ge 0 ]'
sleep 2

kill -STOP "$pid_B"
tk2=$(wait_role A2 owner 40)
echo "info: owner frozen (SIGSTOP): A2 owned the model ${tk2} ms later"
ok '[ "$tk2" -ge 0 ] || { tail -5 "$tmp/A2.err"; false; }'
kill -CONT "$pid_B"
brc=0
for _ in $(seq 1 100); do kill -0 "$pid_B" 2>/dev/null || break; sleep 0.2; done
wait "$pid_B"
brc=$?
echo "info: the thawed zombie exited with $brc: $(grep -E -o 'ha_(fenced|lease_lost)[^"]*"[^"]*"' "$tmp/B.err" | head -n1)"
ok '[ "$brc" -eq 3 ]'

wait "$replay"
ok 'grep -q " 0 not delivered" "$tmp/replay.log"'
for _ in $(seq 1 150); do
  [ "$(field A2 "d['queue_depth'] == 0 and all(p['lag'] == 0 for p in d['partitions']) and len(d['partitions']) > 0")" = True ] && break
  sleep 0.2
done
ok '[ "$(field A2 "len(d[\"partitions\"])")" = 3 ]' # every input partition, in one owner's transactions
sleep 1
kill -TERM "$pid_A2"
wait "$pid_A2"
ok '[ $? -eq 0 ] || { tail -5 "$tmp/A2.err"; false; }'

"$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$t.snapshots" --history --json --wait 20 > "$tmp/history" 2> /dev/null
python3 - "$tmp/history" <<'PY'
import json, sys
v = [json.loads(l)["version"] for l in open(sys.argv[1])]
bad = sum(1 for a, b in zip(v, v[1:]) if b <= a)
print(f"info: {len(v)} committed snapshots, versions {v[:1]}..{v[-1:]}, {bad} not increasing")
sys.exit(1 if bad or len(v) < 5 else 0)
PY
ok '[ $? -eq 0 ]'
"$here/audit_lineage.py" "$n" "$tmp/A.audit" "$tmp/B.audit" "$tmp/A2.audit"
ok '[ $? -eq 0 ]'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
