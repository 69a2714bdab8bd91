#!/usr/bin/env bash
# Prints the folder `make up/down/status` use for the local cluster:
# $PGSWARM_DIR if set; else ./pgswarm-data, unless we run as root and the
# unprivileged postgres user cannot reach this checkout (a home folder with
# mode 0700, say), in which case /var/lib/pgswarm/local.
set -euo pipefail
if [ -n "${PGSWARM_DIR:-}" ]; then echo "$PGSWARM_DIR"; exit 0; fi
here="$(pwd)/pgswarm-data"
if [ "$(id -u)" -ne 0 ] || ! id postgres >/dev/null 2>&1; then echo "$here"; exit 0; fi
if runuser -u postgres -- test -x "$(pwd)" 2>/dev/null; then echo "$here"; else echo /var/lib/pgswarm/local; fi
