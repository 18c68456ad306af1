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

kafka start
kafka status || fail "not serving after start"
kcat -b "127.0.0.1:$PORT" -L | grep -q "broker 1 at 127.0.0.1:$PORT" || fail "metadata lacks broker 1"
cluster=$(grep cluster.id "$DIR/data/meta.properties")
kafka stop
if kafka status; then fail "still serving after stop"; fi
kafka start
kafka status || fail "not serving after restart"
[ "$(grep cluster.id "$DIR/data/meta.properties")" = "$cluster" ] || fail "restart reformatted the log"
kafka stop
echo "kafka_broker_test: 1 passed, 0 failed"
