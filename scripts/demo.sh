#!/usr/bin/env bash
# The main job of this build: install, build, replay a generated café stream
# through the ledger core from a file, audit it and report its KPIs, then end
# with the tour on the embedded Kafka broker, `loyaltyd demo` (generated café
# stream, the engine in-process, a summary a person can read).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build loyaltyd loyaltyctl loyalty-gen

work=$(mktemp -d /tmp/loyalty-replay.XXXXXX)
echo "== file replay: 20,000 generated café events, twice (the second run applies nothing)"
build/tests/testing/loyalty-gen --out="$work/events.jsonl" --events=20000 --members=500 --cafe-only
build/cmd/loyaltyd replay --program=programs/cafe.textproto --data-dir="$work/data" \
  --events="$work/events.jsonl" --dlq="$work/dlq.jsonl"
build/cmd/loyaltyd replay --program=programs/cafe.textproto --data-dir="$work/data" \
  --events="$work/events.jsonl" --quiet
build/cmd/loyaltyctl --data-dir="$work/data" verify
echo "== the KPI report (docs/report.md; --format=json for JSON), charts in $work/report.html"
build/cmd/loyaltyctl --data-dir="$work/data" --program=programs/cafe.textproto report \
  --chart="$work/report.html"
echo "== the ledger is in $work/data (loyaltyctl --data-dir=$work/data balance m1 | history m1 | dump)"
echo
echo "== loyaltyd demo: the café on an embedded Kafka broker"
build/cmd/loyaltyd demo
