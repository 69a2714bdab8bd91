#!/bin/bash
# RSS per idle client of a running proxy: N clients (a multiple of 1000) log
# in, run SELECT 1 and stay idle; the proxy's VmRSS before and after.
# Processes of 1000 clients each, since psycopg2 waits with select()
# (file descriptors above 1023 fail). Uses the anchor harness's client.
#
#   bench/idle-clients.sh NAME PORT PID N
#   bench/idle-clients.sh pgswarm 17432 "$(cat pool.pid)" 10000
# The proxy needs room for N clients (max_client_conn, ulimit -n); the
# clients log in as bench/bench_pw to database bench (the anchor cluster).
set -euo pipefail
NAME=$1; PORT=$2; PID=$3; N=$4
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IDLE_SCRIPT=${PGSWARM_SHARED_BENCH:-$ROOT/../shared/bench}/anchor-idle-conns.py
OUT=$(mktemp -d)
FIFO=$OUT/hold
ulimit -n 20000
mkfifo "$FIFO"
R0=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
P=$((N / 1000))
T0=$(date +%s)
for i in $(seq 1 $P); do
  /usr/bin/python3 "$IDLE_SCRIPT" 127.0.0.1 $PORT bench bench bench_pw 1000 < "$FIFO" > "$OUT/$i.out" 2>&1 &
done
exec 3>"$FIFO"
for s in $(seq 1 300); do sleep 1; [ $(cat "$OUT"/*.out | grep -c "READY\|FAILED") -ge $P ] && break; done
T1=$(date +%s)
sleep 2
R1=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
echo "$NAME ready=$(cat "$OUT"/*.out | grep -c READY)/$P failed=$(cat "$OUT"/*.out | grep -c FAILED) secs=$((T1-T0)) rss_kb $R0 -> $R1 per_conn_kib $(awk -v a=$R0 -v b=$R1 -v n=$N 'BEGIN{printf "%.2f", (b-a)/n}')"
exec 3>&-
sleep 5
rm -rf "$OUT"
