#!/usr/bin/env bash
# Shared by the backpressure, broker-pause and overload scripts: labelled transactions for
# audit-checked runs. petra gen's events get a label each (so every event becomes one
# example) and petra replay numbers them 1..N as event ids; the trainer's audit file then
# shows which reached training.
#   labelled_events.sh BIN_DIR OUT_CSV COUNT SEED        writes the CSV, prints N
#   labelled_events.sh BIN_DIR OUT_CSV --replay BOOTSTRAP TOPIC [RATE]   streams it
#   labelled_events.sh --check AUDIT_FILE N   exits 1 unless every id 1..N is in the audit file
set -euo pipefail
if [ "$1" = "--check" ]; then
  exec python3 - "$2" "$3" <<'PY'
import sys
ids = [int(l) for l in open(sys.argv[1]) if not l.startswith('#')]
seen, n = set(ids), int(sys.argv[2])
missing = sum(1 for i in range(1, n + 1) if i not in seen)
print(f"audit: {len(ids)} lines for {n} events, {missing} missing, {len(ids) - (n - missing)} duplicates")
sys.exit(1 if missing else 0)
PY
fi
bin=$1 csv=$2
if [ "$3" != "--replay" ]; then
  "$bin/petra" gen --count "$3" --seed "$4" | awk -F, 'NR == 1 {print "entity_id,time_ms,amount,mcc,channel,hour_sin,hour_cos,label"; next}
    $1 == "event" {print $2 "," $3 "," $4 "," $5 "," $6 "," $7 "," $8 "," ($5 >= 200 ? 1 : 0)}' > "$csv"
  echo $(( $(wc -l < "$csv") - 1 ))
  exit 0
fi
rate=()
[ -n "${6:-}" ] && rate=(--rate "$6")
# PETRA_PARTITIONS=N: create the topic with N partitions (rows are keyed by entity)
[ -n "${PETRA_PARTITIONS:-}" ] && rate+=(--partitions "$PETRA_PARTITIONS")
exec "$bin/petra" replay --csv "$csv" --brokers "$4" --topic "$5" --kind events --entity entity_id --time time_ms \
  --amount amount --categorical mcc=mcc,channel=channel --numeric hour_sin,hour_cos --label label "${rate[@]}"
