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
#   deploy/kafka/kafka.sh run-class CLASS [ARG...]
#                                                run a Kafka CLI class (kafka.admin.AclCommand, ...)
#
# start --security=sasl_ssl: clients connect with SASL_SSL (SCRAM-SHA-512 over
# TLS) instead of PLAINTEXT, and an authorizer refuses what no ACL allows
# (docs/security.md). The first start makes a CA and the broker's certificate
# (SAN IP:127.0.0.1) in D/tls, and users admin (a super user), engine and
# producer with random passwords; D/client/USER.conf (librdkafka, kcat -F) and
# D/client/USER.properties (Java, --command-config) connect as each.
# Defaults: --port=19092 (controller on port+1), --dir=/tmp/loyalty-kafka-<port>.
# The data directory survives stop/start, so a broker restart keeps its log.
# A start refuses (exit 3) a port that something else answers on, rather than
# share another run's broker; with --find-port (and --dir) it takes the first
# free pair of N, N+10, ... instead. Either way the port is written to D/port.
# Jars are cached in .cache/kafka/<version>/libs (ignored by git); set
# LOYALTY_JAR_CACHE to move it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/deploy/kafka"
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
CACHE=${LOYALTY_JAR_CACHE:-$ROOT/.cache/kafka/$VERSION}
PORT=19092
DIR=""
FIND_PORT=0
PORT_GIVEN=0
# shellcheck source=../../scripts/lib/ports.sh
. "$ROOT/scripts/lib/ports.sh"

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
if [ "$cmd" = run-class ]; then RUN_CLASS_ARGS=("$@"); set --; fi
# --security is kafka.sh's own; the rest are every server script's.
SECURITY=""
args=()
for arg in "$@"; do
  case "$arg" in
    --security=*) SECURITY=${arg#--security=} ;;
    *) args+=("$arg") ;;
  esac
done
case "$SECURITY" in
  "" | plaintext | sasl_ssl) ;;
  *) echo "kafka.sh: --security=$SECURITY: not plaintext or sasl_ssl" >&2; exit 2 ;;
esac
server_args kafka.sh ${args[@]+"${args[@]}"}
if [ "$FIND_PORT" = 1 ] && [ -z "$DIR" ]; then
  echo "kafka.sh: --find-port needs --dir (the port is written to D/port)" >&2; exit 2
fi
DIR=${DIR:-/tmp/loyalty-kafka-$PORT}
# stop and status without --port mean the port this directory's broker took.
if [ "$PORT_GIVEN" = 0 ] && [ "$cmd" != start ] && [ -f "$DIR/port" ]; then PORT=$(cat "$DIR/port"); fi
CONTROLLER_PORT=$((PORT + 1))
# A broker keeps the security it was first started with (D/security).
if [ -z "$SECURITY" ] && [ -f "$DIR/security" ]; then SECURITY=$(cat "$DIR/security"); fi
SECURITY=${SECURITY:-plaintext}
SASL_USERS="admin engine producer"

need_java() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    echo "kafka.sh: installing a JDK and Maven from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven
  fi
}

fetch() {
  # .complete holds the digest of the pom it was fetched for: a changed pom
  # (a new dependency) fetches again.
  local pom_sum
  pom_sum=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)
  if [ -f "$CACHE/.complete" ] && [ "$(cat "$CACHE/.complete")" = "$pom_sum" ]; then return 0; fi
  mkdir -p "$CACHE"
  # Tests start their brokers in parallel on a fresh clone: one fetch at a
  # time (the others wait here, then find it complete), and the jars appear
  # under libs/ only once all of them are there.
  exec 9>"$CACHE/.lock"
  flock 9
  if [ ! -f "$CACHE/.complete" ] || [ "$(cat "$CACHE/.complete")" != "$pom_sum" ]; then
    need_java
    echo "kafka.sh: fetching Apache Kafka $VERSION from Maven Central into $CACHE"
    rm -rf "$CACHE/libs" "$CACHE/libs.partial"
    mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$CACHE/libs.partial"
    mv "$CACHE/libs.partial" "$CACHE/libs"
    echo "$pom_sum" > "$CACHE/.complete"
  fi
  flock -u 9
  exec 9>&-
}

# kcat's options to reach the broker as admin (as anyone, in plaintext).
admin_kcat() {
  if [ "$SECURITY" = sasl_ssl ]; then KCAT=(kcat -F "$DIR/client/admin.conf"); else KCAT=(kcat); fi
}
serves() { admin_kcat; "${KCAT[@]}" -b "127.0.0.1:$PORT" -L -m 2 >/dev/null 2>&1; }

# The listeners. sasl_ssl: clients and the broker's own inter-broker
# connections use SASL_SSL, the latter as admin; the controller listener
# stays PLAINTEXT on 127.0.0.1, its principal (User:ANONYMOUS) a super user
# like admin.
listener_config() {
  if [ "$SECURITY" != sasl_ssl ]; then
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
    return 0
  fi
  cat <<PROPS
listeners=SASL_SSL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$(jaas admin)
ssl.keystore.type=PEM
ssl.keystore.location=$DIR/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$DIR/tls/ca.pem
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
PROPS
}

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  {
    cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
PROPS
    listener_config
    cat <<PROPS
log.dirs=$DIR/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
log.flush.interval.messages=9223372036854775807
PROPS
  } > "$DIR/server.properties"
}

password() { cat "$DIR/client/$1.password"; }
jaas() {
  echo "org.apache.kafka.common.security.scram.ScramLoginModule required" \
    "username=\"$1\" password=\"$(password "$1")\";"
}

# sasl_ssl, once per directory: a CA, the broker's key and certificate signed
# by it, and each user's password and client configurations.
make_credentials() {
  [ -f "$DIR/tls/broker.pem" ] && return 0
  command -v openssl >/dev/null || { echo "kafka.sh: openssl is missing" >&2; return 1; }
  local tls="$DIR/tls" user
  rm -rf "$tls" "$DIR/client"
  mkdir -p "$tls" "$DIR/client"
  chmod 700 "$tls" "$DIR/client"
  # Called where set -e does not apply (start_once ||): each step checked.
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Loyalty Ledger test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>"$tls/openssl.log" &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>>"$tls/openssl.log" &&
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
    > "$tls/broker.ext" &&
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls/broker.ext" -out "$tls/broker.crt" \
    2>>"$tls/openssl.log" || {
    echo "kafka.sh: openssl could not make the test CA and certificate:" >&2
    cat "$tls/openssl.log" >&2
    return 1
  }
  # Kafka's PEM key store: the PKCS#8 key, then the certificate chain.
  cat "$tls/broker.key" "$tls/broker.crt" > "$tls/broker.pem.partial" || return 1
  for user in $SASL_USERS; do
    openssl rand -hex 16 > "$DIR/client/$user.password" || return 1
    cat > "$DIR/client/$user.conf" <<CONF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$user
sasl.password=$(password "$user")
ssl.ca.location=$tls/ca.pem
CONF
    cat > "$DIR/client/$user.properties" <<CONF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$(jaas "$user")
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
CONF
  done
  mv "$tls/broker.pem.partial" "$tls/broker.pem"
}

# The arguments of kafka-storage format that create the users (sasl_ssl).
scram_args() {
  SCRAM_ARGS=()
  [ "$SECURITY" = sasl_ssl ] || return 0
  local user
  for user in $SASL_USERS; do
    SCRAM_ARGS+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(password "$user")]")
  done
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
  if [ "$SECURITY" = sasl_ssl ]; then make_credentials || return 1; fi
  write_config
  echo "$PORT" > "$DIR/port"
  java_args
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local id
    id=$(java "${JAVA_ARGS[@]}" kafka.tools.StorageTool random-uuid)
    scram_args
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" \
      ${SCRAM_ARGS[@]+"${SCRAM_ARGS[@]}"} >/dev/null
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
      echo "kafka.sh: Kafka $VERSION serves 127.0.0.1:$PORT$([ "$SECURITY" = plaintext ] || echo " ($SECURITY)")" \
        "(pid $(cat "$DIR/kafka.pid"), data $DIR)"
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
  if [ -f "$DIR/security" ] && [ "$(cat "$DIR/security")" != "$SECURITY" ]; then
    echo "kafka.sh: the broker of $DIR was made with --security=$(cat "$DIR/security")," \
      "not $SECURITY" >&2
    exit 2
  fi
  if own_broker_alive && serves; then
    echo "kafka.sh: the broker of $DIR already serves 127.0.0.1:$PORT"; return 0
  fi
  mkdir -p "$DIR"
  # Only a broker that is not plaintext says so: plaintext directories stay
  # as they were.
  if [ "$SECURITY" != plaintext ]; then echo "$SECURITY" > "$DIR/security"; fi
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

# run-class CLASS ARG...: a Kafka command-line class on the cached jars, its
# log4j lines (warnings and worse) on stderr.
run_class() {
  fetch >&2
  exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$HERE/tools-log4j.properties" -cp "$CACHE/libs/*" \
    ${RUN_CLASS_ARGS[@]+"${RUN_CLASS_ARGS[@]}"}
}

case "$cmd" in
  fetch) fetch ;;
  run-class) run_class ;;
  start) start ;;
  stop) stop ;;
  status) serves ;;
  --help|-h|help) usage ;;
  *) echo "kafka.sh: unknown command '$cmd' (see --help)" >&2; exit 2 ;;
esac
