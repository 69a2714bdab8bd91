// Shard key analysis: which statements fix a sharded table's key by
// equality (a table of accepted forms with their key value and a table of
// refused forms), the single-relation facts the analyzer records, and
// Classifier::route's cache, which must give every text sharing a
// literal-free key its own value and the same answer as a fresh parse.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "sql/classifier.hpp"
#include "sql/shard_key.hpp"
#include "test_util.hpp"

namespace pgswarm::sql {
namespace {

// Indexes into kRelations.
constexpr std::size_t kAccounts = 0;
constexpr std::size_t kT = 1;
constexpr std::size_t kOther = 2;
constexpr std::size_t kQuoted = 3;

const std::vector<ShardedRelation> kRelations = {
    {.schema = "public", .table = "pgbench_accounts", .keyColumn = "aid"},
    {.schema = "public", .table = "t", .keyColumn = "k"},
    {.schema = "app", .table = "orders", .keyColumn = "customer_id"},
    {.schema = "public", .table = "Mixed Case", .keyColumn = "Key"},
};

std::string describe(const std::optional<ShardKeyUse>& use) {
  if (!use) return "none";
  std::string out = "relation " + std::to_string(use->relation);
  out += use->parameter >= 0 ? " $" + std::to_string(use->parameter + 1)
                             : " literal '" + use->literal + "'";
  out += use->readOnly ? " ro" : " rw";
  return out;
}

ShardKeyUse literal(std::size_t relation, std::string value, bool readOnly) {
  return ShardKeyUse{.relation = relation, .literal = std::move(value), .readOnly = readOnly};
}

ShardKeyUse parameter(std::size_t relation, int index, bool readOnly) {
  return ShardKeyUse{.relation = relation, .parameter = index, .readOnly = readOnly};
}

struct AcceptedRow {
  std::string_view sql;
  ShardKeyUse use;
};

// clang-format off
const std::vector<AcceptedRow> kAccepted = {
    // ---- pgbench ----
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 123;", literal(kAccounts, "123", true)},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = $1", parameter(kAccounts, 0, true)},
    {"UPDATE pgbench_accounts SET abalance = abalance + -2783 WHERE aid = 4711;",
     literal(kAccounts, "4711", false)},
    {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
     parameter(kAccounts, 1, false)},
    // ---- the forms of equality ----
    {"SELECT * FROM t WHERE k = 42", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE 42 = k", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE k = '42'", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE k = 42::int", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE k = '42'::bigint", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE k = CAST(42 AS smallint)", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE k = 'abc'::text", literal(kT, "abc", true)},
    {"SELECT * FROM t WHERE k = 'abc'::varchar", literal(kT, "abc", true)},
    {"SELECT * FROM t WHERE k = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
     literal(kT, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", true)},
    {"SELECT * FROM t WHERE k = 42::pg_catalog.int8", literal(kT, "42", true)},
    {"SELECT * FROM t WHERE k = $1", parameter(kT, 0, true)},
    {"SELECT * FROM t WHERE $3 = k", parameter(kT, 2, true)},
    {"SELECT * FROM t WHERE k = $2::int8 AND v = $1", parameter(kT, 1, true)},
    {"SELECT * FROM t WHERE k IN (7)", literal(kT, "7", true)},
    {"SELECT * FROM t WHERE k IN ($1)", parameter(kT, 0, true)},
    {"SELECT * FROM t WHERE t.k = 5", literal(kT, "5", true)},
    {"SELECT * FROM t AS a WHERE a.k = 5", literal(kT, "5", true)},
    {"SELECT * FROM t a WHERE k = 5", literal(kT, "5", true)},
    {"SELECT * FROM t WHERE (k = 5)", literal(kT, "5", true)},
    {"SELECT * FROM t WHERE k = (5)", literal(kT, "5", true)},
    // ---- negative and large integers, canonical text ----
    {"SELECT * FROM t WHERE k = -7", literal(kT, "-7", true)},
    {"SELECT * FROM t WHERE k = - 7", literal(kT, "-7", true)},
    {"SELECT * FROM t WHERE k = -(7)", literal(kT, "-7", true)},
    {"SELECT * FROM t WHERE k = -(-7)", literal(kT, "7", true)},
    {"SELECT * FROM t WHERE k = 0", literal(kT, "0", true)},
    {"SELECT * FROM t WHERE k = -0", literal(kT, "0", true)},
    {"SELECT * FROM t WHERE k = 007", literal(kT, "7", true)},
    {"SELECT * FROM t WHERE k = 2147483648", literal(kT, "2147483648", true)},
    {"SELECT * FROM t WHERE k = -2147483648", literal(kT, "-2147483648", true)},
    {"SELECT * FROM t WHERE k = 9223372036854775807", literal(kT, "9223372036854775807", true)},
    {"SELECT * FROM t WHERE k = -9223372036854775808",
     literal(kT, "-9223372036854775808", true)},
    {"SELECT * FROM t WHERE k = (-5)::int", literal(kT, "-5", true)},
    // ---- strings ----
    {"SELECT * FROM t WHERE k = 'abc'", literal(kT, "abc", true)},
    {"SELECT * FROM t WHERE k = ''", literal(kT, "", true)},
    {"SELECT * FROM t WHERE k = 'it''s'", literal(kT, "it's", true)},
    {"SELECT * FROM t WHERE k = 'Ünïcödé'", literal(kT, "Ünïcödé", true)},
    {"SELECT * FROM t WHERE k = $$a'b$$", literal(kT, "a'b", true)},
    {"SELECT * FROM t WHERE k = $x$a$$b$x$", literal(kT, "a$$b", true)},
    {"SELECT * FROM t WHERE k = '-7'", literal(kT, "-7", true)},
    // ---- the key among other conditions and clauses ----
    {"SELECT * FROM t WHERE v = 'x' AND k = 3 AND w > 2", literal(kT, "3", true)},
    {"SELECT * FROM t WHERE (v = 1 OR w = 2) AND k = 3", literal(kT, "3", true)},
    {"SELECT * FROM t WHERE v = 1 AND (w = 2 AND k = 3)", literal(kT, "3", true)},
    {"SELECT * FROM t WHERE k = 3 AND k > 0", literal(kT, "3", true)},
    {"SELECT * FROM t WHERE k = 3 AND k = v", literal(kT, "3", true)},
    {"SELECT * FROM t WHERE k = 3 AND v = 'a'\n'b'", literal(kT, "3", true)},
    {"SELECT count(*), max(v) FROM t WHERE k = 3 GROUP BY v HAVING count(*) > 1 "
     "ORDER BY 1 LIMIT 10 OFFSET 2", literal(kT, "3", true)},
    {"SELECT DISTINCT v FROM t WHERE k = 3", literal(kT, "3", true)},
    {"SELECT v, (SELECT 1) FROM t WHERE k = 3 AND EXISTS (SELECT 1)", literal(kT, "3", true)},
    {"SELECT * FROM t WHERE k = 3 /* comment */ -- and another", literal(kT, "3", true)},
    {"  select *\n  from t\n where k = 3\n;", literal(kT, "3", true)},
    {"SELECT lower(v), coalesce(w, 0) FROM t WHERE k = 3", literal(kT, "3", true)},
    // ---- reads that lock, writes ----
    {"SELECT * FROM t WHERE k = 3 FOR UPDATE", literal(kT, "3", false)},
    {"UPDATE t SET v = v + 1 WHERE k = 3", literal(kT, "3", false)},
    {"UPDATE t AS a SET v = 1 WHERE a.k = 3 RETURNING a.v, k", literal(kT, "3", false)},
    {"UPDATE t SET (v, w) = (1, 2) WHERE k = $1", parameter(kT, 0, false)},
    {"DELETE FROM t WHERE k = 3", literal(kT, "3", false)},
    {"DELETE FROM t WHERE k = 'x' RETURNING *", literal(kT, "x", false)},
    {"INSERT INTO t (k, v) VALUES (3, 'x')", literal(kT, "3", false)},
    {"INSERT INTO t (v, k) VALUES ('x', -3)", literal(kT, "-3", false)},
    {"INSERT INTO t (v, k) VALUES ($1, $2)", parameter(kT, 1, false)},
    {"INSERT INTO t (k, v) VALUES (3, now())", literal(kT, "3", false)},
    {"INSERT INTO t (k, v) VALUES (3, DEFAULT) RETURNING v", literal(kT, "3", false)},
    {"INSERT INTO t AS a (k, v) VALUES (3, 'x') ON CONFLICT (k) DO UPDATE SET v = excluded.v",
     literal(kT, "3", false)},
    {"INSERT INTO t (k, v) VALUES (3, 'x') ON CONFLICT DO NOTHING", literal(kT, "3", false)},
    // ---- names ----
    {"SELECT * FROM public.t WHERE k = 1", literal(kT, "1", true)},
    {"SELECT * FROM T WHERE K = 1", literal(kT, "1", true)},
    {"SELECT * FROM \"t\" WHERE \"k\" = 1", literal(kT, "1", true)},
    {"SELECT * FROM app.orders WHERE customer_id = 9", literal(kOther, "9", true)},
    {"SELECT * FROM APP.Orders WHERE Customer_ID = 9", literal(kOther, "9", true)},
    {"SELECT * FROM \"Mixed Case\" WHERE \"Key\" = 'v'", literal(kQuoted, "v", true)},
    {"UPDATE \"Mixed Case\" m SET x = 1 WHERE m.\"Key\" = $1", parameter(kQuoted, 0, false)},
};

// Statements that must go to the coordinator.
const std::vector<std::string_view> kRefused = {
    // ---- not fixed by one equality ----
    "SELECT * FROM t",
    "SELECT * FROM t WHERE k = 1 OR v = 2",
    "SELECT * FROM t WHERE k = 1 OR k = 2",
    "SELECT * FROM t WHERE NOT (k = 1)",
    "SELECT * FROM t WHERE k IN (1, 2)",
    "SELECT * FROM t WHERE k NOT IN (1)",
    "SELECT * FROM t WHERE k = ANY('{1}')",
    "SELECT * FROM t WHERE k = 1 AND k = 2",
    "SELECT * FROM t WHERE k = 1 AND k = 1",
    "SELECT * FROM t WHERE k = $1 AND k = $2",
    "SELECT * FROM t WHERE k > 1",
    "SELECT * FROM t WHERE k <> 1",
    "SELECT * FROM t WHERE k BETWEEN 1 AND 1",
    "SELECT * FROM t WHERE k = v",
    "SELECT * FROM t WHERE k = f(1)",
    "SELECT * FROM t WHERE k = 1 + 1",
    "SELECT * FROM t WHERE k = +1",
    "SELECT * FROM t WHERE k = -'1'",
    "SELECT * FROM t WHERE k = NULL",
    "SELECT * FROM t WHERE k IS NULL",
    "SELECT * FROM t WHERE k = true",
    "SELECT * FROM t WHERE k = B'101'",
    "SELECT * FROM t WHERE k = 1.5",
    "SELECT * FROM t WHERE k = 1e3",
    "SELECT * FROM t WHERE k = 42.0",
    "SELECT * FROM t WHERE k::text = '1'",
    "SELECT * FROM t WHERE k = 1 IS TRUE",
    "SELECT * FROM t WHERE (k, v) = (1, 2)",
    "SELECT * FROM t WHERE k OPERATOR(pg_catalog.=) 1",
    "SELECT * FROM t WHERE x.k = 1",
    "SELECT * FROM t AS a WHERE t.k = 1",
    "SELECT * FROM t WHERE public.t.k = 1",
    // ---- casts and literals that could change or hide the value ----
    "SELECT * FROM t WHERE k = 'abc'::char(2)",
    "SELECT * FROM t WHERE k = 'abc'::varchar(2)",
    "SELECT * FROM t WHERE k = 'abc'::char",
    "SELECT * FROM t WHERE k = N'abc'",
    "SELECT * FROM t WHERE k = 3.7::int",
    "SELECT * FROM t WHERE k = '3.7'::numeric",
    "SELECT * FROM t WHERE k = '2024-01-01 13:00'::date",
    "SELECT * FROM t WHERE k = date '2024-01-01'",
    "SELECT * FROM t WHERE k = '1'::int::text",
    "SELECT * FROM t WHERE k = $1::numeric",
    "SELECT * FROM t WHERE k = E'abc'",
    "SELECT * FROM t WHERE k = U&'abc'",
    "SELECT * FROM t WHERE k = 'a\\b'",
    "SELECT * FROM t WHERE k = 'a'\n'b'",
    "SELECT * FROM t WHERE k = 'a' -- joined\n'b'",
    "SELECT * FROM t WHERE k = -1::int",
    // ---- other relations ----
    "SELECT * FROM t JOIN u ON u.id = t.k WHERE t.k = 1",
    "SELECT * FROM t, u WHERE t.k = 1",
    "SELECT * FROM t WHERE k = 1 AND v IN (SELECT v FROM u)",
    "SELECT * FROM t WHERE k = 1 AND v IN (SELECT v FROM t)",
    "SELECT *, (SELECT count(*) FROM u) FROM t WHERE k = 1",
    "WITH c AS (SELECT 1) SELECT * FROM t WHERE k = 1",
    "WITH c AS (SELECT * FROM t WHERE k = 1) SELECT * FROM c",
    "SELECT * FROM t WHERE k = 1 UNION SELECT * FROM t WHERE k = 1",
    "SELECT 1 UNION ALL SELECT v FROM t WHERE k = 1",
    "SELECT * FROM (SELECT * FROM t WHERE k = 1) s",
    "SELECT * FROM t, generate_series(1, 3) g WHERE k = 1",
    "SELECT * FROM t TABLESAMPLE SYSTEM (10) WHERE k = 1",
    "SELECT * FROM ONLY t WHERE k = 1",
    "SELECT * FROM t AS a (v, k) WHERE k = 1",
    "SELECT * FROM t WHERE k = 1 FOR UPDATE OF t",
    "UPDATE t SET v = u.v FROM u WHERE t.k = 1",
    "UPDATE t SET v = (SELECT max(v) FROM u) WHERE k = 1",
    "UPDATE ONLY t SET v = 1 WHERE k = 1",
    "DELETE FROM t USING u WHERE t.k = 1",
    "DELETE FROM ONLY t WHERE k = 1",
    "DELETE FROM t WHERE k = 1 RETURNING (SELECT 1 FROM u)",
    "DELETE FROM t WHERE CURRENT OF c",
    "INSERT INTO t (k, v) SELECT 1, 2",
    "INSERT INTO t (k, v) SELECT k, v FROM u WHERE k = 1",
    "INSERT INTO t (k, v) VALUES (1, (SELECT max(v) FROM u))",
    "WITH d AS (DELETE FROM u RETURNING *) INSERT INTO t (k) VALUES (1)",
    // ---- not a table the router knows, or the key not fixed ----
    "SELECT * FROM u WHERE k = 1",
    "SELECT * FROM other.t WHERE k = 1",
    "SELECT * FROM orders WHERE customer_id = 9",
    "SELECT * FROM pg_temp.t WHERE k = 1",
    "SELECT * FROM db.public.t WHERE k = 1",
    "SELECT * FROM \"T\" WHERE k = 1",
    "SELECT * FROM t WHERE \"K\" = 1",
    "SELECT * FROM \"Mixed Case\" WHERE key = 'v'",
    "SELECT * FROM t WHERE v = 1",
    // ---- INSERT forms that do not place the key ----
    "INSERT INTO t VALUES (1, 'x')",
    "INSERT INTO t DEFAULT VALUES",
    "INSERT INTO t (v) VALUES ('x')",
    "INSERT INTO t (k, v) VALUES (DEFAULT, 'x')",
    "INSERT INTO t (k, v) VALUES (1, 'x'), (2, 'y')",
    "INSERT INTO t (k, v) VALUES (nextval('s'), 'x')",
    "INSERT INTO t (k, v) VALUES (1, 'x') ON CONFLICT (k) DO UPDATE SET k = excluded.k + 1",
    "INSERT INTO t (k, k) VALUES (1, 2)",
    // ---- statements that would act differently on a shard node ----
    "UPDATE t SET k = 2 WHERE k = 1",
    "UPDATE t SET (v, k) = (1, 2) WHERE k = 1",
    "SELECT * INTO s FROM t WHERE k = 1",
    "SELECT nextval('s') FROM t WHERE k = 1",
    "SELECT my_function(v) FROM t WHERE k = 1",
    "SELECT pg_advisory_lock(1) FROM t WHERE k = 1",
    "SELECT set_config('a', 'b', false) FROM t WHERE k = 1",
    // ---- more than one statement, not DML, not parsed ----
    "SELECT * FROM t WHERE k = 1; SELECT 1",
    "BEGIN; UPDATE t SET v = 1 WHERE k = 1; COMMIT",
    "EXPLAIN SELECT * FROM t WHERE k = 1",
    "EXPLAIN ANALYZE SELECT * FROM t WHERE k = 1",
    "PREPARE p AS SELECT * FROM t WHERE k = $1",
    "DECLARE c CURSOR FOR SELECT * FROM t WHERE k = 1",
    "COPY (SELECT * FROM t WHERE k = 1) TO STDOUT",
    "COPY t FROM STDIN",
    "MERGE INTO t USING u ON t.k = u.k WHEN MATCHED THEN DELETE",
    "TRUNCATE t",
    "SELECT * FROM t WHERE k = 0x1F",
    "SELECT * FROM t WHERE k = 1_000",
    "SELECT * FROM t WHERE",
    "SELECT * FROM t WHERE k = 'unterminated",
    "",
};
// clang-format on

TEST(ShardKeyTable, EveryAcceptedFormGivesItsKey) {
  for (const AcceptedRow& row : kAccepted) {
    SCOPED_TRACE(std::string(row.sql) + "  =>  " + describe(classify(row.sql)));
    EXPECT_EQ(describe(findShardKey(row.sql, kRelations)), describe(row.use));
  }
}

TEST(ShardKeyTable, EveryRefusedFormGivesNone) {
  for (std::string_view sql : kRefused) {
    SCOPED_TRACE(std::string(sql) + "  =>  " + describe(classify(sql)));
    EXPECT_EQ(describe(findShardKey(sql, kRelations)), "none");
  }
}

TEST(ShardKeyTable, RouteAgreesWithTheFreeFunctionOnEveryRowTwice) {
  Classifier classifier;
  for (int round = 0; round < 2; ++round) {  // the second round answers from the cache
    for (const AcceptedRow& row : kAccepted) {
      EXPECT_EQ(describe(classifier.route(row.sql, kRelations).shardKey), describe(row.use))
          << row.sql << " (round " << round << ")";
    }
    for (std::string_view sql : kRefused) {
      EXPECT_EQ(describe(classifier.route(sql, kRelations).shardKey), "none")
          << sql << " (round " << round << ")";
    }
  }
}

// The read-only flag is the classifier's own verdict, not a second one.
TEST(ShardKeyTable, ReadOnlyIsTheStatementsVerdict) {
  for (const AcceptedRow& row : kAccepted) {
    const Classification classification = classify(row.sql);
    ASSERT_EQ(classification.statements.size(), 1U) << row.sql;
    EXPECT_EQ(row.use.readOnly, classification.statements.front().readOnly) << row.sql;
  }
}

// ---- pgbench's own statements ----

TEST(ShardKeyPgbench, HistoryInsertIsRoutedOnlyWhenHistoryIsSharded) {
  constexpr std::string_view kInsert =
      "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
      "VALUES (7, 1, 4711, -2783, CURRENT_TIMESTAMP);";
  EXPECT_EQ(findShardKey(kInsert, kRelations), std::nullopt);
  std::vector<ShardedRelation> relations = kRelations;
  relations.push_back({.schema = "public", .table = "pgbench_history", .keyColumn = "aid"});
  EXPECT_EQ(describe(findShardKey(kInsert, relations)), describe(literal(4, "4711", false)));
  relations.back().keyColumn = "delta";
  EXPECT_EQ(describe(findShardKey(kInsert, relations)), describe(literal(4, "-2783", false)));
  relations.back().keyColumn = "mtime";
  EXPECT_EQ(findShardKey(kInsert, relations), std::nullopt);
}

TEST(ShardKeyPgbench, OtherTablesOfTheTransactionAreNotSharded) {
  for (std::string_view sql : {
           "UPDATE pgbench_tellers SET tbalance = tbalance + -2783 WHERE tid = 7;",
           "UPDATE pgbench_branches SET bbalance = bbalance + -2783 WHERE bid = 1;",
           "SELECT abalance FROM pgbench_accounts WHERE aid = 4711 AND bid = (SELECT 1 FROM "
           "pgbench_branches)",
       }) {
    EXPECT_EQ(findShardKey(sql, kRelations), std::nullopt) << sql;
  }
}

// ---- serial columns: the shard's table has no sequence default ----

TEST(ShardKeyDefaults, AStatementLeavingASequenceColumnToItsDefaultIsRefused) {
  std::vector<ShardedRelation> relations = kRelations;
  relations[kT].coordinatorDefaults = {"id"};
  const auto key = [&](std::string_view sql) { return describe(findShardKey(sql, relations)); };
  EXPECT_EQ(key("INSERT INTO t (id, k, v) VALUES (10, 3, 'x')"), describe(literal(kT, "3", false)));
  EXPECT_EQ(key("INSERT INTO t (id, k) VALUES (nextval('s'), 3)"), "none");  // unsafe function
  EXPECT_EQ(key("INSERT INTO t (k, v) VALUES (3, 'x')"), "none");
  EXPECT_EQ(key("INSERT INTO t (id, k) VALUES (DEFAULT, 3)"), "none");
  EXPECT_EQ(
      key("INSERT INTO t (id, k) VALUES (1, 3) ON CONFLICT (id, k) DO UPDATE SET id = DEFAULT"),
      "none");
  EXPECT_EQ(key("UPDATE t SET id = DEFAULT WHERE k = 3"), "none");
  EXPECT_EQ(key("UPDATE t SET (v, id) = (1, DEFAULT) WHERE k = 3"), "none");
  EXPECT_EQ(key("UPDATE t SET (id, v) = (1, DEFAULT) WHERE k = 3"),
            describe(literal(kT, "3", false)));
  EXPECT_EQ(key("UPDATE t SET id = 5 WHERE k = 3"), describe(literal(kT, "3", false)));
  EXPECT_EQ(key("SELECT * FROM t WHERE k = 3"), describe(literal(kT, "3", true)));
  EXPECT_EQ(key("DELETE FROM t WHERE k = 3"), describe(literal(kT, "3", false)));
  // Other relations' defaults do not matter.
  EXPECT_EQ(key("INSERT INTO pgbench_accounts (aid) VALUES (1)"),
            describe(literal(kAccounts, "1", false)));
}

// ---- relations ----

TEST(ShardKeyRelations, TheFirstMatchingRelationDecides) {
  const std::vector<ShardedRelation> twice = {
      {.schema = "public", .table = "t", .keyColumn = "k"},
      {.schema = "public", .table = "t", .keyColumn = "v"},
  };
  EXPECT_EQ(describe(findShardKey("SELECT * FROM t WHERE k = 1", twice)),
            describe(literal(0, "1", true)));
  EXPECT_EQ(findShardKey("SELECT * FROM t WHERE v = 1", twice), std::nullopt);
  EXPECT_EQ(findShardKey("SELECT * FROM t WHERE k = 1", {}), std::nullopt);
}

// ---- the facts the analyzer records ----

TEST(SingleRelationFacts, NameTheTableTheFixedColumnsAndTheAssignedOnes) {
  constexpr std::string_view kUpdate =
      "UPDATE s.t AS a SET v = 1, w = $2 WHERE a.k = -7 AND x = 'y' AND z = $1";
  const Classification update = classify(kUpdate);
  ASSERT_EQ(update.statements.size(), 1U);
  const std::optional<SingleRelation>& single = update.statements.front().singleRelation;
  ASSERT_TRUE(single.has_value()) << describe(update);
  EXPECT_EQ(single->table, (TableRef{.schema = "s", .name = "t", .written = true}));
  ASSERT_EQ(single->fixed.size(), 3U);
  EXPECT_EQ(single->fixed[0].column, "k");
  EXPECT_EQ(single->fixed[0].value.parameter, -1);
  EXPECT_EQ(single->fixed[0].value.location, kUpdate.find("-7"));  // at the minus sign
  EXPECT_EQ(single->fixed[0].value.parsed, std::nullopt);  // the JSON drops negative integers
  EXPECT_EQ(single->fixed[1].column, "x");
  EXPECT_EQ(single->fixed[1].value.parsed, "y");
  EXPECT_EQ(single->fixed[2].column, "z");
  EXPECT_EQ(single->fixed[2].value.parameter, 0);
  EXPECT_EQ(single->assigned, (std::vector<std::string>{"v", "w"}));
  EXPECT_TRUE(single->defaulted.empty());
  EXPECT_EQ(single->inserted, std::nullopt);
}

TEST(SingleRelationFacts, AnInsertListsTheColumnsItGivesAndTheOnesItDefaults) {
  const Classification insert = classify(
      "INSERT INTO t (a, b, c) VALUES (1, DEFAULT, now()) ON CONFLICT (a) DO UPDATE SET d = "
      "DEFAULT");
  ASSERT_EQ(insert.statements.size(), 1U);
  const std::optional<SingleRelation>& single = insert.statements.front().singleRelation;
  ASSERT_TRUE(single.has_value()) << describe(insert);
  EXPECT_EQ(single->inserted, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(single->defaulted, (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(single->assigned, (std::vector<std::string>{"d"}));
  ASSERT_EQ(single->fixed.size(), 1U);
  EXPECT_EQ(single->fixed[0].column, "a");
}

TEST(SingleRelationFacts, AbsentWhenTheTreeNamesAnyOtherRelation) {
  for (std::string_view sql : {
           "SELECT * FROM t JOIN u USING (k)",
           "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM t)",
           "SELECT 1",
           "CREATE TABLE t (k int)",
           "COPY t TO STDOUT",
       }) {
    const Classification classification = classify(sql);
    ASSERT_EQ(classification.statements.size(), 1U) << sql;
    EXPECT_FALSE(classification.statements.front().singleRelation.has_value())
        << sql << "  =>  " << describe(classification);
  }
}

// The WHERE clause is walked without recursion: its depth is the client's.
TEST(SingleRelationFacts, DeeplyNestedConjunctionsAreRead) {
  std::string sql = "SELECT * FROM t WHERE v = 0";
  constexpr int kDepth = 2000;
  for (int i = 0; i < kDepth; ++i) sql += " AND (v = 0";
  sql += " AND k = 5" + std::string(kDepth, ')');
  ASSERT_LE(sql.size(), kDefaultMaxParseBytes);
  EXPECT_EQ(describe(findShardKey(sql, kRelations)), describe(literal(kT, "5", true)));
}

// ---- the cache: one parse per literal-free key, each text its own value ----

TEST(ShardKeyCache, TextsDifferingOnlyInLiteralsParseOnceAndKeepTheirValues) {
  Classifier classifier;
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 17", "17"},
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 18", "18"},
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 000", "0"},
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 9223372036854775807",
       "9223372036854775807"},
  };
  for (const auto& [sql, value] : texts) {
    const StatementRoute route = classifier.route(sql, kRelations);
    EXPECT_EQ(route.intent, ReadIntent::kReplica) << sql;
    EXPECT_EQ(describe(route.shardKey), describe(literal(kAccounts, value, true))) << sql;
  }
  EXPECT_EQ(classifier.intentCacheStats().misses, 1U);
  EXPECT_EQ(classifier.intentCacheStats().hits, texts.size() - 1);
}

TEST(ShardKeyCache, ASignBeforeTheLiteralIsPartOfTheKey) {
  Classifier classifier;
  const auto key = [&](std::string_view sql) {
    return describe(classifier.route(sql, kRelations).shardKey);
  };
  EXPECT_EQ(key("UPDATE t SET v = v + -5 WHERE k = -12"), describe(literal(kT, "-12", false)));
  EXPECT_EQ(key("UPDATE t SET v = v + -6 WHERE k = -13"), describe(literal(kT, "-13", false)));
  EXPECT_EQ(key("UPDATE t SET v = v + -6 WHERE k = 13"), describe(literal(kT, "13", false)));
  EXPECT_EQ(key("UPDATE t SET v = v + -6 WHERE k = -0"), describe(literal(kT, "0", false)));
  EXPECT_EQ(classifier.intentCacheStats().misses, 2U);
}

// A literal the first text could not give a value for does not spoil the
// template, and a literal a later text cannot give a value for is refused.
TEST(ShardKeyCache, EachTextsLiteralIsReadOnItsOwn) {
  Classifier classifier;
  const auto key = [&](std::string_view sql) {
    return describe(classifier.route(sql, kRelations).shardKey);
  };
  EXPECT_EQ(key("SELECT * FROM t WHERE k = 'a\\b'"), "none");
  EXPECT_EQ(key("SELECT * FROM t WHERE k = 'ab'"), describe(literal(kT, "ab", true)));
  EXPECT_EQ(key("SELECT * FROM t WHERE k = $$a\\b$$"), describe(literal(kT, "a\\b", true)));
  EXPECT_EQ(key("SELECT * FROM t WHERE k = 42"), describe(literal(kT, "42", true)));
  EXPECT_EQ(key("SELECT * FROM t WHERE k = 4.2"), "none");
  EXPECT_EQ(key("SELECT * FROM t WHERE k = 0x1F"), "none");
  EXPECT_EQ(classifier.intentCacheStats().misses, 2U);  // one string key, one number key
}

// Many texts per template against a fresh parse of each: the cached answer
// must be the uncached one.
TEST(ShardKeyCache, CachedAnswersEqualFreshOnesForManyLiterals) {
  const std::vector<std::string_view> numbers = {
      "0", "1", "07", "2147483647", "2147483648", "9223372036854775808", "1.5", "1e3", "42"};
  const std::vector<std::string_view> strings = {"'x'",   "''",     "'it''s'",
                                                 "$$q$$", "'a\\b'", "$t$'$t$"};
  const std::vector<std::pair<std::string, std::string>> shapes = {
      {"SELECT * FROM t WHERE k = ", " AND v = 'x'"},
      {"SELECT * FROM t WHERE v = 5 AND k = -", ""},
      {"SELECT * FROM t WHERE k = - (", ")::int8"},
      {"DELETE FROM t WHERE 'y' = v AND ", " = k"},
      {"INSERT INTO t (v, k, w) VALUES (-1, ", ", 'z')"},
  };
  Classifier classifier;
  std::size_t compared = 0;
  for (const auto& [before, after] : shapes) {
    for (const auto* values : {&numbers, &strings}) {
      for (std::string_view value : *values) {
        const std::string sql = before + std::string(value) + after;
        EXPECT_EQ(describe(classifier.route(sql, kRelations).shardKey),
                  describe(findShardKey(sql, kRelations)))
            << sql;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, shapes.size() * (numbers.size() + strings.size()));
  EXPECT_LE(classifier.intentCacheStats().misses, shapes.size() * 2);
}

TEST(ShardKeyCache, ReadIntentAndShardKeyShareOneEntry) {
  Classifier classifier;
  EXPECT_EQ(classifier.readIntent("SELECT * FROM t WHERE k = 1"), ReadIntent::kReplica);
  EXPECT_EQ(describe(classifier.route("SELECT * FROM t WHERE k = 2", kRelations).shardKey),
            describe(literal(kT, "2", true)));
  EXPECT_EQ(classifier.intentCacheStats().misses, 1U);
  EXPECT_EQ(classifier.intentCacheStats().hits, 1U);
  EXPECT_EQ(classifier.route("SELECT * FROM t WHERE k = 2", {}).shardKey, std::nullopt);
}

// A text without literals (a prepared statement's) is found by its own
// text without a scan; a text with literals never is, so its own literals
// give its key.
TEST(ShardKeyCache, LiteralFreeTextsAreFoundByThemselves) {
  Classifier classifier;
  const auto key = [&](std::string_view sql) {
    return describe(classifier.route(sql, kRelations).shardKey);
  };
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(key("SELECT * FROM t WHERE k = $1"), describe(parameter(kT, 0, true)));
    EXPECT_EQ(key("DELETE FROM t WHERE k = $1"), describe(parameter(kT, 0, false)));
  }
  EXPECT_EQ(classifier.intentCacheStats().misses, 2U);
  EXPECT_EQ(classifier.intentCacheStats().hits, 4U);
  EXPECT_EQ(key("SELECT * FROM t WHERE v = $1 AND k = 7"), describe(literal(kT, "7", true)));
  EXPECT_EQ(key("SELECT * FROM t WHERE v = $1 AND k = 8"), describe(literal(kT, "8", true)));
  EXPECT_EQ(key("SELECT * FROM t WHERE v = $1 AND k = 7"), describe(literal(kT, "7", true)));
  EXPECT_EQ(classifier.intentCacheStats().misses, 3U);
  EXPECT_EQ(classifier.intentCacheStats().hits, 6U);
}

TEST(ShardKeyCache, TooLargeTextsAreNotLookedAt) {
  Classifier classifier(ClassifierOptions{.maxParseBytes = 64});
  std::string sql = "SELECT * FROM t WHERE k = 1 AND v = '" + std::string(100, 'x') + "'";
  const StatementRoute route = classifier.route(sql, kRelations);
  EXPECT_EQ(route.intent, ReadIntent::kPrimary);
  EXPECT_EQ(route.shardKey, std::nullopt);
  EXPECT_EQ(classifier.intentCacheStats().misses, 0U);
}

}  // namespace
}  // namespace pgswarm::sql
