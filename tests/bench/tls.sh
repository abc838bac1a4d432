#!/usr/bin/env bash
# Ingest throughput over SASL_SSL (TLS, SASL PLAIN) against PLAINTEXT, one broker with both
# listeners (tests/kafka/broker.sh start-secure), the same N generated events, petrad reading
# the topic from the start under a fresh group each run. Runs alternate (plain, tls) RUNS times
# and print each, then the medians and their ratio:
#   tests/bench/tls.sh [N=1000000] [RUNS=3]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PETRA_BIN:-$top/build}
n=${1:-1000000}
runs=${2:-3}
work=$(mktemp -d /tmp/petra-tls-XXXXXX)
trap '"$top/tests/kafka/broker.sh" stop "$work/kafka" >/dev/null 2>&1; rm -rf "$work"' EXIT
"$top/tests/kafka/broker.sh" start-secure "$work/kafka" > /dev/null
plain=$(cat "$work/kafka/bootstrap")
secure=$(cat "$work/kafka/bootstrap_sasl_ssl")
mkdir -p "$work/creds"
cp "$work/kafka/sasl_password" "$work/creds/pw"
export CREDENTIALS_DIRECTORY=$work/creds
common="topics.events = tls-events
topics.labels = tls-labels-empty
kafka.poll_budget = 20000"
printf 'kafka.brokers = %s\n%s\n' "$plain" "$common" > "$work/plain.conf"
printf 'kafka.brokers = %s\n%s\nkafka.security.protocol = SASL_SSL\nkafka.sasl.mechanisms = PLAIN\nkafka.sasl.username = petra\nkafka.sasl.password_file = pw\nkafka.ssl.ca.location = %s\n' \
  "$secure" "$common" "$work/kafka/tls/ca.pem" > "$work/tls.conf"
"$bin/petra" gen --kind tx --count "$n" --brokers "$plain" --events-topic tls-events --labels-topic tls-labels-unused \
  2> /dev/null
secs=$(( n / 150000 + 15 ))
for i in $(seq 1 "$runs"); do
  for mode in plain tls; do
    "$bin/petrad" --quiet --config "$work/$mode.conf" --control-socket "$work/ctl.sock" --state-dir "$work/state-$mode-$i" \
      --set kafka.group_id="tls-$mode-$i" --set consumer.auto.offset.reset=earliest --run-for "$secs" \
      > "$work/$mode.$i" 2> "$work/$mode.$i.log" || { tail -20 "$work/$mode.$i.log"; exit 1; }
    python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(sys.argv[2], sys.argv[3], d['events'], d['ingest_events_per_s'])" \
      "$work/$mode.$i" "$mode" "$i"
  done
done | tee "$work/all"
python3 - "$work/all" "$n" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {m: statistics.median(float(r[3]) for r in rows if r[0] == m) for m in ("plain", "tls")}
print(json.dumps({"bench": "tls_ingest", "events": int(sys.argv[2]), "plaintext_events_per_s": round(med["plain"]),
                  "sasl_ssl_events_per_s": round(med["tls"]), "ratio_sasl_ssl_to_plaintext": round(med["tls"] / med["plain"], 3)}))
PY
