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

start() {
  local dir=$1
  fetch
  command -v java >/dev/null || { log "java not found: apt-get install openjdk-17-jre-headless"; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "a broker already runs from $dir (pid $(cat "$dir/pid"))"; cat "$dir/bootstrap"; return 0
  fi
  rm -rf "$dir/data" "$dir/pid" "$dir/bootstrap"
  local port cport
  port=$(free_port); cport=$(free_port)
  while [ "$cport" = "$port" ]; do cport=$(free_port); done
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
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
       -c "$dir/server.properties" > "$dir/format.log" 2>&1 \
    || { log "storage format failed:"; cat "$dir/format.log" >&2; exit 1; }
  : > "$dir/broker.log"
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
    if kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; then
      echo "127.0.0.1:$port" > "$dir/bootstrap"
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
  rm -f "$dir/pid" "$dir/bootstrap"
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
  stop) stop "${2:?usage: broker.sh stop DIR}" ;;
  restart) restart "${2:?usage: broker.sh restart DIR [DOWN_SECONDS]}" "${3:-5}" ;;
  *) echo "usage: broker.sh fetch|start DIR|stop DIR|restart DIR [DOWN_SECONDS]" >&2; exit 2 ;;
esac
