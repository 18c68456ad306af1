#!/usr/bin/env bash
# CI's quick variant of loyalty-bench (docs/PERFORMANCE.md): small sizes, a
# real broker and PostgreSQL started by the project's scripts, both peers.
# The figures mean nothing at this size; the test checks that every phase
# ran and produced numbers: the backlog, the engine's write shape, the null
# pipeline (its runs and the shape it wrote), both limits, catch-up,
# latency, recovery after kill -9, the restore after a lost host,
# --durability=machine, and both peers.
#   LOYALTY_BENCH=build/bench/loyalty-bench bench/loyalty_bench_quick_test.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${LOYALTY_BENCH:?set LOYALTY_BENCH to the loyalty-bench binary}
KAFKA_PORT=${LOYALTY_TEST_BENCH_KAFKA_PORT:-19392}
PG_PORT=${LOYALTY_TEST_BENCH_PG_PORT:-19994}
WORK=$(mktemp -d /tmp/loyalty-bench-test.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/pg"
cleanup() {
  "$ROOT/deploy/kafka/kafka.sh" stop --port="$KAFKA_PORT" --dir="$WORK/kafka" >/dev/null 2>&1 || true
  "$ROOT/bench/peers/postgres/pg.sh" stop --port="$PG_PORT" --dir="$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Another run's servers may hold the ports: take the next free ones.
"$ROOT/deploy/kafka/kafka.sh" start --port="$KAFKA_PORT" --dir="$WORK/kafka" --find-port
KAFKA_PORT=$(cat "$WORK/kafka/port")
"$ROOT/bench/peers/postgres/pg.sh" start --port="$PG_PORT" --dir="$WORK/pg" --find-port
PG_PORT=$(cat "$WORK/pg/port")
"$ROOT/bench/peers/kstreams/run.sh" build

"$BENCH" --brokers="127.0.0.1:$KAFKA_PORT" --quick --out="$WORK/out" \
  --pg="host=127.0.0.1 port=$PG_PORT dbname=loyalty user=postgres" \
  || fail "loyalty-bench exited $? (see above)"

json="$WORK/out/results.json"
for f in "$json" "$WORK/out/summary.md" "$WORK/out/chart.html"; do
  [ -s "$f" ] || fail "$f is missing or empty"
done
# A positive number after "key": (the first occurrence).
positive() {
  local v
  # No pipe: under pipefail a missing key would end the script here rather
  # than reach the message below.
  v=$(grep -o "\"$1\":[0-9.]*" "$json" || true)
  v=${v%%$'\n'*}  # the first occurrence
  v=${v#*:}
  [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "$1 is not positive in $json: '${v}'"
}
# A positive number after "key": in what follows the first occurrence of
# `after` (results.json is one line).
positive_in() {
  local after=$1 key=$2 v
  v=$(awk -v a="$after" -v k="\"$key\":" '{
        i = index($0, a); if (!i) exit
        s = substr($0, i); j = index(s, k); if (!j) exit
        s = substr(s, j + length(k)); if (match(s, /^[0-9.]+/)) print substr(s, 1, RLENGTH)
      }' "$json")
  [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }' ||
    fail "$key after $after is not positive in $json: '${v}'"
}
# The engine's write shape (first catch-up run) and what the null pipeline
# wrote: store writes, batches, outputs and transactions per record.
for shape in '"shape":' '"null_shape":'; do
  for key in records puts_per_record records_per_batch outputs_per_record output_value_bytes \
             records_per_transaction; do
    positive_in "$shape" "$key"
  done
done
positive_in '"name":"dedupe"' puts_per_record
positive_in '"name":"journal"' value_bytes
# The null pipeline's catch-up, measured like the engine's.
for key in events_per_s seconds cpu_s_per_million peak_rss_bytes null_catch_up_median_per_s \
           engine_over_null batch_records_max; do
  positive_in '"null_pipeline":' "$key"
done
grep -q '"first_tenth_per_s":' "$json" || fail "no first/last tenth of the catch-up runs"
for key in produce_per_s raw_consume_per_s rocksdb_write_events_per_s catch_up_median_per_s \
           bytes_on_disk_per_event recovery_s p99_ms cpu_s_per_million peak_rss_bytes; do
  case "$key" in
    raw_consume_per_s|rocksdb_write_events_per_s)
      grep -q "\"$key\":\[[0-9]" "$json" || fail "$key has no runs" ;;
    *) positive "$key" ;;
  esac
done
grep -q '"engine_machine":{"catch_up":\[{"events_per_s":[1-9]' "$json" || fail "no --durability=machine catch-up"
for peer in kafka-streams postgres; do
  grep -q "{\"name\":\"$peer\",\"events_per_s\":[1-9]" "$json" || fail "peer $peer has no throughput"
done
[ "$(grep -o '"error":""' "$json" | wc -l)" -eq 2 ] || fail "a peer reported an error"
grep -q '"who":"kafka-streams"' "$json" || fail "no kafka-streams latency run"
grep -q '"who":"postgres"' "$json" || fail "no postgres latency run"
# The engine's latency by stage: five stages, each with a p99 measured.
[ "$(grep -o '"tail_mean_ms":' "$json" | wc -l)" -ge 5 ] || fail "no latency stages in results.json"
grep -q '"name":"transaction started → committed","p50_ms":[0-9.]*,"p99_ms":[1-9]' "$json" ||
  fail "the transaction stage of the engine's latency has no p99"
grep -q "^| offered | stage | p50 ms | p99 ms" "$WORK/out/summary.md" ||
  fail "summary.md has no latency stages table"
grep -q "^## Targets (issue 11)" "$WORK/out/summary.md" || fail "summary.md has no targets table"
grep -q "^| catch-up ≥ 70% of the null pipeline" "$WORK/out/summary.md" ||
  fail "summary.md has no null pipeline target"
grep -q "^| null pipeline: " "$WORK/out/summary.md" || fail "summary.md has no null pipeline row"
grep -q "^### What the engine did per input record" "$WORK/out/summary.md" ||
  fail "summary.md has no write shape"
grep -q "<svg" "$WORK/out/chart.html" || fail "chart.html has no chart"
grep -q "null pipeline, run 1" "$WORK/out/chart.html" || fail "chart.html has no null pipeline series"
# The restore after a lost host: backups taken and on disk, every partition
# restored, the tail re-applied, an output committed, caught up.
grep -q '"restore":{' "$json" || fail "no restore phase in results.json"
grep -q '"restore_error":""' "$json" ||
  fail "the restore phase reported an error"
for key in backlog_records tail_records drain_s backup_stop_s backup_max_s backups backup_dir_bytes \
           backup_files restored_s_median restore_max_s_median first_output_s_median \
           caught_up_s_median reapplied_records applied_records; do
  positive_in '"restore":' "$key"
done
grep -q '"restored_partitions":8' "$json" || fail "not every partition was restored"
grep -q "^## Restore after a lost host" "$WORK/out/summary.md" ||
  fail "summary.md has no restore section"
grep -q "^| stores restored " "$WORK/out/summary.md" || fail "summary.md has no restore time"
echo "loyalty_bench_quick_test: every phase ran"
