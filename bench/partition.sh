#!/usr/bin/env bash
# Network-partition figures (issue 5), median of RUNS runs, with the default
# settings (1 s health checks, 3 s failover_timeout, 2 s fence_timeout). Each
# run is one pass of the chaos tier's two link-cut cases
# (integration_chaos_failover_test, a fresh 1 primary + 2 replica cluster in
# network namespaces behind a transaction-mode pool; needs root):
#   primary cut   the primary's link cut under a ledger writer (processes
#                 alive): when the pool had failed over, the writer's
#                 longest gap between acknowledged inserts (write
#                 unavailability: last write before the cut to first after
#                 it), when the old primary's agent fenced it
#   replica cut   a replica's link cut under a writer and a reader: the
#                 longest write gap and the longest read gap
# The figures are the test's "[ figures  ]" lines.
#
#   sudo bench/partition.sh                  # 5 runs, the test build in build-debug (ASan)
#   RUNS=3 BUILD=build-tests bench/partition.sh
#
# Environment: RUNS [5], BUILD [build-debug], RESULTS [new mktemp dir] (raw
# logs, summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BUILD=${BUILD:-build-debug}
RESULTS=${RESULTS:-$(mktemp -d /tmp/pgswarm-partition.XXXXXX)}
mkdir -p "$RESULTS/raw"
[ "$(id -u)" = 0 ] || { echo "the chaos tier needs root (network namespaces)" >&2; exit 1; }

cmake --build "$BUILD" --target integration_chaos_failover_test >/dev/null

median() { sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
spread() { sort -n | awk 'NR == 1 {lo=$1} {hi=$1} END {if (NR) print lo "-" hi; else print "-"}'; }

for run in $(seq 1 "$RUNS"); do
  echo "run $run of $RUNS" >&2
  "$BUILD/integration_chaos_failover_test" \
    --gtest_filter='Chaos.AReplicasCutLinkFailsNothingOver:Chaos.ThePrimarysCutLinkFailsOverAndItRejoinsWhenBack' \
    >"$RESULTS/raw/partition-$run.log" 2>&1 || echo "run $run failed (see raw/)" >&2
done

field() {  # field REGEX: the first number after REGEX in every run's log
  for f in "$RESULTS"/raw/partition-*.log; do grep -o "$1 [0-9]*" "$f" | head -1 | grep -o '[0-9]*$' || true; done
}
row() {  # row SCENARIO FIGURE REGEX
  local values
  values=$(field "$3")
  echo "| $1 | $2 | $(echo "$values" | median) | $(echo "$values" | spread) |"
}
{
  echo "| scenario | figure | median of $RUNS | range |"
  echo "|---|---|---|---|"
  row "primary link cut" "failover after the cut, ms" "primary cut: failover"
  row "primary link cut" "write unavailability (writer's longest gap), ms" "kept writing (longest gap"
  row "primary link cut" "old primary fenced by its agent after the cut, ms" "fenced by its agent"
  row "primary link cut" "old primary streaming after its link is back, ms" "streaming from the new one"
  row "replica link cut" "longest write gap, ms" "replica cut: longest write gap"
  row "replica link cut" "longest read gap, ms" "longest read gap"
} | tee "$RESULTS/summary.md"
echo "raw logs: $RESULTS/raw" >&2
