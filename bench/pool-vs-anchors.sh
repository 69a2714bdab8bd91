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
#
# Needs root (the harness installs pgbouncer/pgpool2 if missing) and a release build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${PGSWARM_SHARED_BENCH:-$ROOT/../shared/bench}
[ -x "$SHARED/anchor-run.sh" ] || { echo "no anchor harness at $SHARED" >&2; exit 1; }
make -C "$ROOT" release >/dev/null
PGSWARM=$ROOT/build/pgswarm
POOL_PORT=${PGSWARM_BENCH_PORT:-17432}
WORKERS=${PGSWARM_BENCH_WORKERS:-1}

# ';' not '&&' before nohup: '&' must background pgswarm itself, so that $!
# (the pid file: CPU accounting and the stop below) is pgswarm's own pid.
export EXTRA_START="printf '\"bench\" \"bench_pw\"\n' > \"\$ANCHOR_BASE/pgswarm-users.txt\";
  chmod 600 \"\$ANCHOR_BASE/pgswarm-users.txt\";
  nohup $PGSWARM pool --listen 127.0.0.1 --port $POOL_PORT --hosts 127.0.0.1:15432 \
    --auth-file \"\$ANCHOR_BASE/pgswarm-users.txt\" --pool-mode transaction \
    --default-pool-size 20 --max-client-conn 12000 --workers $WORKERS --http-port 0 \
    --health-check-user bench --log-level warn > \"\$ANCHOR_BASE/pgswarm.log\" 2>&1 &
  echo \$! > \"\$ANCHOR_BASE/pgswarm.pid\"; sleep 1"
export EXTRA_STOP='kill $(cat "$ANCHOR_BASE/pgswarm.pid") 2>/dev/null || true'
export EXTRA_TARGETS="pgswarm|127.0.0.1|$POOL_PORT|\$ANCHOR_BASE/pgswarm.pid"
BASE=${1:-$(mktemp -d "${TMPDIR:-/tmp}/anchor.XXXXXX")}
stop_pool() { [ -f "$BASE/pgswarm.pid" ] && kill "$(cat "$BASE/pgswarm.pid")" 2>/dev/null || true; }
trap stop_pool EXIT
"$SHARED/anchor-run.sh" "$BASE"
