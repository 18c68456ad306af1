#!/usr/bin/env bash
# Installs everything Loyalty Ledger needs to build and test, from Debian's
# packages. Safe to run again; skips apt when every package is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libabsl-dev librocksdb-dev libprotobuf-dev protobuf-compiler
  librdkafka-dev libssl-dev libbenchmark-dev libgtest-dev libgmock-dev libpq-dev libjemalloc-dev
  libspdlog-dev libcpp-httplib-dev prometheus curl python3
  tzdata kcat openssl
  # scripts/check_deploy.sh: systemd-analyze, docker-compose, PyYAML (and
  # promtool, of prometheus above)
  systemd docker-compose python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}"
