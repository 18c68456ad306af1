#!/usr/bin/env bash
# End-to-end throughput and latency of one engine with 8 partitions against a
# real Kafka broker (deploy/kafka/kafka.sh), exactly-once outputs on and off,
# RUNS runs of each (default 3); prints every run and the medians.
#   backlog: EVENTS (default 200000) produced first, then drained (events/s)
#   rate:    the engine runs while EVENTS/2 events are produced at RATE/s
#            (default 5000); latency = Kafka timestamp -> batch committed
# Uses build-bench/ (Release). The machine is shared: compare the two modes
# of the same run, not figures from different days.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOYALTY_BUILD_BENCH=ON >/dev/null
ninja -C build-bench e2e_bench >/dev/null

port=${LOYALTY_BENCH_KAFKA_PORT:-19792}
events=${EVENTS:-200000}
rate=${RATE:-5000}
runs=${RUNS:-3}
dir=$(mktemp -d /tmp/loyalty-bench-kafka.XXXXXX)
out=$(mktemp /tmp/loyalty-bench-e2e.XXXXXX)
deploy/kafka/kafka.sh start --port="$port" --dir="$dir"
trap 'deploy/kafka/kafka.sh stop --port="$port" --dir="$dir"; rm -rf "$dir"' EXIT

for i in $(seq "$runs"); do
  for outputs in on off; do
    echo "== run $i: backlog, outputs $outputs"
    build-bench/bench/e2e_bench --brokers="127.0.0.1:$port" --events="$events" \
      --partitions=8 --outputs="$outputs" --seed="$i" | tee -a "$out"
    echo "== run $i: $rate events/s, outputs $outputs"
    build-bench/bench/e2e_bench --brokers="127.0.0.1:$port" --events="$((events / 2))" \
      --partitions=8 --outputs="$outputs" --rate="$rate" --seed="$i" | tee -a "$out"
  done
done

echo "== medians of $runs runs (8 partitions, 2 workers, --durability=process)"
for mode in backlog "rate-$rate"; do
  for outputs in on off; do
    grep "mode=$mode outputs=$outputs " "$out" | tr ' ' '\n' | awk -F= -v mode="$mode" \
      -v outputs="$outputs" '
      $1 == "records_per_s" { t[n_t++] = $2 }
      $1 == "p50_ms" { p50[n_50++] = $2 }
      $1 == "p99_ms" { p99[n_99++] = $2 }
      function median(a, n,   i, j, x) {
        for (i = 1; i < n; i++) { x = a[i]; for (j = i - 1; j >= 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return a[int((n - 1) / 2)]
      }
      END {
        if (mode == "backlog")  # every record waited in the backlog: no latency
          printf "%-12s outputs=%-3s  records/s %8.0f\n", mode, outputs, median(t, n_t)
        else
          printf "%-12s outputs=%-3s  records/s %8.0f   p50 %6.0f ms   p99 %6.0f ms\n",
            mode, outputs, median(t, n_t), median(p50, n_50), median(p99, n_99) }'
  done
done
rm -f "$out"
