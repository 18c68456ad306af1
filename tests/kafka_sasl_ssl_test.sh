#!/usr/bin/env bash
# The engine against a real broker that requires SASL_SSL (SCRAM-SHA-512 over
# TLS, with a CA made for the test) and ACLs (docs/security.md):
#   1. clients with a wrong password, without TLS, without SASL, or that do
#      not trust the CA or verify another host name are refused, and the
#      engine's principal is refused the topics its ACLs do not name;
#   2. loyaltyd run as `engine`, with only the ACLs docs/security.md lists,
#      applies every record and publishes its outputs exactly once, across a
#      stop and a restart.
# Usage: kafka_sasl_ssl_test.sh BUILD_DIR. Never skips: a broker that cannot
# start fails the test.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:?usage: kafka_sasl_ssl_test.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
LOYALTYD=$BUILD/cmd/loyaltyd
LOYALTYCTL=$BUILD/cmd/loyaltyctl
GEN=$BUILD/tests/testing/loyalty-gen
PARTITIONS=4
EVENTS=${LOYALTY_SASL_EVENTS:-2000}

TMP=$(mktemp -d /tmp/loyalty-sasl-test.XXXXXX)
KDIR=$TMP/kafka
ENGINE_PID=""
cleanup() {
  if [ -n "$ENGINE_PID" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then kill -KILL "$ENGINE_PID"; fi
  "$ROOT/deploy/kafka/kafka.sh" stop --dir="$KDIR" >/dev/null 2>&1 || true
  if [ -n "${LOYALTY_KEEP_TMP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 1' TERM INT  # ctest's timeout: stop the broker on the way out

passed=0
fail() {
  echo "FAIL: $*" >&2
  for log in "$TMP"/engine-*.log; do
    [ -f "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}
pass() { passed=$((passed + 1)); echo "ok [${SECONDS} s]: $*"; }
for tool in "$LOYALTYD" "$LOYALTYCTL" "$GEN"; do
  [ -x "$tool" ] || fail "$tool is not built"
done

# --- The broker ------------------------------------------------------------
if ! "$ROOT/deploy/kafka/kafka.sh" start --security=sasl_ssl --find-port --port=29092 \
    --dir="$KDIR"; then
  fail "the SASL_SSL broker did not start (deploy/kafka/kafka.sh start --security=sasl_ssl)"
fi
BROKERS=127.0.0.1:$(cat "$KDIR/port")
CLIENT=$KDIR/client
CA=$KDIR/tls/ca.pem

# x_args USER: the -X flags that connect loyaltyd/loyaltyctl as USER.
x_args() {
  X=()
  local line
  while IFS= read -r line; do X+=(-X "$line"); done < "$CLIENT/$1.conf"
}
as_kcat() { local user=$1; shift; kcat -F "$CLIENT/$user.conf" -b "$BROKERS" "$@"; }
acl() {
  "$ROOT/deploy/kafka/kafka.sh" run-class kafka.admin.AclCommand --bootstrap-server "$BROKERS" \
    --command-config "$CLIENT/admin.properties" "$@" >/dev/null
}
# refused WHAT TEXT CMD...: CMD must fail, and say TEXT on stderr.
refused() {
  local what=$1 text=$2 rc=0 err=$TMP/err.$BASHPID
  shift 2
  "$@" >/dev/null 2>"$err" || rc=$?
  [ "$rc" != 0 ] || fail "$what: accepted (exit 0); it must be refused"
  grep -qF "$text" "$err" || {
    cat "$err" >&2
    fail "$what: exit $rc, but stderr lacks \"$text\""
  }
  pass "$what: refused (exit $rc, \"$text\")"
}
# refused_bg WHAT TEXT CMD...: refused, in the background (a refused client
# retries until its metadata timeout); refusals_checked waits for them.
REFUSALS=0
refused_bg() {
  local i=$REFUSALS
  REFUSALS=$((REFUSALS + 1))
  ( refused "$@" >"$TMP/refusal-$i.log" 2>&1; echo $? >"$TMP/refusal-$i.rc" ) &
}
refusals_checked() {
  wait
  local i
  for ((i = 0; i < REFUSALS; i++)); do
    cat "$TMP/refusal-$i.log"
    [ "$(cat "$TMP/refusal-$i.rc")" = 0 ] || exit 1
    passed=$((passed + 1))
  done
}

# --- Topics (admin) and the engine's ACLs -----------------------------------
x_args admin
"$LOYALTYCTL" --brokers="$BROKERS" "${X[@]}" create-topics --partitions=$PARTITIONS >/dev/null ||
  fail "admin could not create the topics"
# A topic no ACL names, for the authorization check.
"$LOYALTYCTL" --brokers="$BROKERS" "${X[@]}" create-topics --partitions=1 --events-topic=secret \
  --outcomes-topic=secret.o --balances-topic=secret.b --ledger-topic=secret.l \
  --dlq-topic=secret.d >/dev/null || fail "admin could not create the topic secret"
# What docs/security.md lists for the engine, no more (Read and Write imply
# Describe; the group and transactional-id prefix are the defaults; the
# ledger topic is not published here), and Write on the input for the
# producing system.
acl --add --allow-principal User:engine --operation Read --topic loyalty.events
acl --add --allow-principal User:engine --operation Read --operation Write \
  --topic loyalty.outcomes --topic loyalty.balances --topic loyalty.dlq
acl --add --allow-principal User:engine --operation Read --group loyalty-engine
# The DLQ topic's max.message.bytes, read at each producer's start, bounds
# the DLQ records it publishes whole.
acl --add --allow-principal User:engine --operation DescribeConfigs --topic loyalty.dlq
acl --add --allow-principal User:engine --operation Write \
  --transactional-id loyalty-engine. --resource-pattern-type prefixed
acl --add --allow-principal User:producer --operation Write --topic loyalty.events

# --- Refusals -------------------------------------------------------------
# Each next to the same command that succeeds, so that a refusal is the
# setting's doing.
as_kcat engine -L -m 10 >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "engine cannot connect"; }
grep -q "broker 1 at 127.0.0.1" "$TMP/out" || fail "engine's metadata lacks the broker"
pass "engine connects with its password over TLS"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=another CA" \
  -keyout "$TMP/other-ca.key" -out "$TMP/other-ca.pem" 2>/dev/null
refused_bg "a wrong password" "Authentication failed" \
  as_kcat engine -X sasl.password=not-the-password -L -m 8
refused_bg "a user that does not exist" "Authentication failed" \
  as_kcat engine -X sasl.username=nobody -L -m 8
refused_bg "PLAINTEXT (no TLS, no SASL)" "Disconnected while requesting ApiVersion" \
  kcat -b "$BROKERS" -X security.protocol=PLAINTEXT -L -m 8
refused_bg "SASL_PLAINTEXT (no TLS)" "Disconnected while requesting ApiVersion" \
  as_kcat engine -X security.protocol=SASL_PLAINTEXT -L -m 8
refused_bg "TLS without SASL" "broker might require SASL authentication" \
  kcat -b "$BROKERS" -X security.protocol=SSL -X ssl.ca.location="$CA" -L -m 8
refused_bg "a client that trusts another CA" "certificate verify failed" \
  as_kcat engine -X ssl.ca.location="$TMP/other-ca.pem" -L -m 8
# The certificate names IP:127.0.0.1 only: a client that verifies the host
# name refuses it under another name.
refused_bg "the certificate under another host name" "certificate verify failed" \
  kcat -F "$CLIENT/engine.conf" -b "localhost:${BROKERS#*:}" -L -m 8
refusals_checked
refused "engine reading a topic no ACL gives it" "Topic authorization failed" \
  as_kcat engine -C -t secret -o beginning -e -q
as_kcat engine -C -t loyalty.events -o beginning -e -q >/dev/null 2>"$TMP/err" ||
  { cat "$TMP/err" >&2; fail "engine cannot read its input topic"; }
pass "engine reads its input topic"
refused "engine writing to its input topic" "Topic authorization failed" \
  as_kcat engine -P -t loyalty.events -p 0 <<<"not from the engine"

# --- The engine -----------------------------------------------------------
# loyaltyd as `engine` the way docs/security.md advises: the Kafka settings
# in --config's kafka.* keys, the password in LOYALTY_KAFKA_SASL_PASSWORD.
cat >"$TMP/engine.conf" <<CONF
# loyaltyd run as engine (kafka_sasl_ssl_test)
kafka.security.protocol = SASL_SSL
kafka.sasl.mechanisms = SCRAM-SHA-512
kafka.sasl.username = engine
kafka.ssl.ca.location = $CA
CONF
ENGINE_PASSWORD=$(cat "$CLIENT/engine.password")

# A topic the engine may not Describe stops it at once, and the error says
# why (not that the topic does not exist).
rc=0
LOYALTY_KAFKA_SASL_PASSWORD=$ENGINE_PASSWORD timeout 60 "$LOYALTYD" run --config="$TMP/engine.conf" \
  --brokers="$BROKERS" --program="$ROOT/programs" --data-dir="$TMP/data-secret" \
  --events-topic=secret >"$TMP/engine-secret.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "engine on a topic it may not describe exited $rc, not 1"
grep -q "topic secret on .*Topic authorization failed" "$TMP/engine-secret.log" ||
  fail "engine on a topic it may not describe: no authorization error in its log"
pass "engine on a topic it may not describe: exit 1, \"Topic authorization failed\""

# One program (programs/cafe.textproto): the DLQ gets the bad lines only.
"$GEN" --out="$TMP/all.jsonl" --events="$EVENTS" --seed=1313 --cafe-only >/dev/null
# Without ticks (a tick goes to every partition and matures members: more
# outcomes than records), each record has one outcome or one DLQ record.
grep -v '"tick":{' "$TMP/all.jsonl" >"$TMP/events.jsonl"
total=$(wc -l <"$TMP/events.jsonl")
first=$((total * 4 / 5))
head -n "$first" "$TMP/events.jsonl" >"$TMP/part1.jsonl"
tail -n +$((first + 1)) "$TMP/events.jsonl" >"$TMP/part2.jsonl"

# produce FILE: as `producer`; prints the records delivered.
produce() {
  x_args producer
  "$LOYALTYCTL" --brokers="$BROKERS" "${X[@]}" produce "$1" 2>"$TMP/produce.log" ||
    { cat "$TMP/produce.log" >&2; fail "producer could not produce $1"; }
  sed -n 's/.* \([0-9]*\) records delivered to .*/\1/p' "$TMP/produce.log"
}

# committed TOPIC: "partition seq" of each committed record (as admin,
# read_committed). Every output record's headers start with loyalty.seq.
committed() {
  as_kcat admin -C -t "$1" -o beginning -e -q -X isolation.level=read_committed \
    -f '%p %h\n' 2>/dev/null | sed -n 's/^\([0-9]*\) loyalty\.seq=\([0-9]*\).*/\1 \2/p'
}
count() { committed "$1" | wc -l; }

run_engine() {  # run_engine NAME: loyaltyd run as `engine`, in the background
  LOYALTY_KAFKA_SASL_PASSWORD=$ENGINE_PASSWORD "$LOYALTYD" run --config="$TMP/engine.conf" \
    --brokers="$BROKERS" --program="$ROOT/programs" --data-dir="$TMP/data" \
    --outputs=outcomes,balances,dlq >"$TMP/engine-$1.log" 2>&1 &
  ENGINE_PID=$!
}

# wait_outputs WANT: until outcomes + DLQ records committed reach WANT.
wait_outputs() {
  local want=$1 got=0
  for _ in $(seq 1 120); do
    kill -0 "$ENGINE_PID" 2>/dev/null || fail "the engine exited early"
    got=$(($(count loyalty.outcomes) + $(count loyalty.dlq)))
    [ "$got" -ge "$want" ] && return 0
    sleep 1
  done
  fail "outcomes + DLQ records reached $got of $want in 120 s"
}

# stop_engine NAME APPLIED: SIGTERM; exit 0, having applied APPLIED records.
stop_engine() {
  kill -TERM "$ENGINE_PID"
  local rc=0
  wait "$ENGINE_PID" || rc=$?
  ENGINE_PID=""
  [ "$rc" = 0 ] || fail "engine ($1) exited $rc after SIGTERM"
  local applied
  applied=$(sed -n 's/.* msg="\{0,1\}stop"\{0,1\} .*records_applied=\([0-9]*\) clean=true.*/\1/p' \
    "$TMP/engine-$1.log")
  [ "$applied" = "$2" ] || fail "engine ($1) applied ${applied:-?} records, not $2"
  if grep -qF "$ENGINE_PASSWORD" "$TMP/engine-$1.log"; then
    fail "engine ($1) logged its SASL password"
  fi
  # With the ACLs of docs/security.md the broker refuses the engine nothing
  # (a missing one is retried, and logged, rather than fatal).
  if grep -i "authorization failed" "$TMP/engine-$1.log" >&2; then
    fail "engine ($1) was refused something with the ACLs of docs/security.md"
  fi
  pass "engine ($1) stopped with exit 0 after applying $2 records"
}

# exactly_once WANT: per partition, the sequence numbers of outcomes,
# balances and DLQ records together are 1..N, each once; outcomes + DLQ
# records = WANT, with some of each.
exactly_once() {
  local want=$1 outcomes dlq
  outcomes=$(count loyalty.outcomes)
  dlq=$(count loyalty.dlq)
  [ "$outcomes" -gt 0 ] && [ "$dlq" -gt 0 ] || fail "outcomes $outcomes, DLQ $dlq: want some of each"
  [ $((outcomes + dlq)) = "$want" ] ||
    fail "outcomes $outcomes + DLQ $dlq = $((outcomes + dlq)), not one per record ($want)"
  { committed loyalty.outcomes; committed loyalty.balances; committed loyalty.dlq; } |
    sort -n -k1,1 -k2,2 >"$TMP/seqs"
  local problems
  problems=$(awk '
    $1 != p { p = $1; n = 0 }
    { n++; if ($2 != n) { printf "partition %s: seq %s where %d was due\n", $1, $2, n; bad++ } }
    bad >= 5 { exit }' "$TMP/seqs")
  [ -z "$problems" ] || fail "output sequences not 1..N once each: $problems"
  pass "$outcomes outcomes + $dlq DLQ records for $want records; $(wc -l <"$TMP/seqs") output" \
    "sequences, 1..N once each per partition"
}

records1=$(produce "$TMP/part1.jsonl")
[ "$records1" = "$first" ] || fail "produced $records1 records of $first lines"
run_engine first
wait_outputs "$records1"
stop_engine first "$records1"
exactly_once "$records1"

# A restart resumes from the stores: it applies and publishes only what is
# new, and nothing twice.
run_engine second
records2=$(produce "$TMP/part2.jsonl")
wait_outputs $((records1 + records2))
stop_engine second "$records2"
exactly_once $((records1 + records2))

echo "kafka_sasl_ssl_test: $passed passed, 0 failed"
