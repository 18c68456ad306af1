#!/usr/bin/env bash
# The layers of the tree (docs/ARCHITECTURE.md): engine/ is the ledger core
# and never reaches into the connectors or the command-line code. Fails,
# naming file:line, when a file under engine/ includes connectors/ or cmd/,
# or when a CMakeLists.txt under engine/ links one of their targets.
#
#   scripts/check_layers.sh [ROOT]     ROOT defaults to this repository
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
case "${1:-}" in -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ -d "$ROOT/engine" ] || { echo "check_layers: $ROOT/engine: no such directory" >&2; exit 2; }
status=0
includes=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"(connectors|cmd)/' \
  --include='*.h' --include='*.cc' "$ROOT/engine" || true)
if [ -n "$includes" ]; then
  echo "check_layers: engine/ includes the connectors or the command-line code:" >&2
  echo "${includes//$ROOT\//}" >&2
  status=1
fi
# Targets defined under connectors/ and cmd/ (loyalty_cc_library/binary NAME x).
targets=$(grep -rhoE 'NAME[[:space:]]+[A-Za-z0-9_-]+' --include=CMakeLists.txt \
  "$ROOT/connectors" "$ROOT/cmd" 2>/dev/null | awk '{print $2}' | sort -u)
for t in $targets; do
  links=$(grep -rnwE "$t" --include=CMakeLists.txt "$ROOT/engine" |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
  if [ -n "$links" ]; then
    echo "check_layers: engine/ links $t, a target of connectors/ or cmd/:" >&2
    echo "${links//$ROOT\//}" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "check_layers: engine/ includes and links nothing of connectors/ or cmd/"
exit "$status"
