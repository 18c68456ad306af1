# Ports on 127.0.0.1 for the servers that tests and benchmarks start
# (deploy/kafka/kafka.sh, bench/peers/postgres/pg.sh). Sourced, not run.
#
# Two runs on one machine (a developer's and CI's, or two build trees) must
# never share a server: a start refuses a port something else answers on, and
# --find-port moves on to the next free one instead.

# port_in_use P: succeeds if something accepts connections on 127.0.0.1:P.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port FIRST SPAN: prints the first P of FIRST, FIRST+10, ..., FIRST+190
# whose ports P..P+SPAN-1 are all free; fails if there is none.
free_port() {
  local first=$1 span=$2 try p i busy
  for try in $(seq 0 19); do
    p=$((first + 10 * try))
    busy=0
    for ((i = 0; i < span; i++)); do
      if port_in_use $((p + i)); then busy=1; break; fi
    done
    if [ "$busy" = 0 ]; then echo "$p"; return 0; fi
  done
  return 1
}
