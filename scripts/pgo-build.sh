#!/usr/bin/env bash
# A release build with profile-guided optimization (make release-pgo):
# build-pgo/pgswarm. Builds the tree instrumented, trains it with pgbench
# through `pgswarm pool` on a throwaway PostgreSQL 15 (select and TPC-B-like
# in simple, extended and prepared protocol, transaction mode), then builds
# the same tree again with the profile. About twice a release build's time.
# The pool's own CPU per transaction is what it buys (benchmarks.md,
# "Profile-guided optimization").
#
#   scripts/pgo-build.sh
#   PGO_PG_PORT=25432 PGO_POOL_PORT=26432 PGO_SECONDS=8 scripts/pgo-build.sh
#
# As root, PostgreSQL runs as the postgres user. Needs postgresql-15 and
# pgbench (make deps).
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${PGO_PG_PORT:-25432}
POOL_PORT=${PGO_POOL_PORT:-26432}
SECONDS_EACH=${PGO_SECONDS:-8}
BUILD=build-pgo

log() { echo "[pgo-build $(date +%H:%M:%S)] $*"; }
die() {
  echo "pgo-build: $*" >&2
  exit 1
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$PG_PORT" "$POOL_PORT"; do
  port_busy "$port" && die "port $port is in use: set PGO_PG_PORT / PGO_POOL_PORT"
done
[ -x "$PGBIN/initdb" ] || die "no $PGBIN/initdb: install postgresql-15 (make deps) or set PGBIN"

as_pg() {  # postgres never runs as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

work=$(mktemp -d /tmp/pgswarm-pgo.XXXXXX)
pool_pid=""
cleanup() {
  if [ -n "$pool_pid" ]; then kill "$pool_pid" 2>/dev/null || true; fi
  if [ -f "$work/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"
password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')

log "instrumented build ($BUILD, PGSWARM_PGO=generate)"
cmake --preset release-pgo -DPGSWARM_PGO=generate >/dev/null
find "$BUILD" -name '*.gcda' -delete  # a profile from an earlier source would mislead
cmake --build "$BUILD" --target pgswarm

log "training PostgreSQL on 127.0.0.1:$PG_PORT"
(umask 077 && printf '%s\n' "$password" >"$work/pwfile")
[ "$(id -u)" = 0 ] && chown postgres "$work/pwfile"
as_pg "$PGBIN/initdb" -D "$work/data" -U postgres --auth=scram-sha-256 --pwfile="$work/pwfile" \
  >"$work/initdb.log" 2>&1 || {
  cat "$work/initdb.log" >&2
  die "initdb failed"
}
as_pg "$PGBIN/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -o \
  "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=60" start >/dev/null
export PGPASSWORD=$password
"$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >"$work/init.log" 2>&1

umask 077
printf '"postgres" "%s"\n' "$password" >"$work/users.txt"
"$BUILD/pgswarm" pool --listen 127.0.0.1 --port "$POOL_PORT" --hosts "127.0.0.1:$PG_PORT" \
  --auth-file "$work/users.txt" --pool-mode transaction --default-pool-size 20 --http-port 0 \
  --health-check-user postgres --log-level warn >"$work/pool.log" 2>&1 </dev/null &
pool_pid=$!
for _ in $(seq 100); do port_busy "$POOL_PORT" && break; sleep 0.1; done
for script in "-S -M simple" "-S -M extended" "-S -M prepared" "-M simple" "-M extended" \
  "-M prepared"; do
  # shellcheck disable=SC2086
  tps=$("$PGBIN/pgbench" -n $script -c 16 -j 2 -T "$SECONDS_EACH" -h 127.0.0.1 -p "$POOL_PORT" \
    -U postgres postgres 2>&1 | awk '/^tps/ {print $3}')
  [ -n "$tps" ] || die "pgbench $script through the pool failed (pool log: $(tail -n 5 "$work/pool.log"))"
  log "trained: pgbench $script, $tps tps"
done
kill -TERM "$pool_pid"
wait "$pool_pid" || true  # the profile is written as the pool exits
pool_pid=""
profiles=$(find "$BUILD" -name '*.gcda' | wc -l)
[ "$profiles" -gt 0 ] || die "the pool wrote no profile (.gcda)"
log "$profiles profile files"

log "optimized build (PGSWARM_PGO=use)"
cmake --preset release-pgo -DPGSWARM_PGO=use >/dev/null
cmake --build "$BUILD" --target pgswarm
log "done: $BUILD/pgswarm"
