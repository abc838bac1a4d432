#!/usr/bin/env bash
# The search over cores on the stream (evolution.cores), against the real broker: petrad starts
# on a core too small for the generated transactions (one tanh unit, no dense layer) with a
# GRU listed; a core trial on the evolution thread trains both the same way on the replay
# buffer and the GRU replaces the live model (status core.switches, core_changed in the log),
# a snapshot of the GRU reaches the snapshot topic, training goes on, and after a restart the
# checkpoint resumes as the GRU.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
t=cores-$$-$RANDOM
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
status() { "$bin/petractl" --socket "$tmp/ctl.sock" --json status 2>/dev/null; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read() or '{}'); print(eval(sys.argv[1], {}, {'d': d}))" "$1" 2>/dev/null; }

"$bin/petra" gen --kind tx --count 200000 --seed 5 --brokers "$bs" --events-topic "$t.events" \
  --labels-topic "$t.labels" > /dev/null 2>&1
cat > "$tmp/petrad.conf" <<CONF
kafka.brokers = $bs
kafka.group_id = $t
topics.events = $t.events
topics.labels = $t.labels
topics.snapshots = $t.snapshots
topics.metrics = $t.metrics
topics.deadletter = $t.dead
state.dir = $tmp/state
consumer.auto.offset.reset = earliest
model.spec = seq fields=mcc:400:16,channel:4:2 numeric=4 len=32 dense=0 rnn=1 classes=1
evolution.cores = gru=32
evolution.core_trial_interval_s = 10
evolution.interval_s = 1
evolution.latency_budget_ratio = 0.1
snapshot.interval_s = 2
checkpoint.interval_s = 2
CONF
start() {
  "$bin/petrad" --quiet --config "$tmp/petrad.conf" --control-socket "$tmp/ctl.sock" --run-for "$1" \
    > "$tmp/out$2" 2> "$tmp/err$2" &
  echo $! > "$tmp/pid"
}
start 150 1
for i in $(seq 1 240); do
  [ "$(status | field "d['core']['switches']")" = 1 ] && break
  sleep 0.5
done
s=$(status)
echo "core: $(echo "$s" | field "d['core']")" | cut -c1-600
ok "[ \"$(echo "$s" | field "d['core']['search']")\" = True ]"
ok "[ \"$(echo "$s" | field "d['core']['trials'] >= 1")\" = True ]"
ok "[ \"$(echo "$s" | field "d['core']['switches']")\" = 1 ]"
ok "[ \"$(echo "$s" | field "d['core']['live']")\" = gru=32 ]"
ok "[ \"$(echo "$s" | field "sorted(r['core'] for r in d['core']['last_trial'])")\" = \"['gru=32', 'rnn=1']\" ]"
ok "grep -q 'core_changed.*from=\"rnn=1\" to=\"gru=32\"' $tmp/err1"
ok "grep -q 'core_trial.*switch=1' $tmp/err1"
ok "[ \"$(echo "$s" | field "d['examples'] >= 5000")\" = True ]" # the counters go on from the old core's
# an operator's trial now: the GRU stays (it is the best)
n0=$(echo "$s" | field "d['core']['trials']")
"$bin/petractl" --socket "$tmp/ctl.sock" core-trial > "$tmp/ct.out" 2>&1
ok "grep -q queued $tmp/ct.out"
for i in $(seq 1 40); do [ "$(status | field "d['core']['trials'] > $n0")" = True ] && break; sleep 0.5; done
s=$(status)
ok "[ \"$(echo "$s" | field "d['core']['trials'] > $n0")\" = True ]"
ok "[ \"$(echo "$s" | field "d['core']['switches'], d['core']['live']")\" = \"(1, 'gru=32')\" ]"
# the GRU's snapshot on the topic (the newest)
sleep 3
"$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$t.snapshots" --wait 20 --save "$tmp/last.snap" > "$tmp/inspect.txt" 2>&1
"$bin/petra" inspect "$tmp/last.snap" >> "$tmp/inspect.txt" 2>&1
grep -m1 spec "$tmp/inspect.txt" || cat "$tmp/inspect.txt"
ok "grep -q '^  spec .* gru=32 ' $tmp/inspect.txt"
# a restart resumes the checkpoint as the GRU
sleep 3
kill -TERM "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null
grep -o 'core_trial.*' "$tmp/err1" | cut -c1-220
start 30 2
for i in $(seq 1 60); do status | grep -q '"core"' && break; sleep 0.5; done
s=$(status)
ok "grep -q checkpoint_restored $tmp/err2"
ok "! grep -q checkpoint_unusable $tmp/err2"
ok "[ \"$(echo "$s" | field "d['core']['live']")\" = gru=32 ]"
kill -TERM "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null
echo "core_search: $pass passed, $fail failed"
[ $fail -eq 0 ]
