#!/usr/bin/env bash
# Prints, one per line and sorted, the Debian packages that hold the shared
# libraries the given binaries load (ldd, then dpkg -S). The image's runtime
# stage installs exactly these (deploy/docker/Dockerfile). Fails, naming the
# library, when one belongs to no package (a library built by hand would be
# missing from the image).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
[ -n "$libs" ] || { echo "runtime-packages: ldd found no shared libraries in $*" >&2; exit 1; }
# Bookworm's merged /usr: dpkg knows a file under one of its names (as
# linked, resolved, with or without /usr). One dpkg -S for all of them.
declare -A names
candidates=()
for lib in $libs; do
  real=$(readlink -f "$lib")
  names[$lib]="$lib $real /usr$lib /usr$real ${lib#/usr} ${real#/usr}"
  for p in ${names[$lib]}; do candidates+=("$p"); done
done
declare -A owner
while IFS= read -r line; do
  case "$line" in diversion*) continue ;; esac
  path=${line##*: }
  pkg=${line%%: *}
  owner[$path]=${pkg%%[:,]*}
done < <(dpkg -S "${candidates[@]}" 2>/dev/null || true)
for lib in $libs; do
  pkg=""
  for p in ${names[$lib]}; do
    if [ -n "${owner[$p]:-}" ]; then pkg=${owner[$p]}; break; fi
  done
  [ -n "$pkg" ] || { echo "runtime-packages: $lib belongs to no Debian package" >&2; exit 1; }
  echo "$pkg"
done | sort -u
