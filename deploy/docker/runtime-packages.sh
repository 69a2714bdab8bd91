#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries a binary links
# (one a line, sorted), so the image's runtime stage installs exactly what
# the builder's pgswarm needs, on every architecture, without a hand-kept
# list that drifts when a dependency is added. Usage: runtime-packages.sh BINARY
set -euo pipefail
binary=${1:?usage: runtime-packages.sh BINARY}
[ -x "$binary" ] || { echo "runtime-packages: '$binary' is not an executable" >&2; exit 1; }

# ldd prints "name => /path (addr)".
mapfile -t libraries < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
[ ${#libraries[@]} -gt 0 ] || { echo "runtime-packages: '$binary' links no shared library" >&2; exit 1; }

# With merged /usr, dpkg knows a library by the path its package ships,
# /lib/... or /usr/lib/...: ask for both in one call (dpkg -S is slow).
owners=$(dpkg -S "${libraries[@]}" "${libraries[@]/#//usr}" 2>/dev/null || true)
for library in "${libraries[@]}"; do
  owner=$(awk -v a="$library" -v b="/usr$library" \
    '{ path = $NF } path == a || path == b { sub(/:.*/, "", $1); print $1; exit }' <<<"$owners")
  [ -n "$owner" ] || { echo "runtime-packages: no Debian package holds $library" >&2; exit 1; }
  echo "$owner"
done | sort -u
