#!/usr/bin/env bash
# Two proxies under load at the same time, each with a pgbench of its own,
# against the same PostgreSQL: CPU time per transaction of each proxy over
# the same seconds. Run one after the other, proxies see a different host
# (a neighbour's load, the page cache, the CPU's clock); repetitions of one
# cell spread by 10-45 % on this VM, more than the difference being looked
# for. Side by side, both see the same host, so the ratio of their CPU per
# transaction is measured within one run. Start each proxy with setsid, in
# a session of its own (benchmarks.md, "One session with pgbench").
#
#   bench/pool-paired.sh NAME_A PORT_A PID_A NAME_B PORT_B PID_B [pgbench args...]
#   bench/pool-paired.sh pgswarm 17432 "$(cat /tmp/anc/pgswarm.pid)" \
#       pgbouncer 16432 "$(cat /tmp/anc/pgbouncer/pgbouncer.pid)" -b tpcb-like
#
# ROUNDS (5), DURATION seconds per round (20), WARMUP seconds left out at the
# start (4), CLIENTS per proxy (8), THREADS per pgbench (1). Connects as
# PGUSER (bench, password PGPASSWORD, bench_pw) to PGDATABASE (bench) on
# 127.0.0.1. Transactions are counted from pgbench's per-second progress
# reports (epoch timestamps); CPU time (user + system, all threads) is read
# from /proc four times a second and interpolated to the same instants.
# Prints per round each proxy's TPS and CPU us/tx and the ratio A / B, then
# the medians. Each round's pgbench output stays in a temporary folder when
# KEEP=1. A's pgbench starts first in odd rounds, B's in even ones.
set -euo pipefail
[ $# -ge 6 ] || { sed -n '2,23p' "$0"; exit 2; }
NAME_A=$1 PORT_A=$2 PID_A=$3 NAME_B=$4 PORT_B=$5 PID_B=$6
shift 6
export PGPASSWORD=${PGPASSWORD:-bench_pw}
PGUSER=${PGUSER:-bench}
PGDATABASE=${PGDATABASE:-bench}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-4}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "rounds in $work" >&2; else trap 'rm -rf "$work"' EXIT; fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_bench() {  # PORT OUTFILE [pgbench args...]
  local port=$1 out=$2
  shift 2
  pgbench -n -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P 1 --progress-timestamp "$@" \
    -h 127.0.0.1 -p "$port" -U "$PGUSER" "$PGDATABASE" > "$out.out" 2> "$out.progress"
}

start_a() { run_bench "$PORT_A" "$dir/a" "$@" & bench_a=$!; }
start_b() { run_bench "$PORT_B" "$dir/b" "$@" & bench_b=$!; }

for round in $(seq 1 "$ROUNDS"); do
  dir="$work/$round"
  mkdir -p "$dir"
  if [ $((round % 2)) = 1 ]; then
    start_a "$@"
    start_b "$@"
  else
    start_b "$@"
    start_a "$@"
  fi
  while kill -0 "$bench_a" 2> /dev/null || kill -0 "$bench_b" 2> /dev/null; do
    echo "$(date +%s.%N) $(cpu_ticks "$PID_A") $(cpu_ticks "$PID_B")" >> "$dir/cpu"
    sleep 0.25
  done
  # One wait each: `wait A B` returns only B's status.
  if ! wait "$bench_a" || ! wait "$bench_b"; then
    echo "pgbench failed in round $round" >&2
    cat "$dir"/*.progress >&2
    exit 1
  fi
done
python3 "$HERE/pool_paired_summary.py" "$work" "$NAME_A" "$NAME_B" "$WARMUP" "$(getconf CLK_TCK)"
