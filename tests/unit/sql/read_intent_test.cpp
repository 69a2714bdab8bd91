// Read intent: the routing table (statement text -> where it may run), the
// literal-free key (table, robustness on arbitrary bytes, and the property
// that texts sharing a key share an intent), and Classifier::readIntent's
// own cache.
#include <cctype>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "sql/classifier.hpp"
#include "sql/read_intent.hpp"
#include "test_util.hpp"

namespace pgswarm::sql {
namespace {

using I = ReadIntent;

struct IntentRow {
  std::string_view sql;
  ReadIntent intent;
};

// clang-format off
const std::vector<IntentRow> kIntentRows = {
    // ---- reads: replica ----
    {"SELECT 1", I::kReplica},
    {"select abalance from pgbench_accounts where aid = $1", I::kReplica},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 42", I::kReplica},
    {"VALUES (1), (2)", I::kReplica},
    {"TABLE t", I::kReplica},
    {"(SELECT 1)", I::kReplica},
    {"SELECT * FROM a JOIN b USING (id) WHERE a.x > 3 ORDER BY 1 LIMIT 10 OFFSET 5", I::kReplica},
    {"SELECT count(*), sum(x) FROM t GROUP BY y HAVING count(*) > 1", I::kReplica},
    {"SELECT coalesce(a, 0), lower(b), upper(c) FROM t", I::kReplica},
    {"SELECT date_trunc('day', now()), to_char(now(), 'YYYY')", I::kReplica},
    {"SELECT current_setting('search_path'), version()", I::kReplica},
    {"SELECT pg_last_wal_replay_lsn(), pg_is_wal_replay_paused()", I::kReplica},
    // The client asks about its own server: the primary answers.
    {"SELECT pg_is_in_recovery()", I::kPrimary},
    {"SELECT pg_backend_pid()", I::kPrimary},
    {"SHOW transaction_read_only", I::kPrimary},
    {"show in_hot_standby", I::kPrimary},
    {"SHOW ALL", I::kPrimary},
    {"SHOW search_path", I::kReplica},
    {"SELECT * FROM generate_series(1, 10) g", I::kReplica},
    {"SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t", I::kReplica},
    {"SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3", I::kReplica},
    {"SELECT a FROM t INTERSECT SELECT a FROM u", I::kReplica},
    {"WITH a AS (SELECT 1 AS x) SELECT x FROM a", I::kReplica},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
     I::kReplica},
    {"SELECT EXISTS (SELECT 1 FROM t)", I::kReplica},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE u.flag)", I::kReplica},
    {"SELECT * FROM \"Quoted Table\" AS q WHERE q.\"Col\" = 'x'", I::kReplica},
    {"SELECT \"nextval\" FROM t", I::kReplica},  // a column, not a call
    {"SELECT 'nextval(''s'')'", I::kReplica},
    {"  /* leading comment */ SELECT 1 -- trailing comment", I::kReplica},
    {"/* outer /* nested DELETE FROM t; */ still comment */ SELECT 1", I::kReplica},
    {"SELECT 1 -- ; DELETE FROM t", I::kReplica},
    {"\n\t SELECT\n\t1\n\n", I::kReplica},
    {"SELECT 'it''s; not -- a comment'", I::kReplica},
    {"SELECT $$ DELETE FROM t; $$", I::kReplica},
    {"SELECT $body$ $$ DELETE FROM t; $$ $body$", I::kReplica},
    {"SELECT E'\\'; DELETE FROM t; --'", I::kReplica},
    {"SELECT U&'\\0061', U&\"c\" FROM t", I::kReplica},
    {"SELECT B'101', X'1F', N'abc'", I::kReplica},
    {"SELECT 1e10, 1.5e-3, .5, 42.", I::kReplica},
    {"SELECT * FROM t1 JOIN t2 ON t1.id = t2.t1_id", I::kReplica},
    {"SELECT x$1 FROM t", I::kReplica},
    {"SELECT * FROM t WHERE a = ANY($1)", I::kReplica},
    {"SELECT * FROM t WHERE a IN (1, 2, 3) AND b BETWEEN 1 AND 2", I::kReplica},
    {"SELECT * FROM t WHERE name LIKE 'a%' AND name ~ '^a'", I::kReplica},
    {"SELECT * FROM t WHERE doc @> '{\"a\": 1}' AND doc ? 'k'", I::kReplica},
    {"SELECT ts AT TIME ZONE 'UTC', interval '1 day' FROM t", I::kReplica},
    {"SELECT CAST(x AS numeric(10, 2)), a::text FROM t", I::kReplica},
    {"SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b", I::kReplica},
    {"SELECT array_agg(x ORDER BY x), ARRAY[1, 2] FROM t", I::kReplica},
    {"SELECT CURRENT_DATE, LOCALTIMESTAMP, current_user", I::kReplica},
    {"SELECT * FROM t FETCH FIRST 5 ROWS ONLY", I::kReplica},
    {"SELECT x FROM t GROUP BY ROLLUP (x)", I::kReplica},
    {"SELECT * FROM t TABLESAMPLE SYSTEM (10)", I::kReplica},
    {"SELECT pg_sleep(0.1)", I::kReplica},
    {"SELECT pg_catalog.lower('A')", I::kReplica},
    {"SELECT has_table_privilege('t', 'SELECT')", I::kReplica},
    {"SELECT * FROM ROWS FROM (generate_series(1, 3)) AS g", I::kReplica},
    {"SELECT json_build_object('a', 1)->>'a', jsonb_agg(x) FROM t", I::kReplica},
    {"SHOW search_path", I::kReplica},
    {"SHOW x", I::kReplica},
    {"SHOW TIME ZONE", I::kReplica},
    {"SHOW TRANSACTION ISOLATION LEVEL", I::kReplica},
    {"EXPLAIN SELECT * FROM t", I::kReplica},
    {"EXPLAIN (COSTS OFF) SELECT * FROM t WHERE a = 1", I::kReplica},
    {"EXPLAIN DELETE FROM t", I::kReplica},  // plans only: runs nothing
    {"EXPLAIN (ANALYZE 0) DELETE FROM t", I::kReplica},
    {"EXPLAIN (ANALYZE false) UPDATE t SET a = 1", I::kReplica},
    {"EXPLAIN SELECT nextval('s')", I::kReplica},
    {"EXPLAIN ANALYZE SELECT * FROM t", I::kReplica},
    {"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM t", I::kReplica},
    {"EXPLAIN (ANALYZE off) DELETE FROM t", I::kReplica},
    {"EXPLAIN (ANALYZE \"0\") DELETE FROM t", I::kReplica},
    {"TABLE t; SELECT 1", I::kReplica},
    {"SELECT 1 AS \"FOR UPDATE\", '1; DELETE FROM t'", I::kReplica},
    {"WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x", I::kReplica},
    {"SELECT 1; SELECT 2", I::kReplica},
    {"SELECT 1; SHOW x; VALUES (1);", I::kReplica},

    // ---- functions and clauses that write, lock or change state: primary ----
    {"SELECT nextval('s')", I::kPrimary},
    {"SELECT setval('s', 10)", I::kPrimary},
    {"SELECT currval('s')", I::kPrimary},
    {"SELECT lastval()", I::kPrimary},
    {"SELECT * FROM nextval('s')", I::kPrimary},
    {"SELECT (SELECT nextval('s'))", I::kPrimary},
    {"SELECT * FROM t WHERE a = (SELECT nextval('s'))", I::kPrimary},
    {"SELECT pg_advisory_lock(1)", I::kPrimary},
    {"SELECT pg_advisory_xact_lock(1)", I::kPrimary},
    {"SELECT pg_try_advisory_lock(1)", I::kPrimary},
    {"SELECT pg_advisory_unlock_all()", I::kPrimary},
    {"SELECT set_config('work_mem', '64MB', false)", I::kPrimary},
    {"SELECT set_config('work_mem', '64MB', true)", I::kPrimary},
    {"SELECT txid_current()", I::kPrimary},
    {"SELECT pg_current_xact_id()", I::kPrimary},
    {"SELECT pg_current_wal_lsn()", I::kPrimary},
    {"SELECT pg_notify('ch', 'payload')", I::kPrimary},
    {"SELECT lo_import('/tmp/x')", I::kPrimary},
    {"SELECT lo_unlink(1)", I::kPrimary},
    {"SELECT dblink_exec('conn', 'DELETE FROM t')", I::kPrimary},
    {"SELECT query_to_xml('DELETE FROM t RETURNING 1', true, false, '')", I::kPrimary},
    {"SELECT cursor_to_xml('c', 1, true, false, '')", I::kPrimary},
    {"SELECT pg_terminate_backend(1), pg_cancel_backend(1)", I::kPrimary},
    {"SELECT pg_reload_conf()", I::kPrimary},
    {"SELECT pg_switch_wal()", I::kPrimary},
    {"SELECT pg_stat_reset()", I::kPrimary},
    {"SELECT * FROM f()", I::kPrimary},  // unknown function
    {"SELECT my_function(1)", I::kPrimary},
    {"SELECT myschema.now()", I::kPrimary},
    {"SELECT * FROM t FOR UPDATE", I::kPrimary},
    {"SELECT * FROM t FOR NO KEY UPDATE", I::kPrimary},
    {"SELECT * FROM t FOR SHARE", I::kPrimary},
    {"SELECT * FROM t FOR KEY SHARE SKIP LOCKED", I::kPrimary},
    {"SELECT * FROM t FOR UPDATE OF t NOWAIT", I::kPrimary},
    {"SELECT 1 FOR UPDATE", I::kPrimary},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)", I::kPrimary},
    {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", I::kPrimary},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x", I::kPrimary},
    {"WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x", I::kPrimary},
    {"SELECT * INTO new_table FROM t", I::kPrimary},
    {"SELECT 1 INTO TEMP tmp", I::kPrimary},
    {"CREATE TABLE t3 AS SELECT * FROM t", I::kPrimary},
    {"EXPLAIN ANALYZE DELETE FROM t", I::kPrimary},
    {"EXPLAIN (ANALYZE 1) DELETE FROM t", I::kPrimary},
    {"EXPLAIN (ANALYZE true) UPDATE t SET a = 1", I::kPrimary},
    {"EXPLAIN ANALYZE SELECT nextval('s')", I::kPrimary},
    {"EXPLAIN EXECUTE p(1)", I::kPrimary},
    {"(SELECT * FROM t FOR UPDATE) UNION ALL SELECT * FROM u", I::kPrimary},
    {"SELECT * FROM (SELECT * FROM t FOR SHARE) s", I::kPrimary},
    {"WITH x AS (SELECT * FROM t FOR UPDATE) SELECT * FROM x", I::kPrimary},
    {"SELECT * FROM t WHERE a = $1 FOR UPDATE", I::kPrimary},
    {"SELECT * FROM t WHERE EXISTS (WITH x AS (DELETE FROM t RETURNING 1) SELECT 1 FROM x)",
     I::kPrimary},
    {"VALUES (nextval('s'))", I::kPrimary},
    {"SELECT * FROM pg_advisory_lock(1)", I::kPrimary},
    {"SELECT * FROM t, LATERAL nextval('s')", I::kPrimary},
    {"SELECT pg_catalog.nextval('s')", I::kPrimary},
    {"SELECT \"nextval\"('s')", I::kPrimary},
    {"SELECT public.nextval('s')", I::kPrimary},
    {"SELECT setseed(0.5)", I::kPrimary},
    {"SELECT array_agg(x ORDER BY nextval('s')) FROM t", I::kPrimary},
    {"EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", I::kPrimary},
    {"EXPLAIN ANALYZE SELECT * INTO x FROM t", I::kPrimary},
    {"EXPLAIN ANALYZE EXECUTE p", I::kPrimary},
    {"EXPLAIN (ANALYZE 'on') DELETE FROM t", I::kPrimary},
    {"EXPLAIN (FORMAT JSON, ANALYZE TRUE) DELETE FROM t", I::kPrimary},
    {"EXPLAIN (ANALYZE) DELETE FROM t", I::kPrimary},
    {"EXPLAIN (ANALYZE 2) DELETE FROM t", I::kPrimary},
    {"COPY (DELETE FROM t RETURNING *) TO STDOUT", I::kPrimary},
    {"SELECT 1; DELETE FROM t", I::kPrimary},
    {"DELETE FROM t; SELECT 1", I::kPrimary},
    {"SELECT 1; SELECT nextval('s')", I::kPrimary},

    // ---- statements that are not queries: primary ----
    {"INSERT INTO t (a) VALUES (1)", I::kPrimary},
    {"UPDATE t SET a = a + $1 WHERE id = $2", I::kPrimary},
    {"DELETE FROM t WHERE a < 0 RETURNING *", I::kPrimary},
    {"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", I::kPrimary},
    {"SET search_path TO a, b", I::kPrimary},
    {"SET LOCAL statement_timeout = '5s'", I::kPrimary},
    {"SET statement_timeout = 5000", I::kPrimary},
    {"SET TIME ZONE 'UTC'", I::kPrimary},
    {"SET default_transaction_read_only = on", I::kPrimary},
    {"SET ROLE bob", I::kPrimary},
    {"SET SESSION AUTHORIZATION bob", I::kPrimary},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", I::kPrimary},
    {"SET TRANSACTION READ ONLY", I::kPrimary},
    {"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", I::kPrimary},
    {"RESET ALL", I::kPrimary},
    {"RESET search_path", I::kPrimary},
    {"LOCK t", I::kPrimary},
    {"LOCK TABLE t IN ACCESS SHARE MODE", I::kPrimary},
    {"COPY t TO STDOUT", I::kPrimary},
    {"COPY (SELECT 1) TO STDOUT", I::kPrimary},
    {"COPY t FROM STDIN", I::kPrimary},
    {"CALL p()", I::kPrimary},
    {"CALL my_procedure(1)", I::kPrimary},
    {"DO $$ BEGIN PERFORM 1; END $$", I::kPrimary},
    {"DO LANGUAGE plpgsql $x$ BEGIN DELETE FROM t; END $x$", I::kPrimary},
    {"PREPARE q AS SELECT 1", I::kPrimary},
    {"PREPARE q(int) AS SELECT * FROM t WHERE a = $1", I::kPrimary},
    {"EXECUTE q", I::kPrimary},
    {"EXECUTE q(1)", I::kPrimary},
    {"DEALLOCATE q", I::kPrimary},
    {"COMMIT", I::kPrimary},
    {"END", I::kPrimary},
    {"ROLLBACK", I::kPrimary},
    {"ABORT", I::kPrimary},
    {"SAVEPOINT sp", I::kPrimary},
    {"RELEASE SAVEPOINT sp", I::kPrimary},
    {"ROLLBACK TO SAVEPOINT sp", I::kPrimary},
    {"PREPARE TRANSACTION 'gid1'", I::kPrimary},
    {"COMMIT PREPARED 'gid1'", I::kPrimary},
    {"LISTEN ch", I::kPrimary},
    {"UNLISTEN *", I::kPrimary},
    {"NOTIFY ch", I::kPrimary},
    {"NOTIFY ch, 'hello'", I::kPrimary},
    {"VACUUM", I::kPrimary},
    {"VACUUM (ANALYZE) t", I::kPrimary},
    {"ANALYZE", I::kPrimary},
    {"ANALYZE t", I::kPrimary},
    {"REFRESH MATERIALIZED VIEW mv", I::kPrimary},
    {"REFRESH MATERIALIZED VIEW CONCURRENTLY mv", I::kPrimary},
    {"TRUNCATE t", I::kPrimary},
    {"DECLARE c CURSOR FOR SELECT * FROM t", I::kPrimary},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t", I::kPrimary},
    {"FETCH 10 FROM c", I::kPrimary},
    {"FETCH c", I::kPrimary},
    {"MOVE NEXT IN c", I::kPrimary},
    {"CLOSE c", I::kPrimary},
    {"DISCARD ALL", I::kPrimary},
    {"CHECKPOINT", I::kPrimary},
    {"REINDEX TABLE t", I::kPrimary},
    {"CLUSTER t USING i", I::kPrimary},
    {"LOAD 'auto_explain'", I::kPrimary},
    {"CREATE TABLE t (id int PRIMARY KEY)", I::kPrimary},
    {"CREATE TEMP TABLE tmp (a int)", I::kPrimary},
    {"ALTER TABLE t ADD COLUMN c int", I::kPrimary},
    {"DROP TABLE IF EXISTS t", I::kPrimary},
    {"GRANT SELECT ON t TO bob", I::kPrimary},
    {"COMMENT ON TABLE t IS 'x'", I::kPrimary},

    // ---- transaction blocks ----
    {"BEGIN", I::kBegin},
    {"BEGIN TRANSACTION", I::kBegin},
    {"START TRANSACTION", I::kBegin},
    {"BEGIN ISOLATION LEVEL READ COMMITTED", I::kBegin},
    {"BEGIN READ ONLY", I::kBeginReadOnly},
    {"BEGIN TRANSACTION READ ONLY", I::kBeginReadOnly},
    {"START TRANSACTION READ ONLY", I::kBeginReadOnly},
    {"START TRANSACTION READ ONLY, ISOLATION LEVEL REPEATABLE READ", I::kBeginReadOnly},
    // A hot standby refuses serializable transactions.
    {"START TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE", I::kPrimary},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE", I::kPrimary},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE", I::kPrimary},
    {"BEGIN READ WRITE", I::kPrimary},
    {"BEGIN; SELECT 1", I::kBegin},
    {"BEGIN; SHOW x", I::kBegin},
    {"BEGIN READ ONLY; SELECT 1", I::kBeginReadOnly},
    {"BEGIN READ ONLY; SELECT * FROM t; SELECT 2;", I::kBeginReadOnly},
    {"BEGIN READ ONLY; EXPLAIN ANALYZE SELECT 1", I::kBeginReadOnly},
    {"BEGIN; INSERT INTO t VALUES (1)", I::kPrimary},
    {"BEGIN READ ONLY; INSERT INTO t VALUES (1)", I::kPrimary},
    {"BEGIN; SELECT nextval('s')", I::kPrimary},
    {"BEGIN; SELECT * FROM t FOR UPDATE", I::kPrimary},
    {"BEGIN; EXPLAIN ANALYZE DELETE FROM t", I::kPrimary},
    {"BEGIN; SET LOCAL work_mem = '1MB'", I::kPrimary},
    {"BEGIN; SELECT 1; COMMIT", I::kPrimary},
    {"BEGIN READ ONLY; SELECT 1; COMMIT", I::kPrimary},
    {"BEGIN; BEGIN", I::kPrimary},
    {"SELECT 1; BEGIN", I::kPrimary},
    {"SELECT 1; COMMIT", I::kPrimary},

    // ---- nothing to run, or nothing the parser accepts: primary ----
    {"", I::kPrimary},
    {"   \n\t", I::kPrimary},
    {"-- only a comment", I::kPrimary},
    {"/* only a comment */", I::kPrimary},
    {";", I::kPrimary},
    {";;", I::kPrimary},
    {"SELEC 1", I::kPrimary},
    {"SELECT FROM WHERE", I::kPrimary},
    {"SELECT (1", I::kPrimary},
    {"SELECT 'unterminated", I::kPrimary},
    {"SELECT 1 /* unterminated", I::kPrimary},
    {"SELECT 1for update", I::kPrimary},  // PostgreSQL 15: trailing junk after a number
    {"SELECT 0x1F", I::kPrimary},
};
// clang-format on

TEST(ReadIntentTable, HasAtLeastOneHundredFiftyRows) {
  EXPECT_GE(kIntentRows.size(), 150U);
}

TEST(ReadIntentTable, EveryRowRoutesAsExpected) {
  for (const IntentRow& row : kIntentRows) {
    const Classification classification = classify(row.sql);
    SCOPED_TRACE(std::string(row.sql) + "  =>  " + describe(classification));
    EXPECT_EQ(toString(readIntent(classification)), toString(row.intent));
  }
}

TEST(ReadIntentTable, ClassifierAgreesWithTheFreeFunctionOnEveryRow) {
  for (const IntentRow& row : kIntentRows) {
    // Its own classifier per row: rows the parser rejects may share a key
    // with rows it accepts (see SharesAnswersWithTextsTheParserRejects).
    Classifier classifier;
    EXPECT_EQ(toString(classifier.readIntent(row.sql)), toString(row.intent)) << row.sql;
    EXPECT_EQ(toString(classifier.readIntent(row.sql)), toString(row.intent)) << row.sql;
    EXPECT_EQ(classifier.intentCacheStats().hits + classifier.intentCacheStats().bypassed, 1U)
        << row.sql;
  }
}

TEST(ReadIntentTable, CachedAnswersMatchOnEveryRowOfASharedClassifier) {
  Classifier classifier;
  for (int round = 0; round < 2; ++round) {  // the second round answers from the cache
    for (const IntentRow& row : kIntentRows) {
      if (classify(row.sql).status == ClassificationStatus::kParseError) continue;
      EXPECT_EQ(toString(classifier.readIntent(row.sql)), toString(row.intent))
          << row.sql << " (round " << round << ")";
    }
  }
}

TEST(ReadIntent, NamesEveryIntent) {
  EXPECT_EQ(toString(ReadIntent::kPrimary), "primary");
  EXPECT_EQ(toString(ReadIntent::kReplica), "replica");
  EXPECT_EQ(toString(ReadIntent::kBeginReadOnly), "begin-read-only");
  EXPECT_EQ(toString(ReadIntent::kBegin), "begin");
}

TEST(ReadIntent, FailedClassificationsArePrimary) {
  for (ClassificationStatus status :
       {ClassificationStatus::kEmpty, ClassificationStatus::kParseError,
        ClassificationStatus::kTooLarge, ClassificationStatus::kUnreadable}) {
    Classification classification;
    classification.status = status;
    EXPECT_EQ(readIntent(classification), ReadIntent::kPrimary) << toString(status);
    EXPECT_FALSE(intentIgnoresLiterals(classification)) << toString(status);
  }
  EXPECT_EQ(readIntent(classify(std::string(kDefaultMaxParseBytes + 1, ' '))),
            ReadIntent::kPrimary);
  EXPECT_EQ(readIntent(classify(std::string_view("SELECT 1\0", 9))), ReadIntent::kPrimary);
}

TEST(ReadIntent, SettingsOnlyTextsWriteNoData) {
  for (const char* text :
       {"SET statement_timeout = 5000", "SET LOCAL work_mem = '64MB'", "RESET search_path",
        "RESET ALL", "SET TIME ZONE 'UTC'", "SHOW work_mem",
        "SET application_name = 'x'; SHOW application_name", "SET search_path TO DEFAULT"}) {
    EXPECT_TRUE(changesSettingsOnly(classify(text))) << text;
  }
  for (const char* text :
       {"SET ROLE admin", "RESET ROLE", "SET SESSION AUTHORIZATION bob", "SELECT 1",
        "SELECT set_config('work_mem', '1MB', false)", "SET work_mem = '1MB'; UPDATE t SET a = 1",
        "DISCARD ALL", "BEGIN", "", "SET ("}) {
    EXPECT_FALSE(changesSettingsOnly(classify(text))) << text;
  }
  // The router's cached path says the same, for texts sharing a key too.
  Classifier classifier;
  EXPECT_TRUE(classifier.route("SET statement_timeout = 5000", {}).settingsOnly);
  EXPECT_TRUE(classifier.route("SET statement_timeout = 7000", {}).settingsOnly);
  EXPECT_FALSE(classifier.route("SET ROLE admin", {}).settingsOnly);
  EXPECT_EQ(classifier.route("SET statement_timeout = 5000", {}).intent, ReadIntent::kPrimary);
}

TEST(ReadIntent, ExplainIsTheStatementWhoseLiteralsDecide) {
  EXPECT_FALSE(intentIgnoresLiterals(classify("EXPLAIN (ANALYZE 0) DELETE FROM t")));
  EXPECT_FALSE(intentIgnoresLiterals(classify("EXPLAIN (ANALYZE 1) DELETE FROM t")));
  EXPECT_FALSE(intentIgnoresLiterals(classify("EXPLAIN SELECT * FROM t WHERE a = 1")));
  EXPECT_FALSE(intentIgnoresLiterals(classify("SELECT 1; EXPLAIN ANALYZE SELECT 2")));
  EXPECT_FALSE(intentIgnoresLiterals(classify("SELEC 1")));
  EXPECT_TRUE(intentIgnoresLiterals(classify("SELECT * FROM t WHERE a = 1")));
  EXPECT_TRUE(intentIgnoresLiterals(classify("DELETE FROM t WHERE a = 1")));
  EXPECT_TRUE(intentIgnoresLiterals(classify("SELECT set_config('a.b', 'c', false)")));
  EXPECT_TRUE(intentIgnoresLiterals(classify("BEGIN READ ONLY; SELECT 1")));
}

// ---- literal-free keys ----

// Expected keys spell placeholders {n} (number) and {s} (string); braces are
// not SQL outside literals, so no test text needs them.
std::string key(std::string_view pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.substr(i, 3) == "{n}") {
      out += kNumberPlaceholder;
      i += 2;
    } else if (pattern.substr(i, 3) == "{s}") {
      out += kStringPlaceholder;
      i += 2;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

struct KeyRow {
  std::string_view text;
  std::optional<std::string_view> expected;  // with {n} and {s}; nullopt: no key
};

// clang-format off
const std::vector<KeyRow> kKeyRows = {
    {"", ""},
    {"SELECT 1", "SELECT {n}"},
    {"SELECT * FROM t WHERE a = 42 AND b = 'x'", "SELECT * FROM t WHERE a = {n} AND b = {s}"},
    {"select abalance from pgbench_accounts where aid = $1",
     "select abalance from pgbench_accounts where aid = $1"},
    {"SELECT $1, $23::int", "SELECT $1, $23::int"},
    {"SELECT t1.col_2, x$1, a1b2, _9 FROM t1", "SELECT t1.col_2, x$1, a1b2, _9 FROM t1"},
    {"SELECT 1.5, .5, 5., 1e10, 1.5e-3, 2E+7", "SELECT {n}, {n}, {n}, {n}, {n}, {n}"},
    {"SELECT 0x1F, 0o17, 0b101, 1_000", "SELECT {n}, {n}, {n}, {n}"},
    {"SELECT 0x1E+5", "SELECT {n}+{n}"},  // hex digits, not an exponent
    {"SELECT 1+2-3*4/5", "SELECT {n}+{n}-{n}*{n}/{n}"},
    {"SELECT a[1:2], (x).f, t.5", "SELECT a[{n}:{n}], (x).f, t{n}"},
    {"SELECT 'it''s'", "SELECT {s}"},
    {"SELECT '', ''''", "SELECT {s}, {s}"},
    {"SELECT 'a' 'b'", "SELECT {s} {s}"},
    {"SELECT 'a'\n'b'", "SELECT {s}\n{s}"},  // one literal to the server: still one shape
    {"SELECT E'\\'', e'a\\\\', E'x''y'", "SELECT E{s}, e{s}, E{s}"},
    {"SELECT E'\\'; DELETE FROM t; --'", "SELECT E{s}"},
    {"SELECT 'a\\'; DELETE FROM t; --'", "SELECT {s}; DELETE FROM t; --'"},
    {"SELECT B'101', b'0', X'1F', x'ff'", "SELECT B{s}, b{s}, X{s}, x{s}"},
    {"SELECT B'10''01'", "SELECT B{s}{s}"},  // no doubling in bit strings
    {"SELECT N'abc', n'd''e'", "SELECT N{s}, n{s}"},
    {"SELECT U&'d\\0061t', u&'x'", "SELECT U&{s}, u&{s}"},
    {"SELECT U&'d!0061t' UESCAPE '!'", "SELECT U&{s} UESCAPE {s}"},
    {"SELECT U&\"d\\0061t\", u&\"1\"", "SELECT U&\"d\\0061t\", u&\"1\""},
    {"SELECT u & 1", "SELECT u & {n}"},
    {"SELECT date '2020-01-01', int4'1', e1'x'", "SELECT date {s}, int4{s}, e1{s}"},
    {"SELECT \"col 1\", \"a\"\"b\", \"42\"", "SELECT \"col 1\", \"a\"\"b\", \"42\""},
    {"SELECT \"it's\" FROM t", "SELECT \"it's\" FROM t"},
    {"SELECT $$a$$, $tag$ b $$ c $tag$, $_1$x$_1$", "SELECT {s}, {s}, {s}"},
    {"SELECT $a$ $b$ $a$", "SELECT {s}"},
    {"SELECT $$", std::nullopt},
    {"SELECT $a$ x $b$", std::nullopt},
    {"SELECT $1$$x$$", "SELECT $1{s}"},
    {"SELECT $ 1, $x 2", "SELECT $ {n}, $x {n}"},
    {"SELECT 1 -- 2 'three'\n, 4", "SELECT {n} -- 2 'three'\n, {n}"},
    {"SELECT 1 -- 'unterminated", "SELECT {n} -- 'unterminated"},
    {"SELECT 1 --\r2", "SELECT {n} --\r{n}"},
    {"SELECT /* 1 'x' */ 2", "SELECT /* 1 'x' */ {n}"},
    {"SELECT /* a /* b */ 'still' */ 3", "SELECT /* a /* b */ 'still' */ {n}"},
    {"SELECT /**/ 1, /*/ 2 */ 3", "SELECT /**/ {n}, /*/ 2 */ {n}"},
    {"SELECT 1 +-- c\n2", "SELECT {n} +-- c\n{n}"},
    {"SELECT 1 /* a /* b */", std::nullopt},
    {"SELECT 'abc", std::nullopt},
    {"SELECT 'abc''", std::nullopt},
    {"SELECT E'abc\\'", std::nullopt},
    {"SELECT E'abc\\", std::nullopt},
    {"SELECT B'101", std::nullopt},
    {"SELECT \"abc", std::nullopt},
    {"SELECT U&\"abc", std::nullopt},
    {"SELECT $tag$ body", std::nullopt},
    {std::string_view("SELECT 1\0", 9), std::nullopt},
    {std::string_view("SELECT '\0'", 10), std::nullopt},
    {"SELECT '\xff\xfe', \xc3\xa9t\xc3\xa9 FROM \xe2\x82", "SELECT {s}, \xc3\xa9t\xc3\xa9 FROM \xe2\x82"},
    {"SELECT 1for update", "SELECT {n} update"},  // PostgreSQL 15+ rejects it anyway
};
// clang-format on

TEST(LiteralFreeKey, Table) {
  for (const KeyRow& row : kKeyRows) {
    const std::optional<std::string> actual = literalFreeKey(row.text);
    SCOPED_TRACE(std::string(row.text));
    if (!row.expected) {
      EXPECT_FALSE(actual.has_value());
      continue;
    }
    ASSERT_TRUE(actual.has_value());
    EXPECT_EQ(*actual, key(*row.expected));
  }
}

TEST(LiteralFreeKey, TextsDifferingOnlyInLiteralsShareAKey) {
  EXPECT_EQ(literalFreeKey("SELECT * FROM t WHERE a = 17 AND b = 'x'"),
            literalFreeKey("SELECT * FROM t WHERE a = 42.5 AND b = 'it''s long'"));
  EXPECT_EQ(literalFreeKey("SELECT $$a$$"), literalFreeKey("SELECT 'b'"));
  EXPECT_NE(literalFreeKey("SELECT 1"), literalFreeKey("SELECT '1'"));
  EXPECT_NE(literalFreeKey("SELECT 1"), literalFreeKey("SELECT  1"));
  EXPECT_NE(literalFreeKey("SELECT t1"), literalFreeKey("SELECT t2"));
  EXPECT_NE(literalFreeKey("SELECT $1"), literalFreeKey("SELECT $2"));
  EXPECT_NE(literalFreeKey("SELECT \"1\""), literalFreeKey("SELECT \"2\""));
  EXPECT_NE(literalFreeKey("SELECT 1 -- 1"), literalFreeKey("SELECT 1 -- 2"));
}

// Every row of the routing table, plus texts heavy in literals.
std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (const IntentRow& row : kIntentRows) texts.emplace_back(row.sql);
  for (const KeyRow& row : kKeyRows) texts.emplace_back(row.text);
  return texts;
}

// The text a key stands for with every literal replaced by number or
// string (any prefix kept). A literal right after a name, a parameter or a
// dot would join it, so there a number starts with '.' and a dollar-quoted
// string becomes a quoted one.
std::string withLiterals(std::string_view keyText, std::string_view number,
                         std::string_view string) {
  std::string out;
  for (std::size_t i = 0; i < keyText.size(); ++i) {
    if (keyText[i] != '\0') {
      out += keyText[i];
      continue;
    }
    const bool isNumber = keyText.substr(i, 2) == kNumberPlaceholder;
    ++i;
    const auto before = static_cast<unsigned char>(out.empty() ? ' ' : out.back());
    const bool joins = std::isalnum(before) != 0 || before == '_' || before == '$' ||
                       before == '.' || before >= 0x80;
    if (isNumber) {
      out += joins ? std::string_view(".5") : number;
    } else {
      out += joins && string.front() == '$' ? std::string_view("'x'") : string;
    }
  }
  return out;
}

TEST(LiteralFreeKey, TextsSharingAKeyShareAnIntentUnlessLiteralsMatter) {
  struct Literals {
    std::string_view number;
    std::string_view string;
  };
  const std::vector<Literals> variants = {
      {"0", "'0'"}, {"1", "'1'"}, {"7", "'on'"}, {"2.5", "'zz'"}, {"100000000000", "$x$'$x$"}};
  std::size_t compared = 0;
  std::size_t literalSensitive = 0;
  for (const std::string& text : corpus()) {
    const std::optional<std::string> textKey = literalFreeKey(text);
    if (!textKey || textKey->find('\0') == std::string::npos) continue;  // no literal to vary
    const Classification original = classify(text);
    for (const Literals& literals : variants) {
      const std::string variant = withLiterals(*textKey, literals.number, literals.string);
      SCOPED_TRACE(text + "  ~  " + variant);
      ASSERT_EQ(literalFreeKey(variant), textKey);
      const Classification changed = classify(variant);
      // A variant the parser rejects fails the same way on any server.
      if (original.status != ClassificationStatus::kOk ||
          changed.status != ClassificationStatus::kOk) {
        continue;
      }
      ++compared;
      if (!intentIgnoresLiterals(original) || !intentIgnoresLiterals(changed)) {
        ++literalSensitive;
        continue;
      }
      EXPECT_EQ(toString(readIntent(changed)), toString(readIntent(original)))
          << describe(original) << "  ~  " << describe(changed);
    }
  }
  EXPECT_GE(compared, 200U);
  EXPECT_GE(literalSensitive, 10U);  // the EXPLAIN rows
}

// Bytes the scanner treats specially, to make random texts reach every branch.
constexpr std::string_view kSpecialBytes = "'\"$-/*\\eEbBxXnNuU&0123456789._ \n\r;\xc3\xff";

std::string randomText(std::mt19937& random, bool specialOnly) {
  std::uniform_int_distribution<std::size_t> length(0, 48);
  std::uniform_int_distribution<int> anyByte(0, 255);
  std::uniform_int_distribution<std::size_t> special(0, kSpecialBytes.size() - 1);
  std::string text(length(random), ' ');
  for (char& c : text) {
    c = specialOnly ? kSpecialBytes[special(random)] : static_cast<char>(anyByte(random));
  }
  return text;
}

TEST(LiteralFreeKey, NeverFailsOnArbitraryBytes) {
  std::mt19937 random(20240601);
  std::size_t keyed = 0;
  for (int i = 0; i < 40'000; ++i) {
    const std::string text = randomText(random, i % 2 == 0);
    const std::optional<std::string> textKey = literalFreeKey(text);
    if (text.find('\0') != std::string::npos) {
      EXPECT_FALSE(textKey.has_value());
    } else if (textKey) {
      ++keyed;
      EXPECT_EQ(literalFreeKey(text), textKey);  // deterministic
    }
  }
  EXPECT_GT(keyed, 1000U);
}

TEST(LiteralFreeKey, NeverFailsOnAnyPrefixOrMutationOfTheCorpus) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> anyByte(0, 255);
  for (const std::string& text : corpus()) {
    for (std::size_t length = 0; length <= text.size(); ++length) {
      // A copy of exactly `length` bytes so that ASan sees any read past it.
      const std::string prefix = text.substr(0, length);
      (void)literalFreeKey(prefix);
    }
    for (int i = 0; i < 50 && !text.empty(); ++i) {
      std::string mutated = text;
      mutated[random() % mutated.size()] = static_cast<char>(anyByte(random));
      (void)literalFreeKey(mutated);
    }
  }
}

TEST(LiteralFreeKey, LongTextsScanInOnePass) {
  std::string text = "SELECT * FROM t WHERE a IN (";
  for (int i = 0; i < 20'000; ++i) text += "12345, 'abc', ";
  text += "0) /* /* */ */ -- end";
  const std::optional<std::string> textKey = literalFreeKey(text);
  ASSERT_TRUE(textKey.has_value());
  EXPECT_EQ(textKey->substr(0, 29), "SELECT * FROM t WHERE a IN (" + std::string(1, '\0'));
  EXPECT_EQ(literalFreeKey(std::string(100'000, '(')), std::string(100'000, '('));
  EXPECT_EQ(literalFreeKey(std::string(100'000, '/') + "*"), std::nullopt);
}

// ---- Classifier::readIntent ----

TEST(ClassifierReadIntent, TextsDifferingOnlyInLiteralsParseOnce) {
  Classifier classifier;
  EXPECT_EQ(classifier.readIntent("SELECT * FROM t WHERE a = 1 AND b = 'x'"), I::kReplica);
  EXPECT_EQ(classifier.readIntent("SELECT * FROM t WHERE a = 99 AND b = 'yz'"), I::kReplica);
  EXPECT_EQ(classifier.readIntent("UPDATE t SET a = 1 WHERE id = 2"), I::kPrimary);
  EXPECT_EQ(classifier.readIntent("UPDATE t SET a = 5 WHERE id = 6"), I::kPrimary);
  const CacheStats& stats = classifier.intentCacheStats();
  EXPECT_EQ(stats.hits, 2U);
  EXPECT_EQ(stats.misses, 2U);
  EXPECT_EQ(stats.entries, 2U);
  EXPECT_GT(stats.bytes, 0U);
}

TEST(ClassifierReadIntent, LeavesTheClassificationCacheAlone) {
  Classifier classifier;
  (void)classifier.classify("SELECT 1");
  const CacheStats before = classifier.cacheStats();
  for (const IntentRow& row : kIntentRows) (void)classifier.readIntent(row.sql);
  const CacheStats& after = classifier.cacheStats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.entries, before.entries);
  EXPECT_EQ(after.bypassed, before.bypassed);
}

TEST(ClassifierReadIntent, ExplainAnalyzeLiteralsAreNeverShared) {
  constexpr std::string_view kPlan = "EXPLAIN (ANALYZE 0) DELETE FROM t";
  constexpr std::string_view kRun = "EXPLAIN (ANALYZE 1) DELETE FROM t";
  {
    Classifier classifier;
    EXPECT_EQ(classifier.readIntent(kPlan), I::kReplica);
    EXPECT_EQ(classifier.readIntent(kRun), I::kPrimary);
    EXPECT_EQ(classifier.readIntent(kPlan), I::kReplica);
    EXPECT_EQ(classifier.readIntent(kRun), I::kPrimary);
    EXPECT_EQ(classifier.intentCacheStats().misses, 2U);
    EXPECT_EQ(classifier.intentCacheStats().hits, 2U);  // each by its exact text
  }
  {
    Classifier classifier;
    EXPECT_EQ(classifier.readIntent(kRun), I::kPrimary);
    EXPECT_EQ(classifier.readIntent(kPlan), I::kReplica);
    EXPECT_EQ(classifier.readIntent(kRun), I::kPrimary);
    EXPECT_EQ(classifier.readIntent(kPlan), I::kReplica);
  }
}

TEST(ClassifierReadIntent, ParseErrorsAreKeptByExactTextOnly) {
  Classifier classifier;
  EXPECT_EQ(classifier.readIntent("SELECT 1 FROM WHERE a = 1"), I::kPrimary);
  EXPECT_EQ(classifier.readIntent("SELECT 1 FROM WHERE a = 2"), I::kPrimary);
  EXPECT_EQ(classifier.readIntent("SELECT 1 FROM WHERE a = 1"), I::kPrimary);
  EXPECT_EQ(classifier.intentCacheStats().misses, 2U);
  EXPECT_EQ(classifier.intentCacheStats().hits, 1U);
  // A valid text with the same key as an earlier error is not shadowed by it.
  EXPECT_EQ(classifier.readIntent("SELECT 1for"), I::kPrimary);
  EXPECT_EQ(classifier.readIntent("SELECT 1"), I::kReplica);
}

// PostgreSQL 16 reads 0x1F as a number and PostgreSQL 15 rejects it (so
// does the classifier), so the text shares SELECT 1's answer: wherever it is
// sent, a server either runs it as the read it is or rejects it.
TEST(ClassifierReadIntent, SharesAnswersWithTextsTheParserRejects) {
  Classifier classifier;
  EXPECT_EQ(readIntent(classify("SELECT 0x1F")), I::kPrimary);
  EXPECT_EQ(classifier.readIntent("SELECT 1"), I::kReplica);
  EXPECT_EQ(classifier.readIntent("SELECT 0x1F"), I::kReplica);
  EXPECT_EQ(classifier.intentCacheStats().hits, 1U);
}

TEST(ClassifierReadIntent, TextsWithoutAKeyAreKeptByExactText) {
  Classifier classifier;
  EXPECT_EQ(classifier.readIntent("SELECT 'unterminated"), I::kPrimary);
  EXPECT_EQ(classifier.readIntent("SELECT 'unterminated"), I::kPrimary);
  EXPECT_EQ(classifier.intentCacheStats().hits, 1U);
  // Zero bytes: parse errors, never kept (keys hold zero bytes of their own).
  const std::string_view withZero("SELECT 1\0", 9);
  EXPECT_EQ(classifier.readIntent(withZero), I::kPrimary);
  EXPECT_EQ(classifier.readIntent(std::string_view("SELECT \0n", 9)), I::kPrimary);
  EXPECT_EQ(classifier.intentCacheStats().entries, 1U);
}

TEST(ClassifierReadIntent, LongLiteralsShareAShortKey) {
  ClassifierOptions options;
  options.intentCache.maxQueryBytes = 64;
  Classifier classifier(options);
  const std::string first = "SELECT * FROM t WHERE doc = '" + std::string(1000, 'a') + "'";
  const std::string second = "SELECT * FROM t WHERE doc = '" + std::string(2000, 'b') + "'";
  EXPECT_EQ(classifier.readIntent(first), I::kReplica);
  EXPECT_EQ(classifier.readIntent(second), I::kReplica);
  EXPECT_EQ(classifier.intentCacheStats().hits, 1U);
  // Without a key, a text longer than maxQueryBytes is never kept.
  const std::string unterminated = "SELECT '" + std::string(100, 'c');
  EXPECT_EQ(classifier.readIntent(unterminated), I::kPrimary);
  EXPECT_EQ(classifier.readIntent(unterminated), I::kPrimary);
  EXPECT_EQ(classifier.intentCacheStats().bypassed, 2U);
  EXPECT_EQ(classifier.intentCacheStats().entries, 1U);
}

TEST(ClassifierReadIntent, TextsOverTheParseLimitArePrimaryWithoutALookUp) {
  ClassifierOptions options;
  options.maxParseBytes = 100;
  Classifier classifier(options);
  const std::string shortText = "SELECT '" + std::string(10, 'a') + "'";
  const std::string longText = "SELECT '" + std::string(200, 'a') + "'";
  EXPECT_EQ(classifier.readIntent(shortText), I::kReplica);
  EXPECT_EQ(classifier.readIntent(longText), I::kPrimary);  // classify() says kTooLarge
  EXPECT_EQ(classifier.intentCacheStats().hits, 0U);
}

TEST(ClassifierReadIntent, StaysWithinItsLimits) {
  ClassifierOptions options;
  options.intentCache.maxEntries = 2;
  Classifier classifier(options);
  EXPECT_EQ(classifier.readIntent("SELECT a FROM t"), I::kReplica);
  EXPECT_EQ(classifier.readIntent("SELECT b FROM t"), I::kReplica);
  EXPECT_EQ(classifier.readIntent("SELECT a FROM t"), I::kReplica);  // a is now most recent
  EXPECT_EQ(classifier.readIntent("SELECT c FROM t"), I::kReplica);  // evicts b
  EXPECT_EQ(classifier.readIntent("SELECT a FROM t"), I::kReplica);
  const CacheStats& stats = classifier.intentCacheStats();
  EXPECT_EQ(stats.entries, 2U);
  EXPECT_EQ(stats.evictions, 1U);
  EXPECT_EQ(stats.hits, 2U);
  EXPECT_EQ(classifier.readIntent("SELECT b FROM t"), I::kReplica);
  EXPECT_EQ(classifier.intentCacheStats().misses, 4U);

  ClassifierOptions tiny;
  tiny.intentCache.maxBytes = 10;  // smaller than any entry
  Classifier none(tiny);
  EXPECT_EQ(none.readIntent("SELECT 1"), I::kReplica);
  EXPECT_EQ(none.readIntent("SELECT 1"), I::kReplica);
  EXPECT_EQ(none.intentCacheStats().entries, 0U);
  EXPECT_EQ(none.intentCacheStats().hits, 0U);
}

}  // namespace
}  // namespace pgswarm::sql
