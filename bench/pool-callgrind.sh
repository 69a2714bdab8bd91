#!/usr/bin/env bash
# User-space instructions per transaction of `pgswarm pool`, under callgrind,
# for one or more builds side by side (e.g. before and after a change). The
# kernel's share (most of the pool's CPU, see docs/benchmarks.md) is not in
# these counts: they show what the pool's own code costs per transaction.
#
#   ../shared/bench/anchor-cluster.sh start /tmp/anc   # a primary on 127.0.0.1:15432
#   PGPASSWORD=bench_pw pgbench -i -s 10 -h 127.0.0.1 -p 15432 -U bench bench   # once
#   bench/pool-callgrind.sh /tmp/anc old=/path/to/old/pgswarm new=build/pgswarm
#
# Per workload: 6 s with 20 clients (every server connection logged in), then
# a 16-client run whose middle 10 s are counted (client logins excluded);
# transactions are the primary's commit count over the same 10 s.
set -euo pipefail

BASE=${1:?anchor base directory}
shift
# shellcheck source=/dev/null
source "$BASE/anchor.env"  # PG_HOST, PG_PORT, BENCH_DB, BENCH_USER, BENCH_PASSWORD
PORT=${PGSWARM_CALLGRIND_PORT:-17439}
OUT=${RESULTS:-$(mktemp -d /tmp/pool-callgrind.XXXXXX)}
WORKLOADS=${WORKLOADS:-"select-simple:-S:-M:simple select-extended:-S:-M:extended select-prepared:-S:-M:prepared tpcb-simple:-M:simple"}
export PGPASSWORD=$BENCH_PASSWORD
mkdir -p "$OUT"
printf '"%s" "%s"\n' "$BENCH_USER" "$BENCH_PASSWORD" > "$OUT/users.txt"
chmod 600 "$OUT/users.txt"

commits() {
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$BENCH_USER" -d "$BENCH_DB" -Atc \
    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

measure() {  # LABEL PID WORKLOAD PGBENCH-ARGS...
  local label=$1 pid=$2 workload=$3
  shift 3
  pgbench -h 127.0.0.1 -p "$PORT" -U "$BENCH_USER" "$@" -c 20 -j 2 -T 6 "$BENCH_DB" > /dev/null 2>&1
  pgbench -h 127.0.0.1 -p "$PORT" -U "$BENCH_USER" "$@" -c 16 -j 2 -T 25 "$BENCH_DB" > "$OUT/$label-$workload.pgbench" 2>&1 &
  local bench=$!
  sleep 10
  local before after
  before=$(commits)
  callgrind_control -z "$pid" > /dev/null
  sleep 10
  callgrind_control -d "$workload" "$pid" > /dev/null
  after=$(commits)
  wait "$bench"
  local file instructions
  file=$(ls -t "$OUT/$label".*.out.* | head -1)
  instructions=$(callgrind_annotate "$file" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  printf '%-8s %-18s %8d tx  %8d instructions/tx  %s\n' "$label" "$workload" \
    $((after - before)) $((instructions / (after - before))) "$file"
}

for target in "$@"; do
  label=${target%%=*}
  binary=${target#*=}
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$label.%p.out" "$binary" pool \
    --listen 127.0.0.1 --port "$PORT" --hosts "$PG_HOST:$PG_PORT" --auth-file "$OUT/users.txt" \
    --pool-mode transaction --default-pool-size 20 --workers 1 --http-port 0 \
    --health-check-user "$BENCH_USER" --log-level warn > "$OUT/$label.log" 2>&1 &
  pid=$!
  sleep 6
  for workload in $WORKLOADS; do
    IFS=: read -r -a args <<< "$workload"
    measure "$label" "$pid" "${args[@]}"
  done
  kill "$pid"
  wait "$pid" 2> /dev/null || true
done
echo "callgrind files in $OUT (callgrind_annotate --inclusive=yes FILE)"
