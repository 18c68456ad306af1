#!/usr/bin/env bash
# A PostgreSQL server on 127.0.0.1 for the PostgreSQL peer of loyalty-bench.
#
#   bench/peers/postgres/pg.sh start  [--port=N] [--dir=D] [--find-port]
#                       install PostgreSQL and libpq (Debian) if missing,
#                       initdb D (once), start, wait until it serves and
#                       create the database "loyalty"
#   bench/peers/postgres/pg.sh stop   [--port=N] [--dir=D]    fast shutdown
#   bench/peers/postgres/pg.sh status [--port=N] [--dir=D]    exit 0 if it serves
#
# Defaults: --port=19992, --dir=/tmp/loyalty-pg-<port>. A start refuses
# (exit 3) a port that another server answers on; with --find-port (and
# --dir) it takes the first free one of N, N+10, ... instead. Either way the
# port is written to D/port. Listens on 127.0.0.1
# only, trust authentication (user postgres, no password), Unix socket in D.
# Settings (README.md says why): synchronous_commit=off with fsync=on (a
# commit survives a kill -9 of the peer; a crash of the server or the machine
# may lose the last commits, offsets with them, never half of one),
# shared_buffers=1GB, max_wal_size=8GB, checkpoint_timeout=30min,
# wal_compression=on. The data directory survives stop/start.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PORT=19992
PORT_GIVEN=0
DIR=""
FIND_PORT=0
# shellcheck source=../../../scripts/lib/ports.sh
. "$ROOT/scripts/lib/ports.sh"

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
server_args pg.sh "$@"
case "$cmd" in --help|-h) usage; exit 0 ;; esac
if [ "$FIND_PORT" = 1 ] && [ -z "$DIR" ]; then
  echo "pg.sh: --find-port needs --dir (the port is written to D/port)" >&2; exit 2
fi
DIR=${DIR:-/tmp/loyalty-pg-$PORT}
# stop and status without --port mean the port this directory's server took.
if [ "$PORT_GIVEN" = 0 ] && [ "$cmd" != start ] && [ -f "$DIR/port" ]; then PORT=$(cat "$DIR/port"); fi
DATA="$DIR/data"
LOG="$DIR/postgres.log"
DB=loyalty

# Root may not run postgres: run the server tools as the postgres user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_if_missing() {
  if bindir >/dev/null && pkg-config --exists libpq 2>/dev/null; then return 0; fi
  echo "pg.sh: installing PostgreSQL and libpq from Debian's packages"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql libpq-dev
}

serves() {
  local bin
  bin=$(bindir) || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2
}

start() {
  install_if_missing
  local bin
  bin=$(bindir) || { echo "pg.sh: no /usr/lib/postgresql/*/bin/initdb" >&2; exit 1; }
  if [ -f "$DATA/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1 &&
      serves; then
    echo "pg.sh: the server of $DATA already serves 127.0.0.1:$PORT"
    return 0
  fi
  claim_port pg.sh 1
  mkdir -p "$DIR"
  echo "$PORT" > "$DIR/port"
  [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    echo "pg.sh: initdb $DATA"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
    # Benchmark settings; see README.md.
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- loyalty-bench (bench/peers/postgres/pg.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 20
# Durable to the peer's process, like the engine's --durability=process: a
# COMMIT returns before its WAL is flushed; the WAL writer flushes (and
# fsyncs) within wal_writer_delay. fsync stays on, so a crash never corrupts,
# it may only lose the last commits (their offsets with them).
synchronous_commit = off
fsync = on
full_page_writes = on
wal_writer_delay = 10ms
# Throughput: a large buffer pool, no checkpoint storm within a run.
shared_buffers = 1GB
wal_buffers = 64MB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
wal_compression = on
# No replication here: minimal WAL.
wal_level = minimal
max_wal_senders = 0
EOF
  fi
  echo "pg.sh: starting PostgreSQL on 127.0.0.1:$PORT (data $DATA, log $LOG)"
  # After a crash (kill -9 of the postmaster) its backends take a moment to
  # exit, and a start before that is refused ("another server might be
  # running"): retry for a while.
  local tries=0
  until as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PORT" -w -t 60 start >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 10 ]; then tail -20 "$LOG" >&2; exit 1; fi
    sleep 2
  done
  for _ in $(seq 1 60); do
    serves && break
    sleep 1
  done
  serves || { echo "pg.sh: PostgreSQL does not serve on 127.0.0.1:$PORT" >&2; exit 1; }
  if [ -z "$("$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
  fi
  echo "pg.sh: serving; connect with --pg='host=127.0.0.1 port=$PORT user=postgres dbname=$DB'"
}

stop() {
  local bin
  bin=$(bindir) || { echo "pg.sh: PostgreSQL is not installed" >&2; exit 1; }
  if [ ! -f "$DATA/postmaster.pid" ] || ! as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
  then
    echo "pg.sh: no server running in $DATA"
    return 0
  fi
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  echo "pg.sh: stopped PostgreSQL in $DATA"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status)
    if serves; then echo "pg.sh: serving on 127.0.0.1:$PORT"; else
      echo "pg.sh: not serving on 127.0.0.1:$PORT"; exit 1
    fi ;;
  *) echo "pg.sh: unknown command '$cmd' (see --help)" >&2; exit 2 ;;
esac
