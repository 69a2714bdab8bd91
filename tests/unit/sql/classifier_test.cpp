// The classifier beyond single-statement routing: tables and functions it
// reports, multi-statement strings, parse failures, size limits, odd bytes,
// the function allowlist, and use from several threads at once.
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sql/classifier.hpp"
#include "test_util.hpp"

namespace pgswarm::sql {
namespace {

std::vector<TableRef> tablesOf(std::string_view sql) {
  Classification result = classify(sql);
  EXPECT_EQ(result.status, ClassificationStatus::kOk) << sql << " => " << describe(result);
  return result.tables;
}

TableRef read(std::string schema, std::string name) {
  return TableRef{.schema = std::move(schema), .name = std::move(name), .written = false};
}
TableRef written(std::string schema, std::string name) {
  return TableRef{.schema = std::move(schema), .name = std::move(name), .written = true};
}

// Order-insensitive comparison: the walk order of the tree is not the text's.
void expectTables(std::string_view sql, std::vector<TableRef> expected) {
  std::vector<TableRef> actual = tablesOf(sql);
  auto byName = [](const TableRef& a, const TableRef& b) {
    return std::tie(a.schema, a.name) < std::tie(b.schema, b.name);
  };
  std::sort(actual.begin(), actual.end(), byName);
  std::sort(expected.begin(), expected.end(), byName);
  EXPECT_EQ(actual, expected) << sql << " => " << describe(classify(sql));
}

// ---- tables ----

TEST(Tables, ReadAndWrittenTablesWithSchemas) {
  expectTables("SELECT * FROM pgbench_accounts WHERE aid = 1", {read("", "pgbench_accounts")});
  expectTables("SELECT * FROM app.users u JOIN orders o ON o.uid = u.id",
               {read("app", "users"), read("", "orders")});
  expectTables("INSERT INTO s.t SELECT * FROM u", {written("s", "t"), read("", "u")});
  expectTables("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 2",
               {written("", "pgbench_accounts")});
  expectTables("UPDATE t SET a = u.a FROM u WHERE t.id = u.id", {written("", "t"), read("", "u")});
  expectTables("DELETE FROM t USING u WHERE t.id = u.id", {written("", "t"), read("", "u")});
  expectTables("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE",
               {written("", "t"), read("", "s")});
  expectTables("COPY t FROM STDIN", {written("", "t")});
  expectTables("COPY t TO STDOUT", {read("", "t")});
  expectTables("TRUNCATE x, y.z", {written("", "x"), written("y", "z")});
  expectTables("DROP TABLE a.b, c", {written("a", "b"), written("", "c")});
  expectTables("CREATE TABLE n (a int)", {written("", "n")});
  expectTables("ALTER TABLE s.n ADD COLUMN b int", {written("s", "n")});
  expectTables("CREATE TABLE c AS SELECT * FROM t", {written("", "c"), read("", "t")});
  expectTables("SELECT * INTO c FROM t", {written("", "c"), read("", "t")});
  expectTables("SELECT * INTO c FROM t UNION SELECT * FROM u",
               {written("", "c"), read("", "t"), read("", "u")});
  expectTables("LOCK TABLE t", {read("", "t")});
  expectTables("SELECT 1", {});
}

TEST(Tables, QuotedNamesKeepTheirCaseAndDots) {
  expectTables("SELECT * FROM \"Quoted\".\"Table\" JOIN \"x.y\" ON true",
               {read("Quoted", "Table"), read("", "x.y")});
  expectTables("select * from MixedCase", {read("", "mixedcase")});
}

TEST(Tables, CteNamesAreNotTables) {
  expectTables("WITH a AS (SELECT * FROM real_table) SELECT * FROM a, b",
               {read("", "real_table"), read("", "b")});
  expectTables("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", {written("", "t")});
  // Schema-qualified, so a table even if a CTE has the same name.
  expectTables("WITH a AS (SELECT 1) SELECT * FROM s.a", {read("s", "a")});
}

TEST(Tables, WrittenFlagsMergeAcrossOneStatement) {
  expectTables("INSERT INTO t SELECT * FROM t", {written("", "t")});
}

TEST(Tables, ExplainWithoutAnalyzeWritesNothing) {
  expectTables("EXPLAIN DELETE FROM t", {read("", "t")});
  expectTables("EXPLAIN ANALYZE DELETE FROM t", {written("", "t")});
}

// ---- functions ----

TEST(Functions, EveryCallIsReportedOnceAsWritten) {
  Classification result =
      classify("SELECT now(), pg_catalog.lower(a), app.f(b), now(), count(*) FROM t");
  ASSERT_EQ(result.statements.size(), 1U);
  EXPECT_EQ(result.statements[0].functions,
            (std::vector<std::string>{"now", "pg_catalog.lower", "app.f", "count"}));
  EXPECT_EQ(result.statements[0].unsafeFunctions, (std::vector<std::string>{"app.f"}));
}

TEST(Functions, CallsInsideSubqueriesJoinsAndClausesAreFound) {
  Classification result = classify(
      "SELECT a FROM t JOIN LATERAL unnest(b) u ON true "
      "WHERE c = ANY(SELECT f1(d) FROM s) GROUP BY f2(e) HAVING f3(count(*)) > 0 "
      "ORDER BY f4(a) LIMIT f5()");
  ASSERT_EQ(result.statements.size(), 1U);
  for (std::string_view name : {"unnest", "f1", "f2", "f3", "count", "f4", "f5"}) {
    const auto& functions = result.statements[0].functions;
    EXPECT_NE(std::find(functions.begin(), functions.end(), name), functions.end()) << name;
  }
  EXPECT_FALSE(result.readOnly);
}

TEST(Functions, CallStatementReportsTheProcedure) {
  Classification result = classify("CALL app.refresh(1)");
  ASSERT_EQ(result.statements.size(), 1U);
  EXPECT_EQ(result.statements[0].functions, std::vector<std::string>{"app.refresh"});
}

TEST(FunctionAllowlistTest, DefaultsAndMatchingRules) {
  const FunctionAllowlist& defaults = FunctionAllowlist::defaults();
  EXPECT_GT(defaults.size(), 100U);
  for (std::string_view safe : {"now", "count", "sum", "avg", "min", "max", "coalesce", "lower",
                                "upper", "length", "substr", "abs", "round", "date_trunc",
                                "to_char", "current_setting", "version", "pg_catalog.now"}) {
    EXPECT_TRUE(defaults.allows(safe)) << safe;
  }
  for (std::string_view unsafe : {"nextval",
                                  "setval",
                                  "currval",
                                  "lastval",
                                  "set_config",
                                  "pg_notify",
                                  "pg_advisory_lock",
                                  "pg_advisory_xact_lock",
                                  "pg_try_advisory_lock",
                                  "lo_import",
                                  "lo_unlink",
                                  "loread",
                                  "dblink",
                                  "dblink_exec",
                                  "txid_current",
                                  "pg_current_wal_lsn",
                                  "my_function",
                                  "myschema.now",
                                  "pg_catalog.nextval",
                                  "pg_backend_pid",
                                  "pg_is_in_recovery"}) {
    EXPECT_FALSE(defaults.allows(unsafe)) << unsafe;
  }
}

// Functions that write, run SQL given as text or change server state stay
// unsafe even when a caller's list names them, and none is in the default.
TEST(FunctionAllowlistTest, NeverSafeFamilies) {
  const std::vector<std::string> names = {"query_to_xml",
                                          "query_to_xml_and_xmlschema",
                                          "cursor_to_xml",
                                          "ts_stat",
                                          "setseed",
                                          "txid_current_if_assigned",
                                          "pg_export_snapshot",
                                          "pg_cancel_backend",
                                          "pg_terminate_backend",
                                          "pg_reload_conf",
                                          "pg_switch_wal",
                                          "pg_promote",
                                          "pg_stat_reset",
                                          "pg_stat_reset_shared",
                                          "pg_stat_statements_reset",
                                          "pg_create_restore_point",
                                          "pg_create_logical_replication_slot",
                                          "pg_drop_replication_slot",
                                          "pg_logical_slot_get_changes",
                                          "pg_replication_origin_create",
                                          "pg_wal_replay_pause",
                                          "pg_wal_replay_resume",
                                          "pg_backup_start",
                                          "pg_file_write",
                                          "lo_from_bytea",
                                          "dblink_connect",
                                          "pg_advisory_unlock_all",
                                          "pg_catalog.pg_terminate_backend"};
  Result<FunctionAllowlist> list = FunctionAllowlist::fromNames(names);
  ASSERT_TRUE(list.ok()) << list.error().message;
  for (const std::string& name : names) {
    EXPECT_TRUE(neverSafeFunction(name)) << name;
    EXPECT_FALSE(list->allows(name)) << name;
  }
  for (std::string_view name : defaultFunctionNames()) {
    EXPECT_FALSE(neverSafeFunction(name)) << name;
  }
}

TEST(FunctionAllowlistTest, CallerListReplacesTheDefaultButNeverSafeStillWins) {
  const std::vector<std::string> names = {"my_function", "app.safe", "nextval"};
  Result<FunctionAllowlist> list = FunctionAllowlist::fromNames(names);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_TRUE(list->allows("my_function"));
  EXPECT_TRUE(list->allows("app.safe"));
  EXPECT_FALSE(list->allows("safe"));  // qualified entry: only that schema
  EXPECT_FALSE(list->allows("other.safe"));
  EXPECT_FALSE(list->allows("now"));      // not in this list
  EXPECT_FALSE(list->allows("nextval"));  // never safe, listed or not

  EXPECT_TRUE(classify("SELECT my_function(1)", *list).readOnly);
  EXPECT_FALSE(classify("SELECT my_function(1)").readOnly);
  EXPECT_FALSE(classify("SELECT nextval('s')", *list).readOnly);

  ClassifierOptions options;
  options.allowlist = *list;
  Classifier classifier(options);
  EXPECT_TRUE(classifier.classify("SELECT app.safe()")->readOnly);
}

TEST(FunctionAllowlistTest, RejectsMalformedNames) {
  for (std::string bad : {"", "a.b.c", ".x", "x.", "has space", "tab\tname"}) {
    const std::vector<std::string> names = {bad};
    EXPECT_FALSE(FunctionAllowlist::fromNames(names).ok()) << "'" << bad << "'";
  }
}

// ---- multi-statement strings ----

TEST(MultiStatement, EachStatementAndTheCombinedView) {
  const std::string_view sql = "SELECT 1; UPDATE t SET a = 1;SELECT * FROM u";
  Classification result = classify(sql);
  ASSERT_EQ(result.status, ClassificationStatus::kOk);
  ASSERT_EQ(result.statements.size(), 3U);
  EXPECT_TRUE(result.statements[0].readOnly);
  EXPECT_FALSE(result.statements[1].readOnly);
  EXPECT_EQ(result.statements[1].kind, StatementKind::kUpdate);
  EXPECT_TRUE(result.statements[2].readOnly);
  EXPECT_FALSE(result.readOnly);  // one write makes the whole string a write
  EXPECT_EQ(result.tables, (std::vector<TableRef>{written("", "t"), read("", "u")}));

  // Spans: byte offsets into the text, as the parser reports them.
  EXPECT_EQ(sql.substr(result.statements[0].offset, result.statements[0].length), "SELECT 1");
  EXPECT_EQ(sql.substr(result.statements[1].offset, result.statements[1].length),
            " UPDATE t SET a = 1");
  EXPECT_EQ(sql.substr(result.statements[2].offset, result.statements[2].length),
            "SELECT * FROM u");
}

TEST(MultiStatement, AllReadsStayReadOnly) {
  Classification result = classify("SELECT 1;; SELECT 2 ; SHOW x;");
  ASSERT_EQ(result.statements.size(), 3U);
  EXPECT_TRUE(result.readOnly);
  EXPECT_FALSE(result.transactionControl);
}

TEST(MultiStatement, TransactionAndSessionFlags) {
  Classification result =
      classify("BEGIN; SET LOCAL work_mem = '1MB'; SELECT 1; COMMIT; SET search_path TO x");
  ASSERT_EQ(result.statements.size(), 5U);
  EXPECT_TRUE(result.transactionControl);
  EXPECT_TRUE(result.sessionEffects);
  EXPECT_FALSE(result.pinsConnection);
  EXPECT_EQ(result.statements[0].transaction.op, TransactionOp::kBegin);
  EXPECT_TRUE(result.statements[1].sessionEffects.empty());
  EXPECT_EQ(result.statements[3].transaction.op, TransactionOp::kCommit);
  ASSERT_EQ(result.statements[4].sessionEffects.size(), 1U);
  EXPECT_EQ(result.statements[4].sessionEffects[0].replaySql, "SET search_path TO x");
}

TEST(MultiStatement, SemicolonsInsideLiteralsCommentsAndBodiesDoNotSplit) {
  Classification result = classify(
      "SELECT ';' AS a /* ; */ -- ;\n; DO $$ BEGIN PERFORM 1; PERFORM 2; END $$; "
      "SELECT E'\\';'");
  ASSERT_EQ(result.status, ClassificationStatus::kOk) << describe(result);
  ASSERT_EQ(result.statements.size(), 3U);
  EXPECT_EQ(result.statements[1].kind, StatementKind::kDo);
}

// ---- parse failures, empty texts, limits, odd bytes ----

TEST(ParseFailure, ReportsMessageAndCursorAndIsNeverReadOnly) {
  Classification result = classify("SELEC 1");
  EXPECT_EQ(result.status, ClassificationStatus::kParseError);
  EXPECT_EQ(result.error.message, "syntax error at or near \"SELEC\"");
  EXPECT_EQ(result.error.cursorPosition, 1);
  EXPECT_FALSE(result.readOnly);
  EXPECT_TRUE(result.statements.empty());

  Classification second = classify("SELECT 1; SELECT FROM WHERE;");
  EXPECT_EQ(second.status, ClassificationStatus::kParseError);
  EXPECT_EQ(second.error.cursorPosition, 23);
  EXPECT_FALSE(second.readOnly);

  for (std::string_view bad :
       {"SELECT 'unterminated", "SELECT (1", "SELECT 1)", "/* open comment", "DELETE", "SELECT $$x",
        "INSERT INTO", "SELECT * FROM t WHERE", "@@@", "SELECT 1 +", "\"a"}) {
    Classification failed = classify(bad);
    EXPECT_EQ(failed.status, ClassificationStatus::kParseError)
        << bad << " => " << describe(failed);
    EXPECT_FALSE(failed.error.message.empty()) << bad;
    EXPECT_FALSE(failed.readOnly) << bad;
  }
}

TEST(ParseFailure, EmptyTextsAreEmpty) {
  for (std::string_view empty :
       {"", " ", ";", " ; ;; ", "-- only a comment", "/* c */", "\n\t\r\n"}) {
    Classification result = classify(empty);
    EXPECT_EQ(result.status, ClassificationStatus::kEmpty) << "'" << empty << "'";
    EXPECT_TRUE(result.statements.empty());
    EXPECT_FALSE(result.readOnly);
  }
}

TEST(ParseFailure, ZeroByteIsRefused) {
  const std::string sql("SELECT 1\0; DELETE FROM t", 24);
  Classification result = classify(sql);
  EXPECT_EQ(result.status, ClassificationStatus::kParseError);
  EXPECT_FALSE(result.readOnly);
}

TEST(Limits, TextsOverTheParseLimitAreNotParsed) {
  std::string big = "SELECT 1";
  big.append(kDefaultMaxParseBytes, ' ');
  Classification result = classify(big);
  EXPECT_EQ(result.status, ClassificationStatus::kTooLarge);
  EXPECT_FALSE(result.readOnly);
  EXPECT_NE(result.error.message.find("parse limit"), std::string::npos);

  EXPECT_EQ(classify("SELECT 1", FunctionAllowlist::defaults(), 7).status,
            ClassificationStatus::kTooLarge);
  EXPECT_EQ(classify("SELECT 1", FunctionAllowlist::defaults(), 8).status,
            ClassificationStatus::kOk);
}

// The worst case for the parser's recursive JSON output: a left-deep
// expression as long as the limit allows must not overflow the stack.
TEST(Limits, DeepestExpressionAtTheLimitDoesNotCrash) {
  std::string deep = "SELECT 1";
  while (deep.size() + 2 <= kDefaultMaxParseBytes) deep += "+1";
  Classification result = classify(deep);
  EXPECT_EQ(result.status, ClassificationStatus::kOk) << describe(result).substr(0, 200);
  EXPECT_TRUE(result.readOnly);

  // Parentheses are bounded by the grammar's own stack (an error, not a crash).
  std::string parens = "SELECT " + std::string(20000, '(') + "1" + std::string(20000, ')');
  EXPECT_EQ(classify(parens).status, ClassificationStatus::kParseError);
}

// A UNION chain is left-deep too, and the analyzer follows its arms.
TEST(Limits, DeepestUnionChainAtTheLimitDoesNotCrash) {
  std::string chain = "SELECT * INTO x FROM t";
  while (chain.size() + 16 <= kDefaultMaxParseBytes) chain += " UNION SELECT 1";
  Classification result = classify(chain);
  ASSERT_EQ(result.status, ClassificationStatus::kOk) << describe(result).substr(0, 200);
  EXPECT_TRUE(result.statements[0].blockers.has(ReadOnlyBlocker::kSelectInto));
}

TEST(Limits, LongButShallowStatementsParse) {
  std::string values = "INSERT INTO t VALUES (1)";
  while (values.size() < 60000) values += ", (1)";
  Classification result = classify(values);
  EXPECT_EQ(result.status, ClassificationStatus::kOk);
  ASSERT_EQ(result.statements.size(), 1U);
  EXPECT_EQ(result.statements[0].kind, StatementKind::kInsert);
}

TEST(OddBytes, NonUtf8LiteralsStillClassify) {
  // A LATIN1 client's 'é' is one byte 0xE9: invalid UTF-8 inside the literal.
  Classification latin1 = classify("SELECT '\xE9t\xE9' FROM t");
  EXPECT_EQ(latin1.status, ClassificationStatus::kOk) << describe(latin1);
  EXPECT_TRUE(latin1.readOnly);

  Classification set = classify("SET application_name = 'caf\xE9'");
  ASSERT_EQ(set.statements.size(), 1U);
  ASSERT_EQ(set.statements[0].sessionEffects.size(), 1U);
  EXPECT_EQ(set.statements[0].sessionEffects[0].value, "caf?");

  Classification utf8 = classify("SELECT 'héllo ✓ 𝄞' FROM \"tâble\"");
  EXPECT_EQ(utf8.status, ClassificationStatus::kOk);
  EXPECT_EQ(utf8.tables, std::vector<TableRef>{read("", "tâble")});

  Classification write = classify("DELETE FROM t WHERE a = '\xFF\xFE'");
  EXPECT_EQ(write.status, ClassificationStatus::kOk);
  EXPECT_FALSE(write.readOnly);
}

TEST(OddBytes, OddWhitespaceAndCase) {
  Classification result = classify("\tsElEcT\f1\r\n;\v");
  // \v is not SQL whitespace: PostgreSQL rejects it, and so do we.
  EXPECT_EQ(result.status, ClassificationStatus::kParseError);
  Classification ok = classify("\tsElEcT\f1\r\n;\n");
  EXPECT_EQ(ok.status, ClassificationStatus::kOk);
  EXPECT_TRUE(ok.readOnly);
}

// ---- threads ----

// libpg_query keeps its memory contexts per thread: classification from
// several threads at once must neither race nor leak (ASan/UBSan build).
TEST(Threads, ClassifiersOnSeveralThreadsAtOnce) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  std::vector<int> readOnlyCounts(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &readOnlyCounts] {
      Classifier classifier;
      for (int i = 0; i < kRounds; ++i) {
        const std::string sql = "SELECT " + std::to_string(i) + " FROM t" + std::to_string(t);
        if (classifier.classify(sql)->readOnly) ++readOnlyCounts[t];
        if (classify("UPDATE t SET a = " + std::to_string(i)).readOnly) --readOnlyCounts[t];
        (void)classify("SELEC broken");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int count : readOnlyCounts) EXPECT_EQ(count, kRounds);
}

}  // namespace
}  // namespace pgswarm::sql
