#!/usr/bin/env bash
# loyalty-bench, the one command (docs/PERFORMANCE.md): installs what it
# needs, builds Release into build-bench/, starts a Kafka broker
# (deploy/kafka/kafka.sh) and PostgreSQL (bench/peers/postgres/pg.sh) on
# their own ports and data directories, builds the Kafka Streams peer, runs
# loyalty-bench with the given flags, and stops what it started.
#
#   scripts/bench.sh                      the full SPEC §9 run (10^7 events; an hour or more, untimed)
#   scripts/bench.sh --events=300000      the run of docs/PERFORMANCE.md (about 10 min)
#   scripts/bench.sh --quick              small sizes, a couple of minutes: the code runs
#   scripts/bench.sh --help               loyalty-bench's flags
#
# Results: bench-results/{results.json,summary.md,chart.html} (or --out=DIR).
# Ports: LOYALTY_BENCH_KAFKA_PORT (default 19792, controller +1) and
# LOYALTY_BENCH_PG_PORT (default 19992).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${LOYALTY_BENCH_BUILD:-$ROOT/build-bench}
KAFKA_PORT=${LOYALTY_BENCH_KAFKA_PORT:-19792}
PG_PORT=${LOYALTY_BENCH_PG_PORT:-19992}

for arg in "$@"; do
  case "$arg" in
    --help|-h)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      echo
      [ -x "$BUILD/bench/loyalty-bench" ] && exec "$BUILD/bench/loyalty-bench" --help
      exit 0 ;;
  esac
done

peers="kafka-streams,postgres"
for arg in "$@"; do
  case "$arg" in --peers=*) peers=${arg#--peers=} ;; esac
done

"$ROOT/scripts/install-deps.sh"
echo "bench.sh: building (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOYALTY_BUILD_BENCH=ON >/dev/null
ninja -C "$BUILD" loyalty-bench loyaltyd pg_peer apply_bench

KAFKA_DIR=$(mktemp -d /tmp/loyalty-bench-kafka.XXXXXX)
PG_DIR=$(mktemp -d /tmp/loyalty-bench-pg.XXXXXX)
cleanup() {
  "$ROOT/deploy/kafka/kafka.sh" stop --port="$KAFKA_PORT" --dir="$KAFKA_DIR" >/dev/null 2>&1 || true
  if [[ "$peers" == *postgres* ]]; then
    "$ROOT/bench/peers/postgres/pg.sh" stop --port="$PG_PORT" --dir="$PG_DIR" >/dev/null 2>&1 || true
  fi
  rm -rf "$KAFKA_DIR" "$PG_DIR"
}
trap cleanup EXIT
"$ROOT/deploy/kafka/kafka.sh" start --port="$KAFKA_PORT" --dir="$KAFKA_DIR"
if [[ "$peers" == *postgres* ]]; then
  chmod 755 "$PG_DIR"
  "$ROOT/bench/peers/postgres/pg.sh" start --port="$PG_PORT" --dir="$PG_DIR"
fi
if [[ "$peers" == *kafka-streams* ]]; then
  "$ROOT/bench/peers/kstreams/run.sh" build
fi

"$BUILD/bench/loyalty-bench" --brokers="127.0.0.1:$KAFKA_PORT" \
  --pg="host=127.0.0.1 port=$PG_PORT dbname=loyalty user=postgres" "$@"
