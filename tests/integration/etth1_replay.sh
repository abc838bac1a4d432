#!/usr/bin/env bash
# ETTh1 end to end on the real broker: petra replay streams the CSV as SeriesPoints, petrad
# trains a forecaster on them, and the snapshots it publishes verify (petra inspect reads the
# newest from the topic: sha256, schema, versions); Metrics messages are on their topic.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
data=${PETRA_SOURCE_DIR:?}/../shared/data/ett/ETTh1.csv
t=ett-$$-$RANDOM
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

"$bin/petra" replay --csv "$data" --brokers "$bs" --topic "$t.series" --kind series --time date \
  --series-id etth1 2> "$tmp/replay.log"
ok '[ $? -eq 0 ]'
ok 'grep -q "17420 messages" "$tmp/replay.log"'
"$bin/petrad" --quiet --control-socket "$tmp/ctl.sock" --state-dir "$tmp/state" --set kafka.brokers="$bs" --set kafka.group_id="$t" \
  --set "model.spec=ts window=96 horizon=24 channels=7 arch=linear ci=1 norm=last" \
  --set topics.series="$t.series" --set topics.snapshots="$t.snapshots" \
  --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
  --set snapshot.interval_s=2 --set metrics.interval_s=1 --run-for 15 > "$tmp/out" 2> "$tmp/err"
rc=$?
ok "[ $rc -eq 0 ]"
sum=$(tail -n1 "$tmp/out")
echo "$sum"
py() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ($1) else 1)" "$sum"; }
ok "py \"d['events'] == 17420\""
ok "py \"d['examples'] == 17420 - 120 + 1\""
ok "py \"d['dead_letters'] == 0 and d['checkpoint_failures'] == 0\""
ok "py \"d['snapshots_published'] >= 2 and d['metric_name'] == 'mse'\""
ok "py \"d['naive_metric'] > 0 and d['skill'] > 0\""   # the forecast is scored beside the naive one
"$bin/petra" inspect --from-kafka --brokers "$bs" --topic "$t.snapshots" --json > "$tmp/inspect" 2>&1
ok '[ $? -eq 0 ]'
cat "$tmp/inspect"
ok 'grep -q "\"verified\":true" "$tmp/inspect"'
ok 'grep -q "\"model_id\":\"petra-default\"" "$tmp/inspect"'
n_metrics=$(kcat -b "$bs" -C -t "$t.metrics" -e -q -f '%o\n' 2>/dev/null | wc -l)
ok "[ $n_metrics -ge 5 ]"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
