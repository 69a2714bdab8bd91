// The routing table: one row per statement with its kind, its read-only
// verdict (safe on a hot-standby replica?) and the exact reasons when not.
// Every row is a single statement; multi-statement strings are tested apart.
#include <initializer_list>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "sql/classifier.hpp"
#include "test_util.hpp"

namespace pgswarm::sql {
namespace {

using B = ReadOnlyBlocker;
using K = StatementKind;

struct Row {
  std::string_view sql;
  StatementKind kind;
  std::vector<ReadOnlyBlocker> blockers;  // empty: read-only
};

const std::vector<Row> kRows = {
    // ---- plain reads: replica ----
    {"SELECT 1", K::kSelect, {}},
    {"select abalance from pgbench_accounts where aid = $1", K::kSelect, {}},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 42", K::kSelect, {}},
    {"VALUES (1), (2)", K::kSelect, {}},
    {"TABLE pgbench_branches", K::kSelect, {}},
    {"SELECT * FROM a JOIN b USING (id) WHERE a.x > 3 ORDER BY 1 LIMIT 10", K::kSelect, {}},
    {"SELECT count(*), sum(x), avg(x), min(x), max(x) FROM t GROUP BY y HAVING count(*) > 1",
     K::kSelect,
     {}},
    {"SELECT coalesce(a, 0), lower(b), upper(c), length(d), substr(e, 1, 2) FROM t",
     K::kSelect,
     {}},
    {"SELECT abs(x), round(x, 2), date_trunc('day', now()), to_char(now(), 'YYYY') FROM t",
     K::kSelect,
     {}},
    {"SELECT current_setting('search_path'), current_database(), version()", K::kSelect, {}},
    {"SELECT pg_backend_pid(), pg_is_in_recovery()", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT pg_catalog.now(), pg_catalog.lower('A')", K::kSelect, {}},
    {"SELECT extract(year FROM now()), substring('abc' FROM 2), trim(' a ')", K::kSelect, {}},
    {"SELECT ts AT TIME ZONE 'UTC' FROM t", K::kSelect, {}},
    {"SELECT * FROM generate_series(1, 10) g", K::kSelect, {}},
    {"SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t", K::kSelect, {}},
    {"SELECT CASE WHEN a > 0 THEN 'p' ELSE 'n' END, a::text, b IS NULL FROM t", K::kSelect, {}},
    {"SELECT greatest(1, 2), least(1, 2), nullif(a, b) FROM t", K::kSelect, {}},
    {"SELECT current_user, session_user, current_timestamp, localtime", K::kSelect, {}},
    {"SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3", K::kSelect, {}},
    {"WITH a AS (SELECT 1 AS x) SELECT x FROM a", K::kSelect, {}},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
     K::kSelect,
     {}},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE u.flag)", K::kSelect, {}},
    {"SELECT EXISTS (SELECT 1 FROM t)", K::kSelect, {}},
    {"SELECT * FROM \"Quoted Table\" AS q WHERE q.\"Col\" = 'x'", K::kSelect, {}},
    {"  /* leading comment */ SELECT 1 -- trailing comment", K::kSelect, {}},
    {"\n\t SELECT\n\t1\n\n", K::kSelect, {}},
    {"SELECT 'it''s; not -- a comment'", K::kSelect, {}},
    {"SELECT $$ DELETE FROM t; $$", K::kSelect, {}},
    {"SELECT json_build_object('a', 1)->>'a', jsonb_agg(x) FROM t", K::kSelect, {}},
    {"SHOW search_path", K::kShow, {}},
    {"SHOW ALL", K::kShow, {B::kStandbyState}},
    {"SHOW transaction_read_only", K::kShow, {B::kStandbyState}},
    {"EXPLAIN SELECT * FROM t", K::kExplain, {}},
    {"EXPLAIN (COSTS OFF) SELECT * FROM t WHERE a = 1", K::kExplain, {}},
    {"EXPLAIN DELETE FROM t", K::kExplain, {}},  // plans only: runs nothing
    {"EXPLAIN (ANALYZE false) UPDATE t SET a = 1", K::kExplain, {}},
    {"EXPLAIN SELECT nextval('s')", K::kExplain, {}},
    {"EXPLAIN ANALYZE SELECT * FROM t", K::kExplainAnalyze, {}},
    {"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM t", K::kExplainAnalyze, {}},

    // ---- reads that are not safe on a replica ----
    {"SELECT nextval('s')", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT setval('s', 10)", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT currval('s')", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT pg_advisory_lock(1)", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT pg_try_advisory_lock(1)", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT pg_advisory_xact_lock(1)", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT pg_notify('ch', 'payload')", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT lo_import('/tmp/x')", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT dblink_exec('conn', 'DELETE FROM t')", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT set_config('work_mem', '64MB', false)", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT txid_current()", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT my_function(1)", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT myschema.now()", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT * FROM t WHERE a = (SELECT nextval('s'))", K::kSelect, {B::kUnsafeFunction}},
    {"SELECT * FROM t FOR UPDATE", K::kSelect, {B::kLockingClause}},
    {"SELECT * FROM t FOR NO KEY UPDATE", K::kSelect, {B::kLockingClause}},
    {"SELECT * FROM t FOR SHARE", K::kSelect, {B::kLockingClause}},
    {"SELECT * FROM t FOR KEY SHARE SKIP LOCKED", K::kSelect, {B::kLockingClause}},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)", K::kSelect, {B::kLockingClause}},
    {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", K::kSelect, {B::kModifyingCte}},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x",
     K::kSelect,
     {B::kModifyingCte}},
    {"WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x",
     K::kSelect,
     {B::kModifyingCte}},
    {"SELECT * INTO new_table FROM t", K::kSelect, {B::kSelectInto}},
    {"SELECT 1 INTO TEMP tmp", K::kSelect, {B::kSelectInto}},
    // Set-operation arms are unwrapped SelectStmts in the tree; the server
    // takes INTO from the leftmost one.
    {"SELECT * INTO x FROM t UNION SELECT 1", K::kSelect, {B::kSelectInto}},
    {"SELECT 1 UNION ALL (SELECT 2 EXCEPT SELECT * INTO y FROM u)", K::kSelect, {B::kSelectInto}},
    {"(SELECT * FROM t FOR UPDATE) UNION ALL SELECT * FROM u", K::kSelect, {B::kLockingClause}},
    {"SELECT 1 UNION (SELECT a FROM t FOR SHARE)", K::kSelect, {B::kLockingClause}},
    {"SELECT nextval('s') FROM t FOR UPDATE", K::kSelect, {B::kUnsafeFunction, B::kLockingClause}},
    {"EXPLAIN ANALYZE DELETE FROM t", K::kExplainAnalyze, {B::kExplainAnalyzeWrite}},
    {"EXPLAIN (ANALYZE true) UPDATE t SET a = 1", K::kExplainAnalyze, {B::kExplainAnalyzeWrite}},
    {"EXPLAIN ANALYZE INSERT INTO t VALUES (1)", K::kExplainAnalyze, {B::kExplainAnalyzeWrite}},
    {"EXPLAIN ANALYZE SELECT nextval('s')", K::kExplainAnalyze, {B::kUnsafeFunction}},
    {"EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", K::kExplainAnalyze, {B::kLockingClause}},
    {"EXPLAIN EXECUTE p(1)", K::kExplain, {B::kStatementKind}},

    // ---- writes and everything else: primary ----
    {"INSERT INTO t (a) VALUES (1)", K::kInsert, {B::kStatementKind}},
    {"INSERT INTO t SELECT * FROM u ON CONFLICT (a) DO NOTHING", K::kInsert, {B::kStatementKind}},
    {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
     K::kUpdate,
     {B::kStatementKind}},
    {"UPDATE t SET a = u.a FROM u WHERE t.id = u.id", K::kUpdate, {B::kStatementKind}},
    {"DELETE FROM t WHERE a < 0 RETURNING *", K::kDelete, {B::kStatementKind}},
    {"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", K::kMerge, {B::kStatementKind}},
    {"WITH u AS (UPDATE t SET a = 1 RETURNING *) INSERT INTO v SELECT * FROM u",
     K::kInsert,
     {B::kStatementKind, B::kModifyingCte}},
    {"CREATE TABLE t (id int PRIMARY KEY, s text DEFAULT 'x')", K::kDdl, {B::kStatementKind}},
    {"CREATE TABLE t2 (id bigint DEFAULT nextval('s'))",
     K::kDdl,
     {B::kStatementKind, B::kUnsafeFunction}},
    {"ALTER TABLE t ADD COLUMN c int", K::kDdl, {B::kStatementKind}},
    {"DROP TABLE IF EXISTS t CASCADE", K::kDdl, {B::kStatementKind}},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", K::kDdl, {B::kStatementKind}},
    {"CREATE VIEW v AS SELECT * FROM t", K::kDdl, {B::kStatementKind}},
    {"CREATE MATERIALIZED VIEW mv AS SELECT * FROM t", K::kDdl, {B::kStatementKind}},
    {"REFRESH MATERIALIZED VIEW mv", K::kDdl, {B::kStatementKind}},
    {"CREATE TABLE t3 AS SELECT * FROM t", K::kDdl, {B::kStatementKind}},
    {"CREATE SCHEMA s", K::kDdl, {B::kStatementKind}},
    {"CREATE EXTENSION IF NOT EXISTS postgres_fdw", K::kDdl, {B::kStatementKind}},
    {"GRANT SELECT ON t TO bob", K::kDdl, {B::kStatementKind}},
    {"REVOKE ALL ON t FROM bob", K::kDdl, {B::kStatementKind}},
    {"COMMENT ON TABLE t IS 'x'", K::kDdl, {B::kStatementKind}},
    {"TRUNCATE t, u RESTART IDENTITY", K::kDdl, {B::kStatementKind}},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", K::kDdl, {B::kStatementKind}},
    {"COPY t FROM STDIN", K::kCopyFrom, {B::kStatementKind}},
    {"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", K::kCopyFrom, {B::kStatementKind}},
    {"COPY t TO STDOUT", K::kCopyTo, {B::kStatementKind}},
    {"COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT binary)", K::kCopyTo, {B::kStatementKind}},
    {"BEGIN", K::kTransaction, {B::kStatementKind}},
    {"BEGIN READ ONLY", K::kTransaction, {B::kStatementKind}},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", K::kTransaction, {B::kStatementKind}},
    {"COMMIT", K::kTransaction, {B::kStatementKind}},
    {"END", K::kTransaction, {B::kStatementKind}},
    {"ROLLBACK", K::kTransaction, {B::kStatementKind}},
    {"ABORT", K::kTransaction, {B::kStatementKind}},
    {"SAVEPOINT sp", K::kTransaction, {B::kStatementKind}},
    {"RELEASE SAVEPOINT sp", K::kTransaction, {B::kStatementKind}},
    {"ROLLBACK TO SAVEPOINT sp", K::kTransaction, {B::kStatementKind}},
    {"PREPARE TRANSACTION 'gid1'", K::kTransaction, {B::kStatementKind}},
    {"COMMIT PREPARED 'gid1'", K::kTransaction, {B::kStatementKind}},
    {"ROLLBACK PREPARED 'gid1'", K::kTransaction, {B::kStatementKind}},
    {"SET TRANSACTION READ ONLY", K::kTransaction, {B::kStatementKind}},
    {"SET search_path TO a, b", K::kSet, {B::kStatementKind}},
    {"SET LOCAL statement_timeout = '5s'", K::kSet, {B::kStatementKind}},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", K::kSet, {B::kStatementKind}},
    {"SET default_transaction_read_only = on", K::kSet, {B::kStatementKind}},
    {"SET ROLE bob", K::kSet, {B::kStatementKind}},
    {"SET SESSION AUTHORIZATION bob", K::kSet, {B::kStatementKind}},
    {"RESET search_path", K::kReset, {B::kStatementKind}},
    {"RESET ALL", K::kReset, {B::kStatementKind}},
    {"RESET ROLE", K::kReset, {B::kStatementKind}},
    {"LISTEN ch", K::kListen, {B::kStatementKind}},
    {"UNLISTEN *", K::kUnlisten, {B::kStatementKind}},
    {"NOTIFY ch, 'hello'", K::kNotify, {B::kStatementKind}},
    {"PREPARE q(int) AS SELECT * FROM t WHERE a = $1", K::kPrepare, {B::kStatementKind}},
    {"EXECUTE q(1)", K::kExecute, {B::kStatementKind}},
    {"DEALLOCATE q", K::kDeallocate, {B::kStatementKind}},
    {"DEALLOCATE ALL", K::kDeallocate, {B::kStatementKind}},
    {"DECLARE c CURSOR FOR SELECT * FROM t", K::kDeclareCursor, {B::kStatementKind}},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t", K::kDeclareCursor, {B::kStatementKind}},
    {"FETCH 10 FROM c", K::kCursorOp, {B::kStatementKind}},
    {"MOVE NEXT IN c", K::kCursorOp, {B::kStatementKind}},
    {"CLOSE c", K::kCursorOp, {B::kStatementKind}},
    {"DISCARD ALL", K::kDiscard, {B::kStatementKind}},
    {"DISCARD TEMP", K::kDiscard, {B::kStatementKind}},
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", K::kLock, {B::kStatementKind}},
    {"VACUUM (ANALYZE) t", K::kVacuum, {B::kStatementKind}},
    {"ANALYZE t", K::kVacuum, {B::kStatementKind}},
    {"CALL my_procedure(1)", K::kCall, {B::kStatementKind, B::kUnsafeFunction}},
    {"DO $$ BEGIN PERFORM 1; END $$", K::kDo, {B::kStatementKind}},
    {"LOAD 'auto_explain'", K::kOther, {B::kStatementKind}},
    {"CHECKPOINT", K::kOther, {B::kStatementKind}},
    {"REINDEX TABLE t", K::kOther, {B::kStatementKind}},
    {"CREATE TEMP TABLE tmp (a int)", K::kDdl, {B::kStatementKind}},
};

TEST(RoutingTable, HasAtLeastEightyRows) {
  EXPECT_GE(kRows.size(), 80U);
}

TEST(RoutingTable, EveryRowClassifiesAsExpected) {
  for (const Row& row : kRows) {
    const Classification result = classify(row.sql);
    SCOPED_TRACE(std::string(row.sql) + "  =>  " + describe(result));
    ASSERT_EQ(result.status, ClassificationStatus::kOk);
    ASSERT_EQ(result.statements.size(), 1U);
    const Statement& statement = result.statements.front();
    EXPECT_EQ(statement.kind, row.kind);
    BlockerSet expected;
    for (ReadOnlyBlocker blocker : row.blockers) expected.add(blocker);
    EXPECT_EQ(statement.blockers, expected);
    EXPECT_EQ(statement.readOnly, row.blockers.empty());
    EXPECT_EQ(result.readOnly, row.blockers.empty());
  }
}

}  // namespace
}  // namespace pgswarm::sql
