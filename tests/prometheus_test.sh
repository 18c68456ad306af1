#!/usr/bin/env bash
# A real Prometheus (Debian's package) scrapes `loyaltyd run --http` while
# events flow through a real Kafka broker; the test reads Prometheus' HTTP
# API, as a dashboard would:
#   - the scrape target is up, and Prometheus parsed the engine's histograms
#     (a p99 of batch and commit latency comes out of histogram_quantile);
#   - after the input stops, sum(loyalty_consumer_lag) falls to 0;
#   - sum(loyalty_records_applied_total) equals the records produced, and
#     loyalty_events_total plus loyalty_dlq_records_total add up to it;
#   - /readyz says ready and /healthz ok.
# Fails loudly (never skips) when Kafka or Prometheus cannot start.
# Usage: tests/prometheus_test.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d /tmp/loyalty-prometheus-test.XXXXXX)
KAFKA_DIR="$WORK/kafka"
ENGINE_PID=""
PROM_PID=""

fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  [ -n "$ENGINE_PID" ] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null
  [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  "$ROOT/deploy/kafka/kafka.sh" stop --dir="$KAFKA_DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/install-deps.sh installs Debian's package)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Kafka, the topics and the events.
"$ROOT/deploy/kafka/kafka.sh" start --port=19792 --find-port --dir="$KAFKA_DIR" >/dev/null ||
  fail "the Kafka broker did not start (deploy/kafka/kafka.sh; its log is in $KAFKA_DIR/logs)"
BROKERS="127.0.0.1:$(cat "$KAFKA_DIR/port")"
CTL="$BUILD/cmd/loyaltyctl"
"$CTL" --brokers="$BROKERS" create-topics --partitions=4 >/dev/null
cp "$ROOT/programs/cafe.textproto" "$WORK/cafe.textproto"
"$BUILD/tests/testing/loyalty-gen" --out="$WORK/events.jsonl" --events=30000 --members=2000 \
  --seed=91 --cafe-only >/dev/null 2>&1
split -n l/3 -d "$WORK/events.jsonl" "$WORK/chunk."

# The engine, with its metrics endpoint.
HTTP_PORT=$(free_port)
"$BUILD/cmd/loyaltyd" run --quiet --brokers="$BROKERS" --program="$WORK/cafe.textproto" \
  --data-dir="$WORK/data" --http="127.0.0.1:$HTTP_PORT" --instance-id=prometheus-test \
  >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!

# Prometheus, scraping it every second.
PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: loyalty
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
API="http://127.0.0.1:$PROM_PORT/api/v1"
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && break
  kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited: $(tail -5 "$WORK/prometheus.log")"
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null || fail "prometheus not ready after 30 s"

# query EXPR: the first result's value ("" when there is none).
query() {
  curl -sf --get "$API/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
# wait_for EXPR WANT SECONDS: until the query gives WANT.
wait_for() {
  local got=""
  for _ in $(seq 1 $(($3 * 2))); do
    got=$(query "$1")
    [ "$got" = "$2" ] && return 0
    sleep 0.5
  done
  fail "$1 is \"$got\" after $3 s, not $2 (engine log: $(tail -3 "$WORK/engine.log"))"
}

# Events flow in three bursts while Prometheus scrapes.
produced=0
for chunk in "$WORK"/chunk.*; do
  out=$("$CTL" --brokers="$BROKERS" produce "$chunk" 2>&1)
  n=$(sed -n 's/.*; \([0-9]*\) records delivered.*/\1/p' <<<"$out")
  [ -n "$n" ] || fail "produce said: $out"
  produced=$((produced + n))
  sleep 2
done
echo "prometheus_test: $produced records produced"

wait_for 'up{job="loyalty"}' 1 30
wait_for 'sum(loyalty_records_applied_total)' "$produced" 120
wait_for 'sum(loyalty_consumer_lag)' 0 60
events=$(query 'sum(loyalty_events_total)')
dlq=$(query 'sum(loyalty_dlq_records_total)')
[ -n "$events" ] && [ -n "$dlq" ] || fail "no loyalty_events_total or loyalty_dlq_records_total series"
[ "$((events + dlq))" = "$produced" ] ||
  fail "events by outcome ($events) + DLQ ($dlq) != records produced ($produced)"
[ "$dlq" -gt 0 ] || fail "the stream's bad lines reached no DLQ series"
[ "$(query 'loyalty_owned_partitions')" = 4 ] || fail "loyalty_owned_partitions is not 4"
for h in loyalty_batch_duration_seconds loyalty_commit_duration_seconds; do
  p99=$(query "histogram_quantile(0.99, sum by (le) ($h""_bucket))")
  python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v < 30 else 1)" "${p99:-nan}" ||
    fail "$h p99 from Prometheus is \"$p99\""
done
wait_for 'loyalty_ready' 1 30
[ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$HTTP_PORT/readyz")" = 200 ] || fail "/readyz is not 200"
[ "$(curl -s "127.0.0.1:$HTTP_PORT/healthz")" = ok ] || fail "/healthz is not ok"

kill "$ENGINE_PID"
rc=0
wait "$ENGINE_PID" || rc=$?
ENGINE_PID=""
[ "$rc" = 0 ] || fail "SIGTERM: the engine exited $rc ($(tail -3 "$WORK/engine.log"))"
echo "prometheus_test: lag 0, $events events + $dlq DLQ = $produced records; passed"
