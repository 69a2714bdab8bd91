#!/usr/bin/env bash
# Reads over replicas (issue 4): one cluster (1 primary + 2 streaming replicas
# from the shared anchor harness, ../shared/bench), `pgbench -S` at several
# client counts through
#   direct   the primary itself (127.0.0.1:15432)
#   pgswarm  pgswarm pool, transaction mode, load balancing on, all 3 nodes
#   pgpool   Pgpool-II from anchor-proxies.sh (streaming replication mode,
#            load balancing over all 3 nodes, weight 1 each)
#   (pgbouncer, optional: PgBouncer in front of the primary only)
# interleaved and repeated. Every run records TPS, average latency, the CPU
# per transaction of the proxy's process tree and of the PostgreSQL nodes,
# and the share of the reads each node served: the growth of
# sum(idx_scan) of pgbench_accounts in pg_stat_user_tables on each node
# (pgbench -S does one index scan of pgbench_accounts per transaction).
#
#   bench/replica-reads.sh [BASE]                 # defaults: 2 x 10 s per target and client count
#   DURATION=3 REPS=1 bench/replica-reads.sh      # smoke run
#   RESULTS=/tmp/rr DURATION=20 REPS=3 TARGETS="direct pgswarm pgpool pgbouncer" bench/replica-reads.sh
#
# Environment (defaults in brackets):
#   DURATION [10] seconds per pgbench run    REPS [2]    CLIENTS ["8 80"]    THREADS [2] (pgbench -j)
#   SCALE [10] pgbench scale (re-initialised only if it differs)
#   WARMUP [10] seconds of -S per target at the largest client count before the measured runs (opens
#           every proxy's server connections; 0 = none)
#   TARGETS ["direct pgswarm pgpool"] (add pgbouncer for a single-node pooled reference)
#   POOL_SIZE [20] pgswarm --default-pool-size (per node)
#   PGSWARM_BENCH_WORKERS [cores] pgswarm --workers    PGSWARM_BENCH_PORT [17432]
#   PGSWARM_EXTRA_ARGS [""] more `pgswarm pool` flags (e.g. "--primary-weight 1")
#   PGPOOL_CHILDREN [largest CLIENTS + 4] Pgpool-II num_init_children: one child serves one client
#           for its whole connection; with fewer children than clients the extra pgbench clients wait
#           at connect for a child that is never freed during the run
#   STATS_WAIT [11] seconds after a run before reading the nodes' statistics: a backend that stays
#           connected (pooled) flushes its counters when it goes idle, but at most once a second, else
#           10 s later (PostgreSQL 15's PGSTAT_IDLE_INTERVAL); less than 11 s mixes runs up
#   RESULTS [new mktemp dir] runs.csv, summary.md, raw/ (pgbench output, SHOW NODES, SHOW POOL_NODES)
#   KEEP [0] 1 = leave cluster, proxies and pgswarm running (BASE printed at the end)
#   BASE (first argument) [new mktemp dir] harness directory; a BASE made here is removed on exit
#           unless KEEP=1; a BASE given as argument is only stopped
#   PGSWARM_SHARED_BENCH [ROOT/../shared/bench] the anchor harness
#
# Needs root (the harness installs pgbouncer/pgpool2 if missing and runs postgres as user postgres)
# and builds the release binary (make release). Stops only what it started, by pid / pid file.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${PGSWARM_SHARED_BENCH:-$ROOT/../shared/bench}
if [ ! -x "$SHARED/anchor-cluster.sh" ] || [ ! -x "$SHARED/anchor-proxies.sh" ]; then
  echo "no anchor harness at $SHARED" >&2; exit 1
fi

DURATION=${DURATION:-10}; REPS=${REPS:-2}; CLIENTS=${CLIENTS:-"8 80"}; THREADS=${THREADS:-2}
SCALE=${SCALE:-10}; WARMUP=${WARMUP:-10}; STATS_WAIT=${STATS_WAIT:-11}
TARGETS=${TARGETS:-"direct pgswarm pgpool"}
POOL_SIZE=${POOL_SIZE:-20}
POOL_PORT=${PGSWARM_BENCH_PORT:-17432}
WORKERS=${PGSWARM_BENCH_WORKERS:-}
MAX_CLIENTS=0; for c in $CLIENTS; do [ "$c" -gt "$MAX_CLIENTS" ] && MAX_CLIENTS=$c; done
export PGPOOL_CHILDREN=${PGPOOL_CHILDREN:-$((MAX_CLIENTS + 4))}
export N_REPLICAS=2
RESULTS=${RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/replica-reads.XXXXXX")}
mkdir -p "$RESULTS/raw"; RESULTS=$(cd "$RESULTS" && pwd)

log() { echo "[replica-reads $(date +%T)] $*" >&2; }
die() { log "$*"; exit 1; }

# ------------------------------------------------------------------------------------------ build
log "make release"
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} make -C "$ROOT" release >"$RESULTS/raw/build.txt" 2>&1 \
  || { tail -20 "$RESULTS/raw/build.txt" >&2; die "release build failed"; }
PGSWARM=$ROOT/build/pgswarm

# ------------------------------------------------------------------------------------------ cleanup
MADE_BASE=0
if [ -n "${1:-}" ]; then BASE=$1; else BASE=$(mktemp -d "${TMPDIR:-/tmp}/anchor.XXXXXX"); MADE_BASE=1; fi
mkdir -p "$BASE"; BASE=$(cd "$BASE" && pwd)
export ANCHOR_BASE=$BASE
PGSWARM_PID=""
CLUSTER_STARTED=0; PROXIES_STARTED=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # keep the logs with the results
  cp -f "$BASE/pgswarm.log" "$BASE/log/pgpool.log" "$RESULTS/raw/" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then
    log "KEEP=1: left running in $BASE (pgswarm pid ${PGSWARM_PID:-none}; stop: kill $PGSWARM_PID;" \
        "$SHARED/anchor-proxies.sh stop $BASE; $SHARED/anchor-cluster.sh stop $BASE)"
    return $rc
  fi
  if [ -n "$PGSWARM_PID" ] && kill -0 "$PGSWARM_PID" 2>/dev/null; then
    kill "$PGSWARM_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PGSWARM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PGSWARM_PID" 2>/dev/null && { log "pgswarm $PGSWARM_PID still up, SIGKILL"; kill -KILL "$PGSWARM_PID" 2>/dev/null || true; }
    log "pgswarm (pid $PGSWARM_PID) stopped"
  fi
  [ $PROXIES_STARTED = 1 ] && { "$SHARED/anchor-proxies.sh" stop "$BASE" || true; }
  if [ $CLUSTER_STARTED = 1 ]; then
    if [ $MADE_BASE = 1 ]; then "$SHARED/anchor-cluster.sh" clean "$BASE" || true
    else "$SHARED/anchor-cluster.sh" stop "$BASE" || true; fi
  elif [ $MADE_BASE = 1 ]; then rmdir "$BASE" 2>/dev/null || true
  fi
  return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------ cluster, proxies
CLUSTER_STARTED=1
"$SHARED/anchor-cluster.sh" start "$BASE" >/dev/null
# shellcheck disable=SC1091
. "$BASE/anchor.env"
export PGPASSFILE
[ "$N_REPLICAS" = 2 ] || die "BASE has $N_REPLICAS replicas, this benchmark wants 2"
PROXIES_STARTED=1
"$SHARED/anchor-proxies.sh" start "$BASE"
# shellcheck disable=SC1091
. "$BASE/proxies.env"   # PGPOOL_PORT, PGPOOL_PIDFILE, PGBOUNCER_PORT, PGBOUNCER_PIDFILE
NODE_PORTS="$PG_PORT $REPLICA_PORTS"
NODE_NAMES="primary replica1 replica2"

PGBENCH=$PGBIN/pgbench; [ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)
PSQL=$PGBIN/psql; [ -x "$PSQL" ] || PSQL=$(command -v psql)
psql_bench() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$1" -U "$BENCH_USER" -d "${3:-$BENCH_DB}" -c "$2"; }
psql_super() { ( cd "$BASE" && runuser -u "$PG_OS_USER" -- "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$2" -U postgres -d "$BENCH_DB" -c "$1" ); }

wait_replicas_caught_up() {
  local lsn i port ok
  lsn=$(psql_bench "$PG_PORT" "SELECT pg_current_wal_lsn()")
  for ((i = 0; i < 600; i++)); do
    ok=1
    for port in $REPLICA_PORTS; do
      [ "$(psql_bench "$port" "SELECT coalesce(pg_last_wal_replay_lsn() >= '$lsn', false)")" = t ] || ok=0
    done
    [ $ok = 1 ] && return 0
    sleep 0.1
  done
  die "replicas did not replay $lsn within 60 s"
}

cur_scale=$(psql_bench "$PG_PORT" "SELECT count(*) FROM pgbench_branches" 2>/dev/null || echo 0)
if [ "$cur_scale" != "$SCALE" ]; then
  log "pgbench -i -s $SCALE on the primary"
  "$PGBENCH" -i -s "$SCALE" -q -h "$PG_HOST" -p "$PG_PORT" -U "$BENCH_USER" "$BENCH_DB" >"$RESULTS/raw/init.txt" 2>&1 \
    || { cat "$RESULTS/raw/init.txt" >&2; die "pgbench -i failed"; }
fi
psql_super "CHECKPOINT" "$PG_PORT" >/dev/null
wait_replicas_caught_up
log "replicas have replayed the pgbench tables"
for port in $NODE_PORTS; do   # the same warm cache on every node
  psql_super "SELECT sum(pg_prewarm(c)) FROM unnest(array['pgbench_accounts','pgbench_accounts_pkey','pgbench_branches','pgbench_tellers']::regclass[]) c" "$port" >/dev/null
done

# ------------------------------------------------------------------------------------------ pgswarm
printf '"%s" "%s"\n' "$BENCH_USER" "$BENCH_PASSWORD" >"$BASE/pgswarm-users.txt"
printf '%s\n' "$BENCH_PASSWORD" >"$BASE/pgswarm-hc-password"
chmod 600 "$BASE/pgswarm-users.txt" "$BASE/pgswarm-hc-password"
HOSTS=$(for p in $NODE_PORTS; do printf '%s:%s,' "$PG_HOST" "$p"; done); HOSTS=${HOSTS%,}
pool_args=(pool --listen 127.0.0.1 --port "$POOL_PORT" --hosts "$HOSTS"
  --auth-file "$BASE/pgswarm-users.txt" --pool-mode transaction --default-pool-size "$POOL_SIZE"
  --max-client-conn 12000 --http-port 0 --log-level warn --admin-users "$BENCH_USER"
  --health-check-user "$BENCH_USER" --health-check-password-file "$BASE/pgswarm-hc-password")
[ -n "$WORKERS" ] && pool_args+=(--workers "$WORKERS")
# shellcheck disable=SC2206
[ -n "${PGSWARM_EXTRA_ARGS:-}" ] && pool_args+=($PGSWARM_EXTRA_ARGS)
if [[ " $TARGETS " == *" pgswarm "* ]]; then
  # started directly (no shell in between): $! is pgswarm's own pid, used for CPU and the stop.
  # setsid: a session (and autogroup) of its own, as PgBouncer and Pgpool-II
  # get from the shared harness, not pgbench's (pool-vs-anchors.sh).
  setsid nohup "$PGSWARM" "${pool_args[@]}" >"$BASE/pgswarm.log" 2>&1 </dev/null &
  PGSWARM_PID=$!
  echo "$PGSWARM_PID" >"$BASE/pgswarm.pid"
  # wait until the health checks have found the primary and both replicas take reads
  ok=0
  for ((i = 0; i < 300; i++)); do
    kill -0 "$PGSWARM_PID" 2>/dev/null || { cat "$BASE/pgswarm.log" >&2; die "pgswarm exited"; }
    nodes=$(psql_bench "$POOL_PORT" "SHOW NODES" pgswarm 2>/dev/null | awk -F'|' '{print $4 ":" $7}' | tr '\n' ' ' || true)
    if [ "$(grep -o 'primary:' <<<"$nodes" | wc -l)" = 1 ] && [ "$(grep -o 'replica:yes' <<<"$nodes" | wc -l)" = 2 ]; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { cat "$BASE/pgswarm.log" >&2; die "pgswarm did not see 1 primary + 2 readable replicas: $nodes"; }
  log "pgswarm up on 127.0.0.1:$POOL_PORT (pid $PGSWARM_PID, workers ${WORKERS:-default}, pool $POOL_SIZE per node), nodes: $nodes"
fi

read_pid() { head -1 "$1" 2>/dev/null | tr -dc '0-9'; }
declare -A T_PORT T_PIDFILE
T_PORT[direct]=$PG_PORT;            T_PIDFILE[direct]=-
T_PORT[pgswarm]=$POOL_PORT;         T_PIDFILE[pgswarm]=$BASE/pgswarm.pid
# shellcheck disable=SC2153
T_PORT[pgpool]=$PGPOOL_PORT;        T_PIDFILE[pgpool]=$PGPOOL_PIDFILE
T_PORT[pgbouncer]=$PGBOUNCER_PORT;  T_PIDFILE[pgbouncer]=$PGBOUNCER_PIDFILE
for t in $TARGETS; do [ -n "${T_PORT[$t]:-}" ] || die "unknown target $t (direct pgswarm pgpool pgbouncer)"; done

# ------------------------------------------------------------------------------------------ accounting
CLK_TCK=$(getconf CLK_TCK)
# tree_ticks ROOT... -> utime+stime+cutime+cstime over the roots and all their descendants
tree_ticks() {
  [ $# -gt 0 ] || { echo 0; return; }
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$*" '
    { pid = $1; sub(/^.*\) /, ""); ppid[pid] = $2; t[pid] = $12 + $13 + $14 + $15 }
    END { n = split(roots, r, " "); for (i = 1; i <= n; i++) if (r[i] in ppid) sel[r[i]] = 1
          do { ch = 0; for (p in ppid) if (!(p in sel) && (ppid[p] in sel)) { sel[p] = 1; ch = 1 } } while (ch)
          for (p in sel) tot += t[p]; printf "%d\n", tot }'
}
host_busy() { awk '/^cpu / { idle = $5 + $6; tot = 0; for (i = 2; i <= 9; i++) tot += $i; print tot - idle, tot }' /proc/stat; }
pg_roots() { local i; for ((i = 0; i <= N_REPLICAS; i++)); do read_pid "$BASE/pg/node$i/postmaster.pid"; echo; done | tr '\n' ' '; }
proxy_root() { local pf=${T_PIDFILE[$1]}; [ "$pf" != - ] && read_pid "$pf"; return 0; }
all_roots() { pg_roots; for t in pgswarm pgpool pgbouncer; do proxy_root "$t"; echo; done | tr '\n' ' '; }
# pgswarm's own counters (admin console): "server_connects waits"
pool_totals() {
  [ -n "$PGSWARM_PID" ] || return 0
  psql_bench "$POOL_PORT" "SHOW TOTALS" pgswarm 2>/dev/null \
    | awk -F'|' '$1 == "total_server_connects" { c = $2 } $1 == "total_wait_count" { w = $2 } END { print c + 0, w + 0 }'
}
# reads served by each node so far: index scans of pgbench_accounts
node_reads() {
  local port
  for port in $NODE_PORTS; do
    psql_bench "$port" "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables WHERE relname = 'pgbench_accounts'"
  done | tr '\n' ' '
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm), $(nproc) cpus, cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "postgres: $("$PGBIN/postgres" --version)"
  echo "pgpool: $(pgpool --version 2>&1 | head -1) (num_init_children=$PGPOOL_CHILDREN, max_pool 1, load_balance_mode on, weights 1/1/1)"
  echo "pgswarm: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'): ${pool_args[*]}"
  echo "pgbench: $("$PGBENCH" --version)"
  echo "params: DURATION=$DURATION REPS=$REPS CLIENTS=\"$CLIENTS\" THREADS=$THREADS SCALE=$SCALE WARMUP=$WARMUP TARGETS=\"$TARGETS\""
} >"$RESULTS/meta.txt"
cat "$RESULTS/meta.txt" >&2

# ------------------------------------------------------------------------------------------ runs
header="label,rep,clients,target,tps,lat_ms,txns,failed,rc"
for n in $NODE_NAMES; do header="$header,reads_$n"; done
header="$header,proxy_cpu_s,proxy_us_per_tx,pg_cpu_s,pg_us_per_tx,client_cpu_s,host_busy_pct,foreign_cpu_pct"
header="$header,pool_server_connects,pool_waits"
echo "$header" >"$RESULTS/runs.csv"

run_one() {  # run_one LABEL REP CLIENTS TARGET DURATION
  local label=$1 rep=$2 c=$3 t=$4 dur=$5
  local port=${T_PORT[$t]} root raw r0 r1 p0 p1 g0 g1 m0 m1 h0 h1 tm rc pg roots s0="" s1=""
  root=$(proxy_root "$t"); pg=$(pg_roots); roots=$(all_roots)
  raw="$RESULTS/raw/${label}_r${rep}_c${c}_${t}.txt"
  local args=(-S -n -c "$c" -j "$THREADS" -T "$dur" -h 127.0.0.1 -p "$port" -U "$BENCH_USER")
  r0=$(node_reads)
  [ "$t" = pgswarm ] && s0=$(pool_totals)
  h0=$(host_busy); p0=$(tree_ticks "$root"); g0=$(tree_ticks "$pg"); m0=$(tree_ticks "$roots")
  set +e
  tm=$( { TIMEFORMAT='%R %U %S'; time timeout $((dur + 120)) "$PGBENCH" "${args[@]}" "$BENCH_DB" >"$raw" 2>&1; } 2>&1 )
  rc=$?
  set -e
  h1=$(host_busy); p1=$(tree_ticks "$root"); g1=$(tree_ticks "$pg"); m1=$(tree_ticks "$roots")
  [ "$t" = pgswarm ] && s1=$(pool_totals)
  sleep "$STATS_WAIT"
  r1=$(node_reads)
  echo "pgbench ${args[*]} $BENCH_DB  (rc=$rc, time real/user/sys: $tm)" >>"$raw"
  local tps lat txns failed line
  tps=$(awk '/^tps = / { print $3; exit }' "$raw"); lat=$(awk '/^latency average = / { print $4; exit }' "$raw")
  txns=$(awk -F': ' '/number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' "$raw")
  failed=$(awk -F': ' '/number of failed transactions/ { split($2, a, " "); print a[1]; exit }' "$raw")
  [ -n "$tps" ] || { tps=0; lat=0; txns=0; log "WARNING: $t c=$c rep $rep failed (rc=$rc), see $raw"; }
  : "${failed:=0}"
  line=$(awk -v label="$label" -v rep="$rep" -v c="$c" -v t="$t" -v tps="$tps" -v lat="$lat" -v txns="$txns" \
      -v failed="$failed" -v rc="$rc" -v r0="$r0" -v r1="$r1" -v hz="$CLK_TCK" -v hasroot="${root:+1}" \
      -v p0="$p0" -v p1="$p1" -v g0="$g0" -v g1="$g1" -v m0="$m0" -v m1="$m1" -v h0="$h0" -v h1="$h1" -v tm="$tm" -v s0="$s0" -v s1="$s1" 'BEGIN {
        printf "%s,%s,%s,%s,%.3f,%.3f,%d,%d,%d", label, rep, c, t, tps, lat, txns, failed, rc
        n = split(r0, a, " "); split(r1, b, " "); for (i = 1; i <= n; i++) printf ",%d", b[i] - a[i]
        split(tm, w, " "); ccpu = w[2] + w[3]
        pcpu = (p1 - p0) / hz; gcpu = (g1 - g0) / hz
        if (hasroot) printf ",%.2f,%s", pcpu, txns ? sprintf("%.1f", 1e6 * pcpu / txns) : ""; else printf ",,"
        printf ",%.2f,%s,%.2f", gcpu, txns ? sprintf("%.1f", 1e6 * gcpu / txns) : "", ccpu
        split(h0, x, " "); split(h1, y, " "); d = y[2] - x[2]
        busy = d > 0 ? 100 * (y[1] - x[1]) / d : 0
        other = d > 0 ? 100 * ((y[1] - x[1]) - (m1 - m0) - ccpu * hz) / d : 0; if (other < 0) other = 0
        printf ",%.1f,%.1f", busy, other
        if (s0 != "" && s1 != "") { split(s0, u, " "); split(s1, v, " "); printf ",%d,%d\n", v[1] - u[1], v[2] - u[2] }
        else printf ",,\n" }')
  echo "$line" >>"$RESULTS/runs.csv"
  local shares
  shares=$(awk -F, -v n="$NODE_NAMES" 'BEGIN { k = split(n, nm, " ") } { s = 0; for (i = 10; i < 10 + k; i++) s += $i
      for (i = 10; i < 10 + k; i++) printf "%s%.0f%%", (i > 10 ? "/" : ""), s ? 100 * $i / s : 0 }' <<<"$line")
  log "$(printf '%-6s rep %s c=%-3s %-9s tps=%9.1f lat=%7.3f ms reads p/r1/r2=%-11s proxy_us/tx=%-6s foreign_cpu=%s%%%s' \
        "$label" "$rep" "$c" "$t" "$tps" "$lat" "$shares" "$(cut -d, -f14 <<<"$line")" "$(cut -d, -f19 <<<"$line")" \
        "$([ "$t" = pgswarm ] && echo " server_connects=$(cut -d, -f20 <<<"$line") waits=$(cut -d, -f21 <<<"$line")")")"
}

if [ "$WARMUP" -gt 0 ]; then
  for t in $TARGETS; do run_one warmup 0 "$MAX_CLIENTS" "$t" "$WARMUP"; done
fi
for ((rep = 1; rep <= REPS; rep++)); do
  for c in $CLIENTS; do
    for t in $TARGETS; do run_one run "$rep" "$c" "$t" "$DURATION"; done
  done
done

# how each proxy saw it: routed transactions per node (pgswarm), select_cnt per node (Pgpool-II)
[ -n "$PGSWARM_PID" ] && { psql_bench "$POOL_PORT" "SHOW NODES" pgswarm >"$RESULTS/raw/pgswarm_show_nodes.txt" 2>&1 || true; }
"$PSQL" -X -h 127.0.0.1 -p "$PGPOOL_PORT" -U "$BENCH_USER" -d "$BENCH_DB" -c 'SHOW POOL_NODES' \
  >"$RESULTS/raw/pgpool_show_pool_nodes.txt" 2>&1 || true

# ------------------------------------------------------------------------------------------ summary
python3 - "$RESULTS" "$POOL_SIZE" "$PGPOOL_CHILDREN" >"$RESULTS/summary.md" <<'EOF'
import csv, os, statistics, sys
res, pool_size, children = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [r for r in csv.DictReader(open(os.path.join(res, "runs.csv"))) if r["label"] == "run"]
nodes = [k[len("reads_"):] for k in rows[0] if k.startswith("reads_")] if rows else []
names = {"direct": "direct (primary)", "pgswarm": "pgswarm", "pgpool": "Pgpool-II", "pgbouncer": "PgBouncer (primary)"}
groups, order = {}, []
for r in rows:
    k = (int(r["clients"]), r["target"])
    if k not in groups:
        groups[k] = []; order.append(k)
    groups[k].append(r)
pos = {k: i for i, k in enumerate(order)}
order.sort(key=lambda k: (k[0], pos[k]))
def med(xs):
    xs = [float(x) for x in xs if x not in ("", None)]
    return statistics.median(xs) if xs else None
def fmt(x, d=0):
    return "" if x is None else f"{x:,.{d}f}"
tps = {k: med(r["tps"] for r in v) for k, v in groups.items()}
out = ["| target | clients | TPS (median) | runs TPS | latency ms | reads primary / replica1 / replica2 | x direct | x Pgpool-II | proxy CPU us/tx | PG CPU us/tx | foreign CPU % |",
       "|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|"]
for k in order:
    c, t = k; v = groups[k]
    reads = [sum(float(r["reads_" + n]) for r in v) for n in nodes]
    tot = sum(reads)
    share = " / ".join(f"{100 * x / tot:.0f} %" for x in reads) if tot else ""
    d = tps.get((c, "direct")); p = tps.get((c, "pgpool"))
    out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        names.get(t, t), c, fmt(tps[k]), " / ".join(fmt(float(r["tps"])) for r in v),
        fmt(med(r["lat_ms"] for r in v), 2), share,
        fmt(tps[k] / d, 2) if d else "", fmt(tps[k] / p, 2) if p else "",
        fmt(med(r["proxy_us_per_tx"] for r in v), 1), fmt(med(r["pg_us_per_tx"] for r in v), 1),
        fmt(max(float(r["foreign_cpu_pct"]) for r in v), 1)))
out.append("")
out.append(f"Reads per node: growth of sum(idx_scan) of pgbench_accounts on each node, summed over the reps. "
           f"pgswarm: pool of {pool_size} server connections per node; Pgpool-II: {children} children "
           f"(one per client, each with its own backend connections).")
for k in order:
    if k[1] == "pgswarm" and groups[k][0].get("pool_server_connects", "") != "":
        v = groups[k]
        out.append(f"- pgswarm, {k[0]} clients, per run: server connections opened "
                   + " / ".join(r["pool_server_connects"] for r in v)
                   + ", clients that waited for a server " + " / ".join(r["pool_waits"] for r in v))
bad = [f"{r['target']} c={r['clients']} rep {r['rep']}" for r in rows if float(r["tps"]) == 0]
if bad:
    out.append("- runs without any transaction (counted as 0 TPS): " + ", ".join(bad))
for c in sorted({k[0] for k in order}):
    s, d, p = tps.get((c, "pgswarm")), tps.get((c, "direct")), tps.get((c, "pgpool"))
    if s and p and d:
        out.append(f"- {c} clients: pgswarm / Pgpool-II = {s / p:.2f} (target >= 2: {'met' if s >= 2 * p else 'not met'}); "
                   f"pgswarm / direct = {s / d:.2f} (target >= 0.90: {'met' if s >= 0.9 * d else 'not met'})")
print("\n".join(out))
EOF
cat "$RESULTS/summary.md"
log "results in $RESULTS"
