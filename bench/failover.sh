#!/usr/bin/env bash
# Failover figures (issue 5): write unavailability through the pool, median
# of RUNS runs per scenario, with the default settings (1 s health checks,
# 3 s failover_timeout). Each run is one pass of the integration tests that
# measure it, each on a fresh 1 primary + 2 (or 3) replica cluster:
#   kill      kill -9 of the primary's agent and postgres under a writer
#             (integration_failover_test, asynchronous replication)
#   sync      the same in synchronous mode (integration_sync_failover_test):
#             also acknowledged rows lost (must be 0)
#   switch    SWITCHOVER under a writer: its duration, the longest write gap
#             and failed inserts (must be 0)
# The figures are the tests' "[ figures  ]" lines; write unavailability is
# the longest gap between two acknowledged inserts of a writer that inserts
# one row per transaction as fast as it can.
#
#   bench/failover.sh                 # 5 runs, the test build in build-debug (ASan)
#   RUNS=3 BUILD=build-tests bench/failover.sh   # any build with PGSWARM_TESTS=ON
#
# Environment: RUNS [5], BUILD [build-debug] (a configured CMake build folder with
# the integration tests), RESULTS [new mktemp dir] (raw logs, summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BUILD=${BUILD:-build-debug}
RESULTS=${RESULTS:-$(mktemp -d /tmp/pgswarm-failover.XXXXXX)}
mkdir -p "$RESULTS/raw"

cmake --build "$BUILD" --target integration_failover_test integration_sync_failover_test >/dev/null

median() { sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

for run in $(seq 1 "$RUNS"); do
  echo "run $run of $RUNS" >&2
  "$BUILD/integration_failover_test" >"$RESULTS/raw/failover-$run.log" 2>&1 || echo "failover run $run failed (see raw/)" >&2
  "$BUILD/integration_sync_failover_test" >"$RESULTS/raw/sync-$run.log" 2>&1 || echo "sync run $run failed (see raw/)" >&2
done

field() {  # field FILE-GLOB REGEX: the first number after REGEX in every file
  for f in $1; do grep -o "$2 [0-9]*" "$f" | head -1 | grep -o '[0-9]*$' || true; done
}
kill_gap=$(field "$RESULTS/raw/failover-*.log" "write unavailability" | median)
kill_lost=$(for f in "$RESULTS"/raw/failover-*.log; do grep -o '\] [0-9]* of [0-9]* acknowledged rows missing' "$f" | awk '{print $2}'; done | median)
sync_gap=$(field "$RESULTS/raw/sync-*.log" "sync mode: write unavailability" | median)
sync_lost=$(for f in "$RESULTS"/raw/sync-*.log; do grep -o 'sync mode: [0-9]* acknowledged, [0-9]*' "$f" | awk '{d = $3 - $5; print (d > 0 ? d : 0)}'; done | sort -n | tail -1)
switch_took=$(field "$RESULTS/raw/failover-*.log" "switchover took" | median)
switch_gap=$(field "$RESULTS/raw/failover-*.log" "longest write gap" | median)
switch_failed=$(for f in "$RESULTS"/raw/failover-*.log; do grep -o 'ms, [0-9]* failed inserts' "$f" | awk '{print $2}'; done | sort -n | tail -1)

{
  echo "| scenario | figure | median of $RUNS |"
  echo "|---|---|---|"
  echo "| kill -9 primary (async) | write unavailability ms | $kill_gap |"
  echo "| kill -9 primary (async) | acknowledged rows lost | $kill_lost |"
  echo "| kill -9 primary (sync) | write unavailability ms | $sync_gap |"
  echo "| kill -9 primary (sync) | acknowledged rows lost (worst run) | $sync_lost |"
  echo "| switchover | duration ms | $switch_took |"
  echo "| switchover | longest write gap ms | $switch_gap |"
  echo "| switchover | failed inserts (worst run) | $switch_failed |"
} | tee "$RESULTS/summary.md"
echo "raw logs: $RESULTS/raw" >&2
