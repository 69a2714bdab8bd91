#!/usr/bin/env bash
# System calls and context switches per transaction of running proxies,
# counted by the kernel (perf stat on syscall tracepoints), under one pgbench
# run each. Counts per transaction hardly move with the host's load, unlike
# TPS, so this compares proxies on a busy host too.
#
#   bench/pool-syscalls.sh NAME=PORT:PID [NAME=PORT:PID ...]
#   MODE=prepared SCRIPT=-S CLIENTS=16 bench/pool-syscalls.sh \
#     pgswarm=17432:$(cat /tmp/anc/pool.pid) pgbouncer=16432:$(cat /tmp/anc/pgbouncer/pgbouncer.pid)
#
# Connects as PGUSER (default bench, password PGPASSWORD, default bench_pw)
# to database PGDATABASE (default bench) on 127.0.0.1; needs perf and root.
set -euo pipefail
MODE=${MODE:-simple}
SCRIPT=${SCRIPT:--S}
CLIENTS=${CLIENTS:-16}
SECONDS_COUNTED=${SECONDS_COUNTED:-6}
export PGPASSWORD=${PGPASSWORD:-bench_pw}
PGUSER=${PGUSER:-bench}
PGDATABASE=${PGDATABASE:-bench}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
EVENTS=raw_syscalls:sys_enter,context-switches
for call in recvfrom sendto read write readv writev epoll_ctl epoll_wait; do
  EVENTS="$EVENTS,syscalls:sys_enter_$call"
done
[ $# -gt 0 ] || { sed -n '2,12p' "$0"; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-14s %8s %9s %9s %9s %9s %9s %9s\n' proxy tps syscalls recvfrom sendto epoll_ctl epoll_wait ctxsw
for target in "$@"; do
  name=${target%%=*}
  rest=${target#*=}
  port=${rest%%:*}
  pid=${rest#*:}
  # pgbench runs 3 s longer than the count: its connections are made before
  # the window opens and it is still running when the window closes.
  "$PGBENCH" -n -c "$CLIENTS" -j 2 -T $((SECONDS_COUNTED + 3)) -M "$MODE" $SCRIPT \
    -h 127.0.0.1 -p "$port" -U "$PGUSER" "$PGDATABASE" > "$out/pgbench" 2>&1 &
  bench=$!
  sleep 1
  perf stat -x, -e "$EVENTS" -p "$pid" -- sleep "$SECONDS_COUNTED" 2> "$out/perf"
  wait "$bench"
  tps=$(grep -o 'tps = [0-9.]*' "$out/pgbench" | head -1 | grep -o '[0-9.]*')
  awk -F, -v name="$name" -v tps="$tps" -v secs="$SECONDS_COUNTED" '
    { n[$3] = $1 }
    END {
      tx = tps * secs
      printf "%-14s %8.0f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, tps,
        n["raw_syscalls:sys_enter"] / tx, n["syscalls:sys_enter_recvfrom"] / tx,
        n["syscalls:sys_enter_sendto"] / tx, n["syscalls:sys_enter_epoll_ctl"] / tx,
        n["syscalls:sys_enter_epoll_wait"] / tx, n["context-switches"] / tx
    }' "$out/perf"
done
