# Ports on 127.0.0.1 for the servers that tests and benchmarks start
# (deploy/kafka/kafka.sh, bench/peers/postgres/pg.sh). Sourced, not run.
#
# Two runs on one machine (a developer's and CI's, or two build trees) must
# never share a server: a start refuses a port something else answers on, and
# --find-port moves on to the next free one instead.

# port_in_use P: succeeds if something accepts connections on 127.0.0.1:P.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port FIRST SPAN: prints the first P of FIRST, FIRST+10, ...
# (PORT_TRIES of them) whose ports P..P+SPAN-1 are all free; fails if there
# is none.
PORT_TRIES=20
free_port() {
  local first=$1 span=$2 try p i busy
  for ((try = 0; try < PORT_TRIES; try++)); do
    p=$((first + 10 * try))
    busy=0
    for ((i = 0; i < span; i++)); do
      if port_in_use $((p + i)); then busy=1; break; fi
    done
    if [ "$busy" = 0 ]; then echo "$p"; return 0; fi
  done
  return 1
}

# claim_port WHO SPAN: settles $PORT (and the SPAN - 1 after it) for a start.
# With FIND_PORT=1, moves $PORT to the first free run (free_port); otherwise
# keeps it, and exits 3 with a message naming WHO if any of them answers.
claim_port() {
  local who=$1 span=$2 i
  if [ "${FIND_PORT:-0}" = 1 ]; then
    PORT=$(free_port "$PORT" "$span") || {
      echo "$who: no free port from $PORT in $PORT_TRIES steps of 10" >&2; exit 3; }
    return 0
  fi
  for ((i = 0; i < span; i++)); do
    if port_in_use $((PORT + i)); then
      echo "$who: 127.0.0.1:$((PORT + i)) is in use by another process (another server or" \
        "test run?); choose another --port, or --find-port" >&2
      exit 3
    fi
  done
}

# server_args WHO ARG...: the arguments every server script takes after its
# command: --port=P (sets PORT and PORT_GIVEN=1), --dir=D (DIR),
# --find-port (FIND_PORT=1), --help (calls the script's `usage`, exits 0).
# Anything else, or a --port that is not a number, exits 2 naming WHO.
server_args() {
  local who=$1 arg
  shift
  for arg in "$@"; do
    case "$arg" in
      --port=*) PORT=${arg#--port=}; PORT_GIVEN=1 ;;
      --dir=*) DIR=${arg#--dir=} ;;
      --find-port) FIND_PORT=1 ;;
      --help|-h) usage; exit 0 ;;
      *) echo "$who: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
  done
  [[ "$PORT" =~ ^[0-9]+$ ]] || { echo "$who: --port=$PORT: not a port number" >&2; exit 2; }
}
