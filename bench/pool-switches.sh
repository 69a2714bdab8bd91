#!/usr/bin/env bash
# CPU time and context switches per transaction of a running proxy, from
# /proc (all of its threads), over the middle of one pgbench run; the
# transactions are the primary's commit count over the same window. Run it
# for each proxy in turn, several rounds, on the same host. Start the pool
# with setsid, as the anchor harness starts PgBouncer: in this shell's
# session it would share pgbench's autogroup (benchmarks.md).
#
#   bench/pool-switches.sh PORT PID [pgbench script args...]
#   bench/pool-switches.sh 17432 "$(pgrep -f 'pgswarm pool')" -b tpcb-like
#   bench/pool-switches.sh 16432 "$(cat /tmp/anc/pgbouncer/pgbouncer.pid)" -S
#
# Connects as PGUSER (default bench, password PGPASSWORD, default bench_pw)
# to PGDATABASE (default bench) through 127.0.0.1:PORT; commits are read on
# PRIMARY_PORT (default 15432). Prints TPS and, per transaction, voluntary
# and involuntary context switches and user and system microseconds.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0"; exit 2; }
PORT=$1
PID=$2
shift 2
export PGPASSWORD=${PGPASSWORD:-bench_pw}
PGUSER=${PGUSER:-bench}
PGDATABASE=${PGDATABASE:-bench}
PRIMARY_PORT=${PRIMARY_PORT:-15432}
CLIENTS=${CLIENTS:-16}
WINDOW=${WINDOW:-6}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

snapshot() {  # voluntary involuntary utime stime (ticks)
  local voluntary=0 involuntary=0 task
  for task in /proc/"$PID"/task/*; do
    voluntary=$((voluntary + $(awk '/^voluntary_ctxt/ {print $2}' "$task/status")))
    involuntary=$((involuntary + $(awk '/^nonvoluntary_ctxt/ {print $2}' "$task/status")))
  done
  echo "$voluntary $involuntary $(awk '{print $14, $15}' /proc/"$PID"/stat)"
}
commits() {
  psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U "$PGUSER" -d "$PGDATABASE" -Atc \
    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

pgbench -n -c "$CLIENTS" -j 2 -T $((WINDOW + 3)) "$@" -h 127.0.0.1 -p "$PORT" -U "$PGUSER" \
  "$PGDATABASE" > "$out" 2>&1 &
bench=$!
sleep 1.5
read -r v0 n0 u0 s0 < <(snapshot)
c0=$(commits)
sleep "$WINDOW"
read -r v1 n1 u1 s1 < <(snapshot)
c1=$(commits)
wait "$bench"
awk -v tx=$((c1 - c0)) -v window="$WINDOW" -v dv=$((v1 - v0)) -v dn=$((n1 - n0)) \
  -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v tick="$(getconf CLK_TCK)" 'BEGIN {
    printf "tps %d  voluntary/tx %.3f  involuntary/tx %.3f  user us/tx %.2f  system us/tx %.2f\n",
      tx / window, dv / tx, dn / tx, du * 1e6 / tick / tx, ds * 1e6 / tick / tx }'
