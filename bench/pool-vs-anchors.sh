#!/usr/bin/env bash
# pgswarm pool beside PgBouncer and Pgpool-II in one run of the shared anchor
# harness (../shared/bench): same cluster, same pgbench runs, interleaved.
# pgswarm runs in transaction mode with a pool of 20, like the PgBouncer anchor.
# Its health check logs in as bench (plain password in the auth file): before
# 2026-11-26 it tried postgres, which had no password there.
#
#   bench/pool-vs-anchors.sh                    # defaults of the harness (~25 min)
#   DURATION=10 REPS=2 IDLE_CONNS=1000 bench/pool-vs-anchors.sh
#   RESULTS=docs/bench-results bench/pool-vs-anchors.sh   # keep summary.md and the CSVs
#   UNIX_SOCKETS=1 ...                          # also pgswarm and PgBouncer over the unix socket
#   PGSWARM_B=/path/to/other/pgswarm ...        # A/B: a second pgswarm binary ("pgswarm-b"), TCP
#
# Needs root (the harness installs pgbouncer/pgpool2 if missing) and a release build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${PGSWARM_SHARED_BENCH:-$ROOT/../shared/bench}
[ -x "$SHARED/anchor-run.sh" ] || { echo "no anchor harness at $SHARED" >&2; exit 1; }
make -C "$ROOT" release >/dev/null
PGSWARM=${PGSWARM:-$ROOT/build/pgswarm}
POOL_PORT=${PGSWARM_BENCH_PORT:-17432}
WORKERS=${PGSWARM_BENCH_WORKERS:-1}

# ';' not '&&' before nohup: '&' must background pgswarm itself, so that $!
# (the pid file: CPU accounting and the stop below) is pgswarm's own pid.
# In a session of its own (setsid), as the harness starts PgBouncer and
# Pgpool-II: with the kernel's autogroup scheduling (Debian's default), a
# process in the harness's session shares one scheduling group with
# pgbench, and pgbench's wake-ups preempt it there (benchmarks.md, "One
# session with pgbench").
start_pool() {  # NAME PORT HOSTS [BINARY]
  echo "setsid nohup ${4:-$PGSWARM} pool --listen 127.0.0.1 --port $2 --hosts $3 \
    --auth-file \"\$ANCHOR_BASE/pgswarm-users.txt\" --pool-mode transaction \
    --default-pool-size 20 --max-client-conn 12000 --workers $WORKERS --http-port 0 \
    --health-check-user bench --log-level warn > \"\$ANCHOR_BASE/$1.log\" 2>&1 &
  echo \$! > \"\$ANCHOR_BASE/$1.pid\";"
}
EXTRA_START="printf '\"bench\" \"bench_pw\"\n' > \"\$ANCHOR_BASE/pgswarm-users.txt\";
  chmod 600 \"\$ANCHOR_BASE/pgswarm-users.txt\"; $(start_pool pgswarm "$POOL_PORT" 127.0.0.1:15432)"
EXTRA_STOP='kill $(cat "$ANCHOR_BASE/pgswarm.pid") 2>/dev/null || true'
EXTRA_TARGETS="pgswarm|127.0.0.1|$POOL_PORT|\$ANCHOR_BASE/pgswarm.pid"
# UNIX_SOCKETS=1: also pgswarm and a second PgBouncer (the anchor's config,
# its server address changed) reaching PostgreSQL over its unix socket, so
# the two poolers are compared on that path too.
if [ "${UNIX_SOCKETS:-0}" = 1 ]; then
  EXTRA_START="$EXTRA_START $(start_pool pgswarm-unix $((POOL_PORT + 1)) \"\$ANCHOR_BASE/run:15432\")
  sed -e \"s|host=127.0.0.1 port=15432|host=\$ANCHOR_BASE/run port=15432|\" \
      -e 's|^listen_port = .*|listen_port = 16434|' -e 's|pgbouncer.pid|pgbouncer-unix.pid|' \
      -e 's|pgbouncer.log|pgbouncer-unix.log|' \"\$ANCHOR_BASE/pgbouncer/pgbouncer.ini\" \
      > \"\$ANCHOR_BASE/pgbouncer/pgbouncer-unix.ini\";
  chown postgres \"\$ANCHOR_BASE/pgbouncer/pgbouncer-unix.ini\";
  setpriv --reuid=postgres --regid=postgres --init-groups \
    pgbouncer -d -q \"\$ANCHOR_BASE/pgbouncer/pgbouncer-unix.ini\";"
  EXTRA_STOP="$EXTRA_STOP; kill \$(cat \"\$ANCHOR_BASE/pgswarm-unix.pid\") 2>/dev/null || true;
    kill \$(cat \"\$ANCHOR_BASE/pgbouncer/pgbouncer-unix.pid\" 2>/dev/null) 2>/dev/null || true"
  EXTRA_TARGETS="$EXTRA_TARGETS pgswarm-unix|127.0.0.1|$((POOL_PORT + 1))|\$ANCHOR_BASE/pgswarm-unix.pid"
  EXTRA_TARGETS="$EXTRA_TARGETS pgbouncer-unix|127.0.0.1|16434|\$ANCHOR_BASE/pgbouncer/pgbouncer-unix.pid"
fi
# PGSWARM_B: another build of pgswarm (say, other compiler flags) in the same
# interleaved run, on the port after the unix-socket pool's.
if [ -n "${PGSWARM_B:-}" ]; then
  [ -x "$PGSWARM_B" ] || { echo "PGSWARM_B=$PGSWARM_B is not an executable" >&2; exit 1; }
  EXTRA_START="$EXTRA_START $(start_pool pgswarm-b $((POOL_PORT + 2)) 127.0.0.1:15432 "$PGSWARM_B")"
  EXTRA_STOP="$EXTRA_STOP; kill \$(cat \"\$ANCHOR_BASE/pgswarm-b.pid\") 2>/dev/null || true"
  EXTRA_TARGETS="$EXTRA_TARGETS pgswarm-b|127.0.0.1|$((POOL_PORT + 2))|\$ANCHOR_BASE/pgswarm-b.pid"
fi
export EXTRA_START="$EXTRA_START
sleep 1" EXTRA_STOP EXTRA_TARGETS
BASE=${1:-$(mktemp -d "${TMPDIR:-/tmp}/anchor.XXXXXX")}
stop_pool() {
  for pid in "$BASE/pgswarm.pid" "$BASE/pgswarm-unix.pid" "$BASE/pgswarm-b.pid" \
    "$BASE/pgbouncer/pgbouncer-unix.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
}
trap stop_pool EXIT
"$SHARED/anchor-run.sh" "$BASE"
