#!/usr/bin/env bash
# TLS + SASL against a real broker: this test starts its own Kafka 4.1.1 with a SASL_SSL
# listener (tests/kafka/broker.sh start-secure: a CA and broker certificate made with openssl,
# user petra) and connects every program through it:
#   - the password comes from a systemd-style credential ($CREDENTIALS_DIRECTORY, named by
#     kafka.sasl.password_file), never from the config file;
#   - petra gen and petra replay produce, petrad trains and publishes, petra inspect and
#     petra score read — all over SASL_SSL (PLAIN over TLS);
#   - the password appears in no log line, no status, no metrics page, no --help-config;
#   - a wrong password and an untrusted certificate give a clear reason quickly (tools exit
#     1, petrad stays up with health degraded naming the cause), not a hang;
#   - SCRAM-SHA-512: with librdkafka < 2.6.1 (Debian 12: 2.0.2) it cannot authenticate against
#     Kafka 4.x (librdkafka#4895) — the tools say so with that hint; with a fixed librdkafka it
#     must work.
set -u
bin=${PETRA_BIN:?}
src=${PETRA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
kdir=$tmp/kafka
cleanup() {
  for f in "$tmp"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  "$src/tests/kafka/broker.sh" stop "$kdir" > /dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
# health_of CONF NAME RUN_FOR AT: petrad on CONF for RUN_FOR s, its health asked at AT s into
# $tmp/health_NAME.txt (exit code in hrc); its stdout/stderr in $tmp/petrad_NAME.{out,err}
health_of() {
  "$bin/petrad" --config "$tmp/$1.conf" --state-dir "$tmp/state-$2" --control-socket "$tmp/$2.sock" \
    --run-for "$3" > "$tmp/petrad_$2.out" 2> "$tmp/petrad_$2.err" &
  echo $! > "$tmp/petrad.pid"
  sleep "$4"
  "$bin/petractl" --socket "$tmp/$2.sock" health > "$tmp/health_$2.txt" 2>&1
  hrc=$?
  wait "$(cat "$tmp/petrad.pid")"
  rm -f "$tmp/petrad.pid"
}
jget() { python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print($2)" "$1"; }

"$src/tests/kafka/broker.sh" start-secure "$kdir" > /dev/null || { echo "secure broker did not start"; exit 1; }
plain=$(cat "$kdir/bootstrap")
secure=$(cat "$kdir/bootstrap_sasl_ssl")
pw=$(cat "$kdir/sasl_password")
echo "broker: PLAINTEXT $plain, SASL_SSL $secure"
mkdir -p "$tmp/creds"
cp "$kdir/sasl_password" "$tmp/creds/kafka-password"
echo "not-the-password" > "$tmp/creds/wrong-password"
export CREDENTIALS_DIRECTORY=$tmp/creds
t=sec-$$-$RANDOM
conf() { # NAME MECHANISM CREDENTIAL CA
  cat > "$tmp/$1.conf" <<EOF
kafka.brokers = $secure
kafka.group_id = $t-$1
topics.events = $t.events
topics.labels = $t.labels
topics.snapshots = $t.snapshots
topics.metrics = $t.metrics
topics.deadletter = $t.dead
snapshot.interval_s = 2
consumer.auto.offset.reset = earliest
kafka.security.protocol = SASL_SSL
kafka.sasl.mechanisms = $2
kafka.sasl.username = petra
kafka.sasl.password_file = $3
kafka.ssl.ca.location = $4
EOF
}
conf good PLAIN kafka-password "$kdir/tls/ca.pem"
conf wrongpw PLAIN wrong-password "$kdir/tls/ca.pem"
conf scram SCRAM-SHA-512 kafka-password "$kdir/tls/ca.pem"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=another CA" -keyout "$tmp/other.key" \
  -out "$tmp/other.pem" > /dev/null 2>&1
conf untrusted PLAIN kafka-password "$tmp/other.pem"
ok "! grep -q '$pw' $tmp/good.conf"

# producing over SASL_SSL: gen (events + labels) and replay (a CSV of events)
"$bin/petra" gen --kind tx --count 40000 --seed 1 --config "$tmp/good.conf" --events-topic "$t.events" \
  --labels-topic "$t.labels" > /dev/null 2> "$tmp/gen.err"
ok "[ $? -eq 0 ]"
"$bin/petra" gen --kind tx --count 200 --seed 5 > "$tmp/gen.csv"
grep '^event,' "$tmp/gen.csv" | cut -d, -f2-6 | sed '1i entity_id,time_ms,amount,mcc,channel' > "$tmp/events.csv"
"$bin/petra" replay --config "$tmp/good.conf" --csv "$tmp/events.csv" --topic "$t.events" --entity entity_id \
  --time time_ms --amount amount --categorical mcc=mcc,channel=channel 2> "$tmp/replay.err"
ok "[ $? -eq 0 ]"
tail -n 1 "$tmp/replay.err"
n_events=$(kcat -b "$plain" -C -t "$t.events" -e -q -f '%o\n' 2>/dev/null | wc -l)
echo "events on the topic (read over PLAINTEXT): $n_events"
ok "[ $n_events -gt 38000 ]"

# petrad over SASL_SSL, its password from the credential; status and metrics while it runs
"$bin/petrad" --config "$tmp/good.conf" --state-dir "$tmp/state" --control-socket "$tmp/good.sock" \
  --set metrics.http_port=0 --run-for 14 > "$tmp/petrad.out" 2> "$tmp/petrad.err" &
echo $! > "$tmp/petrad.pid"
sleep 8
"$bin/petractl" --socket "$tmp/good.sock" --json status > "$tmp/status.json" 2>&1
"$bin/petractl" --socket "$tmp/good.sock" metrics > "$tmp/metrics.txt" 2>&1
"$bin/petractl" --socket "$tmp/good.sock" health > "$tmp/health.txt" 2>&1
wait "$(cat "$tmp/petrad.pid")"
ok "[ $? -eq 0 ]"
rm -f "$tmp/petrad.pid"
events=$(jget "$tmp/petrad.out" "d['events']")
snaps=$(jget "$tmp/petrad.out" "d['snapshots_published']")
echo "petrad over SASL_SSL: events $events of $n_events, snapshots $snaps, ingest $(jget "$tmp/petrad.out" "d['ingest_events_per_s']") events/s"
ok "[ $events -eq $n_events ]"
ok "[ $snaps -ge 1 ]"
ok "grep -q '\"events\"' $tmp/status.json"
"$bin/petrad" --help-config > "$tmp/help.txt" 2>&1
"$bin/petrad" --check-config --config "$tmp/good.conf" > "$tmp/check.txt" 2>&1
ok "grep -q 'configuration ok' $tmp/check.txt"
for f in petrad.out petrad.err status.json metrics.txt health.txt help.txt check.txt gen.err replay.err; do
  ok "! grep -q -- '$pw' $tmp/$f"
done

"$bin/petra" inspect --from-kafka --config "$tmp/good.conf" --json --wait 15 > "$tmp/inspect.json" 2> "$tmp/inspect.err"
ok "[ $? -eq 0 ]"
ok "grep -q '\"model_id\":\"petra-default\"' $tmp/inspect.json"
"$bin/petra" score --config "$tmp/good.conf" --group "$t-score" --output-topic "$t.scores" --start earliest \
  --wait-snapshot 30 --exit-at-end > "$tmp/score.json" 2> "$tmp/score.err"
ok "[ $? -eq 0 ]"
ok "[ \$(jget $tmp/score.json \"d['scored']\") -gt 10000 ]"
ok "! grep -q -- '$pw' $tmp/score.err"

# a wrong password: the tools stop at once with the reason; petrad stays up, degraded
start=$(date +%s)
timeout 60 "$bin/petra" gen --kind tx --count 100 --config "$tmp/wrongpw.conf" --events-topic "$t.x" \
  --labels-topic "$t.y" > /dev/null 2> "$tmp/gen_wrong.err"
rc=$? took=$(( $(date +%s) - start ))
echo "gen, wrong password: exit $rc after ${took}s: $(grep -m1 'authentication failed' "$tmp/gen_wrong.err" | cut -c1-160)"
ok "[ $rc -eq 1 ] && [ $took -lt 30 ]"
ok "grep -q 'kafka authentication failed' $tmp/gen_wrong.err"
start=$(date +%s)
timeout 60 "$bin/petra" score --config "$tmp/wrongpw.conf" --output-topic "$t.s2" --wait-snapshot 50 \
  > /dev/null 2> "$tmp/score_wrong.err"
rc=$? took=$(( $(date +%s) - start ))
ok "[ $rc -eq 1 ] && [ $took -lt 30 ]"
ok "grep -q 'authentication failed' $tmp/score_wrong.err"
health_of wrongpw wrong 12 7
echo "petrad, wrong password: health exit $hrc: $(head -c 300 "$tmp/health_wrong.txt")"
ok "[ $hrc -eq 1 ]"
ok "grep -q 'authentication failed' $tmp/health_wrong.txt"
ok "grep -q 'kafka_auth_failed' $tmp/petrad_wrong.err"
ok "! grep -q -- '$pw' $tmp/petrad_wrong.err"

# a certificate signed by a CA we do not trust
start=$(date +%s)
timeout 60 "$bin/petra" inspect --from-kafka --config "$tmp/untrusted.conf" --wait 50 > /dev/null 2> "$tmp/inspect_ca.err"
rc=$? took=$(( $(date +%s) - start ))
echo "inspect, untrusted CA: exit $rc after ${took}s: $(grep -m1 'TLS' "$tmp/inspect_ca.err" | cut -c1-200)"
ok "[ $rc -eq 1 ] && [ $took -lt 30 ]"
ok "grep -q 'TLS handshake failed.*not trusted' $tmp/inspect_ca.err"
health_of untrusted ca 10 6
ok "[ $hrc -eq 1 ] && grep -q 'TLS handshake failed' $tmp/health_ca.txt"

# SCRAM-SHA-512 with the right password
timeout 60 "$bin/petra" gen --kind tx --count 100 --config "$tmp/scram.conf" --events-topic "$t.scram" \
  --labels-topic "$t.scram-l" > /dev/null 2> "$tmp/gen_scram.err"
rc=$?
lib=$("$bin/petra" version | sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p')
echo "SCRAM-SHA-512 with librdkafka $lib: exit $rc $(grep -m1 -o 'hint: librdkafka before 2.6.1[^;]*' "$tmp/gen_scram.err")"
if printf '%s\n2.6.1\n' "$lib" | sort -V | head -n1 | grep -qx 2.6.1; then
  ok "[ $rc -eq 0 ]"
else
  ok "[ $rc -eq 1 ] && grep -q 'librdkafka before 2.6.1 fails SCRAM against Kafka 4.x' $tmp/gen_scram.err"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
