#!/usr/bin/env bash
# The main job of this build: install, build, then replay a generated café
# stream through the ledger core, audit it and show a few members.
# (The Kafka demo on the embedded broker, `loyaltyd demo`, comes with the
# Kafka connector.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build loyaltyd loyaltyctl loyalty-gen

work=$(mktemp -d /tmp/loyalty-demo.XXXXXX)
echo "== generating 100,000 café events in $work"
build/tests/testing/loyalty-gen --out="$work/events.jsonl" --events=100000 --members=2000 --cafe-only
echo "== replaying them (offset = line number; a second run applies nothing)"
build/engine/cmd/loyaltyd replay --program=programs/cafe.textproto --data-dir="$work/data" \
  --events="$work/events.jsonl" --dlq="$work/dlq.jsonl"
build/engine/cmd/loyaltyd replay --program=programs/cafe.textproto --data-dir="$work/data" \
  --events="$work/events.jsonl" --quiet
echo "== rejected lines by reason"
grep -o '"reason":"[A-Z_]*"' "$work/dlq.jsonl" | sort | uniq -c
echo "== audit"
build/engine/cmd/loyaltyctl --data-dir="$work/data" verify
echo "== member m1"
build/engine/cmd/loyaltyctl --data-dir="$work/data" balance m1
build/engine/cmd/loyaltyctl --data-dir="$work/data" history m1 | head -5
echo "== the data directory is $work/data (loyaltyctl --data-dir=$work/data dump)"
