#!/usr/bin/env bash
# Builds the image with podman on a machine like the project's build
# machine, where Docker Hub cannot be reached and the container runtime is
# restricted. Not in CI (a cold run takes about 7 minutes: deploy/README.md).
#
#   deploy/docker/podman-build.sh [TAG] [podman build options...]
#
# - The base images debian:bookworm and debian:bookworm-slim are made here
#   with debootstrap from Debian's archive (minbase, with the
#   bookworm-updates and security suites of the official images) and
#   imported under their Docker Hub names, once; both names are the same
#   minbase tree, larger than the official slim image.
# - runc with cgroupfs: crun refuses the host's hybrid cgroup layout.
# - Lower ulimits: podman's defaults (nofile 1048576) are refused, the
#   host's bounding set lacking CAP_SYS_RESOURCE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=${1:-localhost/loyalty-ledger:dev}
shift || true
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
ULIMITS=(--ulimit nofile=16384:16384 --ulimit nproc=16384:16384)
for tool in podman debootstrap runc; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "podman-build: $tool not found (apt-get install podman debootstrap runc)" >&2; exit 1; }
done

if ! "${PODMAN[@]}" image exists docker.io/library/debian:bookworm-slim; then
  work=$(mktemp -d /tmp/loyalty-rootfs.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "podman-build: debootstrap bookworm (minbase) into $work"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian > "$work/log" 2>&1 ||
    { tail -20 "$work/log" >&2; exit 1; }
  rm -f "$work/rootfs/etc/apt/sources.list"
  cat > "$work/rootfs/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  tar -C "$work/rootfs" -c . |
    "${PODMAN[@]}" import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm
  "${PODMAN[@]}" tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
fi

cd "$ROOT"
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
exec "${PODMAN[@]}" build --format docker --pull=never "${ULIMITS[@]}" \
  -f deploy/docker/Dockerfile -t "$TAG" "$@" .
