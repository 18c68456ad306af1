#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, combined broker + controller) on
# 127.0.0.1 for tests and benchmarks.
#
#   deploy/kafka/kafka.sh fetch                  fetch the pinned jars from Maven Central
#   deploy/kafka/kafka.sh start [--port=N] [--dir=D]
#                                                format D (once) and start; waits until it serves
#   deploy/kafka/kafka.sh stop  [--port=N] [--dir=D]
#                                                SIGTERM, then SIGKILL after 30 s
#   deploy/kafka/kafka.sh status [--port=N]      exit 0 if it serves
#
# Defaults: --port=19092 (controller on port+1), --dir=/tmp/loyalty-kafka-<port>.
# The data directory survives stop/start, so a broker restart keeps its log.
# Jars are cached in .cache/kafka/<version>/libs (ignored by git); set
# LOYALTY_KAFKA_CACHE to move it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/deploy/kafka"
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
CACHE=${LOYALTY_KAFKA_CACHE:-$ROOT/.cache/kafka/$VERSION}
PORT=19092
DIR=""

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
for arg in "$@"; do
  case "$arg" in
    --port=*) PORT=${arg#--port=} ;;
    --dir=*) DIR=${arg#--dir=} ;;
    --help|-h) usage; exit 0 ;;
    *) echo "kafka.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
CONTROLLER_PORT=$((PORT + 1))
DIR=${DIR:-/tmp/loyalty-kafka-$PORT}

need_java() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    echo "kafka.sh: installing a JDK and Maven from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven
  fi
}

fetch() {
  if [ -f "$CACHE/.complete" ]; then return 0; fi
  need_java
  echo "kafka.sh: fetching Apache Kafka $VERSION from Maven Central into $CACHE"
  rm -rf "$CACHE/libs"
  mkdir -p "$CACHE"
  mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$CACHE/libs"
  touch "$CACHE/.complete"
}

serves() { kcat -b "127.0.0.1:$PORT" -L -m 2 >/dev/null 2>&1; }

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  cat > "$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
}

java_args() {
  JAVA_ARGS=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dkafka.logs.dir=$DIR/logs" "-Dlog4j.configuration=file:$HERE/log4j.properties"
    -cp "$CACHE/libs/*")
}

start() {
  fetch
  command -v kcat >/dev/null || { echo "kafka.sh: kcat is missing (scripts/install-deps.sh)" >&2; exit 1; }
  if serves; then echo "kafka.sh: a broker already serves 127.0.0.1:$PORT"; return 0; fi
  write_config
  java_args
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local id
    id=$(java "${JAVA_ARGS[@]}" kafka.tools.StorageTool random-uuid)
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" \
      >/dev/null
  fi
  # Its own session, so that it outlives this script and its caller's signals.
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$DIR/server.properties" \
    > "$DIR/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$DIR/kafka.pid"
  for _ in $(seq 1 120); do
    if serves; then
      echo "kafka.sh: Kafka $VERSION serves 127.0.0.1:$PORT (pid $(cat "$DIR/kafka.pid"), data $DIR)"
      return 0
    fi
    if ! kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null; then
      echo "kafka.sh: the broker exited; last lines of $DIR/logs:" >&2
      tail -n 30 "$DIR/logs/stdout.log" "$DIR/logs/server.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.5
  done
  echo "kafka.sh: the broker did not serve 127.0.0.1:$PORT within 60 s; see $DIR/logs" >&2
  exit 1
}

stop() {
  local pidfile="$DIR/kafka.pid"
  if [ ! -f "$pidfile" ]; then echo "kafka.sh: no broker started in $DIR"; return 0; fi
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: broker $pid ignored SIGTERM for 30 s; killing it"
      kill -KILL "$pid" || true
    fi
  fi
  rm -f "$pidfile"
  echo "kafka.sh: stopped the broker on 127.0.0.1:$PORT"
}

case "$cmd" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) serves ;;
  --help|-h|help) usage ;;
  *) echo "kafka.sh: unknown command '$cmd' (see --help)" >&2; exit 2 ;;
esac
