#!/usr/bin/env bash
# Sharding figures (issue 6): pgbench on pgbench_accounts unsharded against
# the same table sharded the seed's way (4 range partitions: one local on the
# coordinator, three postgres_fdw partitions on shard nodes) by
# `pgswarm shard create`, on one local cluster (`pgswarm up --shards 3`),
# one run:
#   unsharded   pgbench straight to the coordinator, before sharding
#   coordinator pgbench straight to the coordinator, after sharding (the
#               seed's way: every statement through postgres_fdw)
#   pool-unsharded  pgbench through the pool before sharding (its own cost)
#   pool        pgbench through pgswarm's pool (`up --pool-mode transaction`,
#               default_pool_size 20) in front of the coordinator, after
#               sharding: single-shard statements straight to their shard
#               node (direct routing); TPC-B with one pgbench thread per
#               client (see run())
# for `pgbench -S` (select only) and the TPC-B-like default script, at each
# client count. TPC-B runs with --max-tries so that a serialization failure of
# postgres_fdw's REPEATABLE READ remote transactions is retried and counted
# (the "failures/retried" column) rather than ending the client.
#
#   bench/sharding.sh                          # 10 s per run, 8 and 80 clients
#   DURATION=3 CLIENTS=8 bench/sharding.sh     # smoke run
#
# Environment: DURATION [10], CLIENTS ["8 80"], THREADS [2], SCALE [10],
#   STRATEGY [range] (or hash: 3 hash partitions, all on shard nodes),
#   BUILD [build] (folder with the pgswarm binary; `make release` builds build/),
#   PORT_BASE [27200] (below Linux's ephemeral ports, 32768+, which clients may hold), RESULTS [new mktemp dir] (summary.md, raw/), KEEP [0].
# Needs root or a user that can run postgres; stops only the cluster it made.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}; CLIENTS=${CLIENTS:-"8 80"}; THREADS=${THREADS:-2}; SCALE=${SCALE:-10}
STRATEGY=${STRATEGY:-range}; BUILD=${BUILD:-build}; PORT_BASE=${PORT_BASE:-27200}; KEEP=${KEEP:-0}
PGSWARM=$ROOT/$BUILD/pgswarm
PGBIN=/usr/lib/postgresql/15/bin
RESULTS=${RESULTS:-$(mktemp -d /tmp/pgswarm-sharding.XXXXXX)}
mkdir -p "$RESULTS/raw"
[ -x "$PGSWARM" ] || { echo "no $PGSWARM: run make release (or set BUILD)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/pgswarm-sharding-cluster.XXXXXX); chmod 755 "$DIR"
cleanup() {
  if [ "$KEEP" = 1 ]; then echo "cluster kept in $DIR/c" >&2; return; fi
  "$PGSWARM" down --dir "$DIR/c" --purge >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
log() { echo "[sharding $(date +%T)] $*" >&2; }

POOL_PORT=$((PORT_BASE + 500))
log "pgswarm up --shards 3 in $DIR/c"
# Transaction mode: up's default (session) gives each pgbench client a server
# connection for its whole run, so client 21 of 80 waits query_wait_timeout.
"$PGSWARM" up --dir "$DIR/c" --replicas 0 --shards 3 --port-base "$PORT_BASE" \
  --pool-port "$POOL_PORT" --http-port $((PORT_BASE + 501)) --pool-mode transaction \
  >"$RESULTS/raw/up.txt" 2>&1
export PGPASSFILE=$DIR/c/pgpass PGUSER=postgres PGDATABASE=postgres
log "pgbench -i -s $SCALE"
"$PGBIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PORT_BASE" >"$RESULTS/raw/init.txt" 2>&1

# run LABEL PORT SCRIPT CLIENTS: one pgbench run, its TPS and failures to runs.csv
run() {
  local label=$1 port=$2 script=$3 clients=$4 out
  out="$RESULTS/raw/$label-$script-$clients.txt"
  # TPC-B through the pool, one thread per client: pgbench -M prepared prepares
  # each command with a blocking PQprepare the first time a client runs it,
  # which stops every client of that thread. A client preparing BEGIN holds
  # no server and waits for one while the pool's 20 are held by clients of
  # the same thread inside their BEGIN..END, which wait for the thread: no
  # progress until query_wait_timeout (TPC-B at 80 clients on 2 threads).
  local threads=$THREADS
  if [ "$script" = tpcb ]; then case "$label" in pool*) threads=$clients ;; esac; fi
  local args=(-h 127.0.0.1 -p "$port" -c "$clients" -j "$threads" -T "$DURATION" -n -M prepared)
  if [ "$script" = select ]; then args+=(-S); else args+=(--max-tries=10); fi
  "$PGBIN/pgbench" "${args[@]}" >"$out" 2>&1 || true
  local tps failed
  # A run that could not start (say, a client refused at connect) has no
  # figures: it counts as 0 TPS and the summary says so, the script goes on.
  tps=$(grep -o 'tps = [0-9.]*' "$out" | head -1 | awk '{printf "%.0f", $3}' || true)
  failed=$(grep -o 'number of failed transactions: [0-9]*' "$out" | awk '{print $5}' || true)
  if [ -z "$tps" ]; then failed="run failed: $(grep -m1 'error' "$out" | tr ',' ';' || true)"; fi
  echo "$label,$script,$clients,${tps:-0},${failed:-0}" >>"$RESULTS/runs.csv"
  log "$label $script c=$clients: ${tps:-0} TPS, ${failed:-0} failed"
}

measure() {
  local label=$1 port=$2
  for clients in $CLIENTS; do
    run "$label" "$port" select "$clients"
    run "$label" "$port" tpcb "$clients"
  done
}

: >"$RESULTS/runs.csv"
measure unsharded "$PORT_BASE"
# The pool's own cost, before any sharding: the ceiling for direct routing.
measure pool-unsharded "$POOL_PORT"
# The pool keeps its idle server connections (server_idle_timeout): a new
# pool leaves the coordinator's max_connections to the direct runs.
kill "$(cat "$DIR/c/pool.pid")"
while kill -0 "$(cat "$DIR/c/pool.pid")" 2>/dev/null; do sleep 0.2; done
"$PGSWARM" up --dir "$DIR/c" >>"$RESULTS/raw/up.txt" 2>&1
if [ "$STRATEGY" = hash ]; then
  SHARD_ARGS=(--strategy hash --shards 3)
else
  SHARD_ARGS=(--shards 4 --keep-local 1)
fi
log "pgswarm shard create pgbench_accounts --key aid ${SHARD_ARGS[*]}"
/usr/bin/time -f "%e s" -o "$RESULTS/raw/shard-create-time.txt" \
  "$PGSWARM" shard create pgbench_accounts --key aid "${SHARD_ARGS[@]}" --dir "$DIR/c" \
  >"$RESULTS/raw/shard-create.txt" 2>&1
"$PGSWARM" shard status --dir "$DIR/c" >"$RESULTS/raw/shard-status.txt" 2>&1
measure coordinator "$PORT_BASE"
measure pool "$POOL_PORT"

tps() { awk -F, -v l="$1" -v s="$2" -v c="$3" '$1 == l && $2 == s && $3 == c {print $4}' "$RESULTS/runs.csv"; }
failed() { awk -F, -v l="$1" -v s="$2" -v c="$3" '$1 == l && $2 == s && $3 == c {print $5}' "$RESULTS/runs.csv"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
{
  echo "pgbench scale $SCALE, $STRATEGY sharding (${SHARD_ARGS[*]}), $DURATION s per run, -M prepared, -j $THREADS (TPC-B through the pool: -j = clients)"
  echo "shard create took $(cat "$RESULTS/raw/shard-create-time.txt")"
  echo
  echo "| workload | clients | unsharded TPS | pool, unsharded TPS | x unsharded | coordinator TPS | x unsharded | pool TPS | x unsharded | x pool unsharded | coordinator failures |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for script in select tpcb; do
    for clients in $CLIENTS; do
      u=$(tps unsharded $script "$clients"); pu=$(tps pool-unsharded $script "$clients")
      c=$(tps coordinator $script "$clients"); p=$(tps pool $script "$clients")
      echo "| $script | $clients | $u | $pu | $(ratio "$pu" "$u") | $c | $(ratio "$c" "$u") | $p | $(ratio "$p" "$u") | $(ratio "$p" "$pu") | $(failed coordinator $script "$clients") |"
    done
  done
} | tee "$RESULTS/summary.md"
echo "raw: $RESULTS/raw" >&2
