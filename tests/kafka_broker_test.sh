#!/usr/bin/env bash
# The project's Kafka broker script: fetch from Maven Central, start a KRaft
# broker, serve, stop, and restart on the same data directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${LOYALTY_TEST_KAFKA_PORT:-19292}
DIR=$(mktemp -d /tmp/loyalty-kafka-test.XXXXXX)
kafka() { "$ROOT/deploy/kafka/kafka.sh" "$@" --port="$PORT" --dir="$DIR"; }
trap 'kafka stop >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Another run's broker may hold $PORT: take the next free one, and keep it.
kafka start --find-port
PORT=$(cat "$DIR/port")
kafka status || fail "not serving after start"
grep -q "broker 1 at 127.0.0.1:$PORT" <<<"$(kcat -b "127.0.0.1:$PORT" -L)" || fail "metadata lacks broker 1"
cluster=$(grep cluster.id "$DIR/data/meta.properties")
# A second broker on the same port must be refused, not share this one.
rc=0
"$ROOT/deploy/kafka/kafka.sh" start --port="$PORT" --dir="$DIR.other" >/dev/null 2>&1 || rc=$?
rm -rf "$DIR.other"
[ "$rc" = 3 ] || fail "a start on a port another broker serves exited $rc, not 3"
kafka stop
if kafka status; then fail "still serving after stop"; fi
kafka start
kafka status || fail "not serving after restart"
[ "$(grep cluster.id "$DIR/data/meta.properties")" = "$cluster" ] || fail "restart reformatted the log"
kafka stop
echo "kafka_broker_test: 1 passed, 0 failed"
