#!/usr/bin/env bash
# Real Apache Kafka broker for petra's integration tests: single node, KRaft, combined
# broker+controller, loopback only, free ports, small heap.
#
#   broker.sh fetch            gather the broker's jars from Maven Central (cached)
#   broker.sh start DIR        format + start a broker whose state lives in DIR; prints the
#                              bootstrap address and writes it to DIR/bootstrap
#   broker.sh stop DIR         SIGTERM the broker started in DIR, wait, kill if it hangs
#   broker.sh restart DIR [S]  stop it, wait S seconds (default 5), start it again on the
#                              same ports with its data
#   broker.sh start-secure DIR as start, plus a SASL_SSL listener (TLS with a CA and a broker
#                              certificate made here with openssl; user "petra" for SASL PLAIN
#                              and SCRAM-SHA-512, the SCRAM credential created at format time
#                              with Kafka's StorageTool). Note: librdkafka before 2.6.1
#                              (Debian 12 has 2.0.2) cannot do SCRAM with Kafka 4.x brokers
#                              (librdkafka#4895); PLAIN over TLS works with it. Writes
#                              DIR/bootstrap (PLAINTEXT), DIR/bootstrap_sasl_ssl, DIR/tls/ca.pem,
#                              DIR/sasl_user and DIR/sasl_password
#
# Environment: PETRA_KAFKA_VERSION (default 4.1.1), PETRA_KAFKA_CACHE (default
# /var/cache/petra-kafka, else ~/.cache/petra-kafka when that is not writable).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=${PETRA_KAFKA_VERSION:-4.1.1}
cache=${PETRA_KAFKA_CACHE:-}
if [ -z "$cache" ]; then
  if mkdir -p /var/cache/petra-kafka 2>/dev/null && [ -w /var/cache/petra-kafka ]; then
    cache=/var/cache/petra-kafka
  else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/petra-kafka
  fi
fi
jars=$cache/$version

log() { printf 'kafka-harness: %s\n' "$*" >&2; }

fetch() {
  if [ -f "$jars/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: apt-get install maven"; exit 1; }
  log "fetching kafka_2.13:$version jars from Maven Central into $jars"
  rm -rf "$jars.tmp"
  mvn -q -B -f "$here/pom.xml" -Dkafka.version="$version" dependency:copy-dependencies \
      -DoutputDirectory="$jars.tmp" -DincludeScope=runtime
  rm -rf "$jars"; mv "$jars.tmp" "$jars"; touch "$jars/.complete"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A throwaway CA and a broker certificate for 127.0.0.1/localhost (PEM; the key unencrypted,
# PKCS#8, as Kafka's PEM keystore takes it).
make_tls() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=petra test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" > /dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/broker.key" -out "$d/broker.csr" > /dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$d/ext.cnf"
  openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/ext.cnf" -out "$d/broker.crt" > /dev/null 2>&1
  openssl pkcs8 -topk8 -nocrypt -in "$d/broker.key" -out "$d/broker.pk8"
  cat "$d/broker.pk8" "$d/broker.crt" "$d/ca.pem" > "$d/broker.pem"
  chmod 600 "$d"/*.key "$d"/*.pk8 "$d/broker.pem"
}

start() {
  local dir=$1 secure=${2:-0}
  fetch
  command -v java >/dev/null || { log "java not found: apt-get install openjdk-17-jre-headless"; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "a broker already runs from $dir (pid $(cat "$dir/pid"))"; cat "$dir/bootstrap"; return 0
  fi
  rm -rf "$dir/data" "$dir/pid" "$dir/bootstrap" "$dir/bootstrap_sasl_ssl"
  local port cport sport=""
  port=$(free_port); cport=$(free_port)
  while [ "$cport" = "$port" ]; do cport=$(free_port); done
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port" map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" extra=""
  local scram=()
  if [ "$secure" = 1 ]; then
    sport=$(free_port)
    while [ "$sport" = "$port" ] || [ "$sport" = "$cport" ]; do sport=$(free_port); done
    make_tls "$dir/tls"
    local pw; pw=petra-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
    echo petra > "$dir/sasl_user"; printf '%s\n' "$pw" > "$dir/sasl_password"; chmod 600 "$dir/sasl_password"
    listeners="$listeners,SASL_SSL://127.0.0.1:$sport"
    advertised="$advertised,SASL_SSL://127.0.0.1:$sport"
    map="$map,SASL_SSL:SASL_SSL"
    extra="sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_petra=\"$pw\";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$dir/tls/broker.pem
listener.name.sasl_ssl.ssl.client.auth=none"
    scram=(--add-scram "SCRAM-SHA-512=[name=petra,password=$pw]")
  fi
  ( umask 077; : > "$dir/server.properties" )  # may hold the test user's password
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
$extra
controller.quorum.voters=1@127.0.0.1:$cport
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
message.max.bytes=4194304
log.retention.hours=1
PROPS
  local cp="$jars/*"
  java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null)" \
       -c "$dir/server.properties" "${scram[@]}" > "$dir/format.log" 2>&1 \
    || { log "storage format failed:"; cat "$dir/format.log" >&2; exit 1; }
  : > "$dir/broker.log"
  if [ -n "$sport" ]; then echo "127.0.0.1:$sport" > "$dir/bootstrap_sasl_ssl.port"; fi
  launch "$dir" "$port"
}

jopts=(-Xms256m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true -Dorg.slf4j.simpleLogger.defaultLogLevel=info)

# Runs the broker of DIR (formatted, server.properties written) and waits until it answers.
launch() {
  local dir=$1 port=$2
  local cp="$jars/*"
  local t0; t0=$(date +%s.%N)
  setsid java "${jopts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" >> "$dir/broker.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  local i
  for i in $(seq 1 600); do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      log "broker exited during start; last lines of $dir/broker.log:"; tail -n 40 "$dir/broker.log" >&2; exit 1
    fi
    if kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1 && secure_ready "$dir"; then
      echo "127.0.0.1:$port" > "$dir/bootstrap"
      [ -f "$dir/bootstrap_sasl_ssl.port" ] && cp "$dir/bootstrap_sasl_ssl.port" "$dir/bootstrap_sasl_ssl"
      local t1; t1=$(date +%s.%N)
      local ver; ver=$(grep -oE 'Kafka version: [^ ]+' "$dir/broker.log" | head -n1 || true)
      log "broker up on 127.0.0.1:$port (${ver:-version not logged}) after $(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s"
      echo "127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  log "broker not ready after 60 s"; stop "$dir"; exit 1
}

# The SASL_SSL listener (when there is one) answers a client that authenticates.
secure_ready() {
  local dir=$1
  [ -f "$dir/bootstrap_sasl_ssl.port" ] || return 0
  kcat -b "$(cat "$dir/bootstrap_sasl_ssl.port")" -L -m 2 -X security.protocol=SASL_SSL \
    -X sasl.mechanisms=PLAIN -X sasl.username=petra -X sasl.password="$(cat "$dir/sasl_password")" \
    -X ssl.ca.location="$dir/tls/ca.pem" > /dev/null 2>&1
}

stop() {
  local dir=$1
  [ -f "$dir/pid" ] || { log "no broker pid in $dir"; return 0; }
  local pid; pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local i
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "broker $pid ignored SIGTERM for 30 s; killing"; kill -KILL "$pid"; fi
  fi
  rm -f "$dir/pid" "$dir/bootstrap" "$dir/bootstrap_sasl_ssl"
  log "broker stopped"
}

# Stops the broker of DIR, waits DOWN seconds, starts it again on the same ports with its
# data (an outage as clients see it: connections refused, then the same broker back).
restart() {
  local dir=$1 down=${2:-5}
  dir=$(cd "$dir" && pwd)
  local port; port=$(cut -d: -f2 "$dir/bootstrap")
  stop "$dir"
  sleep "$down"
  launch "$dir" "$port" > /dev/null
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:?usage: broker.sh start DIR}" ;;
  start-secure) start "${2:?usage: broker.sh start-secure DIR}" 1 ;;
  stop) stop "${2:?usage: broker.sh stop DIR}" ;;
  restart) restart "${2:?usage: broker.sh restart DIR [DOWN_SECONDS]}" "${3:-5}" ;;
  *) echo "usage: broker.sh fetch|start DIR|start-secure DIR|stop DIR|restart DIR [DOWN_SECONDS]" >&2; exit 2 ;;
esac
