#!/usr/bin/env bash
# A quick end-to-end check of the Kafka Streams peer on a real broker:
#
#   bench/peers/kstreams/check.sh --brokers=127.0.0.1:19892
#
# Produces check_events.jsonl (10 lines, 17 records: the tick goes to every
# partition) with loyaltyctl to a fresh 8-partition topic, runs the peer until
# it has committed one output per input record, SIGTERMs it and compares the
# committed outputs with the hand-computed ones (programs/cafe.textproto:
# 1 point per 100 cents, coffee x2, gift cards x0). Needs kcat and a built
# loyaltyctl (LOYALTYCTL, default build/cmd/loyaltyctl). Note that
# `loyaltyctl create-topics` also creates the engine's loyalty.* output topics
# on that broker if they are missing. Exit 0 when everything matches.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LOYALTYCTL=${LOYALTYCTL:-$ROOT/build/cmd/loyaltyctl}
BROKERS=""
for arg in "$@"; do
  case "$arg" in
    --brokers=*) BROKERS=${arg#--brokers=} ;;
    --help|-h) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$BROKERS" ] || { echo "check.sh: --brokers is required" >&2; exit 2; }

RUN=kscheck-$(date +%s)-$$
WORK=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$HERE/run.sh" build
"$LOYALTYCTL" --brokers="$BROKERS" --events-topic="$RUN.in" create-topics --partitions=8 >/dev/null
"$LOYALTYCTL" --brokers="$BROKERS" --events-topic="$RUN.in" produce "$HERE/check_events.jsonl" >/dev/null
inputs=$(kcat -b "$BROKERS" -C -t "$RUN.in" -e -q -f 'x\n' | wc -l)

"$HERE/run.sh" run --brokers="$BROKERS" --input="$RUN.in" --output="$RUN.out" --app-id="$RUN" \
  --state-dir="$WORK/state" --program="$ROOT/programs/cafe.textproto" 2>"$WORK/peer.log" &
PID=$!
committed() { kcat -b "$BROKERS" -C -t "$RUN.out" -X isolation.level=read_committed -e -q -f '%s\n' 2>/dev/null; }
for _ in $(seq 120); do
  [ "$(committed | wc -l)" -ge "$inputs" ] && break
  sleep 1
done
sleep 2 # anything beyond one output per input would show up now
committed | LC_ALL=C sort > "$WORK/got"
kill -TERM "$PID"
wait "$PID" || true
PID=""

{
  for _ in $(seq $((inputs - 4))); do echo "-"; done
  printf 'm1 17\nm1 18\nm1 21\nm2 200\n'
} | LC_ALL=C sort > "$WORK/want"
if ! diff -u "$WORK/want" "$WORK/got"; then
  echo "check.sh: FAILED ($inputs inputs; committed outputs differ from the expected ones above)" >&2
  cat "$WORK/peer.log" >&2
  exit 1
fi
echo "check.sh: OK: $inputs input records, $inputs committed outputs, balances m1=21 m2=200 as computed by hand"
