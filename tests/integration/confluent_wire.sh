#!/usr/bin/env bash
# Schema Registry wire format (wire.format = confluent) on the real broker:
#   - petra gen --schema-id frames events and labels; petrad trains on them;
#   - unframed protobuf and events framed under another schema id go to the dead letters,
#     each with its reason; everything else is used (events counted = framed events sent);
#   - every message petrad writes (snapshots, Metrics, dead letters) starts with the
#     documented header: 0x00, the topic's schema id (big-endian), the message index;
#   - petra inspect reads the framed snapshots with --schema-id (and not without it);
#   - petra score reads framed events and snapshots and writes framed Score messages.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
t=sreg-$$-$RANDOM
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
jget() { python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print($2)" "$1"; }
# the first 7 bytes of every (committed) message of a topic, hex, one line each
heads() {
  /usr/bin/python3 - "$bs" "$1" <<'PY'
import sys
from confluent_kafka import Consumer, KafkaError, TopicPartition
bs, topic = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": bs, "group.id": "heads", "enable.auto.commit": False,
              "isolation.level": "read_committed", "enable.partition.eof": True})
parts = [TopicPartition(topic, p, 0) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
c.assign(parts)
left = len(parts)
while left:
    m = c.poll(10)
    if m is None:
        break
    if m.error():
        if m.error().code() != KafkaError._PARTITION_EOF:
            break
        left -= 1
        continue
    print(m.value()[:7].hex())
c.close()
PY
}
cat > "$tmp/petrad.conf" <<EOF
kafka.brokers = $bs
kafka.group_id = $t
topics.events = $t.events
topics.labels = $t.labels
topics.snapshots = $t.snapshots
topics.metrics = $t.metrics
topics.deadletter = $t.dead
snapshot.interval_s = 2
metrics.interval_s = 1
consumer.auto.offset.reset = earliest
wire.format = confluent
wire.schema_id.events = 11
wire.schema_id.labels = 12
wire.schema_id.snapshots = 13
wire.schema_id.metrics = 14
wire.schema_id.dead_letters = 15
wire.schema_id.scores = 16
EOF

"$bin/petra" gen --kind tx --count 30000 --seed 1 --brokers "$bs" --events-topic "$t.events" \
  --labels-topic "$t.labels" --schema-id 11,12 > /dev/null 2>&1
ok "[ $? -eq 0 ]"
framed_events=$(kcat -b "$bs" -C -t "$t.events" -e -q -f '%o\n' 2>/dev/null | wc -l)
framed_labels=$(kcat -b "$bs" -C -t "$t.labels" -e -q -f '%o\n' 2>/dev/null | wc -l)
# bad input: 10 unframed messages (events and labels), and 10 events+labels framed with a
# wrong events id (their labels carry the right id and are used)
"$bin/petra" gen --kind tx --count 10 --seed 2 --brokers "$bs" --events-topic "$t.events" \
  --labels-topic "$t.labels" > /dev/null 2>&1
n_all=$(kcat -b "$bs" -C -t "$t.events" -e -q -f '%o\n' 2>/dev/null | wc -l)
"$bin/petra" gen --kind tx --count 10 --seed 3 --brokers "$bs" --events-topic "$t.events" \
  --labels-topic "$t.labels" --schema-id 99,12 > /dev/null 2>&1
n_wrong=$(( $(kcat -b "$bs" -C -t "$t.events" -e -q -f '%o\n' 2>/dev/null | wc -l) - n_all ))
echo "framed events $framed_events, unframed batch 10 messages, wrong-id events $n_wrong"
ok "[ $n_wrong -ge 1 ]"
heads "$t.events" | sort | uniq -c | sort -rn | head -n 3

"$bin/petrad" --quiet --config "$tmp/petrad.conf" --state-dir "$tmp/state" --control-socket "$tmp/ctl.sock" \
  --run-for 14 > "$tmp/petrad.out" 2> "$tmp/petrad.err"
ok "[ $? -eq 0 ]"
events=$(jget "$tmp/petrad.out" "d['events']")
dead=$(jget "$tmp/petrad.out" "d['dead_letters']")
echo "petrad: events $events, dead letters $dead"
# all 10 unframed messages and the wrong-id events are dead; nothing else
ok "[ $dead -eq $((10 + n_wrong)) ]"
examples=$(jget "$tmp/petrad.out" "d['examples']")
echo "petrad: examples $examples"
# each label of the first batch makes an example (as in raw mode), the unframed ones none
all_framed_labels=$(heads "$t.labels" | grep -c '^000000000c0206$')
ok "[ $examples -ge $framed_labels ] && [ $examples -le $all_framed_labels ]"
kcat -b "$bs" -C -t "$t.dead" -e -q -f '%s\n' 2>/dev/null | grep -ao 'confluent framing: [a-z ]*[0-9x]*[^(]*' | sort | uniq -c
ok "[ \$(kcat -b $bs -C -t $t.dead -e -q -f '%s\n' 2>/dev/null | grep -ac 'magic byte 0x08, expected 0x00') -ge 1 ]"
ok "[ \$(kcat -b $bs -C -t $t.dead -e -q -f '%s\n' 2>/dev/null | grep -ac 'schema id 99, expected 11') -eq $n_wrong ]"
# output framing: 00, id, count 1 (02), index (zig-zag): DeadLetter 12 -> 18, Metrics 8 -> 10,
# ModelSnapshot 9 -> 12 (or SnapshotChunk 10 -> 14)
ok "[ \"\$(heads $t.dead | sort -u)\" = 000000000f0218 ]"
ok "[ \"\$(heads $t.metrics | sort -u)\" = 000000000e0210 ]"
ok "[ \$(heads $t.metrics | wc -l) -ge 5 ]"
snap_heads=$(heads "$t.snapshots" | sort -u | tr '\n' ' ')
echo "snapshot headers: $snap_heads"
ok "[ \"\$(heads $t.snapshots | grep -vc '^000000000d02\(12\|14\)$')\" -eq 0 ]"
ok "[ \$(heads $t.snapshots | wc -l) -ge 2 ]"

"$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$t.snapshots" --schema-id 13 --json --wait 10 \
  > "$tmp/inspect.json" 2> "$tmp/inspect.err"
ok "[ $? -eq 0 ]"
ok "grep -q '\"model_id\":\"petra-default\"' $tmp/inspect.json"
"$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$t.snapshots" --json --wait 5 > /dev/null 2> "$tmp/inspect_raw.err"
ok "[ $? -ne 0 ]" # framed snapshots are not raw ones

"$bin/petra" score --config "$tmp/petrad.conf" --group "$t-score" --output-topic "$t.scores" --start earliest \
  --wait-snapshot 30 --exit-at-end > "$tmp/score.json" 2> "$tmp/score.err"
ok "[ $? -eq 0 ]"
tail -n 1 "$tmp/score.err"
scores=$(kcat -b "$bs" -C -t "$t.scores" -e -q -f '%o\n' 2>/dev/null | wc -l)
echo "scores: $scores"
ok "[ $scores -ge $((framed_events / 2)) ]"
ok "[ \"\$(heads $t.scores | sort -u)\" = 0000000010021a ]"
# a scorer without the framing settings cannot read the framed topics: it finds no snapshot
sed '/^wire\./d' "$tmp/petrad.conf" > "$tmp/raw.conf"
timeout 60 "$bin/petra" score --config "$tmp/raw.conf" --group "$t-raw" --output-topic "$t.scores-raw" \
  --start earliest --wait-snapshot 5 --exit-at-end > /dev/null 2> "$tmp/score_raw.err"
ok "[ $? -ne 0 ]"
ok "grep -q 'no snapshot' $tmp/score_raw.err"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
