#!/usr/bin/env bash
# Installs the dependencies, builds with -Werror and runs the whole test suite:
#   1. the release build (RelWithDebInfo), every test;
#   2. an ASan+UBSan build, every test (the big streams scaled down:
#      LOYALTY_DETERMINISM_EVENTS=40000, LOYALTY_MODEL_EVENTS=20000, and the
#      Kafka crash loops to 15,000 events and 6 kills; a standby takeover
#      may take 15 s there instead of 5: the sanitizers slow the engine, and
#      the release run holds the bound).
# Exits non-zero when any test fails. Build trees: build/ and build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The Kafka jars once, before tests that start brokers run in parallel.
deploy/kafka/kafka.sh fetch

jobs=$(nproc)
echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOYALTY_BUILD_BENCH=ON >/dev/null
ninja -C build -j "$jobs"
echo "== release tests"
(cd build && ctest --output-on-failure -j 2)

echo "== ASan+UBSan build"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOYALTY_SANITIZE=address \
  -DLOYALTY_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan -j "$jobs"
echo "== ASan+UBSan tests"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LOYALTY_DETERMINISM_EVENTS=40000 LOYALTY_MODEL_EVENTS=20000 \
  LOYALTY_CRASH_EVENTS=15000 LOYALTY_CRASH_KILLS=6 LOYALTY_TAKEOVER_LIMIT_S=15 \
  ctest --output-on-failure -j 2)
