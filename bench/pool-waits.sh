#!/usr/bin/env bash
# Where PostgreSQL's client backends wait while TPC-B (or another pgbench
# script) runs through each proxy in turn: pg_stat_activity sampled every
# 50 ms by one session on the primary, averaged to backends per state and
# wait event. "idle in transaction / ClientRead" is a backend holding its
# transaction open while the next statement travels through the proxy;
# "active / Lock" is a backend waiting for another's row lock. "idle" counts
# every proxy's idle server connections, not only the measured one's.
#
#   bench/pool-waits.sh NAME=PORT [NAME=PORT ...]
#   bench/pool-waits.sh pgswarm=17432 pgbouncer=16432
#
# ROUNDS (3), DURATION (14 s; sampled from its 3rd second to 1 s before its end), CLIENTS
# (16), SCRIPT (-b tpcb-like). Connects as PGUSER (bench, PGPASSWORD
# bench_pw) to PGDATABASE (bench); samples on 127.0.0.1:PRIMARY_PORT
# (15432), in a table waitsamples it creates there (dropped at the end).
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,17p' "$0"; exit 2; }
export PGPASSWORD=${PGPASSWORD:-bench_pw}
PGUSER=${PGUSER:-bench}
PGDATABASE=${PGDATABASE:-bench}
PRIMARY_PORT=${PRIMARY_PORT:-15432}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-14}
CLIENTS=${CLIENTS:-16}
read -r -a SCRIPT <<< "${SCRIPT:--b tpcb-like}"
out=$(mktemp -d)
primary() { psql -X -q -h 127.0.0.1 -p "$PRIMARY_PORT" -U "$PGUSER" -d "$PGDATABASE" "$@"; }
trap 'primary -c "DROP TABLE IF EXISTS waitsamples" || true; rm -rf "$out"' EXIT

primary -c "DROP TABLE IF EXISTS waitsamples" \
  -c "CREATE TABLE waitsamples (target text, round int, sample int, state text, wtype text, wevent text)"
for round in $(seq 1 "$ROUNDS"); do
  for target in "$@"; do
    name=${target%%=*}
    port=${target#*=}
    pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" -r "${SCRIPT[@]}" -h 127.0.0.1 -p "$port" \
      -U "$PGUSER" "$PGDATABASE" > "$out/$name-$round.txt" 2>&1 &
    bench=$!
    sleep 3
    primary -c "DO \$\$ DECLARE i int := 0; BEGIN
    WHILE clock_timestamp() < now() + interval '$((DURATION - 4)) s' LOOP
      i := i + 1;
      PERFORM pg_stat_clear_snapshot();
      INSERT INTO waitsamples SELECT '$name', $round, i, state,
        coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-')
        FROM pg_stat_activity
        WHERE datname = current_database() AND backend_type = 'client backend'
          AND pid <> pg_backend_pid();
      PERFORM pg_sleep(0.05);
    END LOOP; END \$\$"
    wait "$bench"
    echo "$name round $round: $(grep -E '^tps' "$out/$name-$round.txt")"
    grep -E '^ +[0-9.]+ +[0-9]+ +[A-Z]' "$out/$name-$round.txt" | sed "s/^/  $name ms /"
  done
done
primary -c "WITH n AS (SELECT target, count(DISTINCT (round, sample)) AS samples
    FROM waitsamples GROUP BY target)
  SELECT w.target, state, wtype, wevent, round(count(*)::numeric / n.samples, 2) AS backends
  FROM waitsamples w JOIN n USING (target)
  GROUP BY w.target, state, wtype, wevent, n.samples
  HAVING count(*)::numeric / n.samples >= 0.05 ORDER BY 1, 5 DESC"
