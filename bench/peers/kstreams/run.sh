#!/usr/bin/env bash
# The Kafka Streams peer of loyalty-bench (bench/peers/kstreams/README.md).
#
#   bench/peers/kstreams/run.sh build          build the shaded jar once (cached)
#   bench/peers/kstreams/run.sh jar            build if needed, print the jar's path
#   bench/peers/kstreams/run.sh run --brokers=H:P --input=T --output=T --app-id=ID \
#       --state-dir=DIR --program=FILE|DIR [--threads=2] [--commit-interval-ms=100] ...
#                                              build if needed, then exec java
#   bench/peers/kstreams/run.sh run --help     the application's flags
#
# The jar is cached in .cache/peers/kstreams/<hash>/ (ignored by git), keyed by
# the sources, the protos and the Kafka version pinned in deploy/kafka/pom.xml;
# an unchanged tree reuses it. Environment: KSTREAMS_HEAP (default 1g, -Xmx),
# KSTREAMS_JAVA_OPTS (more JVM options, e.g.
# -Dorg.slf4j.simpleLogger.defaultLogLevel=info), LOYALTY_KSTREAMS_CACHE (cache root).
# Installs a JDK and Maven from Debian's packages if java or mvn is missing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka/pom.xml")
CACHE_ROOT=${LOYALTY_KSTREAMS_CACHE:-$ROOT/.cache/peers/kstreams}

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

need_java() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    echo "run.sh: installing a JDK and Maven from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven >&2
  fi
}

# A hash of everything the jar is built from.
source_hash() {
  (
    cd "$ROOT"
    echo "kafka $KAFKA_VERSION"
    find bench/peers/kstreams/pom.xml bench/peers/kstreams/src proto/loyalty/v1/events.proto \
      proto/loyalty/v1/program.proto -type f | LC_ALL=C sort | xargs sha256sum
  ) | sha256sum | cut -c1-16
}

jar_path() { echo "$CACHE_ROOT/$(source_hash)/loyalty-kstreams-peer.jar"; }

build() {
  local jar dir
  jar=$(jar_path)
  dir=$(dirname "$jar")
  [ -f "$jar" ] && return 0
  need_java
  mkdir -p "$CACHE_ROOT"
  # One build at a time; a second caller waits and then finds the jar.
  exec 9>"$CACHE_ROOT/.lock"
  flock 9
  if [ ! -f "$jar" ]; then
    echo "run.sh: building the Kafka Streams peer (Kafka $KAFKA_VERSION) into $dir" >&2
    rm -rf "$dir.build"
    mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" package \
      -Dkafka.version="$KAFKA_VERSION" -Dpeer.build.dir="$dir.build" >&2
    mkdir -p "$dir"
    mv "$dir.build/loyalty-kstreams-peer.jar" "$jar.tmp"
    mv "$jar.tmp" "$jar"
    rm -rf "$dir.build"
    # Older builds (other source hashes) are of no further use.
    find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -path "$dir" -exec rm -rf {} +
  fi
  flock -u 9
  exec 9>&-
}

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
case "$cmd" in
  --help|-h|help) usage ;;
  build)
    for arg in "$@"; do
      case "$arg" in
        --help|-h) usage; exit 0 ;;
        *) echo "run.sh build: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
      esac
    done
    build
    echo "run.sh: $(jar_path)" >&2
    ;;
  jar)
    build
    jar_path
    ;;
  run)
    for arg in "$@"; do
      if [ "$arg" = --help ] || [ "$arg" = -h ]; then
        usage
        if [ -f "$(jar_path)" ]; then
          echo
          java -jar "$(jar_path)" --help
        else
          echo
          echo "(run.sh build first to see the application's own --help)"
        fi
        exit 0
      fi
    done
    build
    # shellcheck disable=SC2086
    exec java -Xmx"${KSTREAMS_HEAP:-1g}" ${KSTREAMS_JAVA_OPTS:-} -jar "$(jar_path)" "$@"
    ;;
  *) echo "run.sh: unknown command '$cmd' (see --help)" >&2; exit 2 ;;
esac
