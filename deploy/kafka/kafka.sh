#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, combined broker + controller) on
# 127.0.0.1 for tests and benchmarks.
#
#   deploy/kafka/kafka.sh fetch                  fetch the pinned jars from Maven Central
#   deploy/kafka/kafka.sh start [--port=N] [--dir=D] [--find-port]
#                                                format D (once) and start; waits until it serves
#   deploy/kafka/kafka.sh stop  [--port=N] [--dir=D]
#                                                SIGTERM, then SIGKILL after 30 s
#   deploy/kafka/kafka.sh status [--port=N] [--dir=D]   exit 0 if it serves
#
# Defaults: --port=19092 (controller on port+1), --dir=/tmp/loyalty-kafka-<port>.
# The data directory survives stop/start, so a broker restart keeps its log.
# A start refuses (exit 3) a port that something else answers on, rather than
# share another run's broker; with --find-port (and --dir) it takes the first
# free pair of N, N+10, ... instead. Either way the port is written to D/port.
# Jars are cached in .cache/kafka/<version>/libs (ignored by git); set
# LOYALTY_KAFKA_CACHE to move it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/deploy/kafka"
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
CACHE=${LOYALTY_KAFKA_CACHE:-$ROOT/.cache/kafka/$VERSION}
PORT=19092
DIR=""
FIND_PORT=0
PORT_GIVEN=0
# shellcheck source=../../scripts/lib/ports.sh
. "$ROOT/scripts/lib/ports.sh"

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
server_args kafka.sh "$@"
if [ "$FIND_PORT" = 1 ] && [ -z "$DIR" ]; then
  echo "kafka.sh: --find-port needs --dir (the port is written to D/port)" >&2; exit 2
fi
DIR=${DIR:-/tmp/loyalty-kafka-$PORT}
# stop and status without --port mean the port this directory's broker took.
if [ "$PORT_GIVEN" = 0 ] && [ "$cmd" != start ] && [ -f "$DIR/port" ]; then PORT=$(cat "$DIR/port"); fi
CONTROLLER_PORT=$((PORT + 1))

need_java() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    echo "kafka.sh: installing a JDK and Maven from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven
  fi
}

fetch() {
  if [ -f "$CACHE/.complete" ]; then return 0; fi
  mkdir -p "$CACHE"
  # Tests start their brokers in parallel on a fresh clone: one fetch at a
  # time (the others wait here, then find it complete), and the jars appear
  # under libs/ only once all of them are there.
  exec 9>"$CACHE/.lock"
  flock 9
  if [ ! -f "$CACHE/.complete" ]; then
    need_java
    echo "kafka.sh: fetching Apache Kafka $VERSION from Maven Central into $CACHE"
    rm -rf "$CACHE/libs" "$CACHE/libs.partial"
    mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$CACHE/libs.partial"
    mv "$CACHE/libs.partial" "$CACHE/libs"
    touch "$CACHE/.complete"
  fi
  flock -u 9
  exec 9>&-
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

# Whether the broker this directory's pid file names is alive.
own_broker_alive() { [ -f "$DIR/kafka.pid" ] && kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null; }

# logged_since N TEXT FILE: whether a line of FILE after its first N has TEXT.
logged_since() { awk -v n="$1" -v t="$2" 'NR > n && index($0, t) { f = 1 } END { exit !f }' "$3" 2>/dev/null; }

# One attempt on $PORT: 0 when it serves, 3 when the port turned out to be
# taken (another process bound it first), 1 on any other failure.
start_once() {
  write_config
  echo "$PORT" > "$DIR/port"
  java_args
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local id
    id=$(java "${JAVA_ARGS[@]}" kafka.tools.StorageTool random-uuid)
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" \
      >/dev/null
  fi
  # server.log is appended to across restarts: only lines after this count.
  local log="$DIR/logs/server.log" seen=0
  [ -f "$log" ] && seen=$(wc -l < "$log")
  # Its own session, so that it outlives this script and its caller's signals.
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$DIR/server.properties" \
    > "$DIR/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$DIR/kafka.pid"
  for _ in $(seq 1 120); do
    # Serving is not enough: another broker may answer on this port while
    # ours fails to bind it. Ours says it started in its own log.
    if logged_since "$seen" "Kafka Server started" "$log" && serves; then
      echo "kafka.sh: Kafka $VERSION serves 127.0.0.1:$PORT (pid $(cat "$DIR/kafka.pid"), data $DIR)"
      return 0
    fi
    if ! own_broker_alive; then
      rm -f "$DIR/kafka.pid"
      if logged_since "$seen" "Address already in use" "$log" ||
          logged_since 0 "Address already in use" "$DIR/logs/stdout.log"; then
        echo "kafka.sh: 127.0.0.1:$PORT or :$CONTROLLER_PORT was taken while the broker started" >&2
        return 3
      fi
      echo "kafka.sh: the broker exited; last lines of $DIR/logs:" >&2
      tail -n 30 "$DIR/logs/stdout.log" "$log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
  echo "kafka.sh: the broker did not serve 127.0.0.1:$PORT within 60 s; see $DIR/logs" >&2
  return 1
}

start() {
  fetch
  command -v kcat >/dev/null || { echo "kafka.sh: kcat is missing (scripts/install-deps.sh)" >&2; exit 1; }
  if own_broker_alive && serves; then
    echo "kafka.sh: the broker of $DIR already serves 127.0.0.1:$PORT"; return 0
  fi
  mkdir -p "$DIR"
  # Another process may bind the port between the check and the broker's
  # start: with --find-port, try the next free pair (a few times).
  local rc
  for _ in 1 2 3 4 5; do
    claim_port kafka.sh 2  # the broker's port and the controller's
    CONTROLLER_PORT=$((PORT + 1))
    rc=0
    start_once || rc=$?
    if [ "$rc" != 3 ] || [ "$FIND_PORT" != 1 ]; then exit "$rc"; fi
    PORT=$((PORT + 10))
  done
  echo "kafka.sh: every port tried was taken while the broker started" >&2
  exit 3
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
