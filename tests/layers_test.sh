#!/usr/bin/env bash
# scripts/check_layers.sh passes on this tree, and fails, naming file and
# line, on a tree whose engine/ includes and links a connector.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK="$ROOT/scripts/check_layers.sh"
"$CHECK" "$ROOT"

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/engine/core" "$t/connectors/kafka" "$t/cmd"
echo 'loyalty_cc_library(NAME loyalty_kafka SRCS kafka.cc)' > "$t/connectors/kafka/CMakeLists.txt"
echo 'loyalty_cc_binary(NAME loyaltyd SRCS loyaltyd.cc)' > "$t/cmd/CMakeLists.txt"
printf '#include <string>\n#include "cmd/flags.h"\n' > "$t/engine/core/core.cc"
printf '# loyaltyd is named in a comment only\nloyalty_cc_library(NAME core DEPS loyalty_kafka)\n' \
  > "$t/engine/core/CMakeLists.txt"
if out=$("$CHECK" "$t" 2>&1); then
  echo "layers_test: the check passed a tree that breaks the layers:" >&2
  echo "$out" >&2
  exit 1
fi
for want in 'engine/core/core.cc:2:#include "cmd/flags.h"' \
            'engine/ links loyalty_kafka' 'engine/core/CMakeLists.txt:2:'; do
  grep -qF "$want" <<<"$out" || { echo "layers_test: no '$want' in:" >&2; echo "$out" >&2; exit 1; }
done
if grep -q 'links loyaltyd' <<<"$out"; then
  echo "layers_test: a comment was taken for a link:" >&2
  echo "$out" >&2
  exit 1
fi
echo "layers_test: ok"
